# Plan/apply against a mocked AWS provider and a mocked terraform-base state: variable
# validation, the rendered runtime spec, the schedules and the scheduler's IAM policy.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # Only values the provider validates (ARNs) need realistic shapes.
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock-dlq", name = "mock-dlq" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:mock-alerts" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:acme-shop-demo-runtime-scheduler" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:cluster/acme-shop-demo" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:us-east-1:123456789012:parameter/mock" }
  }
  mock_resource "aws_wafv2_web_acl" {
    defaults = { arn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acme-shop-demo/0000" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0a1b2c3d4e5f60021" }
  }
}

override_data {
  target = data.terraform_remote_state.base
  values = {
    outputs = {
      project                          = "acme-shop"
      environment                      = "demo"
      vpc_id                           = "vpc-0a1b2c3d4e5f60000"
      public_subnet_ids                = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
      private_subnet_ids               = ["subnet-0a1b2c3d4e5f60003", "subnet-0a1b2c3d4e5f60004"]
      private_route_table_ids          = ["rtb-0a1b2c3d4e5f60011", "rtb-0a1b2c3d4e5f60012"]
      nat_layout                       = [{ name = "a", public_subnet_id = "subnet-0a1b2c3d4e5f60001", route_table_ids = ["rtb-0a1b2c3d4e5f60011", "rtb-0a1b2c3d4e5f60012"], eip_allocation_id = null }]
      route53_zone_id                  = "Z0123456789ABCDEFGHIJ"
      app_hostname                     = "demo.example.com"
      certificate_arn                  = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
      ecr_repository_urls              = { backend = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-shop-demo/backend", frontend = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-shop-demo/frontend" }
      ecr_repository_arns              = { backend = "arn:aws:ecr:us-east-1:123456789012:repository/acme-shop-demo/backend", frontend = "arn:aws:ecr:us-east-1:123456789012:repository/acme-shop-demo/frontend" }
      ecs_task_execution_role_name     = "acme-shop-demo-ecs-task-execution"
      state_bucket_name                = "acme-shop-demo-runtime-state-123456789012"
      state_bucket_arn                 = "arn:aws:s3:::acme-shop-demo-runtime-state-123456789012"
      kms_key_arn                      = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      state_history_prefix             = "history/"
      alb_access_logs                  = { bucket = "acme-shop-demo-alb-logs-123456789012", prefix = "alb" }
      guardduty_ecs_runtime_monitoring = false
    }
  }
}

variables {
  project           = "acme-shop"
  environment       = "demo"
  product_domain    = "web"
  base_state_bucket = "acme-tf-state"
  # Any existing file: the mocked provider never reads the zip (make build-lambda writes the real one).
  lambda_zip_path = "versions.tf"
}

