# Account-level security services, each behind its own toggle and off by default: in an AWS
# Organization they are usually enabled for every member account by a delegated administrator,
# and enabling them here as well either fails (GuardDuty: one detector per region) or fights
# the central configuration (Security Hub standards and controls). Turn them on for a
# standalone account. Findings of GuardDuty and ECR scans reach the alert topic through
# EventBridge rules in terraform-runtime.

resource "aws_securityhub_account" "this" {
  count = var.enable_security_hub ? 1 : 0

  # The standards are subscribed explicitly below, so the set does not depend on what AWS
  # considers "default" at the time of the first apply.
  enable_default_standards  = false
  auto_enable_controls      = true
  control_finding_generator = "SECURITY_CONTROL"
}

resource "aws_securityhub_standards_subscription" "this" {
  for_each = var.enable_security_hub ? toset(var.security_hub_standards) : toset([])

  standards_arn = "arn:${local.partition}:securityhub:${data.aws_region.current.name}::standards/${each.key}"

  depends_on = [aws_securityhub_account.this]
}

resource "aws_guardduty_detector" "this" {
  #checkov:skip=CKV2_AWS_3:Organisation-wide auto-enable is the delegated administrator's configuration; this detector is for a standalone account (enable_guardduty stays off in an organisation).
  count = var.enable_guardduty ? 1 : 0

  enable                       = true
  finding_publishing_frequency = var.guardduty_finding_publishing_frequency
}

# Runtime Monitoring with GuardDuty managing the agent on Fargate: GuardDuty adds its sidecar to
# every new task, creates an interface endpoint in the VPC (not in Terraform's state: remove it
# before destroying the VPC), and the task execution role must be able to pull the agent image
# (terraform-runtime grants it when the output guardduty_ecs_runtime_monitoring is true).
resource "aws_guardduty_detector_feature" "runtime_monitoring" {
  count = var.enable_guardduty && var.enable_guardduty_ecs_runtime_monitoring ? 1 : 0

  detector_id = aws_guardduty_detector.this[0].id
  name        = "RUNTIME_MONITORING"
  status      = "ENABLED"

  additional_configuration {
    name   = "ECS_FARGATE_AGENT_MANAGEMENT"
    status = "ENABLED"
  }
}
