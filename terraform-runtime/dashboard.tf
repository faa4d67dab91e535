# One dashboard per environment. Gaps are normal: while the tier sleeps there is no ALB, no NAT
# gateway and no task, hence no data; the scheduler's row shows when and why.

locals {
  service_names = sort(keys(var.services))

  # Widgets are laid out in rows of full width (24 columns).
  dashboard_rows = [
    # The scheduler and the tier's phase.
    [
      { title = "Tier phase: running / wanted / mismatch (1 = yes)", metrics = [
        [local.scheduler_namespace, "TierRunning", "Environment", var.environment, { stat = "Maximum", label = "running" }],
        [local.scheduler_namespace, "TierWanted", "Environment", var.environment, { stat = "Maximum", label = "wanted" }],
        [local.scheduler_namespace, "TierMismatch", "Environment", var.environment, { stat = "Minimum", label = "mismatch" }],
      ] },
      { title = "Scheduler invocations by action and outcome", metrics = [
        [{ id = "inv", expression = "SEARCH('{${local.scheduler_namespace},Environment,Action,Outcome} MetricName=\"Invocations\" Environment=\"${var.environment}\"', 'Sum', 900)", label = "" }],
      ] },
      { title = "Scheduler duration by action (ms, max)", metrics = [
        [{ id = "dur", expression = "SEARCH('{${local.scheduler_namespace},Environment,Action,Outcome} MetricName=\"DurationMs\" Environment=\"${var.environment}\"', 'Maximum', 900)", label = "" }],
      ] },
      { title = "Wake and sleep (seconds), failures", metrics = [
        [local.scheduler_namespace, "WakeSeconds", "Environment", var.environment, { stat = "Maximum", label = "wake (start to running)" }],
        [local.scheduler_namespace, "SleepSeconds", "Environment", var.environment, { stat = "Maximum", label = "sleep (stop applied)" }],
        [local.scheduler_namespace, "Failures", "Environment", var.environment, { stat = "Sum", label = "failed invocations", yAxis = "right" }],
      ] },
    ],
    # The services.
    [
      { title = "ECS CPU utilisation (% of reservation)", metrics = [
        for s in local.service_names : ["AWS/ECS", "CPUUtilization", "ClusterName", aws_ecs_cluster.this.name, "ServiceName", s, { stat = "Average", label = s }]
      ] },
      { title = "ECS memory utilisation (% of reservation)", metrics = [
        for s in local.service_names : ["AWS/ECS", "MemoryUtilization", "ClusterName", aws_ecs_cluster.this.name, "ServiceName", s, { stat = "Average", label = s }]
      ] },
      { title = "Running tasks (Container Insights)", metrics = [
        for s in local.service_names : ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", aws_ecs_cluster.this.name, "ServiceName", s, { stat = "Maximum", label = s }]
      ] },
      { title = "Scheduler AWS calls and retries", metrics = [
        [{ id = "calls", expression = "SEARCH('{${local.scheduler_namespace},Environment,Action,Outcome} MetricName=\"AwsCalls\" Environment=\"${var.environment}\"', 'Sum', 900)", label = "calls" }],
        [{ id = "retries", expression = "SEARCH('{${local.scheduler_namespace},Environment,Action,Outcome} MetricName=\"Retries\" Environment=\"${var.environment}\"', 'Sum', 900)", label = "retries" }],
      ] },
    ],
    # The ALB, per target group (stable), whatever ALB is current.
    [
      { title = "Requests per service", metrics = [
        for i, s in local.service_names : [{ id = "req${i}", expression = "SELECT SUM(RequestCount) ${local.target_group_from[s]}", label = s, period = 300 }]
      ] },
      { title = "Target 5xx and 4xx per service", metrics = concat(
        [for i, s in local.service_names : [{ id = "t5xx${i}", expression = "SELECT SUM(HTTPCode_Target_5XX_Count) ${local.target_group_from[s]}", label = "${s} 5xx", period = 300 }]],
        [for i, s in local.service_names : [{ id = "t4xx${i}", expression = "SELECT SUM(HTTPCode_Target_4XX_Count) ${local.target_group_from[s]}", label = "${s} 4xx", period = 300 }]],
      ) },
      { title = "Target response time p50 / p95 (s)", metrics = concat(
        [for i, s in local.service_names : [{ id = "p50_${i}", expression = "SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} MetricName=\"TargetResponseTime\" TargetGroup=\"${local.target_group_dimension[s]}\"', 'p50', 300)", label = "${s} p50" }]],
        [for i, s in local.service_names : [{ id = "p95_${i}", expression = "SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} MetricName=\"TargetResponseTime\" TargetGroup=\"${local.target_group_dimension[s]}\"', 'p95', 300)", label = "${s} p95" }]],
      ) },
      { title = "Healthy / unhealthy targets per service", metrics = concat(
        [for i, s in local.service_names : [{ id = "ok${i}", expression = "SELECT MAX(HealthyHostCount) ${local.target_group_from[s]}", label = "${s} healthy", period = 60 }]],
        [for i, s in local.service_names : [{ id = "bad${i}", expression = "SELECT MAX(UnHealthyHostCount) ${local.target_group_from[s]}", label = "${s} unhealthy", period = 60 }]],
      ) },
    ],
    # The ALB itself and the NAT gateways: recreated every morning.
    [
      { title = var.enable_tag_based_metrics ? "ALB-generated 5xx / 4xx (by tag)" : "ALB-generated 5xx / 4xx (ALB named ${local.alb_name})", metrics = var.enable_tag_based_metrics ? [
        [{ id = "e5xx", expression = "SELECT SUM(HTTPCode_ELB_5XX_Count) ${local.alb_from}", label = "ALB 5xx", period = 300 }],
        [{ id = "e4xx", expression = "SELECT SUM(HTTPCode_ELB_4XX_Count) ${local.alb_from}", label = "ALB 4xx", period = 300 }],
        ] : [
        [{ id = "e5xx", expression = "SEARCH('{AWS/ApplicationELB,LoadBalancer} MetricName=\"HTTPCode_ELB_5XX_Count\" LoadBalancer=${local.alb_name}', 'Sum', 300)", label = "ALB 5xx" }],
        [{ id = "e4xx", expression = "SEARCH('{AWS/ApplicationELB,LoadBalancer} MetricName=\"HTTPCode_ELB_4XX_Count\" LoadBalancer=${local.alb_name}', 'Sum', 300)", label = "ALB 4xx" }],
      ] },
      { title = var.enable_tag_based_metrics ? "NAT gateway bytes (by tag)" : "NAT gateway bytes (every NAT gateway of the region)", metrics = var.enable_tag_based_metrics ? [
        [{ id = "out", expression = "SELECT SUM(BytesOutToDestination) ${local.nat_from}", label = "to destinations", period = 300 }],
        [{ id = "in", expression = "SELECT SUM(BytesInFromDestination) ${local.nat_from}", label = "from destinations", period = 300 }],
        ] : [
        [{ id = "out", expression = "SEARCH('{AWS/NATGateway,NatGatewayId} MetricName=\"BytesOutToDestination\"', 'Sum', 300)", label = "to destinations" }],
        [{ id = "in", expression = "SEARCH('{AWS/NATGateway,NatGatewayId} MetricName=\"BytesInFromDestination\"', 'Sum', 300)", label = "from destinations" }],
      ] },
      { title = var.enable_tag_based_metrics ? "NAT ErrorPortAllocation (by tag)" : "NAT ErrorPortAllocation (every NAT gateway of the region)", metrics = var.enable_tag_based_metrics ? [
        [{ id = "ports", expression = "SELECT SUM(ErrorPortAllocation) ${local.nat_from}", label = "port allocation errors", period = 300 }],
        ] : [
        [{ id = "ports", expression = "SEARCH('{AWS/NATGateway,NatGatewayId} MetricName=\"ErrorPortAllocation\"', 'Sum', 300)", label = "port allocation errors" }],
      ] },
      { title = "Dead-lettered scheduler events", metrics = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dlq.name, { stat = "Maximum", label = "messages" }],
      ] },
    ],
  ]

  dashboard_widgets = concat(
    [{
      type = "text", x = 0, y = 0, width = 24, height = 2
      properties = {
        markdown = join("", [
          "## ${local.name_prefix}: runtime tier\n",
          "Window ${var.schedule_start}-${var.schedule_stop} ${var.schedule_timezone} on ${join(",", var.schedule_days)}. ",
          "Gaps outside it are the tier asleep, not an outage. What each alarm means and what to do: terraform-runtime/README.md, Alarms; recovery: docs/disaster-recovery.md.",
        ])
      }
    }],
    flatten([for r, row in local.dashboard_rows : [for c, w in row : {
      type   = "metric"
      x      = c * 6
      y      = 2 + r * 6
      width  = 6
      height = 6
      properties = {
        title   = w.title
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = 300
        metrics = w.metrics
      }
    }]]),
    # An alarm widget needs at least one alarm.
    length(local.all_alarm_arns) == 0 ? [] : [{
      type = "alarm", x = 0, y = 2 + length(local.dashboard_rows) * 6, width = 12, height = 6
      properties = {
        title  = "Alarms"
        alarms = local.all_alarm_arns
      }
    }],
    [
      {
        type = "log", x = 12, y = 2 + length(local.dashboard_rows) * 6, width = 12, height = 6
        properties = {
          title  = "Scheduler warnings and errors (JSON log)"
          region = local.region
          view   = "table"
          query  = "SOURCE '${aws_cloudwatch_log_group.scheduler.name}' | fields @timestamp, level, message, requestId | filter level in ['WARN', 'ERROR', 'FATAL'] | sort @timestamp desc | limit 50"
        }
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.enable_dashboard ? 1 : 0

  dashboard_name = local.name_prefix
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
