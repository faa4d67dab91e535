variable "project" {
  type        = string
  description = "Project name; the first part of every resource name and the Project tag."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project))
    error_message = "project must be 2 to 20 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Environment name (e.g. demo, staging); the Environment tag and the scheduler's ENVIRONMENT."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,11}$", var.environment))
    error_message = "environment must be 1 to 12 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "product_domain" {
  type        = string
  description = "ProductDomain tag: the business domain that owns this environment."

  validation {
    condition     = length(trimspace(var.product_domain)) > 0 && length(var.product_domain) <= 64
    error_message = "product_domain must be 1 to 64 characters."
  }
}

variable "region" {
  type        = string
  description = "AWS region."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional default tags. Project, Environment, ProductDomain and ManagedBy are set by this root."
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.extra_tags), ["Project", "Environment", "ProductDomain", "ManagedBy"])) == 0
    error_message = "extra_tags may not set Project, Environment, ProductDomain or ManagedBy."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /24."
  }
}

variable "subnet_newbits" {
  type        = number
  description = "Bits added to the VPC prefix for each subnet (4 on a /16 gives /20 subnets). At least 4, since private subnets start at block 8."
  default     = 4

  validation {
    condition     = var.subnet_newbits >= 4 && var.subnet_newbits <= 8
    error_message = "subnet_newbits must be 4 to 8."
  }
}

variable "availability_zone_count" {
  type        = number
  description = "Number of availability zones, each with one public and one private subnet (an ALB needs two)."
  default     = 2

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 4
    error_message = "availability_zone_count must be 2 to 4."
  }
}

variable "nat_gateway_count" {
  type        = number
  description = "NAT gateways the scheduler creates at start (1 is cheapest; one per AZ survives an AZ outage)."
  default     = 1

  validation {
    condition     = var.nat_gateway_count >= 1 && var.nat_gateway_count <= var.availability_zone_count
    error_message = "nat_gateway_count must be between 1 and availability_zone_count."
  }
}

variable "create_persistent_nat_eips" {
  type        = bool
  description = "Allocate one Elastic IP per NAT gateway here, so the egress IP stays the same across sleep cycles (the spec then names them with elastic_ip mode 'external'). About 3.60 USD a month each while the NAT is asleep."
  default     = false
}

variable "create_route53_zone" {
  type        = bool
  description = "Create the public hosted zone route53_zone_name; false looks an existing one up."
  default     = false
}

variable "route53_zone_name" {
  type        = string
  description = "Public hosted zone that holds the application's record (e.g. example.com)."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.route53_zone_name))
    error_message = "route53_zone_name must be a lower-case DNS name without a trailing dot."
  }
}

variable "app_hostname" {
  type        = string
  description = "The application's DNS name (an A alias to the ALB, managed by the scheduler); the certificate covers it."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.app_hostname)) && endswith(var.app_hostname, ".${var.route53_zone_name}")
    error_message = "app_hostname must be a lower-case DNS name inside route53_zone_name."
  }
}

variable "enable_certificate_validation" {
  type        = bool
  description = "Wait until ACM has issued the certificate (DNS validation, up to ~30 minutes the first time). Local runs against moto turn this off."
  default     = true
}

variable "ecr_repositories" {
  type        = list(string)
  description = "ECR repositories to create, one per service; named <project>-<environment>/<name>."
  default     = ["backend", "frontend"]

  validation {
    condition     = length(var.ecr_repositories) > 0 && alltrue([for r in var.ecr_repositories : can(regex("^[a-z][a-z0-9_-]{0,63}$", r))])
    error_message = "ecr_repositories must be non-empty lower-case names."
  }
}

variable "ecr_keep_tagged_images" {
  type        = number
  description = "ECR lifecycle: how many tagged images to keep per repository."
  default     = 10

  validation {
    condition     = var.ecr_keep_tagged_images >= 1 && var.ecr_keep_tagged_images <= 1000
    error_message = "ecr_keep_tagged_images must be 1 to 1000."
  }
}

variable "ecr_untagged_expiry_days" {
  type        = number
  description = "ECR lifecycle: days after which untagged images expire."
  default     = 7

  validation {
    condition     = var.ecr_untagged_expiry_days >= 1 && var.ecr_untagged_expiry_days <= 365
    error_message = "ecr_untagged_expiry_days must be 1 to 365."
  }
}

