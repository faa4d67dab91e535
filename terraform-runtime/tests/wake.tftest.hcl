# Wake on request and sleep when idle (wake.tf, idle.tf) against a mocked AWS provider and a
# mocked terraform-base state: off by default, the spec's wake block and the front's
# WAKE_CONFIG agree, the front's role grants exactly what it needs, and the validations.

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
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0a1b2c3d4e5f60021" }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = { execution_arn = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5", api_endpoint = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:acme-shop-demo-idle" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/acme-shop-demo-idle" }
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
  # Any existing file: the mocked provider never reads the zips (make build-lambda writes the real ones).
  lambda_zip_path = "versions.tf"
  front_zip_path  = "versions.tf"
}

run "wake_is_off_by_default_and_creates_nothing" {
  command = apply

  assert {
    condition = (
      length(aws_apigatewayv2_api.front) + length(aws_apigatewayv2_integration.front) + length(aws_apigatewayv2_route.front) +
      length(aws_apigatewayv2_stage.front) + length(aws_apigatewayv2_domain_name.front) + length(aws_apigatewayv2_api_mapping.front) +
      length(aws_lambda_function.wake_front) + length(aws_lambda_permission.wake_front_from_api) + length(aws_iam_role.wake_front) +
      length(aws_iam_role_policy.wake_front) + length(aws_ssm_parameter.wake_token_key) + length(aws_cloudwatch_log_group.wake_front) +
      length(aws_cloudwatch_log_group.wake_access) + length(aws_cloudwatch_metric_alarm.idle) + length(aws_cloudwatch_event_rule.idle) +
      length(aws_cloudwatch_event_target.idle) + length(aws_lambda_permission.scheduler_from_idle_rule)
    ) == 0
    error_message = "enable_wake_on_request = false creates no front, token key, alarm or rule."
  }
  assert {
    condition     = jsondecode(aws_s3_object.spec.content).wake == null
    error_message = "The spec's wake is null when the toggle is off."
  }
  assert {
    condition     = output.wake_front_url == null && output.wake_front_policy_json == null && output.idle_alarm_name == null
    error_message = "The wake outputs are null when the toggle is off."
  }
  assert {
    condition     = keys(aws_scheduler_schedule.this) == ["reconcile", "start", "stop"]
    error_message = "The window's schedules stay as they were."
  }
}

