# The demo environment (the services variable's defaults are the demo application:
# backend 512/1024 on 8000 behind /api/*, frontend 256/512 on 3000).
project        = "acme-shop"
environment    = "demo"
product_domain = "web"

schedule_timezone = "America/New_York"
schedule_start    = "08:00"
schedule_stop     = "20:00"
schedule_days     = ["MON", "TUE", "WED", "THU", "FRI"]

# alert_emails = ["ops@example.com"]

# Wake on request: while asleep, demo.<zone> shows a page that can wake the tier (wake.tf).
enable_wake_on_request = true
# idle_minutes         = 30   # also stop when nobody used it for 30 minutes (README: the account prerequisite)