variable "state_bucket_name" {
  type        = string
  description = "Name of the scheduler's state bucket; null derives <project>-<environment>-runtime-state-<account id>."
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "state_history_prefix" {
  type        = string
  description = "Key prefix, under <environment>/, of the scheduler's append-only history records."
  default     = "history/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*/$", var.state_history_prefix))
    error_message = "state_history_prefix must be a relative prefix ending in '/'."
  }
}

variable "state_history_retention_days" {
  type        = number
  description = "Days a history record is kept."
  default     = 90

  validation {
    condition     = var.state_history_retention_days >= 1
    error_message = "state_history_retention_days must be at least 1."
  }
}

variable "state_noncurrent_retention_days" {
  type        = number
  description = "Days old versions of objects in the state bucket (state.json, spec.json) are kept."
  default     = 30

  validation {
    condition     = var.state_noncurrent_retention_days >= 1
    error_message = "state_noncurrent_retention_days must be at least 1."
  }
}

variable "force_destroy_state_bucket" {
  type        = bool
  description = "Let terraform destroy empty the state bucket. Local and throw-away environments only."
  default     = false
}

variable "enable_tls_only_bucket_policy" {
  type        = bool
  description = "Attach the bucket policy that denies requests without TLS. Only local runs turn it off: moto ignores policy conditions, so the Deny would refuse every request."
  default     = true
}

variable "enable_flow_logs" {
  type        = bool
  description = "Send VPC flow logs to CloudWatch Logs."
  default     = true
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the log groups this root creates."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before the environment's KMS key is deleted."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be 7 to 30."
  }
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose workflows may assume the deploy role; null creates no deploy role."
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_branch" {
  type        = string
  description = "The only branch whose jobs (without an environment) may assume the deploy and release roles; jobs in github_environments are trusted by environment instead."
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_branch))
    error_message = "github_branch must be a plain branch name."
  }
}

variable "create_github_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider; false looks up the existing one (an account has at most one per URL)."
  default     = true
}

# --- ALB access logs ------------------------------------------------------------------------

variable "enable_alb_access_logs" {
  type        = bool
  description = "Create the ALB access-log bucket; terraform-runtime puts it into the spec and the scheduler sets the attribute on every ALB it creates."
  default     = true
}

variable "alb_access_logs_retention_days" {
  type        = number
  description = "Days an ALB access-log object is kept before the bucket's lifecycle rule expires it."
  default     = 90

  validation {
    condition     = var.alb_access_logs_retention_days >= 1 && var.alb_access_logs_retention_days <= 3650 && floor(var.alb_access_logs_retention_days) == var.alb_access_logs_retention_days
    error_message = "alb_access_logs_retention_days must be an integer from 1 to 3650."
  }
}

variable "alb_access_logs_prefix" {
  type        = string
  description = "Key prefix of the ALB's access logs in the bucket, without a trailing '/' (ELB writes <prefix>/AWSLogs/<account>/...)."
  default     = "alb"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*[a-z0-9]$", var.alb_access_logs_prefix)) && !strcontains(var.alb_access_logs_prefix, "AWSLogs")
    error_message = "alb_access_logs_prefix must be a relative prefix without a trailing '/' and without 'AWSLogs' (ELB adds that itself)."
  }
}

variable "force_destroy_access_logs_bucket" {
  type        = bool
  description = "Let terraform destroy empty the ALB access-log bucket. Local and throw-away environments only."
  default     = false
}

# --- Security services ----------------------------------------------------------------------

variable "enable_security_hub" {
  type        = bool
  description = "Enable Security Hub in this account and region and subscribe security_hub_standards. Leave off where the organisation's delegated administrator manages Security Hub centrally (the account is then already a member and enabling here conflicts)."
  default     = false
}

variable "security_hub_standards" {
  type        = list(string)
  description = "Security Hub standards to subscribe, as the part of the standards ARN after 'standards/' (region-specific ARNs are built here)."
  default     = ["aws-foundational-security-best-practices/v/1.0.0", "cis-aws-foundations-benchmark/v/3.0.0"]

  validation {
    condition = length(distinct(var.security_hub_standards)) == length(var.security_hub_standards) && alltrue([
      for s in var.security_hub_standards : can(regex("^[a-z0-9-]+/v/[0-9.]+$", s)) && s != "cis-aws-foundations-benchmark/v/1.2.0"
    ])
    error_message = "security_hub_standards must be distinct names like aws-foundational-security-best-practices/v/1.0.0 (CIS 1.2.0 has a global 'ruleset/' ARN: use 1.4.0 or 3.0.0)."
  }
}