run "spec_renders_the_demo_tier" {
  command = apply

  assert {
    condition     = aws_s3_object.spec.key == "demo/spec.json" && aws_s3_object.spec.bucket == "acme-shop-demo-runtime-state-123456789012"
    error_message = "The spec lives at <environment>/spec.json in the state bucket."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).version == 1 && jsondecode(aws_s3_object.spec.content).environment == "demo"
    error_message = "Spec version 1 for the environment."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).tags == { Project = "acme-shop", ProductDomain = "web" }
    error_message = "Spec tags carry Project and ProductDomain, never ManagedBy or Environment."
  }
  assert {
    condition     = [for l in jsondecode(aws_s3_object.spec.content).load_balancer.listeners : l.port] == [80, 443]
    error_message = "Listeners on 80 and 443."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.listeners[0].default_action == { type = "redirect", protocol = "HTTPS", port = "443", status_code = "HTTP_301" }
    error_message = "HTTP:80 redirects to HTTPS:443."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.listeners[1].certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
    error_message = "HTTPS uses terraform-base's certificate."
  }
  assert {
    condition = jsondecode(aws_s3_object.spec.content).load_balancer.listeners[1].rules == [{
      priority      = 10
      path_patterns = ["/api/*"]
      action        = { type = "forward", target_group_arn = aws_lb_target_group.service["backend"].arn }
    }]
    error_message = "One rule: /api/* forwards to the backend target group."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.listeners[1].default_action.target_group_arn == aws_lb_target_group.service["frontend"].arn
    error_message = "Everything else goes to the frontend."
  }
  assert {
    condition     = { for s in jsondecode(aws_s3_object.spec.content).services : s.name => [s.load_balancer.container_port, s.desired_count, s.assign_public_ip] } == { backend = [8000, 1, false], frontend = [3000, 1, false] }
    error_message = "backend on 8000 and frontend on 3000, one task each, no public IP."
  }
  assert {
    condition     = [for s in jsondecode(aws_s3_object.spec.content).services : s.auto_scaling == null ? null : s.auto_scaling.max_capacity] == [4, null]
    error_message = "Only the backend auto-scales (1 to 4)."
  }
  assert {
    condition     = { for k, td in aws_ecs_task_definition.service : k => [td.cpu, td.memory] } == { backend = ["512", "1024"], frontend = ["256", "512"] }
    error_message = "Task sizes: backend 512/1024, frontend 256/512."
  }
  assert {
    condition     = { for k, tg in aws_lb_target_group.service : k => [tg.target_type, tg.port, tg.health_check[0].path] } == { backend = ["ip", 8000, "/health"], frontend = ["ip", 3000, "/"] }
    error_message = "ip target groups with the services' ports and health checks."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).nat_gateways == [{ name = "a", subnet_id = "subnet-0a1b2c3d4e5f60001", route_table_ids = ["rtb-0a1b2c3d4e5f60011", "rtb-0a1b2c3d4e5f60012"], elastic_ip = { mode = "release", allocation_id = null } }]
    error_message = "One NAT serving both private route tables, its EIP released at stop by default."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).dns_records == [{ zone_id = "Z0123456789ABCDEFGHIJ", name = "demo.example.com", types = ["A"] }]
    error_message = "One A alias record."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).schedule == { timezone = "America/New_York", start = "08:00", stop = "20:00", days = ["MON", "TUE", "WED", "THU", "FRI"], skip_dates = [] }
    error_message = "The spec's schedule is the schedule variables."
  }
  assert {
    condition = jsondecode(aws_s3_object.spec.content).timeouts == {
      nat_available_seconds = 300, nat_deleted_seconds = 300, load_balancer_active_seconds = 600, services_stable_seconds = 300, dns_in_sync_seconds = 180,
      expected              = { nat_available_seconds = 60, nat_deleted_seconds = 45, load_balancer_active_seconds = 120, services_stable_seconds = 45, dns_in_sync_seconds = 30 }
    }
    error_message = "Default timeouts."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.web_acl_arn == null
    error_message = "No WAF unless enabled."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.attributes.access_logs == { bucket = "acme-shop-demo-alb-logs-123456789012", prefix = "alb" }
    error_message = "Every ALB the scheduler creates logs to terraform-base's access-log bucket."
  }
}

run "schedules_come_from_the_same_variables_as_the_spec" {
  command = apply

  variables {
    schedule_timezone   = "Europe/London"
    schedule_start      = "07:30"
    schedule_stop       = "19:05"
    schedule_days       = ["MON", "WED"]
    schedule_skip_dates = ["2026-12-25"]
  }

  assert {
    condition     = aws_scheduler_schedule.this["start"].schedule_expression == "cron(30 7 ? * MON,WED *)" && aws_scheduler_schedule.this["stop"].schedule_expression == "cron(5 19 ? * MON,WED *)"
    error_message = "start and stop fire at the window's edges on its days."
  }
  assert {
    condition     = aws_scheduler_schedule.this["reconcile"].schedule_expression == "rate(15 minutes)"
    error_message = "reconcile every 15 minutes by default."
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.schedule_expression_timezone == "Europe/London" && s.flexible_time_window[0].mode == "OFF"])
    error_message = "Every schedule runs in the window's IANA zone, on time."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).schedule == { timezone = "Europe/London", start = "07:30", stop = "19:05", days = ["MON", "WED"], skip_dates = ["2026-12-25"] }
    error_message = "The spec carries the same window."
  }
  assert {
    condition     = jsondecode(aws_scheduler_schedule.this["start"].target[0].input) == { action = "start", trigger = "schedule", reason = "window opens 07:30 Europe/London", dry_run = false }
    error_message = "The start schedule's constant input."
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.target[0].retry_policy[0].maximum_retry_attempts == 3 && s.target[0].dead_letter_config[0].arn == aws_sqs_queue.dlq.arn])
    error_message = "Retries and a dead-letter queue on every schedule."
  }
}

