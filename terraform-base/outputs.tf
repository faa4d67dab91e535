output "name_prefix" {
  description = "<project>-<environment>: the prefix of every resource name."
  value       = local.name_prefix
}

output "project" {
  description = "Project tag value."
  value       = var.project
}

output "environment" {
  description = "Environment name."
  value       = var.environment
}

output "product_domain" {
  description = "ProductDomain tag value."
  value       = var.product_domain
}

output "region" {
  description = "AWS region."
  value       = data.aws_region.current.name
}

output "account_id" {
  description = "AWS account id."
  value       = local.account_id
}

output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "VPC IPv4 CIDR."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (ALB, NAT gateways), one per AZ."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (ECS tasks), one per AZ."
  value       = aws_subnet.private[*].id
}

output "private_route_table_ids" {
  description = "Private route tables; the scheduler owns their 0.0.0.0/0 route."
  value       = aws_route_table.private[*].id
}

output "nat_layout" {
  description = "NAT gateways the scheduler creates: name, public subnet, the private route tables each serves, and the persistent EIP allocation id (null when the scheduler allocates its own)."
  value       = local.nat_layout
}

output "route53_zone_id" {
  description = "Hosted zone of app_hostname."
  value       = local.zone_id
}

output "app_hostname" {
  description = "The application's DNS name."
  value       = var.app_hostname
}

output "certificate_arn" {
  description = "ACM certificate for app_hostname (issued, unless enable_certificate_validation is false)."
  value       = var.enable_certificate_validation ? aws_acm_certificate_validation.app[0].certificate_arn : aws_acm_certificate.app.arn
}

output "ecr_repository_urls" {
  description = "ECR repository URL per service name."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "ecr_repository_arns" {
  description = "ECR repository ARN per service name."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "ecs_task_execution_role_name" {
  description = "Name terraform-runtime must give the task execution role (the ECR repository policy grants it pull)."
  value       = "${local.name_prefix}-ecs-task-execution"
}

output "state_bucket_name" {
  description = "The scheduler's state bucket (spec, state, history)."
  value       = aws_s3_bucket.state.id
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.state.arn
}

output "kms_key_arn" {
  description = "The environment's KMS key."
  value       = aws_kms_key.this.arn
}

output "deploy_role_arn" {
  description = "Role deploy.yml assumes (GitHub variable AWS_DEPLOY_ROLE_ARN): terraform-runtime without IAM writes, the scheduler's code and status (null without github_repository)."
  value       = local.create_deploy_role ? aws_iam_role.deploy[0].arn : null
}

output "release_role_arn" {
  description = "Role deploy-service.yml and rollback.yml assume (GitHub variable AWS_RELEASE_ROLE_ARN): push images, register task definitions, invoke the scheduler (null without github_repository)."
  value       = local.create_deploy_role ? aws_iam_role.release[0].arn : null
}

output "github_trusted_subjects" {
  description = "The exact OIDC `sub` values each GitHub role trusts."
  value       = { deploy = local.github_subjects_deploy, release = local.github_subjects_release }
}

output "github_oidc_provider_arn" {
  description = "The account's GitHub OIDC provider (null without github_repository)."
  value       = local.github_oidc_provider_arn
}

output "state_history_prefix" {
  description = "Key prefix of the scheduler's history records, relative to <environment>/ (the function's HISTORY_PREFIX; the lifecycle rule expires what is under it)."
  value       = var.state_history_prefix
}

output "alb_access_logs" {
  description = "Where the ALB writes access logs: { bucket, prefix } (prefix without a trailing '/'), or null when enable_alb_access_logs is false."
  value       = var.enable_alb_access_logs ? { bucket = aws_s3_bucket.access_logs[0].bucket, prefix = var.alb_access_logs_prefix } : null
}

output "guardduty_detector_id" {
  description = "GuardDuty detector created here (null when enable_guardduty is false, including when the organisation manages GuardDuty)."
  value       = var.enable_guardduty ? aws_guardduty_detector.this[0].id : null
}

output "guardduty_ecs_runtime_monitoring" {
  description = "Whether GuardDuty manages its security agent on this account's Fargate tasks (terraform-runtime then lets the task execution role pull the agent image)."
  value       = var.enable_guardduty && var.enable_guardduty_ecs_runtime_monitoring
}

output "security_hub_standards_arns" {
  description = "Security Hub standards subscribed here (empty when enable_security_hub is false)."
  value       = [for s in aws_securityhub_standards_subscription.this : s.standards_arn]
}

output "backup_vault_name" {
  description = "AWS Backup vault of the state buckets (null when enable_backup is false)."
  value       = var.enable_backup ? aws_backup_vault.this[0].name : null
}

output "backup_plan_id" {
  description = "AWS Backup plan id (null when enable_backup is false)."
  value       = var.enable_backup ? aws_backup_plan.daily[0].id : null
}

output "backup_resource_arns" {
  description = "What the backup plan selects (empty when enable_backup is false)."
  value       = var.enable_backup ? aws_backup_selection.buckets[0].resources : []
}

output "ecr_replication_region" {
  description = "Region the ECR repositories are replicated to (null when enable_ecr_replication is false)."
  value       = var.enable_ecr_replication ? var.ecr_replication_region : null
}
