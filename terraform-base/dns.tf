resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:DNSSEC needs an asymmetric KMS key in us-east-1 and a DS record at the registrar; enable it where the domain is delegated.
  #checkov:skip=CKV2_AWS_39:Query logging needs a log group in us-east-1 with a Route53 resource policy; out of scope for an optional demo zone.
  count = var.create_route53_zone ? 1 : 0

  name    = var.route53_zone_name
  comment = "${local.name_prefix}: created by terraform-base"
}

data "aws_route53_zone" "existing" {
  count = var.create_route53_zone ? 0 : 1

  name         = var.route53_zone_name
  private_zone = false
}

locals {
  zone_id = var.create_route53_zone ? aws_route53_zone.this[0].zone_id : data.aws_route53_zone.existing[0].zone_id
}

# The certificate lives here, not in the runtime tier, so its DNS validation (up to ~30 min the
# first time) happens once and not at every wake-up. The scheduler's HTTPS listener uses it.
resource "aws_acm_certificate" "app" {
  domain_name       = var.app_hostname
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

# Keyed by the (static) domain name so that the plan knows the keys before the certificate exists.
resource "aws_route53_record" "certificate_validation" {
  for_each = toset([var.app_hostname])

  zone_id         = local.zone_id
  name            = local.validation[each.key].resource_record_name
  type            = local.validation[each.key].resource_record_type
  ttl             = 300
  records         = [local.validation[each.key].resource_record_value]
  allow_overwrite = true
}

locals {
  validation = { for o in aws_acm_certificate.app.domain_validation_options : o.domain_name => o }
}

resource "aws_acm_certificate_validation" "app" {
  count = var.enable_certificate_validation ? 1 : 0

  certificate_arn         = aws_acm_certificate.app.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}