run "a_window_across_midnight_stops_the_next_day" {
  command = apply

  variables {
    schedule_start             = "22:00"
    schedule_stop              = "06:00"
    schedule_days              = ["FRI", "SAT"]
    reconcile_interval_minutes = 0
  }

  assert {
    condition     = aws_scheduler_schedule.this["stop"].schedule_expression == "cron(0 6 ? * SAT,SUN *)"
    error_message = "A window opening Friday 22:00 closes Saturday 06:00."
  }
  assert {
    condition     = !contains(keys(aws_scheduler_schedule.this), "reconcile")
    error_message = "reconcile_interval_minutes = 0 creates no reconcile schedule."
  }
}

run "scheduler_function_contract" {
  command = apply

  assert {
    condition = (
      aws_lambda_function.scheduler[0].runtime == "provided.al2023" && aws_lambda_function.scheduler[0].handler == "bootstrap" &&
      aws_lambda_function.scheduler[0].architectures == tolist(["x86_64"]) && aws_lambda_function.scheduler[0].timeout == 900 &&
      aws_lambda_function.scheduler[0].memory_size == 256
    )
    error_message = "provided.al2023, bootstrap, x86_64, 900 s, 256 MB."
  }
  assert {
    condition     = aws_lambda_function.scheduler[0].environment[0].variables == tomap({ STATE_BUCKET = "acme-shop-demo-runtime-state-123456789012", ENVIRONMENT = "demo", SPEC_KEY = "demo/spec.json", HISTORY_PREFIX = "history/" })
    error_message = "The function's environment: bucket, environment, spec key and terraform-base's history prefix (no RUST_LOG: logging_config sets the level)."
  }
  assert {
    condition = (
      aws_lambda_function.scheduler[0].logging_config[0].log_format == "JSON" &&
      aws_lambda_function.scheduler[0].logging_config[0].application_log_level == "INFO" &&
      aws_lambda_function.scheduler[0].logging_config[0].system_log_level == "WARN"
    )
    error_message = "JSON logs, INFO for the function, WARN for the platform."
  }
  assert {
    condition     = aws_lambda_function.scheduler[0].dead_letter_config[0].target_arn == aws_sqs_queue.dlq.arn && length(aws_cloudwatch_metric_alarm.scheduler_errors) == 1 && length(aws_cloudwatch_metric_alarm.dead_letters) == 1
    error_message = "Failures are dead-lettered and alarmed to SNS."
  }
}

