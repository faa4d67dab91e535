# Security findings to the alert topic, as readable one-line messages.
#
# ECR: basic scanning (scan_on_push in terraform-base) emits "ECR Image Scan" events with the
# count of findings per severity; only this environment's repositories, only HIGH or CRITICAL.
# GuardDuty (when enabled, here or by the organisation): findings of severity 7 or more.

resource "aws_cloudwatch_event_rule" "ecr_scan_findings" {
  count = var.enable_ecr_scan_alerts ? 1 : 0

  name        = "${local.name_prefix}-ecr-scan-findings"
  description = "ECR scans of ${local.name_prefix}/* images with HIGH or CRITICAL findings"
  event_pattern = jsonencode({
    source      = ["aws.ecr"]
    detail-type = ["ECR Image Scan"]
    detail = {
      scan-status     = ["COMPLETE"]
      repository-name = [{ prefix = "${local.name_prefix}/" }]
      "$or" = [
        { finding-severity-counts = { CRITICAL = [{ numeric = [">", 0] }] } },
        { finding-severity-counts = { HIGH = [{ numeric = [">", 0] }] } },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "ecr_scan_findings" {
  count = var.enable_ecr_scan_alerts ? 1 : 0

  rule      = aws_cloudwatch_event_rule.ecr_scan_findings[0].name
  target_id = "alert-topic"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      repository = "$.detail.repository-name"
      digest     = "$.detail.image-digest"
      tags       = "$.detail.image-tags"
      critical   = "$.detail.finding-severity-counts.CRITICAL"
      high       = "$.detail.finding-severity-counts.HIGH"
      region     = "$.region"
      time       = "$.time"
    }
    # A quoted template makes the SNS message a plain string.
    input_template = "\"[${local.name_prefix}] ECR scan at <time>: <repository> <tags> (<digest>) has <critical> CRITICAL and <high> HIGH findings. Details: aws ecr describe-image-scan-findings --region <region> --repository-name <repository> --image-id imageDigest=<digest>. Do not deploy it; rebuild on a patched base image.\""
  }
}

resource "aws_cloudwatch_event_rule" "guardduty_findings" {
  count = var.enable_guardduty_alerts ? 1 : 0

  name        = "${local.name_prefix}-guardduty-findings"
  description = "GuardDuty findings of severity 7 (high) or more in this account and region"
  event_pattern = jsonencode({
    source      = ["aws.guardduty"]
    detail-type = ["GuardDuty Finding"]
    detail      = { severity = [{ numeric = [">=", 7] }] }
  })
}

resource "aws_cloudwatch_event_target" "guardduty_findings" {
  count = var.enable_guardduty_alerts ? 1 : 0

  rule      = aws_cloudwatch_event_rule.guardduty_findings[0].name
  target_id = "alert-topic"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      type     = "$.detail.type"
      severity = "$.detail.severity"
      title    = "$.detail.title"
      resource = "$.detail.resource.resourceType"
      id       = "$.detail.id"
      region   = "$.region"
    }
    input_template = "\"[${local.name_prefix}] GuardDuty <severity> <type> on <resource>: <title>. Details: aws guardduty get-findings --region <region> --detector-id $(aws guardduty list-detectors --query 'DetectorIds[0]' --output text) --finding-ids <id>\""
  }
}
