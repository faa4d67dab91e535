# Wake on request (issue 9): while the tier sleeps, the application's names answer from a
# front that costs nothing when idle: an API Gateway HTTP API with one regional custom domain
# per hostname, and the wake-front Lambda function (a second binary of this crate) behind it.
# Terraform creates the front; the scheduler moves the alias records between the ALB and the
# front's domains (it never appears here), and the front asks the scheduler to start.
#
# The front has its own role: it reads the state document, its token key, and invokes the
# scheduler asynchronously. Nothing else: the internet-facing handler never holds the
# scheduler's permissions.

locals {
  wake = var.enable_wake_on_request
  idle = local.wake && var.idle_minutes != null

  wake_function_name = "${local.name_prefix}-wake-front"
  wake_hostnames     = [local.base.app_hostname]
  idle_alarm_name    = "${local.name_prefix}-idle"

  wake_token_key_name = "/${var.project}/${var.environment}/wake-front/token-key"
  wake_token_key_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.wake_token_key_name}"
  wake_log_group_name = "/aws/lambda/${local.wake_function_name}"
  wake_log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.wake_log_group_name}"

  # API Gateway's own bound on abuse: a sleeping environment serves a page and, rarely, a
  # wake; anything faster than this is a scanner and gets 429 before the function runs.
  wake_throttle = { burst_limit = 20, rate_limit = 10 }

  # What the front needs to decide (WAKE_CONFIG) and what the scheduler reads (spec.wake):
  # the same object, the spec adding where each name points while the tier sleeps.
  wake_config = {
    title             = coalesce(var.wake_title, "${var.project} ${var.environment}")
    default_hours     = var.wake_default_hours
    max_hours         = var.wake_max_hours
    allowed_cidrs     = var.wake_allowed_cidrs
    api_secret_sha256 = var.wake_api_secret_sha256 == null ? null : lower(var.wake_api_secret_sha256)
    idle_minutes      = local.idle ? var.idle_minutes : null
    idle_alarm_name   = local.idle ? local.idle_alarm_name : null
    on_demand         = var.wake_on_demand
  }

  # Without the domains (create_wake_domains = false, the local AWS) there is nothing to point
  # the names at: front is empty and a stop deletes the alias records as before.
  wake_spec = local.wake ? merge(local.wake_config, {
    front = [for h, d in aws_apigatewayv2_domain_name.front : {
      name           = h
      dns_name       = d.domain_name_configuration[0].target_domain_name
      hosted_zone_id = d.domain_name_configuration[0].hosted_zone_id
    }]
  }) : null
}

# --- The token key -----------------------------------------------------------------------

# The front signs the wake form's token with this key (HMAC), so only a POST from a page it
# served can wake the tier. uuid() is 122 random bits from crypto/rand; two of them through
# sha256 give a 64-hex-character key. Its value is set once: uuid() changes at every plan, and
# ignore_changes keeps later plans empty. Rotate with
#   terraform apply -replace='aws_ssm_parameter.wake_token_key[0]'
# (pages already open then need a reload before their button works).
resource "aws_ssm_parameter" "wake_token_key" {
  count = local.wake ? 1 : 0

  name        = local.wake_token_key_name
  description = "HMAC key of ${local.wake_function_name}'s wake tokens (rotate: terraform apply -replace)."
  type        = "SecureString"
  key_id      = local.base.kms_key_arn
  value       = sha256("${uuid()}${uuid()}")

  lifecycle {
    ignore_changes = [value]
  }
}

# --- The front function and its role -----------------------------------------------------

resource "aws_cloudwatch_log_group" "wake_front" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (30 days by default); set 365 where policy demands it.
  count = local.wake ? 1 : 0

  name              = local.wake_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.base.kms_key_arn
}

locals {
  # Each statement: sid, actions, resources, condition (operator => key => values).
  wake_front_statements = [
    { sid = "ReadStateDocument", condition = {},
    actions = ["s3:GetObject"], resources = ["${local.base.state_bucket_arn}/${var.environment}/state.json"] },
    { sid     = "StateBucketKeyViaS3", resources = [local.base.kms_key_arn],
      actions = ["kms:Decrypt"]
    condition = { StringEquals = { "kms:ViaService" = ["s3.${local.region}.amazonaws.com"] } } },
    # Asynchronous (InvocationType Event): the front answers at once and the scheduler's own
    # lease turns repeated presses into no-ops.
    { sid = "StartTheScheduler", condition = {},
    actions = ["lambda:InvokeFunction"], resources = [local.function_arn] },
    { sid = "ReadTokenKey", condition = {},
    actions = ["ssm:GetParameter"], resources = [local.wake_token_key_arn] },
    { sid     = "TokenKeyViaSsm", resources = [local.base.kms_key_arn],
      actions = ["kms:Decrypt"]
      condition = { StringEquals = {
        "kms:ViaService"                      = ["ssm.${local.region}.amazonaws.com"]
        "kms:EncryptionContext:PARAMETER_ARN" = [local.wake_token_key_arn]
    } } },
    { sid = "OwnLogGroup", condition = {},
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = ["${local.wake_log_group_arn}:*"] },
  ]

  wake_front_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [for s in local.wake_front_statements : merge(
      { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources },
      length(s.condition) > 0 ? { Condition = s.condition } : {},
    )]
  })
}