run "scheduler_role_grants_exactly_the_code_actions" {
  command = apply

  assert {
    condition = output.scheduler_iam_actions == tolist([
      "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
      "application-autoscaling:PutScalingPolicy", "application-autoscaling:RegisterScalableTarget",
      "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm",
      "ec2:AllocateAddress", "ec2:CreateNatGateway", "ec2:CreateRoute", "ec2:CreateTags", "ec2:DeleteNatGateway",
      "ec2:DeleteRoute", "ec2:DescribeAddresses", "ec2:DescribeNatGateways", "ec2:DescribeRouteTables",
      "ec2:DisassociateAddress", "ec2:ReleaseAddress", "ec2:ReplaceRoute",
      "ecs:CreateService", "ecs:DeleteService", "ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeTaskDefinition",
      "ecs:TagResource", "ecs:UntagResource", "ecs:UpdateService",
      "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateListener", "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteListener", "elasticloadbalancing:DeleteLoadBalancer",
      "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetWebAcl",
      "route53:ChangeResourceRecordSets", "route53:GetChange", "route53:ListResourceRecordSets",
      "s3:GetObject", "s3:ListBucket", "s3:PutObject",
      "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "wafv2:GetWebACLForResource",
    ])
    error_message = "The role grants exactly the actions the Rust code calls (src/aws/permissions.rs)."
  }
  assert {
    # Every mutating statement that AWS lets us condition on tags is conditioned.
    condition = alltrue([for s in jsondecode(output.scheduler_policy_json).Statement : (
      can(s.Condition.StringEquals["aws:RequestTag/ManagedBy"]) || can(s.Condition.StringEquals["aws:ResourceTag/ManagedBy"])
      ) if contains([
        "Ec2CreateOwnedNatGateway", "Ec2DeleteOwnedNatGateway", "Ec2AllocateOwnedAddress", "Ec2ReleaseOwnedAddress",
        "ElbCreateOwnedLoadBalancer", "ElbChangeOwnedLoadBalancer", "ElbDeleteOwnedListener", "EcsCreateOwnedService", "EcsChangeOwnedService",
    ], s.Sid)])
    error_message = "Mutations of NAT gateways, addresses, the ALB and services are conditioned on ManagedBy."
  }
  assert {
    condition     = one([for s in jsondecode(output.scheduler_policy_json).Statement : s.Resource if s.Sid == "Ec2DefaultRouteOfPrivateRouteTables"]) == ["arn:aws:ec2:us-east-1:123456789012:route-table/rtb-0a1b2c3d4e5f60011", "arn:aws:ec2:us-east-1:123456789012:route-table/rtb-0a1b2c3d4e5f60012"]
    error_message = "Routes only in the private route tables."
  }
  assert {
    condition     = one([for s in jsondecode(output.scheduler_policy_json).Statement : s.Condition if s.Sid == "Route53ChangeAppAliasRecords"])["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == ["demo.example.com", "_runtime-scheduler.demo.example.com"]
    error_message = "Route53 changes only the application's record and its ownership TXT record."
  }
  assert {
    condition     = one([for s in jsondecode(output.scheduler_policy_json).Statement : s.Resource if s.Sid == "StateObjectsOfEnvironment"]) == ["arn:aws:s3:::acme-shop-demo-runtime-state-123456789012/demo/*"]
    error_message = "S3 objects only under <environment>/."
  }
  assert {
    # IAM's limit for a role's inline policies is 10,240 characters (whitespace excluded).
    condition     = length(output.scheduler_policy_json) < 10240
    error_message = "The scheduler's policy no longer fits in an inline role policy (${length(output.scheduler_policy_json)} characters)."
  }
}

run "waf_and_kept_addresses_reach_the_spec" {
  command = apply

  variables {
    enable_waf          = true
    nat_elastic_ip_mode = "keep"
  }

  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.web_acl_arn == aws_wafv2_web_acl.this[0].arn
    error_message = "The web ACL goes into the spec."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).nat_gateways[0].elastic_ip.mode == "keep"
    error_message = "nat_elastic_ip_mode reaches the spec."
  }
}