run "wake_renders_one_contract_for_the_front_and_the_scheduler" {
  command = apply

  variables {
    enable_wake_on_request = true
    wake_title             = "Acme shop (demo)"
    wake_allowed_cidrs     = ["203.0.113.0/24", "2001:db8::/32"]
    wake_api_secret_sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
    idle_minutes           = 30
  }

  assert {
    # WAKE_CONFIG is exactly the spec's wake block without front.
    condition = jsondecode(aws_lambda_function.wake_front[0].environment[0].variables["WAKE_CONFIG"]) == {
      for k, v in jsondecode(aws_s3_object.spec.content).wake : k => v if k != "front"
    }
    error_message = "WAKE_CONFIG and the spec's wake block (minus front) differ."
  }
  assert {
    condition = jsondecode(aws_lambda_function.wake_front[0].environment[0].variables["WAKE_CONFIG"]) == {
      title             = "Acme shop (demo)"
      default_hours     = 2
      max_hours         = 8
      allowed_cidrs     = ["203.0.113.0/24", "2001:db8::/32"]
      api_secret_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      idle_minutes      = 30
      idle_alarm_name   = "acme-shop-demo-idle"
      on_demand         = false
    }
    error_message = "WAKE_CONFIG: the variables, the secret's hash in lower case, the idle alarm's name."
  }
  assert {
    condition = jsondecode(aws_s3_object.spec.content).wake.front == [{
      name           = "demo.example.com"
      dns_name       = aws_apigatewayv2_domain_name.front["demo.example.com"].domain_name_configuration[0].target_domain_name
      hosted_zone_id = aws_apigatewayv2_domain_name.front["demo.example.com"].domain_name_configuration[0].hosted_zone_id
    }]
    error_message = "One front entry per hostname: the domain's regional target and its hosted zone."
  }
  assert {
    condition = aws_lambda_function.wake_front[0].environment[0].variables == tomap({
      ENVIRONMENT         = "demo"
      STATE_BUCKET        = "acme-shop-demo-runtime-state-123456789012"
      SCHEDULER_FUNCTION  = "acme-shop-demo-runtime-scheduler"
      TOKEN_KEY_PARAMETER = "/acme-shop/demo/wake-front/token-key"
      WAKE_CONFIG         = aws_lambda_function.wake_front[0].environment[0].variables["WAKE_CONFIG"]
    })
    error_message = "The front's environment is exactly the contract with the Rust code."
  }
  assert {
    condition = (
      aws_lambda_function.wake_front[0].function_name == "acme-shop-demo-wake-front" && aws_lambda_function.wake_front[0].runtime == "provided.al2023" &&
      aws_lambda_function.wake_front[0].handler == "bootstrap" && aws_lambda_function.wake_front[0].architectures == tolist(["x86_64"]) &&
      aws_lambda_function.wake_front[0].logging_config[0].log_format == "JSON"
    )
    error_message = "provided.al2023, bootstrap, the scheduler's architecture, JSON logs."
  }
  assert {
    condition = (
      aws_apigatewayv2_api.front[0].protocol_type == "HTTP" && aws_apigatewayv2_route.front[0].route_key == "$default" &&
      aws_apigatewayv2_route.front[0].target == "integrations/${aws_apigatewayv2_integration.front[0].id}" &&
      aws_apigatewayv2_integration.front[0].integration_type == "AWS_PROXY" && aws_apigatewayv2_integration.front[0].payload_format_version == "2.0"
    )
    error_message = "An HTTP API whose $default route proxies to the front (payload 2.0)."
  }
  assert {
    condition = (
      aws_apigatewayv2_stage.front[0].name == "$default" && aws_apigatewayv2_stage.front[0].auto_deploy &&
      aws_apigatewayv2_stage.front[0].default_route_settings[0].throttling_burst_limit == 20 &&
      aws_apigatewayv2_stage.front[0].default_route_settings[0].throttling_rate_limit == 10 &&
      aws_apigatewayv2_stage.front[0].access_log_settings[0].destination_arn == aws_cloudwatch_log_group.wake_access[0].arn
    )
    error_message = "The $default stage auto-deploys, is throttled (burst 20, 10/s) and logs every request."
  }
  assert {
    condition = (
      aws_lambda_permission.wake_front_from_api[0].principal == "apigateway.amazonaws.com" &&
      aws_lambda_permission.wake_front_from_api[0].source_arn == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/$default"
    )
    error_message = "Only this API's $default route may invoke the front."
  }
  assert {
    condition = (
      aws_apigatewayv2_domain_name.front["demo.example.com"].domain_name_configuration[0].certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100" &&
      aws_apigatewayv2_domain_name.front["demo.example.com"].domain_name_configuration[0].endpoint_type == "REGIONAL" &&
      aws_apigatewayv2_domain_name.front["demo.example.com"].domain_name_configuration[0].security_policy == "TLS_1_2" &&
      aws_apigatewayv2_api_mapping.front["demo.example.com"].stage == aws_apigatewayv2_stage.front[0].id
    )
    error_message = "A regional TLS 1.2 domain with terraform-base's certificate, mapped to the $default stage."
  }
  assert {
    condition = (
      aws_ssm_parameter.wake_token_key[0].type == "SecureString" && aws_ssm_parameter.wake_token_key[0].name == "/acme-shop/demo/wake-front/token-key" &&
      aws_ssm_parameter.wake_token_key[0].key_id == "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" &&
      can(regex("^[0-9a-f]{64}$", aws_ssm_parameter.wake_token_key[0].value))
    )
    error_message = "The token key: a SecureString of 64 hex digits under the environment's KMS key."
  }
  assert {
    condition = one(aws_cloudwatch_metric_alarm.idle[0].metric_query).expression == join(" ", [
      "SELECT SUM(RequestCount) FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer)",
      "WHERE tag.ManagedBy = 'runtime-scheduler' AND tag.Environment = 'demo' AND tag.Project = 'acme-shop'",
    ])
    error_message = "The idle query follows every ALB the scheduler creates for this environment, by its tags."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.idle[0].alarm_name == "acme-shop-demo-idle" && one(aws_cloudwatch_metric_alarm.idle[0].metric_query).period == 60 &&
      aws_cloudwatch_metric_alarm.idle[0].evaluation_periods == 30 && aws_cloudwatch_metric_alarm.idle[0].datapoints_to_alarm == 30 &&
      aws_cloudwatch_metric_alarm.idle[0].comparison_operator == "LessThanThreshold" && aws_cloudwatch_metric_alarm.idle[0].threshold == 1 &&
      aws_cloudwatch_metric_alarm.idle[0].treat_missing_data == "breaching"
    )
    error_message = "ALARM after 30 one-minute periods without a request; no datapoint counts as none."
  }
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.idle[0].event_pattern) == {
      source        = ["aws.cloudwatch"]
      "detail-type" = ["CloudWatch Alarm State Change"]
      resources     = [aws_cloudwatch_metric_alarm.idle[0].arn]
    }
    error_message = "The rule matches the idle alarm's state changes only."
  }
  assert {
    condition = (
      aws_cloudwatch_event_target.idle[0].arn == aws_lambda_function.scheduler[0].arn && aws_cloudwatch_event_target.idle[0].input == null &&
      length(aws_cloudwatch_event_target.idle[0].input_transformer) == 0 &&
      aws_lambda_permission.scheduler_from_idle_rule[0].principal == "events.amazonaws.com" &&
      aws_lambda_permission.scheduler_from_idle_rule[0].source_arn == aws_cloudwatch_event_rule.idle[0].arn
    )
    error_message = "The scheduler receives the event unchanged, and only this rule may invoke it for events."
  }
}

