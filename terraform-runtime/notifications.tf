# The alert topic: every alarm (alarms.tf), the budget (budget.tf) and the security findings
# (security_events.tf) publish here, and people subscribe to it by e-mail, an HTTPS chat relay
# or AWS Chatbot. One topic, so "where do alerts go" has one answer.

resource "aws_sns_topic" "alerts" {
  name              = "${local.name_prefix}-runtime-scheduler-alerts"
  kms_master_key_id = local.base.kms_key_arn
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "AlarmsAndBudgetsOfThisAccountPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # EventBridge rules of this environment (security_events.tf), by name pattern so the policy
  # does not wait for the rules.
  statement {
    sid       = "EventRulesOfThisEnvironmentPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.name_prefix}-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_sns_topic_subscription" "alerts_email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.key
}

# A chat relay (or any HTTPS endpoint) that confirms the subscription itself. Terraform does not
# wait for the confirmation; until the endpoint confirms, the subscription stays pending.
resource "aws_sns_topic_subscription" "alerts_webhook" {
  # Whether a URL is set is not secret; the URL is.
  count = nonsensitive(var.alert_webhook_url != null) ? 1 : 0

  topic_arn              = aws_sns_topic.alerts.arn
  protocol               = "https"
  endpoint               = var.alert_webhook_url
  endpoint_auto_confirms = false
}

# --- AWS Chatbot (Slack) --------------------------------------------------------------------

data "aws_iam_policy_document" "chatbot_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "chatbot" {
  count = var.chatbot_slack != null ? 1 : 0

  name               = "${local.name_prefix}-chatbot"
  description        = "AWS Chatbot of ${local.name_prefix}: render alarm notifications in Slack (read-only CloudWatch)."
  assume_role_policy = data.aws_iam_policy_document.chatbot_assume.json
}

resource "aws_iam_role_policy_attachment" "chatbot" {
  count = var.chatbot_slack != null ? 1 : 0

  role       = aws_iam_role.chatbot[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/CloudWatchReadOnlyAccess"
}

resource "aws_chatbot_slack_channel_configuration" "alerts" {
  count = var.chatbot_slack != null ? 1 : 0

  configuration_name = "${local.name_prefix}-alerts"
  iam_role_arn       = aws_iam_role.chatbot[0].arn
  slack_team_id      = var.chatbot_slack.team_id
  slack_channel_id   = var.chatbot_slack.channel_id
  sns_topic_arns     = [aws_sns_topic.alerts.arn]
  # Without guardrails Chatbot applies AdministratorAccess to commands typed in the channel.
  guardrail_policy_arns = ["arn:${local.partition}:iam::aws:policy/CloudWatchReadOnlyAccess"]
  logging_level         = "ERROR"
}