run "persistent_addresses_from_base_are_external" {
  command = apply

  override_data {
    target = data.terraform_remote_state.base
    values = {
      outputs = {
        project                          = "acme-shop"
        environment                      = "demo"
        vpc_id                           = "vpc-0a1b2c3d4e5f60000"
        public_subnet_ids                = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
        private_subnet_ids               = ["subnet-0a1b2c3d4e5f60003", "subnet-0a1b2c3d4e5f60004"]
        private_route_table_ids          = ["rtb-0a1b2c3d4e5f60011", "rtb-0a1b2c3d4e5f60012"]
        nat_layout                       = [{ name = "a", public_subnet_id = "subnet-0a1b2c3d4e5f60001", route_table_ids = ["rtb-0a1b2c3d4e5f60011", "rtb-0a1b2c3d4e5f60012"], eip_allocation_id = "eipalloc-0a1b2c3d4e5f60099" }]
        route53_zone_id                  = "Z0123456789ABCDEFGHIJ"
        app_hostname                     = "demo.example.com"
        certificate_arn                  = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
        ecr_repository_urls              = { backend = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-shop-demo/backend", frontend = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-shop-demo/frontend" }
        ecr_repository_arns              = { backend = "arn:aws:ecr:us-east-1:123456789012:repository/acme-shop-demo/backend", frontend = "arn:aws:ecr:us-east-1:123456789012:repository/acme-shop-demo/frontend" }
        ecs_task_execution_role_name     = "acme-shop-demo-ecs-task-execution"
        state_bucket_name                = "acme-shop-demo-runtime-state-123456789012"
        state_bucket_arn                 = "arn:aws:s3:::acme-shop-demo-runtime-state-123456789012"
        kms_key_arn                      = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
        state_history_prefix             = "history/"
        alb_access_logs                  = null
        guardduty_ecs_runtime_monitoring = true
      }
    }
  }

  assert {
    condition     = jsondecode(aws_s3_object.spec.content).load_balancer.attributes.access_logs == null
    error_message = "Without terraform-base's access-log bucket the spec asks for no access logs."
  }
  assert {
    condition     = contains([for st in data.aws_iam_policy_document.task_execution.statement : st.sid], "PullGuardDutyAgent")
    error_message = "With GuardDuty Runtime Monitoring the task execution role may pull the agent image."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).nat_gateways[0].elastic_ip == { mode = "external", allocation_id = "eipalloc-0a1b2c3d4e5f60099" }
    error_message = "A persistent EIP of terraform-base is used as 'external'."
  }
  assert {
    condition     = one([for s in jsondecode(output.scheduler_policy_json).Statement : s.Resource if s.Sid == "Ec2UseExternalAddresses"]) == ["arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-0a1b2c3d4e5f60099"]
    error_message = "The scheduler may use exactly that address."
  }
}

run "no_external_address_statement_without_persistent_addresses" {
  command = apply

  assert {
    condition     = length([for s in jsondecode(output.scheduler_policy_json).Statement : s if s.Sid == "Ec2UseExternalAddresses"]) == 0
    error_message = "No statement with an empty resource list."
  }
}

run "rejects_two_default_services" {
  command = plan
  variables {
    services = {
      a = { cpu = 256, memory = 512, container_port = 80, health_check_path = "/" }
      b = { cpu = 256, memory = 512, container_port = 81, health_check_path = "/" }
    }
  }
  expect_failures = [var.services]
}

run "rejects_an_impossible_fargate_size" {
  command = plan
  variables {
    services = {
      web = { cpu = 512, memory = 512, container_port = 3000, health_check_path = "/" }
    }
  }
  expect_failures = [var.services]
}

run "rejects_duplicate_rule_priorities_and_bad_ports" {
  command = plan
  variables {
    services = {
      web = { cpu = 256, memory = 512, container_port = 3000, health_check_path = "/" }
      a   = { cpu = 256, memory = 512, container_port = 8000, health_check_path = "/h", path_patterns = ["/a/*"], rule_priority = 5 }
      b   = { cpu = 256, memory = 512, container_port = 70000, health_check_path = "/h", path_patterns = ["/b/*"], rule_priority = 5 }
    }
  }
  expect_failures = [var.services]
}

run "rejects_a_desired_count_outside_the_scaling_bounds" {
  command = plan
  variables {
    services = {
      web = { cpu = 256, memory = 512, container_port = 3000, health_check_path = "/", desired_count = 5, auto_scaling = { min_capacity = 1, max_capacity = 2 } }
    }
  }
  expect_failures = [var.services]
}

run "rejects_bad_schedule_values" {
  command = plan
  variables {
    schedule_start      = "8:00"
    schedule_days       = ["MONDAY"]
    schedule_skip_dates = ["25/12/2026"]
    schedule_timezone   = "new york"
  }
  expect_failures = [var.schedule_start, var.schedule_days, var.schedule_skip_dates, var.schedule_timezone]
}