resource "aws_iam_role" "wake_front" {
  count = local.wake ? 1 : 0

  name               = local.wake_function_name
  description        = "The wake-on-request front of ${local.name_prefix}: read the state, read its token key, start the scheduler."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

resource "aws_iam_role_policy" "wake_front" {
  count = local.wake ? 1 : 0

  name   = "wake-front"
  role   = aws_iam_role.wake_front[0].id
  policy = local.wake_front_policy
}

resource "aws_lambda_function" "wake_front" {
  #checkov:skip=CKV_AWS_50:X-Ray would add permissions the least-privilege test forbids; the function logs each request's outcome.
  #checkov:skip=CKV_AWS_117:The function calls only AWS APIs; inside the VPC it would need the NAT gateway that sleeps with the tier.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer, which cargo-lambda's zip does not go through; the deploy role alone may update the code.
  #checkov:skip=CKV_AWS_173:The environment holds names and the wake settings (a SHA-256 of the API secret at most); the token key stays in SSM.
  #checkov:skip=CKV_AWS_116:API Gateway invokes the function synchronously; a dead-letter queue applies only to asynchronous invocations.
  #checkov:skip=CKV_AWS_115:API Gateway's stage throttling bounds it (wake_throttle); reserving concurrency fails in accounts at the default limit of 10.
  count = local.wake ? 1 : 0

  function_name    = local.wake_function_name
  description      = "Answers ${join(", ", local.wake_hostnames)} while ${local.name_prefix} sleeps, and wakes it on request."
  role             = aws_iam_role.wake_front[0].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  filename         = var.front_zip_path
  source_code_hash = fileexists(var.front_zip_path) ? filebase64sha256(var.front_zip_path) : null
  memory_size      = 128
  timeout          = 10

  # Names are a contract with src/ (the wake-front binary reads exactly these).
  environment {
    variables = {
      ENVIRONMENT         = var.environment
      STATE_BUCKET        = local.base.state_bucket_name
      SCHEDULER_FUNCTION  = local.function_name
      TOKEN_KEY_PARAMETER = aws_ssm_parameter.wake_token_key[0].name
      WAKE_CONFIG         = jsonencode(local.wake_config)
    }
  }

  # Lambda sets AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL from this; the runtime's
  # tracing subscriber follows them.
  logging_config {
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
    log_group             = aws_cloudwatch_log_group.wake_front[0].name
  }

  depends_on = [aws_iam_role_policy.wake_front]

  lifecycle {
    precondition {
      condition     = fileexists(var.front_zip_path)
      error_message = "No Lambda zip at ${var.front_zip_path}: run `make build-lambda` (it builds wake-front beside the scheduler), or set front_zip_path."
    }
    precondition {
      condition     = var.create_scheduler_function
      error_message = "enable_wake_on_request needs create_scheduler_function: the front starts the scheduler function."
    }
  }
}

# --- The HTTP API ------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "wake_access" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (30 days by default); set 365 where policy demands it.
  count = local.wake ? 1 : 0

  name              = "/aws/apigateway/${local.wake_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.base.kms_key_arn
}

resource "aws_apigatewayv2_api" "front" {
  count = local.wake ? 1 : 0

  name          = local.wake_function_name
  description   = "The names of ${local.name_prefix} while its runtime tier sleeps."
  protocol_type = "HTTP"
  # Visitors come through the custom domains; the execute-api endpoint stays reachable for
  # the local end-to-end run and for a first check before DNS points here.
  disable_execute_api_endpoint = false
}

resource "aws_apigatewayv2_integration" "front" {
  count = local.wake ? 1 : 0

  api_id                 = aws_apigatewayv2_api.front[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.wake_front[0].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 10000
}

resource "aws_apigatewayv2_route" "front" {
  #checkov:skip=CKV_AWS_309:The page is public by design; the handler authorizes wakes itself (signed form token, allowed CIDRs, API secret).
  count = local.wake ? 1 : 0

  api_id             = aws_apigatewayv2_api.front[0].id
  route_key          = "$default"
  authorization_type = "NONE"
  target             = "integrations/${aws_apigatewayv2_integration.front[0].id}"
}

resource "aws_apigatewayv2_stage" "front" {
  count = local.wake ? 1 : 0

  api_id      = aws_apigatewayv2_api.front[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = local.wake_throttle.burst_limit
    throttling_rate_limit  = local.wake_throttle.rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.wake_access[0].arn
    format = jsonencode({
      requestId = "$context.requestId"
      ip        = "$context.identity.sourceIp"
      time      = "$context.requestTime"
      method    = "$context.httpMethod"
      host      = "$context.domainName"
      path      = "$context.path"
      status    = "$context.status"
      latencyMs = "$context.responseLatency"
      error     = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "wake_front_from_api" {
  count = local.wake ? 1 : 0

  statement_id  = "ApiGatewayInvokesTheFront"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.wake_front[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.front[0].execution_arn}/*/$default"
}

# --- One regional custom domain per application hostname -------------------------------

resource "aws_apigatewayv2_domain_name" "front" {
  for_each = local.wake && var.create_wake_domains ? toset(local.wake_hostnames) : toset([])

  domain_name = each.key

  domain_name_configuration {
    certificate_arn = local.base.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
    # AAAA records need a dualstack domain; today the ALB (and so dns_record_types) is IPv4 only.
    ip_address_type = contains(var.dns_record_types, "AAAA") ? "dualstack" : "ipv4"
  }
}

resource "aws_apigatewayv2_api_mapping" "front" {
  for_each = aws_apigatewayv2_domain_name.front

  api_id      = aws_apigatewayv2_api.front[0].id
  domain_name = each.value.id
  stage       = aws_apigatewayv2_stage.front[0].id
}
