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