run "rejects_a_stop_time_past_midnight" {
  command = plan
  variables {
    schedule_stop = "24:00"
  }
  expect_failures = [var.schedule_stop]
}

run "rejects_an_empty_window" {
  command = plan
  variables {
    schedule_start = "08:00"
    schedule_stop  = "08:00"
  }
  expect_failures = [var.schedule_stop]
}

run "rejects_reserved_spec_tags" {
  command = plan
  variables {
    extra_tags = { Environment = "prod" }
  }
  expect_failures = [var.extra_tags]
}

run "rejects_bad_function_settings" {
  command = plan
  variables {
    lambda_architecture = "arm"
    lambda_memory_mb    = 64
    scheduler_timeouts  = { services_stable_seconds = 1200 }
  }
  expect_failures = [var.lambda_architecture, var.lambda_memory_mb, var.scheduler_timeouts]
}

run "local_runs_can_shorten_the_service_wait" {
  command = apply
  variables {
    scheduler_timeouts = { services_stable_seconds = 2 }
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).timeouts.services_stable_seconds == 2 && jsondecode(aws_s3_object.spec.content).timeouts.nat_available_seconds == 300
    error_message = "scheduler_timeouts overrides only what it sets."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).timeouts.expected.load_balancer_active_seconds == 120
    error_message = "The expected durations default to the low end of what AWS takes."
  }
}

run "monitoring_follows_the_recreated_tier" {
  command = apply

  assert {
    # No ALB (app/<name>/<16 hex>) or NAT gateway id anywhere: they change every morning.
    condition     = !can(regex("app/[A-Za-z0-9-]+/[0-9a-f]{16}|nat-[0-9a-f]{8,17}|\"LoadBalancer\",\"app/|\"NatGatewayId\",\"", aws_cloudwatch_dashboard.this[0].dashboard_body))
    error_message = "The dashboard names a fixed ALB or NAT gateway."
  }
  assert {
    condition     = strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "WHERE TargetGroup = '${aws_lb_target_group.service["backend"].arn_suffix}'")
    error_message = "ALB widgets select the (stable) target group with Metrics Insights."
  }
  assert {
    condition     = length(local.all_alarms) == 16 && alltrue([for a in local.all_alarms : a.alarm_actions == toset([aws_sns_topic.alerts.arn]) && a.ok_actions == toset([aws_sns_topic.alerts.arn])])
    error_message = "16 alarms by default (6 scheduler, 5 per service), each notifying the alert topic on ALARM and OK."
  }
  assert {
    condition     = [for a in local.all_alarms : a.alarm_name if a.treat_missing_data != "notBreaching"] == ["acme-shop-demo-scheduler-silent"]
    error_message = "Only the scheduler's silence counts missing data as breaching: a sleeping tier never alarms."
  }
  assert {
    condition     = alltrue([for a in local.all_alarms : !contains(keys(coalesce(a.dimensions, {})), "LoadBalancer") && !can(regex("app/[A-Za-z0-9-]+/[0-9a-f]{16}|nat-[0-9a-f]{8,17}", jsonencode(a.metric_query)))])
    error_message = "No alarm watches a fixed ALB or NAT gateway."
  }
  assert {
    condition     = one(aws_cloudwatch_metric_alarm.service_target_5xx["backend"].metric_query).expression == "SELECT SUM(HTTPCode_Target_5XX_Count) FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer, TargetGroup) WHERE TargetGroup = '${aws_lb_target_group.service["backend"].arn_suffix}'"
    error_message = "Target 5xx of a service: Metrics Insights over its target group, whatever the ALB."
  }
  assert {
    condition     = jsonencode(output.service_deployment_alarm_names) == jsonencode({ backend = ["acme-shop-demo-backend-target-5xx"], frontend = ["acme-shop-demo-frontend-target-5xx"] })
    error_message = "Each service's deployment alarm is its targets' 5xx."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.tier_not_running[0].evaluation_periods == 2 && [for q in aws_cloudwatch_metric_alarm.tier_not_running[0].metric_query : one(q.metric).period if length(q.metric) > 0] == [900, 900]
    error_message = "The tier may differ from the wanted phase for 2 reconcile periods (30 minutes) before alarming."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.alb_5xx) == 0 && length(aws_cloudwatch_metric_alarm.nat_port_allocation) == 0 && !strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "tag.ManagedBy")
    error_message = "Tag-based queries only when the account has resource tags on telemetry."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.ecr_scan_findings[0].event_pattern).detail["repository-name"] == [{ prefix = "acme-shop-demo/" }] && aws_cloudwatch_event_target.ecr_scan_findings[0].arn == aws_sns_topic.alerts.arn
    error_message = "HIGH and CRITICAL ECR findings of this environment's repositories reach the alert topic."
  }
  assert {
    condition     = length(aws_sns_topic_subscription.alerts_webhook) == 0 && length(aws_chatbot_slack_channel_configuration.alerts) == 0
    error_message = "No webhook or Chatbot unless configured."
  }
}

