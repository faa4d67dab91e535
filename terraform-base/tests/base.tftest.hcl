# Plan/apply against a mocked AWS provider: variable validation and the values this root
# publishes to terraform-runtime. No credentials and no network are needed.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1c", "us-east-1a", "us-east-1b"] }
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
  # Only values the provider validates (ARNs) need realistic shapes.
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
    defaults = { arn = "arn:aws:ecr:us-east-1:123456789012:repository/mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock" }
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
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::127311923021:root", id = "127311923021" }
  }
  mock_resource "aws_backup_vault" {
    defaults = { arn = "arn:aws:backup:us-east-1:123456789012:backup-vault:acme-shop-demo" }
  }
  mock_resource "aws_backup_plan" {
    defaults = { arn = "arn:aws:backup:us-east-1:123456789012:backup-plan:0000", id = "00000000-0000-0000-0000-000000000000" }
  }
}

variables {
  project           = "acme-shop"
  environment       = "demo"
  product_domain    = "web"
  route53_zone_name = "example.com"
  app_hostname      = "demo.example.com"
}

run "defaults_one_nat_serving_every_private_route_table" {
  command = apply

  assert {
    condition     = length(output.nat_layout) == 1 && output.nat_layout[0].name == "a"
    error_message = "One NAT gateway by default."
  }
  assert {
    condition     = toset(output.nat_layout[0].route_table_ids) == toset(output.private_route_table_ids)
    error_message = "The single NAT must serve every private route table."
  }
  assert {
    condition     = output.nat_layout[0].public_subnet_id == output.public_subnet_ids[0] && output.nat_layout[0].eip_allocation_id == null
    error_message = "NAT 'a' lives in the first public subnet and has no persistent EIP by default."
  }
  assert {
    condition     = [for s in aws_subnet.public : s.availability_zone] == ["us-east-1a", "us-east-1b"]
    error_message = "Subnets take the first availability zones in sorted order."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "Public subnets do not hand out public IPs (only the ALB and NAT live there)."
  }
  assert {
    condition     = length(aws_route_table.private) == 2 && aws_route.public_internet.route_table_id == aws_route_table.public.id
    error_message = "The only route Terraform owns is the public default route; private tables have none."
  }
  assert {
    condition     = aws_s3_bucket.state.bucket == "acme-shop-demo-runtime-state-123456789012"
    error_message = "State bucket name is derived from project, environment and account."
  }
  assert {
    condition     = keys(output.ecr_repository_urls) == ["backend", "frontend"]
    error_message = "One ECR repository per service."
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE" && r.image_scanning_configuration[0].scan_on_push])
    error_message = "ECR repositories are immutable and scan on push."
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this["backend"].policy).rules[0].selection.countNumber == 7 && jsondecode(aws_ecr_lifecycle_policy.this["backend"].policy).rules[1].selection.countNumber == 10
    error_message = "ECR lifecycle: untagged after 7 days, keep the last 10."
  }
  assert {
    condition     = aws_s3_bucket_versioning.state.versioning_configuration[0].status == "Enabled" && aws_s3_bucket_public_access_block.state.restrict_public_buckets
    error_message = "The state bucket is versioned and private."
  }
  assert {
    condition     = length(aws_s3_bucket_policy.state) == 1 && length(aws_acm_certificate_validation.app) == 1
    error_message = "TLS-only bucket policy and certificate validation are on by default."
  }
  assert {
    condition     = output.deploy_role_arn == null && length(aws_iam_role.deploy) == 0
    error_message = "No deploy role without github_repository."
  }
  assert {
    condition     = output.state_history_prefix == "history/"
    error_message = "The history prefix is published for the function's HISTORY_PREFIX."
  }
  assert {
    condition     = output.alb_access_logs == { bucket = "acme-shop-demo-alb-logs-123456789012", prefix = "alb" }
    error_message = "The ALB access-log bucket and prefix are published for the spec."
  }
  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.access_logs[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256" &&
      aws_s3_bucket_lifecycle_configuration.access_logs[0].rule[0].expiration[0].days == 90 &&
      aws_s3_bucket_public_access_block.access_logs[0].block_public_policy
    )
    error_message = "Access logs: SSE-S3 (ELB cannot use KMS), expiry after 90 days, no public access."
  }
  assert {
    condition = (
      length(aws_securityhub_account.this) == 0 && length(aws_securityhub_standards_subscription.this) == 0 &&
      length(aws_guardduty_detector.this) == 0 && length(aws_backup_plan.daily) == 0 &&
      length(aws_ecr_replication_configuration.this) == 0 && output.guardduty_ecs_runtime_monitoring == false
    )
    error_message = "Security Hub, GuardDuty, backup and ECR replication are off by default (organisations manage them centrally)."
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.state.rule : r.noncurrent_version_expiration[0].noncurrent_days if r.id == "expire-old-versions"]) == 30
    error_message = "Old versions of the state and the spec are kept 30 days, then expire."
  }
}

