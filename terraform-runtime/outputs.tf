output "scheduler_iam_actions" {
  description = "Sorted \"service:Action\" list the scheduler's role grants for the code's own calls (compared with `runtime-scheduler permissions`). Excludes the platform permissions: logs on its log group, KMS via S3, SQS on its dead-letter queue."
  value       = local.scheduler_iam_actions
}

output "scheduler_policy_json" {
  description = "The scheduler role's inline policy."
  value       = local.scheduler_policy
}

output "spec_json" {
  description = "The rendered runtime spec."
  value       = aws_s3_object.spec.content
}

output "spec_s3_uri" {
  description = "Where the scheduler reads the spec."
  value       = "s3://${local.base.state_bucket_name}/${local.spec_key}"
}

output "state_bucket_name" {
  description = "The scheduler's STATE_BUCKET."
  value       = local.base.state_bucket_name
}

output "environment" {
  description = "The scheduler's ENVIRONMENT."
  value       = var.environment
}

output "scheduler_function_name" {
  description = "Name of the scheduler function (null when create_scheduler_function is false)."
  value       = var.create_scheduler_function ? aws_lambda_function.scheduler[0].function_name : null
}

output "scheduler_function_arn" {
  description = "ARN of the scheduler function (null when create_scheduler_function is false)."
  value       = var.create_scheduler_function ? aws_lambda_function.scheduler[0].arn : null
}

output "scheduler_role_arn" {
  description = "The scheduler's execution role."
  value       = aws_iam_role.scheduler.arn
}

output "schedules" {
  description = "EventBridge Scheduler schedules: name => expression (in schedule_timezone)."
  value       = { for k, s in aws_scheduler_schedule.this : s.name => s.schedule_expression }
}

output "schedule_expressions" {
  description = "The cron/rate expressions rendered from the schedule variables (whether or not the schedules are created)."
  value       = { for k, s in local.schedules : k => s.expression }
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue of undeliverable or failed scheduler events."
  value       = aws_sqs_queue.dlq.url
}

output "alert_topic_arn" {
  description = "The alert topic: every alarm, the budget and security findings publish here."
  value       = aws_sns_topic.alerts.arn
}

output "cluster_name" {
  description = "ECS cluster (carries the runtime-scheduler:override tags)."
  value       = aws_ecs_cluster.this.name
}

output "target_group_arns" {
  description = "Target group ARN per service."
  value       = { for k, tg in aws_lb_target_group.service : k => tg.arn }
}

output "task_definition_families" {
  description = "Task definition family per service."
  value       = { for k, td in aws_ecs_task_definition.service : k => td.family }
}

output "security_group_ids" {
  description = "Security groups of the ALB and of the tasks."
  value       = { alb = aws_security_group.alb.id, tasks = aws_security_group.tasks.id }
}

output "web_acl_arn" {
  description = "WAF web ACL (null unless enable_waf)."
  value       = var.enable_waf ? aws_wafv2_web_acl.this[0].arn : null
}

output "secret_parameter_names" {
  description = "SSM SecureString parameters to fill in (aws ssm put-parameter --overwrite --type SecureString)."
  value       = [for p in aws_ssm_parameter.secret : p.name]
}

output "dashboard_name" {
  description = "The environment's CloudWatch dashboard (null when enable_dashboard is false)."
  value       = var.enable_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}

output "alarm_names" {
  description = "Every alarm of this root; each notifies alert_topic_arn on ALARM and OK."
  value       = sort([for a in local.all_alarms : a.alarm_name])
}

output "service_deployment_alarm_names" {
  description = "Per service, the alarms suited to ECS deployment alarms (rollback when they fire during a deployment): its targets' 5xx. Empty lists when enable_alarms is false."
  value       = { for k in keys(var.services) : k => var.enable_alarms ? [aws_cloudwatch_metric_alarm.service_target_5xx[k].alarm_name] : [] }
}

output "scheduler_log_group_name" {
  description = "The scheduler's log group (JSON lines, one EMF metrics document per invocation)."
  value       = aws_cloudwatch_log_group.scheduler.name
}

output "wake_front_url" {
  description = "The front's execute-api endpoint (null unless enable_wake_on_request); visitors use the application's names once the scheduler points them here."
  value       = local.wake ? aws_apigatewayv2_api.front[0].api_endpoint : null
}

output "wake_front_function_name" {
  description = "The wake-front function (null unless enable_wake_on_request)."
  value       = local.wake ? aws_lambda_function.wake_front[0].function_name : null
}

output "wake_front_policy_json" {
  description = "The wake-front role's inline policy (null unless enable_wake_on_request)."
  value       = local.wake ? local.wake_front_policy : null
}

output "wake_token_key_parameter_name" {
  description = "SSM SecureString holding the front's token key; rotate with terraform apply -replace='aws_ssm_parameter.wake_token_key[0]'."
  value       = local.wake ? aws_ssm_parameter.wake_token_key[0].name : null
}

output "idle_alarm_name" {
  description = "The idle alarm (null unless idle_minutes is set)."
  value       = local.idle ? aws_cloudwatch_metric_alarm.idle[0].alarm_name : null
}

output "idle_metrics_query" {
  description = "The alarm's Metrics Insights query; check it sees the ALB after a start (aws cloudwatch get-metric-data)."
  value       = local.idle_query
}