run "tag_based_metrics_add_alb_and_nat_alarms" {
  command = apply

  variables {
    enable_tag_based_metrics = true
  }

  assert {
    condition     = one(aws_cloudwatch_metric_alarm.nat_port_allocation[0].metric_query).expression == "SELECT SUM(ErrorPortAllocation) FROM SCHEMA(\"AWS/NATGateway\", NatGatewayId) WHERE tag.ManagedBy = 'runtime-scheduler' AND tag.Environment = 'demo'"
    error_message = "NAT gateways are selected by the scheduler's ownership tags."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.alb_5xx) == 1 && length(local.all_alarms) == 18 && strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "tag.ManagedBy = 'runtime-scheduler'")
    error_message = "The ALB's own 5xx alarm and tag-based widgets."
  }
}

run "without_alarms_nothing_pages" {
  command = apply

  variables {
    enable_alarms = false
  }

  assert {
    condition     = length(local.all_alarms) == 0 && jsonencode(output.service_deployment_alarm_names) == jsonencode({ backend = [], frontend = [] })
    error_message = "No alarms, empty deployment alarm lists."
  }
  assert {
    condition     = !strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "\"type\":\"alarm\"")
    error_message = "No alarm widget without alarms (it needs at least one)."
  }
}

run "chat_notifications" {
  command = plan

  variables {
    alert_webhook_url = "https://chat-relay.example.com/sns/abc123"
    chatbot_slack     = { team_id = "T07EA123LEP", channel_id = "C07EZ1ABC23" }
  }

  assert {
    condition     = aws_sns_topic_subscription.alerts_webhook[0].protocol == "https" && aws_chatbot_slack_channel_configuration.alerts[0].sns_topic_arns == toset([aws_sns_topic.alerts.arn])
    error_message = "The HTTPS relay and the Slack channel both subscribe to the alert topic."
  }
  assert {
    condition     = aws_chatbot_slack_channel_configuration.alerts[0].guardrail_policy_arns == tolist(["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"])
    error_message = "Chatbot's guardrail is read-only, not the default AdministratorAccess."
  }
}

run "no_secret_in_plain_text" {
  command = apply

  variables {
    services = {
      backend = {
        cpu         = 256, memory = 512, container_port = 3000, health_check_path = "/"
        environment = { LOG_LEVEL = "info" }
        secrets     = ["DATABASE_URL", "STRIPE_API_KEY"]
      }
    }
  }

  assert {
    condition = alltrue([for c in jsondecode(aws_ecs_task_definition.service["backend"].container_definitions) : (
      [for e in c.environment : e.name] == ["LOG_LEVEL"] &&
      [for x in c.secrets : x.name] == ["DATABASE_URL", "STRIPE_API_KEY"] &&
      alltrue([for x in c.secrets : contains([for p in aws_ssm_parameter.secret : p.arn], x.valueFrom)])
    )])
    error_message = "Secrets are references to SSM parameters (valueFrom), never environment values."
  }
  assert {
    condition     = !strcontains(aws_ecs_task_definition.service["backend"].container_definitions, aws_ssm_parameter.secret["backend/DATABASE_URL"].value)
    error_message = "The parameter's value never appears in the task definition."
  }
  assert {
    condition     = alltrue([for p in aws_ssm_parameter.secret : p.type == "SecureString" && p.key_id == "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"])
    error_message = "SecureString parameters encrypted with the environment's key."
  }
}

