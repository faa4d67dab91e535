# The demo environment. Replace the zone and hostname with a public zone of your account.
project        = "acme-shop"
environment    = "demo"
product_domain = "web"

route53_zone_name = "example.com"
app_hostname      = "demo.example.com"

availability_zone_count = 2
nat_gateway_count       = 1

# github_repository = "acme/shop"