run "security_services_when_the_account_is_standalone" {
  command = plan

  variables {
    enable_security_hub = true
    enable_guardduty    = true
  }

  assert {
    condition = toset([for s in aws_securityhub_standards_subscription.this : s.standards_arn]) == toset([
      "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0",
      "arn:aws:securityhub:us-east-1::standards/cis-aws-foundations-benchmark/v/3.0.0",
    ])
    error_message = "Security Hub subscribes AWS Foundational Security Best Practices and CIS."
  }
  assert {
    condition     = aws_securityhub_account.this[0].enable_default_standards == false
    error_message = "Standards are explicit, not whatever AWS enables by default."
  }
  assert {
    condition = (
      aws_guardduty_detector_feature.runtime_monitoring[0].name == "RUNTIME_MONITORING" &&
      aws_guardduty_detector_feature.runtime_monitoring[0].status == "ENABLED" &&
      one(aws_guardduty_detector_feature.runtime_monitoring[0].additional_configuration).name == "ECS_FARGATE_AGENT_MANAGEMENT" &&
      output.guardduty_ecs_runtime_monitoring
    )
    error_message = "GuardDuty Runtime Monitoring with the Fargate agent managed by GuardDuty."
  }
}

run "guardduty_without_runtime_monitoring" {
  command = plan

  variables {
    enable_guardduty                        = true
    enable_guardduty_ecs_runtime_monitoring = false
  }

  assert {
    condition     = length(aws_guardduty_detector.this) == 1 && length(aws_guardduty_detector_feature.runtime_monitoring) == 0 && output.guardduty_ecs_runtime_monitoring == false
    error_message = "The detector alone, and terraform-runtime is told not to grant the agent pull."
  }
}

run "backup_of_both_state_buckets_and_ecr_replication" {
  command = plan

  variables {
    enable_backup               = true
    backup_retention_days       = 14
    terraform_state_bucket_name = "acme-tf-state"
    enable_ecr_replication      = true
    ecr_replication_region      = "us-west-2"
  }

  assert {
    condition     = aws_backup_selection.buckets[0].resources == toset([aws_s3_bucket.state.arn, "arn:aws:s3:::acme-tf-state"])
    error_message = "The scheduler's state bucket and the Terraform state bucket are backed up."
  }
  assert {
    condition     = one(one(aws_backup_plan.daily[0].rule).lifecycle).delete_after == 14 && one(aws_backup_plan.daily[0].rule).schedule == "cron(0 5 * * ? *)"
    error_message = "Daily recovery points kept backup_retention_days."
  }
  assert {
    condition     = aws_backup_vault.this[0].kms_key_arn == aws_kms_key.this.arn
    error_message = "The vault is encrypted with the environment's key."
  }
  assert {
    condition = toset([for a in aws_iam_role_policy_attachment.backup : a.policy_arn]) == toset([
      "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup", "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
    ])
    error_message = "The backup role may back up and restore S3."
  }
  assert {
    condition = (
      one(aws_ecr_replication_configuration.this[0].replication_configuration[0].rule[0].destination).region == "us-west-2" &&
      one(aws_ecr_replication_configuration.this[0].replication_configuration[0].rule[0].repository_filter).filter == "acme-shop-demo/"
    )
    error_message = "This environment's repositories are replicated to the second region."
  }
}