variable "enable_guardduty" {
  type        = bool
  description = "Create a GuardDuty detector in this account and region. Leave off where the organisation's delegated administrator enables GuardDuty for member accounts (an account has one detector per region)."
  default     = false
}

variable "enable_guardduty_ecs_runtime_monitoring" {
  type        = bool
  description = "With enable_guardduty: the RUNTIME_MONITORING feature with GuardDuty managing the security agent on ECS Fargate tasks."
  default     = true
}

variable "guardduty_finding_publishing_frequency" {
  type        = string
  description = "How often GuardDuty publishes updated findings to EventBridge."
  default     = "FIFTEEN_MINUTES"

  validation {
    condition     = contains(["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"], var.guardduty_finding_publishing_frequency)
    error_message = "guardduty_finding_publishing_frequency must be FIFTEEN_MINUTES, ONE_HOUR or SIX_HOURS."
  }
}

# --- Backup and disaster recovery -----------------------------------------------------------

variable "enable_ecr_replication" {
  type        = bool
  description = "Replicate this environment's ECR repositories to ecr_replication_region. The registry's replication configuration is one per account and region: where several environments share an account, manage it in one place only."
  default     = false
}

variable "ecr_replication_region" {
  type        = string
  description = "Second region for ECR replication (required when enable_ecr_replication); must differ from region."
  default     = null

  validation {
    condition     = var.ecr_replication_region == null || can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.ecr_replication_region))
    error_message = "ecr_replication_region must look like us-west-2."
  }

  validation {
    condition     = !var.enable_ecr_replication || (var.ecr_replication_region != null && var.ecr_replication_region != var.region)
    error_message = "enable_ecr_replication needs ecr_replication_region, different from region."
  }
}

variable "enable_backup" {
  type        = bool
  description = "An AWS Backup vault (encrypted with the environment's key), a daily plan and a selection of the buckets that hold data: the scheduler's state bucket and, if named, the Terraform state bucket."
  default     = false
}

variable "backup_retention_days" {
  type        = number
  description = "Days AWS Backup keeps each daily recovery point."
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 36500 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be an integer from 1 to 36500."
  }
}

variable "backup_schedule" {
  type        = string
  description = "AWS Backup schedule of the daily plan (cron in UTC)."
  default     = "cron(0 5 * * ? *)"

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.backup_schedule))
    error_message = "backup_schedule must be a cron(...) expression."
  }
}

variable "terraform_state_bucket_name" {
  type        = string
  description = "The bucket holding the Terraform state of both roots (made by `make infra-backend-bucket`). Named, it joins the AWS Backup selection; null backs up only the scheduler's state bucket."
  default     = null

  validation {
    condition     = var.terraform_state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.terraform_state_bucket_name))
    error_message = "terraform_state_bucket_name must be a valid S3 bucket name."
  }
}

variable "force_destroy_backup_vault" {
  type        = bool
  description = "Let terraform destroy delete the backup vault with its recovery points. Local and throw-away environments only."
  default     = false
}
variable "github_environments" {
  type        = list(string)
  description = "GitHub environments of github_repository (and of github_service_repositories) whose jobs may assume the deploy and release roles. Protect every one beyond dev with required reviewers and a main-only deployment branch rule."
  default     = []

  validation {
    condition     = alltrue([for e in var.github_environments : can(regex("^[A-Za-z0-9._-]{1,255}$", e))])
    error_message = "github_environments must be plain environment names (letters, digits, '.', '_', '-')."
  }
}

variable "github_service_repositories" {
  type        = list(string)
  description = "Application repositories (owner/name) that call deploy-service.yml: their jobs in github_environments may assume the release role (push images, register task definitions, invoke the scheduler's deploy), never the deploy role."
  default     = []

  validation {
    condition     = alltrue([for r in var.github_service_repositories : can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", r))])
    error_message = "github_service_repositories must be owner/name values."
  }
}

variable "terraform_state_bucket" {
  type        = string
  description = "S3 bucket of the Terraform state (the backend's, not the scheduler's); the deploy role may read and write <environment>/terraform-runtime.tfstate and its lock file and read <environment>/terraform-base.tfstate. Null grants no state access."
  default     = null

  validation {
    condition     = var.terraform_state_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.terraform_state_bucket))
    error_message = "terraform_state_bucket must be an S3 bucket name."
  }
}