run "front_role_grants_exactly_what_it_needs" {
  command = apply

  variables {
    enable_wake_on_request = true
  }

  assert {
    condition = jsondecode(output.wake_front_policy_json).Statement == [
      { Sid = "ReadStateDocument", Effect = "Allow", Action = ["s3:GetObject"], Resource = ["arn:aws:s3:::acme-shop-demo-runtime-state-123456789012/demo/state.json"] },
      {
        Sid       = "StateBucketKeyViaS3", Effect = "Allow", Action = ["kms:Decrypt"], Resource = ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"]
        Condition = { StringEquals = { "kms:ViaService" = ["s3.us-east-1.amazonaws.com"] } }
      },
      { Sid = "StartTheScheduler", Effect = "Allow", Action = ["lambda:InvokeFunction"], Resource = ["arn:aws:lambda:us-east-1:123456789012:function:acme-shop-demo-runtime-scheduler"] },
      { Sid = "ReadTokenKey", Effect = "Allow", Action = ["ssm:GetParameter"], Resource = ["arn:aws:ssm:us-east-1:123456789012:parameter/acme-shop/demo/wake-front/token-key"] },
      {
        Sid = "TokenKeyViaSsm", Effect = "Allow", Action = ["kms:Decrypt"], Resource = ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"]
        Condition = { StringEquals = {
          "kms:ViaService"                      = ["ssm.us-east-1.amazonaws.com"]
          "kms:EncryptionContext:PARAMETER_ARN" = ["arn:aws:ssm:us-east-1:123456789012:parameter/acme-shop/demo/wake-front/token-key"]
        } }
      },
      { Sid = "OwnLogGroup", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"], Resource = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/acme-shop-demo-wake-front:*"] },
    ]
    error_message = "The front may read the state document, its token key (and their key, via S3 and SSM only), start the scheduler and write its logs: nothing else."
  }
  assert {
    condition     = alltrue(flatten([for s in jsondecode(output.wake_front_policy_json).Statement : [for a in s.Action : !strcontains(a, "*")]]))
    error_message = "No wildcard actions."
  }
  assert {
    condition     = alltrue(flatten([for s in jsondecode(output.wake_front_policy_json).Statement : [for r in s.Resource : r != "*"]]))
    error_message = "No statement on every resource."
  }
  assert {
    condition     = aws_iam_role_policy.wake_front[0].role == aws_iam_role.wake_front[0].id && aws_lambda_function.wake_front[0].role == aws_iam_role.wake_front[0].arn
    error_message = "The front runs with its own role, never the scheduler's."
  }
}

run "on_demand_without_domains_or_idle" {
  command = apply

  variables {
    enable_wake_on_request = true
    wake_on_demand         = true
    create_wake_domains    = false
  }

  assert {
    condition     = keys(aws_scheduler_schedule.this) == ["reconcile"]
    error_message = "On demand there is no window: only reconcile is scheduled (it ends each wake's hold)."
  }
  assert {
    condition = (
      jsondecode(aws_s3_object.spec.content).wake.on_demand && jsondecode(aws_s3_object.spec.content).wake.idle_minutes == null &&
      jsondecode(aws_s3_object.spec.content).wake.idle_alarm_name == null && jsondecode(aws_s3_object.spec.content).wake.api_secret_sha256 == null &&
      jsondecode(aws_s3_object.spec.content).wake.title == "acme-shop demo" && jsondecode(aws_s3_object.spec.content).wake.allowed_cidrs == []
    )
    error_message = "Defaults: no idle stop, no API secret, any address, the title from project and environment."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.idle) + length(aws_cloudwatch_event_rule.idle) + length(aws_lambda_permission.scheduler_from_idle_rule) == 0
    error_message = "No alarm and no rule without idle_minutes."
  }
  assert {
    condition = (
      length(aws_apigatewayv2_domain_name.front) + length(aws_apigatewayv2_api_mapping.front) == 0 &&
      jsondecode(aws_s3_object.spec.content).wake.front == []
    )
    error_message = "create_wake_domains = false: no domain, nothing in front to point the names at."
  }
}

run "rejects_bad_wake_values" {
  command = plan
  variables {
    enable_wake_on_request = true
    wake_max_hours         = 25
    wake_allowed_cidrs     = ["10.0.0.0", "300.1.1.1/8"]
    wake_api_secret_sha256 = "my-secret"
    idle_minutes           = 2
    wake_title             = ""
  }
  expect_failures = [var.wake_max_hours, var.wake_allowed_cidrs, var.wake_api_secret_sha256, var.idle_minutes, var.wake_title]
}

run "rejects_hours_above_the_maximum_and_a_long_idle" {
  command = plan
  variables {
    enable_wake_on_request = true
    wake_default_hours     = 9
    idle_minutes           = 240
  }
  expect_failures = [var.wake_default_hours, var.idle_minutes]
}

run "rejects_idle_and_on_demand_without_wake" {
  command = plan
  variables {
    idle_minutes   = 30
    wake_on_demand = true
  }
  expect_failures = [var.idle_minutes, var.wake_on_demand]
}
