# The GitHub deploy and release roles, planned against a mocked provider whose computed values
# are known at plan time: who may assume them (exact `sub` values, the audience) and that nothing
# broader than what the workflows call is granted.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
  }
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
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { arn = "arn:aws:ecr:us-east-1:123456789012:repository/acme-shop-demo/mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::acme-shop-demo-runtime-state-123456789012" }
  }
  mock_resource "aws_vpc" {
    defaults = { arn = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0a1b2c3d4e5f60000" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
      domain_validation_options = [{
        domain_name           = "demo.example.com"
        resource_record_name  = "_abc.demo.example.com."
        resource_record_type  = "CNAME"
        resource_record_value = "_def.acm-validations.aws."
      }]
    }
  }
}

variables {
  project                     = "acme-shop"
  environment                 = "demo"
  product_domain              = "web"
  route53_zone_name           = "example.com"
  app_hostname                = "demo.example.com"
  github_repository           = "acme/shop"
  github_environments         = ["dev", "staging"]
  github_service_repositories = ["acme/shop-backend"]
  terraform_state_bucket      = "acme-tf-state"
}

run "trust_is_exactly_main_and_the_listed_environments" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role.deploy[0].assume_role_policy).Statement[0].Condition == {
      StringEquals = {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = [
          "repo:acme/shop:ref:refs/heads/main",
          "repo:acme/shop:environment:dev",
          "repo:acme/shop:environment:staging",
        ]
      }
    }
    error_message = "The deploy role trusts only acme/shop's main and its dev and staging environments, audience sts.amazonaws.com, by StringEquals."
  }
  assert {
    condition = jsondecode(aws_iam_role.release[0].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == [
      "repo:acme/shop:ref:refs/heads/main",
      "repo:acme/shop:environment:dev",
      "repo:acme/shop:environment:staging",
      "repo:acme/shop-backend:environment:dev",
      "repo:acme/shop-backend:environment:staging",
    ]
    error_message = "The release role adds the application repositories, in the same environments only (never their branches)."
  }
  assert {
    condition = alltrue([for r in [aws_iam_role.deploy[0], aws_iam_role.release[0]] : (
      length(jsondecode(r.assume_role_policy).Statement) == 1 &&
      jsondecode(r.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" &&
      jsondecode(r.assume_role_policy).Statement[0].Principal == { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" } &&
      keys(jsondecode(r.assume_role_policy).Statement[0].Condition) == ["StringEquals"]
    )])
    error_message = "One web-identity statement per role, from the GitHub OIDC provider, exact matches only (no StringLike wildcards)."
  }
  assert {
    condition     = jsonencode(output.github_trusted_subjects.deploy) == jsonencode(jsondecode(aws_iam_role.deploy[0].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"])
    error_message = "The output lists what the trust policy trusts."
  }
}

run "nothing_broader_than_the_workflows_call" {
  command = plan

  assert {
    condition = alltrue(flatten([for p in [aws_iam_role_policy.deploy[0].policy, aws_iam_role_policy.release[0].policy] : [
      for s in jsondecode(p).Statement : [for a in s.Action : !strcontains(a, "*")]
    ]]))
    error_message = "No wildcard in any action."
  }
  assert {
    condition = toset([for s in jsondecode(aws_iam_role_policy.release[0].policy).Statement : s.Sid if contains(s.Resource, "*")]) == toset([
      "EcrLogin", "EcsReadTaskDefinitions", "EcsRegisterTaskDefinitionsOfThisEnvironment",
    ])
    error_message = "Release: Resource \"*\" only where the action has no resource type (each listed with why in github_deploy.tf)."
  }
  assert {
    condition = toset([for s in jsondecode(aws_iam_role_policy.deploy[0].policy).Statement : s.Sid if contains(s.Resource, "*")]) == toset([
      "ReadWithoutResourceTypes", "EcsRegisterTaskDefinitionsOfThisEnvironment",
    ])
    error_message = "Deploy: Resource \"*\" only where the action has no resource type (each listed with why in github_deploy.tf)."
  }
  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.deploy[0].policy).Statement : alltrue([
      for a in s.Action : can(regex("^[a-z0-9-]+:(Describe|List|Get)", a))
    ]) if s.Sid == "ReadWithoutResourceTypes"])
    error_message = "The deploy role's unscoped statement only reads."
  }
  assert {
    condition = alltrue(flatten([for p in [aws_iam_role_policy.deploy[0].policy, aws_iam_role_policy.release[0].policy] : [
      for s in jsondecode(p).Statement : [for r in s.Resource : r == "*" || !strcontains(r, ":*:") && !endswith(r, ":*:*")]
    ]]))
    error_message = "No resource ARN with a wildcard account or region."
  }
  assert {
    condition = alltrue(flatten([for p in [aws_iam_role_policy.deploy[0].policy, aws_iam_role_policy.release[0].policy] : [
      for s in jsondecode(p).Statement : [for a in s.Action : !startswith(a, "iam:") || a == "iam:PassRole" || can(regex("^iam:(Get|List)", a))]
    ]]))
    error_message = "No IAM write besides PassRole: IAM changes are applied by a person (plan_guard.py)."
  }
  assert {
    condition = alltrue(flatten([for p in [aws_iam_role_policy.deploy[0].policy, aws_iam_role_policy.release[0].policy] : [
      for s in jsondecode(p).Statement : (
        can(s.Condition.StringEquals["iam:PassedToService"]) && alltrue([for r in s.Resource : !strcontains(r, "*")])
      ) if contains(s.Action, "iam:PassRole")
    ]]))
    error_message = "PassRole names exact roles and the service they go to."
  }
  assert {
    condition = sort(flatten([for s in jsondecode(aws_iam_role_policy.release[0].policy).Statement : s.Resource if s.Sid == "PassOnlyTheTaskRolesToEcsTasks"])) == tolist([
      "arn:aws:iam::123456789012:role/acme-shop-demo-ecs-backend-task",
      "arn:aws:iam::123456789012:role/acme-shop-demo-ecs-frontend-task",
      "arn:aws:iam::123456789012:role/acme-shop-demo-ecs-task-execution",
    ])
    error_message = "The release role passes exactly the task roles and the execution role."
  }
  assert {
    condition = alltrue([for p in [aws_iam_role_policy.deploy[0].policy, aws_iam_role_policy.release[0].policy] : alltrue([
      for s in jsondecode(p).Statement : s.Condition.StringEquals == {
        "aws:RequestTag/Project" = ["acme-shop"], "aws:RequestTag/Environment" = ["demo"]
      } if contains(s.Action, "ecs:RegisterTaskDefinition")
    ])])
    error_message = "RegisterTaskDefinition (no resource type) requires this project's and environment's tags."
  }
  assert {
    condition = length(setintersection(
      toset(flatten([for s in jsondecode(aws_iam_role_policy.release[0].policy).Statement : s.Action])),
      toset(["ecs:UpdateService", "ecs:CreateService", "lambda:UpdateFunctionCode", "s3:PutObject", "s3:GetObject"]),
    )) == 0
    error_message = "The release role changes no service itself (the scheduler's deploy action does), no code, no state."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.release[0].policy).Statement : s.Resource if s.Sid == "InvokeTheScheduler"][0] == [
      "arn:aws:lambda:us-east-1:123456789012:function:acme-shop-demo-runtime-scheduler",
    ]
    error_message = "The release role invokes only this environment's scheduler."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.deploy[0].policy).Statement : s.Resource if s.Sid == "TerraformRuntimeStateAndLock"][0] == [
      "arn:aws:s3:::acme-tf-state/demo/terraform-runtime.tfstate",
      "arn:aws:s3:::acme-tf-state/demo/terraform-runtime.tfstate.tflock",
    ]
    error_message = "Terraform state: terraform-runtime's key of this environment and its lock file only."
  }
  assert {
    condition     = alltrue([for p in [aws_iam_role_policy.deploy[0].policy, aws_iam_role_policy.release[0].policy] : length(p) < 10240])
    error_message = "Each policy fits in an inline role policy (10,240 characters)."
  }
}

run "no_state_access_without_a_state_bucket" {
  command = plan

  variables {
    terraform_state_bucket = null
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.deploy[0].policy).Statement : s if startswith(s.Sid, "Terraform")]) == 0
    error_message = "No Terraform state statements without terraform_state_bucket."
  }
}

run "rejects_bad_environment_and_repository_names" {
  command = plan

  variables {
    github_environments         = ["prod*"]
    github_service_repositories = ["no-owner"]
  }
  expect_failures = [var.github_environments, var.github_service_repositories]
}
