# Sleep when idle (issue 9): an alarm that goes to ALARM once the environment's ALB has served
# no request for idle_minutes, and an EventBridge rule that hands its state changes, unchanged,
# to the scheduler, which decides (window, overrides, holds, excluded services) whether to stop.
#
# The ALB is deleted at every stop and created with a new ARN at every start, so the alarm
# cannot name it. Its LoadBalancer dimension (app/<name>/<id>) changes with it, and Metrics
# Insights' WHERE clause matches label values only with = and != (no prefix match). What stays
# is the ownership tags the scheduler puts on every ALB it creates (the same tags its IAM
# conditions require), and Metrics Insights can filter on resource tags (WHERE tag.<key>):
# the query below follows each new ALB without a change here. SCHEMA(..., LoadBalancer) keeps
# only the per-load-balancer series, so per-zone and per-target-group series are not counted
# twice. See README.md, "Sleep when idle", for the account prerequisite and what a reviewer
# must know.

locals {
  idle_query = join(" ", [
    "SELECT SUM(RequestCount) FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer)",
    "WHERE tag.${local.ownership_tag_key} = '${local.ownership_tag_value}'",
    "AND tag.Environment = '${var.environment}'",
    "AND tag.Project = '${var.project}'",
  ])
}

resource "aws_cloudwatch_metric_alarm" "idle" {
  count = local.idle ? 1 : 0

  alarm_name        = local.idle_alarm_name
  alarm_description = "No request reached ${local.alb_name}'s targets for ${coalesce(var.idle_minutes, 0)} minutes: the scheduler stops ${local.name_prefix} (state changes reach it through EventBridge). In ALARM while the tier sleeps, by design."

  metric_query {
    id          = "requests"
    label       = "Requests served by ${local.alb_name}"
    expression  = local.idle_query
    period      = 60
    return_data = true
  }

  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = var.idle_minutes
  datapoints_to_alarm = var.idle_minutes
  # An ALB reports RequestCount only for minutes with requests, and no ALB exists while the
  # tier sleeps: a missing datapoint is an idle minute.
  treat_missing_data = "breaching"
}

resource "aws_cloudwatch_event_rule" "idle" {
  count = local.idle ? 1 : 0

  name        = local.idle_alarm_name
  description = "State changes of ${local.idle_alarm_name}, to the scheduler of ${local.name_prefix}."
  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = [aws_cloudwatch_metric_alarm.idle[0].arn]
  })
}

resource "aws_cloudwatch_event_target" "idle" {
  count = local.idle ? 1 : 0

  rule      = aws_cloudwatch_event_rule.idle[0].name
  target_id = "runtime-scheduler"
  arn       = aws_lambda_function.scheduler[0].arn
  # No input: the scheduler receives the alarm state change event unchanged.

  retry_policy {
    maximum_retry_attempts       = var.schedule_retry_attempts
    maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
  }
}

resource "aws_lambda_permission" "scheduler_from_idle_rule" {
  count = local.idle ? 1 : 0

  statement_id  = "IdleAlarmStateChanges"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.scheduler[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.idle[0].arn
}