run "backup_of_the_state_bucket_only" {
  command = plan

  variables {
    enable_backup = true
  }

  assert {
    condition     = aws_backup_selection.buckets[0].resources == toset([aws_s3_bucket.state.arn])
    error_message = "Without terraform_state_bucket_name only the scheduler's state bucket is selected."
  }
}

run "no_access_logs_bucket_when_off" {
  command = plan

  variables {
    enable_alb_access_logs = false
  }

  assert {
    condition     = output.alb_access_logs == null && length(aws_s3_bucket.access_logs) == 0
    error_message = "No bucket, and the spec gets access_logs = null."
  }
}

run "rejects_replication_without_a_second_region" {
  command = plan
  variables {
    enable_ecr_replication = true
    ecr_replication_region = "us-east-1"
  }
  expect_failures = [var.ecr_replication_region]
}

run "rejects_bad_security_and_backup_settings" {
  command = plan
  variables {
    security_hub_standards = ["cis-aws-foundations-benchmark/v/1.2.0"]
    backup_retention_days  = 0
    backup_schedule        = "rate(1 day)"
    alb_access_logs_prefix = "logs/"
  }
  expect_failures = [var.security_hub_standards, var.backup_retention_days, var.backup_schedule, var.alb_access_logs_prefix]
}

run "two_nats_with_persistent_addresses" {
  command = apply

  variables {
    availability_zone_count    = 3
    nat_gateway_count          = 2
    create_persistent_nat_eips = true
  }

  assert {
    condition     = [for n in output.nat_layout : length(n.route_table_ids)] == [2, 1]
    error_message = "Route tables are spread round-robin over the NAT gateways (a: 0 and 2, b: 1)."
  }
  assert {
    condition     = alltrue([for n in output.nat_layout : n.eip_allocation_id != null]) && length(aws_eip.nat) == 2
    error_message = "Each NAT gets a persistent EIP."
  }
  assert {
    condition     = length(distinct(flatten([for n in output.nat_layout : n.route_table_ids]))) == 3
    error_message = "Every private route table is served exactly once."
  }
}

run "deploy_role_for_one_repository_and_branch" {
  command = apply

  variables {
    github_repository = "acme/shop"
  }

  assert {
    condition     = length(aws_iam_role.deploy) == 1 && length(aws_iam_openid_connect_provider.github) == 1
    error_message = "A deploy role and the OIDC provider are created for a repository."
  }
}

run "rejects_a_hostname_outside_the_zone" {
  command = plan
  variables {
    app_hostname = "demo.example.org"
  }
  expect_failures = [var.app_hostname]
}

run "rejects_more_nats_than_zones" {
  command = plan
  variables {
    nat_gateway_count = 3
  }
  expect_failures = [var.nat_gateway_count]
}

run "rejects_bad_names" {
  command = plan
  variables {
    project     = "Acme_Shop"
    environment = "this-is-far-too-long"
  }
  expect_failures = [var.project, var.environment]
}

run "rejects_tags_it_sets_itself" {
  command = plan
  variables {
    extra_tags = { ManagedBy = "me" }
  }
  expect_failures = [var.extra_tags]
}

run "rejects_a_bad_cidr_and_retention" {
  command = plan
  variables {
    vpc_cidr           = "10.0.0.0/8"
    log_retention_days = 42
  }
  expect_failures = [var.vpc_cidr, var.log_retention_days]
}

run "rejects_a_bad_repository" {
  command = plan
  variables {
    github_repository = "not a repo"
  }
  expect_failures = [var.github_repository]
}
