# The scheduler function and what drives it: three EventBridge Scheduler schedules in the
# window's time zone and a dead-letter queue for events that could not be delivered or kept
# failing. Its alarms are in alarms.tf, the alert topic in notifications.tf.

resource "aws_cloudwatch_log_group" "scheduler" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (30 days by default); set 365 where policy demands it.
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.base.kms_key_arn
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${local.function_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_lambda_function" "scheduler" {
  #checkov:skip=CKV_AWS_50:X-Ray would add permissions the least-privilege test forbids; the function logs every step with its duration.
  #checkov:skip=CKV_AWS_117:The function calls only AWS APIs; inside the VPC it would depend on the NAT gateway it deletes.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer, which cargo-lambda's zip does not go through; the deploy role alone may update the code.
  #checkov:skip=CKV_AWS_173:The environment holds only the bucket name, environment name, spec key and history prefix; no secrets.
  #checkov:skip=CKV_AWS_115:Overlapping runs are made safe by the scheduler's S3 lease ('busy'); reserving concurrency fails in accounts at the default limit of 10. See lambda_reserved_concurrency.
  count = var.create_scheduler_function ? 1 : 0

  function_name                  = local.function_name
  description                    = "Puts ${local.name_prefix}'s runtime tier to sleep and wakes it (spec s3://${local.base.state_bucket_name}/${local.spec_key})."
  role                           = aws_iam_role.scheduler.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.lambda_architecture]
  filename                       = var.lambda_zip_path
  source_code_hash               = fileexists(var.lambda_zip_path) ? filebase64sha256(var.lambda_zip_path) : null
  memory_size                    = var.lambda_memory_mb
  timeout                        = var.lambda_timeout_seconds
  reserved_concurrent_executions = var.lambda_reserved_concurrency == null ? -1 : var.lambda_reserved_concurrency

  environment {
    variables = {
      STATE_BUCKET   = local.base.state_bucket_name
      ENVIRONMENT    = var.environment
      SPEC_KEY       = local.spec_key
      HISTORY_PREFIX = local.base.state_history_prefix
    }
  }

  # JSON logs at the configured levels: Lambda passes AWS_LAMBDA_LOG_FORMAT and
  # AWS_LAMBDA_LOG_LEVEL to the function, which honours them (no RUST_LOG here, so this block
  # is the one place that controls the level). The EMF metrics document goes to stdout
  # regardless of the level.
  logging_config {
    log_format            = "JSON"
    application_log_level = var.scheduler_application_log_level
    system_log_level      = var.scheduler_system_log_level
    log_group             = aws_cloudwatch_log_group.scheduler.name
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  depends_on = [aws_iam_role_policy.scheduler]

  lifecycle {
    precondition {
      condition     = fileexists(var.lambda_zip_path)
      error_message = "No Lambda zip at ${var.lambda_zip_path}: run `make build-lambda` (or set lambda_zip_path)."
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "scheduler" {
  count = var.create_scheduler_function ? 1 : 0

  function_name                = aws_lambda_function.scheduler[0].function_name
  maximum_retry_attempts       = var.lambda_async_retry_attempts
  maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
}

# --- EventBridge Scheduler ---------------------------------------------------------------

locals {
  week = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
  # A window that closes at or before the time it opens crosses midnight: stop fires the next day.
  crosses_midnight = tonumber(replace(var.schedule_stop, ":", "")) < tonumber(replace(var.schedule_start, ":", ""))
  stop_days = local.crosses_midnight ? [
    for d in var.schedule_days : local.week[(index(local.week, d) + 1) % 7]
  ] : var.schedule_days

  schedule_cron = {
    start = format("cron(%d %d ? * %s *)", tonumber(split(":", var.schedule_start)[1]), tonumber(split(":", var.schedule_start)[0]), join(",", var.schedule_days))
    stop  = format("cron(%d %d ? * %s *)", tonumber(split(":", var.schedule_stop)[1]), tonumber(split(":", var.schedule_stop)[0]), join(",", local.stop_days))
  }

  schedules = merge(
    # wake_on_demand has no window: only a wake from the front starts the tier.
    var.wake_on_demand ? {} : {
      start = {
        expression  = local.schedule_cron.start
        description = "Window opens ${var.schedule_start} ${var.schedule_timezone} on ${join(",", var.schedule_days)}"
        input       = { action = "start", trigger = "schedule", reason = "window opens ${var.schedule_start} ${var.schedule_timezone}", dry_run = false }
      }
      stop = {
        expression  = local.schedule_cron.stop
        description = "Window closes ${var.schedule_stop} ${var.schedule_timezone}"
        input       = { action = "stop", trigger = "schedule", reason = "window closes ${var.schedule_stop} ${var.schedule_timezone}", dry_run = false }
      }
    },
    var.reconcile_interval_minutes > 0 ? {
      reconcile = {
        expression  = "rate(${var.reconcile_interval_minutes} minutes)"
        description = "Converge to the desired state for now (catches missed or failed events, expired overrides)"
        input       = { action = "reconcile", trigger = "schedule", reason = "periodic reconcile", dry_run = false }
      }
    } : {},
  )

  create_schedules = var.create_scheduler_function && var.enable_schedules
  # Built from the name, not read from the function, so the invoke policy never waits on it.
  function_arn = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.function_name}"
}

resource "aws_scheduler_schedule_group" "this" {
  count = local.create_schedules ? 1 : 0

  name = local.name_prefix
}

data "aws_iam_policy_document" "schedules_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "schedules" {
  count = local.create_schedules ? 1 : 0

  name               = "${local.name_prefix}-schedules"
  description        = "EventBridge Scheduler of ${local.name_prefix}: invoke the scheduler function."
  assume_role_policy = data.aws_iam_policy_document.schedules_assume.json
}

data "aws_iam_policy_document" "schedules" {
  count = local.create_schedules ? 1 : 0

  statement {
    actions   = ["lambda:InvokeFunction"]
    resources = [local.function_arn, "${local.function_arn}:*"]
  }
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }
}

resource "aws_iam_role_policy" "schedules" {
  count = local.create_schedules ? 1 : 0

  name   = "invoke-scheduler"
  role   = aws_iam_role.schedules[0].id
  policy = data.aws_iam_policy_document.schedules[0].json
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:The input is a constant action payload with no secrets; a CMK would add kms:Decrypt to the invoke role for nothing.
  for_each = local.create_schedules ? local.schedules : {}

  name                         = "${local.name_prefix}-${each.key}"
  group_name                   = aws_scheduler_schedule_group.this[0].name
  description                  = each.value.description
  schedule_expression          = each.value.expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = "ENABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.scheduler[0].arn
    role_arn = aws_iam_role.schedules[0].arn
    input    = jsonencode(each.value.input)

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dlq.arn
    }
  }
}