run "rejects_a_secret_as_a_plain_variable" {
  command = plan
  variables {
    services = {
      web = { cpu = 256, memory = 512, container_port = 3000, health_check_path = "/", environment = { DB_PASSWORD = "hunter2" } }
    }
  }
  expect_failures = [var.services]
}

run "rejects_a_name_both_plain_and_secret" {
  command = plan
  variables {
    services = {
      web = { cpu = 256, memory = 512, container_port = 3000, health_check_path = "/", environment = { FEATURE = "x" }, secrets = ["FEATURE"] }
    }
  }
  expect_failures = [var.services]
}

run "rejects_bad_log_levels_and_chat_settings" {
  command = plan
  variables {
    scheduler_application_log_level = "VERBOSE"
    scheduler_system_log_level      = "ERROR"
    alert_webhook_url               = "http://insecure.example.com/hook"
    chatbot_slack                   = { team_id = "acme", channel_id = "#alerts" }
    tier_mismatch_grace_minutes     = 5
  }
  expect_failures = [var.scheduler_application_log_level, var.scheduler_system_log_level, var.alert_webhook_url, var.chatbot_slack, var.tier_mismatch_grace_minutes]
}

# terraform-base's GitHub roles name these resources by pattern (github_deploy.tf), because this
# root is applied after that one; a rename here must be a rename there.
run "names_the_github_roles_rely_on" {
  command = plan

  assert {
    condition = (
      aws_ecs_cluster.this.name == "acme-shop-demo" &&
      aws_ecs_task_definition.service["backend"].family == "acme-shop-demo-backend" &&
      aws_iam_role.task["backend"].name == "acme-shop-demo-ecs-backend-task" &&
      aws_iam_role.task_execution.name == "acme-shop-demo-ecs-task-execution" &&
      aws_iam_role.scheduler.name == "acme-shop-demo-runtime-scheduler" &&
      aws_iam_role.schedules[0].name == "acme-shop-demo-schedules" &&
      aws_lambda_function.scheduler[0].function_name == "acme-shop-demo-runtime-scheduler" &&
      aws_sqs_queue.dlq.name == "acme-shop-demo-runtime-scheduler-dlq" &&
      aws_sns_topic.alerts.name == "acme-shop-demo-runtime-scheduler-alerts" &&
      aws_lb_target_group.service["backend"].name == "acme-shop-demo-backend" &&
      aws_ssm_parameter.secret["backend/DATABASE_URL"].name == "/acme-shop/demo/backend/DATABASE_URL"
    )
    error_message = "A name terraform-base's GitHub roles are scoped to changed; change github_deploy.tf with it."
  }
  assert {
    condition     = alltrue([for td in aws_ecs_task_definition.service : td.skip_destroy])
    error_message = "Terraform keeps the revisions it replaces: services and rollbacks may still use them."
  }
}

run "spec_carries_sizes_prices_and_deployment_alarms" {
  command = apply

  variables {
    prices = { nat_gateway_hour = 0.052 }
  }

  assert {
    condition     = [for s in jsondecode(aws_s3_object.spec.content).services : s.size] == [{ cpu = 512, memory = 1024 }, { cpu = 256, memory = 512 }]
    error_message = "Each service's task size is in the spec, for the Fargate part of the savings."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).prices.nat_gateway_hour == 0.052 && jsondecode(aws_s3_object.spec.content).prices.fargate_vcpu_hour == 0.04048
    error_message = "Prices set in Terraform reach the spec; the others keep their defaults."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).services[0].deployment.alarm_names == [aws_cloudwatch_metric_alarm.service_target_5xx[jsondecode(aws_s3_object.spec.content).services[0].name].alarm_name]
    error_message = "A deployment that makes the targets answer 5xx rolls back (ECS deployment alarms)."
  }
}
