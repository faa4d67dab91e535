# The runtime spec (version 1, see docs/runtime-spec.example.json and src/spec.rs): what the
# scheduler builds at start and removes at stop. Rendered from the same variables and resources
# as the rest of this root, so a change to a rule, a count or the schedule is a Terraform change
# that the next start (or reconcile) applies.

locals {
  forward_to = { for k, tg in aws_lb_target_group.service : k => { type = "forward", target_group_arn = tg.arn } }

  schedule = {
    timezone   = var.schedule_timezone
    start      = var.schedule_start
    stop       = var.schedule_stop
    days       = var.schedule_days
    skip_dates = var.schedule_skip_dates
  }

  spec = {
    "$comment"  = "Runtime spec v1 for '${var.environment}', rendered by terraform-runtime (spec.tf). Do not edit: terraform apply overwrites it."
    version     = 1
    environment = var.environment
    tags        = local.spec_tags

    nat_gateways = [for n in local.base.nat_layout : {
      name            = n.name
      subnet_id       = n.public_subnet_id
      route_table_ids = n.route_table_ids
      elastic_ip = {
        mode          = n.eip_allocation_id != null ? "external" : var.nat_elastic_ip_mode
        allocation_id = n.eip_allocation_id
      }
    }]

    load_balancer = {
      name               = local.alb_name
      scheme             = "internet-facing"
      ip_address_type    = "ipv4"
      subnet_ids         = local.base.public_subnet_ids
      security_group_ids = [aws_security_group.alb.id]
      attributes = {
        idle_timeout_seconds       = var.alb_idle_timeout_seconds
        drop_invalid_header_fields = true
        # Set on every ALB the scheduler creates (terraform-base's bucket; null without it).
        access_logs = local.base.alb_access_logs
      }
      listeners = [
        {
          port           = 80
          protocol       = "HTTP"
          default_action = { type = "redirect", protocol = "HTTPS", port = "443", status_code = "HTTP_301" }
          rules          = []
        },
        {
          port            = 443
          protocol        = "HTTPS"
          certificate_arn = local.base.certificate_arn
          ssl_policy      = var.alb_ssl_policy
          default_action  = local.forward_to[local.default_service]
          rules = [for k, s in local.routed_services : {
            priority      = s.rule_priority
            path_patterns = s.path_patterns
            action        = local.forward_to[k]
          }]
        },
      ]
      web_acl_arn = var.enable_waf ? aws_wafv2_web_acl.this[0].arn : null
    }

    dns_records = [{
      zone_id = local.base.route53_zone_id
      name    = local.base.app_hostname
      types   = var.dns_record_types
    }]

    services = [for k, s in var.services : {
      cluster         = aws_ecs_cluster.this.name
      name            = k
      task_definition = aws_ecs_task_definition.service[k].family
      desired_count   = s.desired_count
      # The task size, for the savings in status and report (Fargate bills by it).
      size               = { cpu = s.cpu, memory = s.memory }
      subnet_ids         = local.base.private_subnet_ids
      security_group_ids = [aws_security_group.tasks.id]
      assign_public_ip   = false
      load_balancer = {
        target_group_arn = aws_lb_target_group.service[k].arn
        container_name   = k
        container_port   = s.container_port
      }
      health_check_grace_period_seconds = s.health_check_grace_period_seconds
      deployment = {
        circuit_breaker         = true
        rollback                = true
        minimum_healthy_percent = 100
        maximum_percent         = 200
        # ECS deployment alarms: a deployment that makes the targets answer 5xx rolls back.
        alarm_names = var.enable_alarms ? [aws_cloudwatch_metric_alarm.service_target_5xx[k].alarm_name] : []
      }
      auto_scaling = s.auto_scaling == null ? null : {
        min_capacity    = s.auto_scaling.min_capacity
        max_capacity    = s.auto_scaling.max_capacity
        target_tracking = { metric = s.auto_scaling.metric, target_value = s.auto_scaling.target_value }
      }
    }]

    schedule = local.schedule
    timeouts = var.scheduler_timeouts
    # Wake on request and sleep when idle (wake.tf); null when enable_wake_on_request is off.
    wake = local.wake_spec
    # Prices for the savings report; null keeps the scheduler's us-east-1 defaults.
    prices = var.prices
  }
}

resource "aws_s3_object" "spec" {
  bucket       = local.base.state_bucket_name
  key          = local.spec_key
  content      = jsonencode(local.spec)
  content_type = "application/json"
  kms_key_id   = local.base.kms_key_arn

  lifecycle {
    precondition {
      condition     = local.base.environment == var.environment && local.base.project == var.project
      error_message = "project/environment (${var.project}/${var.environment}) differ from terraform-base's (${local.base.project}/${local.base.environment}): check base_state_key."
    }
    precondition {
      condition     = length(setintersection(keys(local.spec_tags), ["ManagedBy", "Environment"])) == 0
      error_message = "The spec's tags may not contain ManagedBy or Environment: the scheduler sets them itself."
    }
  }
}
