# Alarms. Every one notifies the alert topic on ALARM and on OK (notifications.tf). Missing data
# is "not breaching" wherever the tier sleeping means no data (services at zero, no ALB, no NAT
# gateway), so a sleeping tier never pages anyone; the only alarm that treats silence as a
# problem is scheduler_silent, which watches the function that should keep running all night.
# Selection rules (no fixed ALB or NAT id anywhere) are explained in monitoring.tf.

# --- The scheduler ----------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "scheduler_errors" {
  count = var.enable_alarms && var.create_scheduler_function ? 1 : 0

  alarm_name          = "${local.function_name}-errors"
  alarm_description   = "The runtime scheduler of ${local.name_prefix} failed (see its log group and the state's last transition)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.scheduler[0].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  count = var.enable_alarms ? 1 : 0

  alarm_name          = "${local.function_name}-dead-letters"
  alarm_description   = "Events for the runtime scheduler of ${local.name_prefix} were dead-lettered (undeliverable, or failed after every retry)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# An invocation that answered with outcome "failed" (EMF metric Failures): the function itself
# may have succeeded, so the Lambda Errors alarm above does not see it.
resource "aws_cloudwatch_metric_alarm" "scheduler_failed" {
  count = var.enable_alarms ? 1 : 0

  alarm_name          = "${local.name_prefix}-scheduler-failed"
  alarm_description   = "A scheduler invocation of ${local.name_prefix} ended with outcome 'failed'. Read the response or the function's JSON log for the failed step and its AWS error code; the next reconcile retries. See terraform-runtime/README.md, Alarms."
  namespace           = local.scheduler_namespace
  metric_name         = "Failures"
  dimensions          = { Environment = var.environment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# No reconcile in an hour although it is scheduled every reconcile_interval_minutes: the
# schedule, the function or its permissions are broken, and nothing else would notice at night.
resource "aws_cloudwatch_metric_alarm" "scheduler_silent" {
  count = var.enable_alarms && local.reconcile_is_periodic && var.reconcile_interval_minutes <= 60 ? 1 : 0

  alarm_name          = "${local.name_prefix}-scheduler-silent"
  alarm_description   = "No reconcile of ${local.name_prefix} reported in the last hour (expected every ${var.reconcile_interval_minutes} minutes): check the EventBridge schedule, the dead-letter queue and the function's log."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "reconciles"
    label       = "reconcile invocations"
    expression  = "SELECT SUM(Invocations) FROM SCHEMA(\"${local.scheduler_namespace}\", Environment, Action, Outcome) WHERE Environment = '${var.environment}' AND Action = 'reconcile'"
    period      = 3600
    return_data = true
  }
}

# The tier is not in the phase the schedule, overrides and holds want, for longer than
# tier_mismatch_grace_minutes. Minimum over each period: one matching report in the period (a
# start that finished) clears it, so a start or stop in progress never alarms.
resource "aws_cloudwatch_metric_alarm" "tier_not_running" {
  count = var.enable_alarms ? 1 : 0

  alarm_name          = "${local.name_prefix}-tier-not-running"
  alarm_description   = "The tier of ${local.name_prefix} should be running but has not been for ${var.tier_mismatch_grace_minutes} minutes. Invoke status, then start; if the function is broken, docs/disaster-recovery.md."
  evaluation_periods  = local.phase_grace_periods
  datapoints_to_alarm = local.phase_grace_periods
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id = "mismatch"
    metric {
      namespace   = local.scheduler_namespace
      metric_name = "TierMismatch"
      dimensions  = { Environment = var.environment }
      stat        = "Minimum"
      period      = local.phase_period_seconds
    }
  }

  metric_query {
    id = "wanted"
    metric {
      namespace   = local.scheduler_namespace
      metric_name = "TierWanted"
      dimensions  = { Environment = var.environment }
      stat        = "Minimum"
      period      = local.phase_period_seconds
    }
  }

  metric_query {
    id          = "should_run"
    label       = "wanted running, is not"
    expression  = "mismatch * wanted"
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "tier_running_while_asleep" {
  count = var.enable_alarms ? 1 : 0

  alarm_name          = "${local.name_prefix}-tier-running-while-asleep"
  alarm_description   = "The tier of ${local.name_prefix} should be asleep but has been running for ${var.tier_mismatch_grace_minutes} minutes (costs money). Invoke status: an override or hold may explain it; otherwise stop (docs/disaster-recovery.md)."
  evaluation_periods  = local.phase_grace_periods
  datapoints_to_alarm = local.phase_grace_periods
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id = "mismatch"
    metric {
      namespace   = local.scheduler_namespace
      metric_name = "TierMismatch"
      dimensions  = { Environment = var.environment }
      stat        = "Minimum"
      period      = local.phase_period_seconds
    }
  }

  metric_query {
    id = "wanted"
    metric {
      namespace   = local.scheduler_namespace
      metric_name = "TierWanted"
      dimensions  = { Environment = var.environment }
      stat        = "Maximum"
      period      = local.phase_period_seconds
    }
  }

  metric_query {
    id          = "should_sleep"
    label       = "wanted asleep, is running"
    expression  = "mismatch * (1 - wanted)"
    return_data = true
  }
}

# --- The services -----------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "service_cpu" {
  for_each = var.enable_alarms ? var.services : {}

  alarm_name          = "${local.name_prefix}-${each.key}-cpu-high"
  alarm_description   = "CPU of the ${each.key} service of ${local.name_prefix} above ${var.alarm_cpu_percent}% of its reservation for 15 minutes. Scale out (auto_scaling) or size up (cpu)."
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = { ClusterName = aws_ecs_cluster.this.name, ServiceName = each.key }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.alarm_cpu_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "service_memory" {
  for_each = var.enable_alarms ? var.services : {}

  alarm_name          = "${local.name_prefix}-${each.key}-memory-high"
  alarm_description   = "Memory of the ${each.key} service of ${local.name_prefix} above ${var.alarm_memory_percent}% of its reservation for 15 minutes; at 100% tasks are killed (OutOfMemory). Size up (memory) or fix the leak."
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  dimensions          = { ClusterName = aws_ecs_cluster.this.name, ServiceName = each.key }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.alarm_memory_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- The ALB, per target group (stable), whatever ALB is current -------------------------------

# Also the service's ECS deployment alarm (output service_deployment_alarm_names): a
# deployment that makes its targets answer 5xx rolls back.
resource "aws_cloudwatch_metric_alarm" "service_target_5xx" {
  for_each = var.enable_alarms ? var.services : {}

  alarm_name          = "${local.name_prefix}-${each.key}-target-5xx"
  alarm_description   = "The ${each.key} targets of ${local.name_prefix} answered ${var.alarm_5xx_per_5_minutes} or more 5xx in 5 minutes (any ALB incarnation). Read the service's log group. Also this service's ECS deployment alarm."
  evaluation_periods  = 1
  threshold           = var.alarm_5xx_per_5_minutes
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "target_5xx"
    label       = "${each.key} target 5xx"
    expression  = "SELECT SUM(HTTPCode_Target_5XX_Count) ${local.target_group_from[each.key]}"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "service_latency" {
  for_each = var.enable_alarms ? var.services : {}

  alarm_name          = "${local.name_prefix}-${each.key}-latency-high"
  alarm_description   = "Average response time of the ${each.key} targets of ${local.name_prefix} above ${var.alarm_latency_seconds} s for 15 minutes (the dashboard shows p50/p95; alarms on a recreated ALB cannot use percentiles)."
  evaluation_periods  = 3
  threshold           = var.alarm_latency_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "latency"
    label       = "${each.key} average target response time"
    expression  = "SELECT AVG(TargetResponseTime) ${local.target_group_from[each.key]}"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "service_unhealthy_hosts" {
  for_each = var.enable_alarms ? var.services : {}

  alarm_name          = "${local.name_prefix}-${each.key}-unhealthy-hosts"
  alarm_description   = "The ${each.key} target group of ${local.name_prefix} had an unhealthy target for 3 minutes: failing health check (${each.value.health_check_path}) or tasks crashing. Check the service's events and log group."
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "unhealthy"
    label       = "${each.key} unhealthy targets"
    expression  = "SELECT MAX(UnHealthyHostCount) ${local.target_group_from[each.key]}"
    period      = 60
    return_data = true
  }
}

# --- By ownership tag (needs CloudWatch resource tags on telemetry) ---------------------------

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  count = var.enable_alarms && var.enable_tag_based_metrics ? 1 : 0

  alarm_name          = "${local.name_prefix}-alb-5xx"
  alarm_description   = "The ALB of ${local.name_prefix} itself answered ${var.alarm_5xx_per_5_minutes} or more 5xx in 5 minutes (502/503/504: no healthy target, target reset or timeout). Check target health and the services."
  evaluation_periods  = 1
  threshold           = var.alarm_5xx_per_5_minutes
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "elb_5xx"
    label       = "ALB-generated 5xx"
    expression  = "SELECT SUM(HTTPCode_ELB_5XX_Count) ${local.alb_from}"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "nat_port_allocation" {
  count = var.enable_alarms && var.enable_tag_based_metrics ? 1 : 0

  alarm_name          = "${local.name_prefix}-nat-port-allocation-errors"
  alarm_description   = "A NAT gateway of ${local.name_prefix} could not allocate a source port (ErrorPortAllocation): too many concurrent connections to one destination. Spread egress, add NAT gateways (nat_gateway_count) or VPC endpoints."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "port_errors"
    label       = "NAT ErrorPortAllocation"
    expression  = "SELECT SUM(ErrorPortAllocation) ${local.nat_from}"
    period      = 300
    return_data = true
  }
}

locals {
  all_alarms = concat(
    aws_cloudwatch_metric_alarm.scheduler_errors,
    aws_cloudwatch_metric_alarm.dead_letters,
    aws_cloudwatch_metric_alarm.scheduler_failed,
    aws_cloudwatch_metric_alarm.scheduler_silent,
    aws_cloudwatch_metric_alarm.tier_not_running,
    aws_cloudwatch_metric_alarm.tier_running_while_asleep,
    values(aws_cloudwatch_metric_alarm.service_cpu),
    values(aws_cloudwatch_metric_alarm.service_memory),
    values(aws_cloudwatch_metric_alarm.service_target_5xx),
    values(aws_cloudwatch_metric_alarm.service_latency),
    values(aws_cloudwatch_metric_alarm.service_unhealthy_hosts),
    aws_cloudwatch_metric_alarm.alb_5xx,
    aws_cloudwatch_metric_alarm.nat_port_allocation,
  )
  all_alarm_arns = [for a in local.all_alarms : a.arn]
}
