resource "aws_ecs_cluster" "this" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  lifecycle {
    # People and the scheduler set these tier-wide override tags (keep-running / keep-stopped
    # with an expiry) on the cluster because it persists while the tier sleeps. Terraform must
    # neither remove them nor report them as drift.
    ignore_changes = [
      tags["runtime-scheduler:override"],
      tags["runtime-scheduler:override-until"],
      tags_all["runtime-scheduler:override"],
      tags_all["runtime-scheduler:override-until"],
    ]
  }
}

resource "aws_cloudwatch_log_group" "service" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (30 days by default); set 365 where policy demands it.
  for_each = var.services

  name              = "/ecs/${local.name_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.base.kms_key_arn
}

resource "aws_ssm_parameter" "secret" {
  for_each = local.service_secrets

  name        = "/${var.project}/${var.environment}/${each.value.service}/${each.value.name}"
  description = "${each.value.name} of ${each.value.service}; set the real value out of band (aws ssm put-parameter --overwrite)."
  type        = "SecureString"
  key_id      = local.base.kms_key_arn
  value       = "placeholder-set-me"

  lifecycle {
    # The real value is set by people (or a secrets pipeline), never stored in Terraform state.
    ignore_changes = [value]
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each = var.services

  family                   = "${local.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(each.value.cpu)
  memory                   = tostring(each.value.memory)
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  # A new revision never deregisters the one it replaces: a service may still run it (a deploy
  # or rollback chose it, the scheduler keeps it) and rollbacks need ACTIVE revisions. The
  # GitHub deploy role therefore needs no DeregisterTaskDefinition either.
  skip_destroy = true

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.task_cpu_architecture
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = "${local.base.ecr_repository_urls[each.key]}:${each.value.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    portMappings = [{
      containerPort = each.value.container_port
      protocol      = "tcp"
    }]
    environment = [for k, v in each.value.environment : { name = k, value = v }]
    secrets = [for name in each.value.secrets : {
      name      = name
      valueFrom = aws_ssm_parameter.secret["${each.key}/${name}"].arn
    }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])

  lifecycle {
    precondition {
      condition     = contains(keys(local.base.ecr_repository_urls), each.key)
      error_message = "Service ${each.key} has no ECR repository: add it to terraform-base's ecr_repositories."
    }
  }
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The name is fixed by terraform-base, whose ECR repository policy grants it pull.
resource "aws_iam_role" "task_execution" {
  name               = local.base.ecs_task_execution_role_name
  description        = "ECS agent of ${local.name_prefix}: pull images, write logs, read the services' secrets."
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task_execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [for k in keys(var.services) : local.base.ecr_repository_arns[k]]
  }

  statement {
    sid       = "WriteServiceLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in aws_cloudwatch_log_group.service : "${g.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(aws_ssm_parameter.secret) > 0 ? [1] : []
    content {
      sid       = "ReadServiceSecrets"
      actions   = ["ssm:GetParameters"]
      resources = [for p in aws_ssm_parameter.secret : p.arn]
    }
  }

  # GuardDuty Runtime Monitoring (terraform-base) adds its agent as a sidecar to every task;
  # the task execution role pulls it from GuardDuty's repository of this region.
  dynamic "statement" {
    for_each = local.base.guardduty_ecs_runtime_monitoring ? [1] : []
    content {
      sid       = "PullGuardDutyAgent"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = ["arn:${local.partition}:ecr:${local.region}:*:repository/aws-guardduty-agent-fargate"]
    }
  }

  statement {
    sid       = "DecryptImagesAndSecrets"
    actions   = ["kms:Decrypt"]
    resources = [local.base.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com", "ecr.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

# One task role per service, empty: the application's own AWS permissions go here.
resource "aws_iam_role" "task" {
  for_each = var.services

  name               = "${local.name_prefix}-ecs-${each.key}-task"
  description        = "Application role of the ${each.key} service."
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}
