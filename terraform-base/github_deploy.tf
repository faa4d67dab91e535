# GitHub Actions deploys without stored keys: the workflow of one repository and branch
# exchanges its OIDC token for this role.
resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_deploy_role && var.create_github_oidc_provider ? 1 : 0

  url            = local.github_oidc_url
  client_id_list = ["sts.amazonaws.com"]
  # IAM no longer checks the thumbprint for token.actions.githubusercontent.com (it trusts
  # the certificate authority), but the API still wants one value.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = local.create_deploy_role && !var.create_github_oidc_provider ? 1 : 0

  url = local.github_oidc_url
}

locals {
  github_oidc_provider_arn = !local.create_deploy_role ? null : (
    var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
  )
}

data "aws_iam_policy_document" "deploy_assume" {
  count = local.create_deploy_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  count = local.create_deploy_role ? 1 : 0

  name                 = "${local.name_prefix}-github-deploy"
  description          = "GitHub Actions of ${var.github_repository}@${var.github_branch}: push images, deploy ECS, update the scheduler, read the spec."
  assume_role_policy   = data.aws_iam_policy_document.deploy_assume[0].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "deploy" {
  count = local.create_deploy_role ? 1 : 0

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPush"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [for r in aws_ecr_repository.this : r.arn]
  }

  statement {
    sid       = "EcrKms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ecr.${data.aws_region.current.name}.amazonaws.com", "s3.${data.aws_region.current.name}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EcsReadTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "EcsDeployServicesOfThisCluster"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = ["arn:${local.partition}:ecs:${data.aws_region.current.name}:${local.account_id}:service/${local.name_prefix}/*"]
  }

  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.ecs_task_role_name_pattern}"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid = "UpdateSchedulerFunction"
    actions = [
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode",
    ]
    resources = ["arn:${local.partition}:lambda:${data.aws_region.current.name}:${local.account_id}:function:${local.scheduler_function_name}"]
  }

  statement {
    sid       = "ReadRuntimeSpec"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/${var.environment}/spec.json"]
  }
}

resource "aws_iam_role_policy" "deploy" {
  count = local.create_deploy_role ? 1 : 0

  name   = "deploy"
  role   = aws_iam_role.deploy[0].id
  policy = data.aws_iam_policy_document.deploy[0].json
}
