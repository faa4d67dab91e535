resource "aws_budgets_budget" "monthly" {
  count = var.create_budget ? 1 : 0

  # Explicit, because the provider cannot derive it when skip_requesting_account_id is set.
  account_id   = local.account_id
  name         = "${local.name_prefix}-monthly"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.budget_limit_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  dynamic "cost_filter" {
    for_each = var.budget_filter_by_project_tag ? [1] : []
    content {
      name   = "TagKeyValue"
      values = [format("user:Project$%s", var.project)]
    }
  }

  dynamic "notification" {
    for_each = toset(flatten([for t in var.budget_thresholds_percent : [
      { threshold = t, type = "ACTUAL" }, { threshold = t, type = "FORECASTED" }
    ]]))
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.threshold
      threshold_type             = "PERCENTAGE"
      notification_type          = notification.value.type
      subscriber_sns_topic_arns  = [aws_sns_topic.alerts.arn]
      subscriber_email_addresses = var.alert_emails
    }
  }

  depends_on = [aws_sns_topic_policy.alerts]
}
