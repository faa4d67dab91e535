# GitHub Actions deploy without stored keys: a job exchanges its OIDC token for one of two roles.
#
#   <prefix>-github-release  ship a service revision (deploy-service.yml, rollback.yml): push images,
#                            register task definitions, pass the task roles, invoke the scheduler
#   <prefix>-github-deploy   ship the scheduler and terraform-runtime (deploy.yml): the Terraform
#                            state, terraform-runtime's resources except IAM, the function's code
#
# Trust is the `sub` claim, matched exactly (StringEquals, no wildcards): this repository's
# github_branch, and its github_environments (jobs that name an environment present
# repo:<owner>/<repo>:environment:<name> instead of the ref). The release role also trusts the
# same environments of github_service_repositories, the application repositories that call
# deploy-service.yml.
#
# Everything the roles touch lives in terraform-runtime, which is applied after this root, so
# resources are named by the project's predictable patterns, not by reference (terraform-runtime
# uses the same patterns; its tests pin them):
#   cluster <prefix>, services <prefix>/<service>, task definition families <prefix>-<service>,
#   task roles <prefix>-ecs-<service>-task, execution role <prefix>-ecs-task-execution,
#   function and its role <prefix>-runtime-scheduler, schedules role <prefix>-schedules,
#   where <service> ranges over ecr_repositories (terraform-runtime requires one per service).
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

  # --- who: exact `sub` values -----------------------------------------------------------------
  github_subjects_deploy = local.create_deploy_role ? concat(
    ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"],
    [for e in var.github_environments : "repo:${var.github_repository}:environment:${e}"],
  ) : []
  github_subjects_release = concat(local.github_subjects_deploy, flatten([
    for r in var.github_service_repositories : [for e in var.github_environments : "repo:${r}:environment:${e}"]
  ]))

  github_trust = { for role, subjects in { deploy = local.github_subjects_deploy, release = local.github_subjects_release } : role => jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "GitHubActionsOfTrustedRefsAndEnvironments"
      Effect    = "Allow"
      Principal = { Federated = local.github_oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
          "token.actions.githubusercontent.com:sub" = subjects
        }
      }
    }]
  }) }

  # --- what: the names of terraform-runtime, by pattern ---------------------------------------
  region       = data.aws_region.current.name
  arn_prefix   = "arn:${local.partition}"
  arn_ecs      = "${local.arn_prefix}:ecs:${local.region}:${local.account_id}"
  arn_iam_role = "${local.arn_prefix}:iam::${local.account_id}:role"
  services     = sort(var.ecr_repositories)
  task_role_arns = concat(
    [local.ecs_task_execution_role_arn],
    [for s in local.services : "${local.arn_iam_role}/${local.name_prefix}-ecs-${s}-task"],
  )
  family_arns      = [for s in local.services : "${local.arn_ecs}:task-definition/${local.name_prefix}-${s}:*"]
  function_arn     = "${local.arn_prefix}:lambda:${local.region}:${local.account_id}:function:${local.scheduler_function_name}"
  tf_state_arn     = var.terraform_state_bucket == null ? null : "${local.arn_prefix}:s3:::${var.terraform_state_bucket}"
  tf_runtime_state = "${var.environment}/terraform-runtime.tfstate"
  request_tags = {
    "aws:RequestTag/Project"     = [var.project]
    "aws:RequestTag/Environment" = [var.environment]
  }

  # Each statement: sid, actions, resources, condition. A statement with Resource "*" says why
  # in `star` (the action has no resource type in the Service Authorization Reference); the
  # tests accept "*" nowhere else.
  release_statements = [
    { sid = "EcrLogin", actions = ["ecr:GetAuthorizationToken"], resources = ["*"], condition = {},
    star = "GetAuthorizationToken has no resource type; the token is useless without the repository permissions below" },
    { sid = "EcrPushToProjectRepositories", resources = [for r in aws_ecr_repository.this : r.arn], condition = {}, star = null, actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ] },
    { sid     = "EcrLayersWithTheEnvironmentKey", resources = [aws_kms_key.this.arn], star = null,
      actions = ["kms:Decrypt", "kms:GenerateDataKey"]
    condition = { StringEquals = { "kms:ViaService" = ["ecr.${local.region}.amazonaws.com"] } } },
    { sid = "EcsReadTaskDefinitions", actions = ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"], resources = ["*"], condition = {},
    star = "DescribeTaskDefinition and ListTaskDefinitions have no resource type" },
    # RegisterTaskDefinition has no resource type either: the request must carry this project's
    # and environment's tags (release.py copies them from the base revision, Terraform sets them
    # as default tags), and tags may be written only as part of the registration.
    { sid       = "EcsRegisterTaskDefinitionsOfThisEnvironment", actions = ["ecs:RegisterTaskDefinition"], resources = ["*"],
      condition = { StringEquals = local.request_tags },
    star = "RegisterTaskDefinition has no resource type; conditioned on the request's Project and Environment tags" },
    { sid = "EcsTagOnlyWhenRegistering", actions = ["ecs:TagResource"], resources = local.family_arns, star = null,
    condition = { StringEquals = { "ecs:CreateAction" = ["RegisterTaskDefinition"] } } },
    { sid = "EcsDescribeServicesOfTheCluster", actions = ["ecs:DescribeServices"], condition = {}, star = null,
    resources = ["${local.arn_ecs}:service/${local.name_prefix}/*"] },
    { sid = "PassOnlyTheTaskRolesToEcsTasks", actions = ["iam:PassRole"], resources = local.task_role_arns, star = null,
    condition = { StringEquals = { "iam:PassedToService" = ["ecs-tasks.amazonaws.com"] } } },
    # The services are changed by the scheduler's deploy action (under its lease, with history),
    # never by this role: it holds no ecs:UpdateService.
    { sid = "InvokeTheScheduler", actions = ["lambda:InvokeFunction"], resources = [local.function_arn], condition = {}, star = null },
  ]

  # terraform-runtime plan and apply, without IAM writes (a role that can change IAM policies can
  # grant itself anything: IAM changes are applied by a person, see .ci/lib/plan_guard.py).
  deploy_statements = concat(var.terraform_state_bucket == null ? [] : [
    { sid = "TerraformStateBucketList", actions = ["s3:ListBucket"], resources = [local.tf_state_arn], condition = {}, star = null },
    { sid     = "TerraformRuntimeStateAndLock", condition = {}, star = null,
      actions = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${local.tf_state_arn}/${local.tf_runtime_state}", "${local.tf_state_arn}/${local.tf_runtime_state}.tflock"] },
    { sid = "TerraformBaseStateRead", actions = ["s3:GetObject"], condition = {}, star = null,
    resources = ["${local.tf_state_arn}/${var.environment}/terraform-base.tfstate"] },
    ], [
    { sid = "SpecObject", condition = {}, star = null, resources = ["${aws_s3_bucket.state.arn}/${var.environment}/spec.json"], actions = [
      "s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectTagging",
    ] },
    { sid = "EnvironmentKeyViaServices", resources = [aws_kms_key.this.arn], star = null, actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
      condition = { StringEquals = { "kms:ViaService" = [
        "s3.${local.region}.amazonaws.com", "ssm.${local.region}.amazonaws.com", "sns.${local.region}.amazonaws.com",
    ] } } },
    { sid = "ReadWithoutResourceTypes", resources = ["*"], condition = {}, actions = [
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups",
      "ecs:DescribeTaskDefinition", "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetGroups", "logs:DescribeLogGroups", "ssm:DescribeParameters",
    ], star = "Describe calls without resource types: the provider's reads of security groups, target groups, log groups, parameters, task definitions" },
    { sid = "EcsCluster", condition = {}, star = null, resources = ["${local.arn_ecs}:cluster/${local.name_prefix}"], actions = [
      "ecs:CreateCluster", "ecs:DeleteCluster", "ecs:DescribeClusters", "ecs:ListTagsForResource", "ecs:TagResource",
      "ecs:UntagResource", "ecs:UpdateCluster",
    ] },
    # terraform-runtime keeps replaced revisions (skip_destroy), so no DeregisterTaskDefinition.
    { sid       = "EcsRegisterTaskDefinitionsOfThisEnvironment", actions = ["ecs:RegisterTaskDefinition"], resources = ["*"],
      condition = { StringEquals = local.request_tags },
    star = "RegisterTaskDefinition has no resource type; conditioned on the request's Project and Environment tags (Terraform's default tags)" },
    { sid = "EcsTaskDefinitionTags", actions = ["ecs:ListTagsForResource", "ecs:TagResource"], resources = local.family_arns, condition = {}, star = null },
    { sid = "PassTheRuntimeRoles", actions = ["iam:PassRole"], resources = local.task_role_arns, star = null,
    condition = { StringEquals = { "iam:PassedToService" = ["ecs-tasks.amazonaws.com"] } } },
    { sid = "PassTheSchedulerRole", actions = ["iam:PassRole"], resources = ["${local.arn_iam_role}/${local.scheduler_function_name}"], star = null,
    condition = { StringEquals = { "iam:PassedToService" = ["lambda.amazonaws.com"] } } },
    { sid = "PassTheSchedulesRole", actions = ["iam:PassRole"], resources = ["${local.arn_iam_role}/${local.name_prefix}-schedules"], star = null,
    condition = { StringEquals = { "iam:PassedToService" = ["scheduler.amazonaws.com"] } } },
    { sid = "IamReadOnlyOfTheRuntimeRoles", condition = {}, star = null, resources = ["${local.arn_iam_role}/${local.name_prefix}-*"], actions = [
      "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
    ] },
    { sid = "SchedulerFunction", condition = {}, star = null, resources = [local.function_arn], actions = [
      "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:DeleteFunctionEventInvokeConfig", "lambda:GetFunction",
      "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionConfiguration", "lambda:GetFunctionEventInvokeConfig",
      "lambda:GetFunctionRecursionConfig",
      "lambda:InvokeFunction", "lambda:ListTags", "lambda:ListVersionsByFunction", "lambda:PutFunctionConcurrency",
      "lambda:DeleteFunctionConcurrency", "lambda:PutFunctionEventInvokeConfig", "lambda:TagResource", "lambda:UntagResource",
      "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionEventInvokeConfig",
    ] },
    { sid = "LogGroups", condition = {}, star = null, actions = [
      "logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:ListTagsForResource",
      "logs:PutRetentionPolicy", "logs:TagResource", "logs:UntagResource",
      ], resources = [
      "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:/ecs/${local.name_prefix}/*",
      "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.scheduler_function_name}",
      "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.scheduler_function_name}:*",
      "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:aws-waf-logs-${local.name_prefix}",
      "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:aws-waf-logs-${local.name_prefix}:*",
    ] },
    { sid = "ServiceSecretsParameters", condition = {}, star = null, actions = [
      "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource",
      "ssm:PutParameter", "ssm:RemoveTagsFromResource",
    ], resources = ["${local.arn_prefix}:ssm:${local.region}:${local.account_id}:parameter/${var.project}/${var.environment}/*"] },
    # Security groups: only in this VPC (ec2:Vpc exists on security-group resources, not on
    # rules or on the VPC itself, hence three statements).
    { sid = "SecurityGroupsInTheVpc", star = null, condition = { ArnEquals = { "ec2:Vpc" = [aws_vpc.this.arn] } }, actions = [
      "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateSecurityGroup", "ec2:CreateTags",
      "ec2:DeleteSecurityGroup", "ec2:DeleteTags", "ec2:ModifySecurityGroupRules", "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    ], resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:security-group/*"] },
    { sid = "CreateSecurityGroupsInTheVpc", star = null, condition = {}, actions = ["ec2:CreateSecurityGroup"], resources = [aws_vpc.this.arn] },
    { sid = "SecurityGroupRulesOfThoseGroups", star = null, condition = {}, actions = [
      "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags", "ec2:DeleteTags",
      "ec2:ModifySecurityGroupRules",
    ], resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:security-group-rule/*"] },
    { sid = "TargetGroups", condition = {}, star = null, actions = [
      "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:RemoveTags",
    ], resources = ["${local.arn_prefix}:elasticloadbalancing:${local.region}:${local.account_id}:targetgroup/${local.name_prefix}-*/*"] },
    { sid = "DeadLetterQueue", condition = {}, star = null, actions = [
      "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags",
      "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue",
    ], resources = ["${local.arn_prefix}:sqs:${local.region}:${local.account_id}:${local.scheduler_function_name}-dlq"] },
    { sid = "AlertTopic", condition = {}, star = null, actions = [
      "sns:CreateTopic", "sns:DeleteTopic", "sns:GetSubscriptionAttributes", "sns:GetTopicAttributes", "sns:ListTagsForResource",
      "sns:SetSubscriptionAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource", "sns:Unsubscribe", "sns:UntagResource",
      ], resources = [
      "${local.arn_prefix}:sns:${local.region}:${local.account_id}:${local.scheduler_function_name}-alerts",
      "${local.arn_prefix}:sns:${local.region}:${local.account_id}:${local.scheduler_function_name}-alerts:*",
    ] },
    { sid = "Alarms", condition = {}, star = null, actions = [
      "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:PutMetricAlarm",
      "cloudwatch:TagResource", "cloudwatch:UntagResource",
    ], resources = ["${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.scheduler_function_name}-*"] },
    { sid = "Schedules", condition = {}, star = null, actions = [
      "scheduler:CreateSchedule", "scheduler:CreateScheduleGroup", "scheduler:DeleteSchedule", "scheduler:DeleteScheduleGroup",
      "scheduler:GetSchedule", "scheduler:GetScheduleGroup", "scheduler:ListTagsForResource", "scheduler:TagResource",
      "scheduler:UntagResource", "scheduler:UpdateSchedule",
      ], resources = [
      "${local.arn_prefix}:scheduler:${local.region}:${local.account_id}:schedule/${local.name_prefix}/*",
      "${local.arn_prefix}:scheduler:${local.region}:${local.account_id}:schedule-group/${local.name_prefix}",
    ] },
    { sid = "WebAcl", condition = {}, star = null, actions = [
      # Not Put/DeleteLoggingConfiguration: they need log-delivery permissions and a service-linked
      # role; the first apply (an administrator's) sets WAF logging up.
      "wafv2:CreateWebACL", "wafv2:DeleteWebACL", "wafv2:GetLoggingConfiguration", "wafv2:GetWebACL",
      "wafv2:ListTagsForResource", "wafv2:TagResource", "wafv2:UntagResource", "wafv2:UpdateWebACL",
    ], resources = ["${local.arn_prefix}:wafv2:${local.region}:${local.account_id}:regional/webacl/${local.name_prefix}/*"] },
    { sid = "Budget", condition = {}, star = null, actions = [
      "budgets:ListTagsForResource", "budgets:ModifyBudget", "budgets:TagResource", "budgets:UntagResource", "budgets:ViewBudget",
      ],
    resources = ["${local.arn_prefix}:budgets::${local.account_id}:budget/${local.name_prefix}-monthly"] },
  ])

  github_policies = {
    release = jsonencode({ Version = "2012-10-17", Statement = [for s in local.release_statements : merge(
      { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources },
      length(s.condition) > 0 ? { Condition = s.condition } : {},
    )] })
    deploy = jsonencode({ Version = "2012-10-17", Statement = [for s in local.deploy_statements : merge(
      { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources },
      length(s.condition) > 0 ? { Condition = s.condition } : {},
    )] })
  }
}

resource "aws_iam_role" "deploy" {
  count = local.create_deploy_role ? 1 : 0

  name                 = "${local.name_prefix}-github-deploy"
  description          = "GitHub Actions of ${var.github_repository} (deploy.yml): terraform-runtime without IAM writes, the scheduler's code, its status."
  assume_role_policy   = local.github_trust.deploy
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "deploy" {
  count = local.create_deploy_role ? 1 : 0

  name   = "terraform-runtime"
  role   = aws_iam_role.deploy[0].id
  policy = local.github_policies.deploy
}

resource "aws_iam_role" "release" {
  count = local.create_deploy_role ? 1 : 0

  name                 = "${local.name_prefix}-github-release"
  description          = "GitHub Actions shipping service revisions (deploy-service.yml, rollback.yml): push images, register task definitions, invoke the scheduler's deploy."
  assume_role_policy   = local.github_trust.release
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "release" {
  count = local.create_deploy_role ? 1 : 0

  name   = "release"
  role   = aws_iam_role.release[0].id
  policy = local.github_policies.release
}
