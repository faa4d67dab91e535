# What holds data, and how it comes back.
#
# Backed up (enable_backup): the scheduler's state bucket (runtime spec, state document,
# history) and, when terraform_state_bucket_name is set, the Terraform state bucket. Both are
# also versioned with a noncurrent-version expiry, which is the first line of recovery (restore
# a previous object version); AWS Backup adds point-in-time recovery points in a vault that a
# bucket-level mistake (emptied bucket, deleted bucket) does not touch.
#
# Deliberately not backed up: the runtime tier (NAT gateways, ALB, records, services). It
# holds no data and the scheduler recreates it from the spec at every start. Images are
# protected by ECR replication to a second region (enable_ecr_replication) and can be rebuilt
# from source; logs expire by design.

resource "aws_backup_vault" "this" {
  count = var.enable_backup ? 1 : 0

  name          = local.name_prefix
  kms_key_arn   = aws_kms_key.this.arn
  force_destroy = var.force_destroy_backup_vault
}

resource "aws_backup_plan" "daily" {
  count = var.enable_backup ? 1 : 0

  name = "${local.name_prefix}-daily"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.this[0].name
    schedule          = var.backup_schedule
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.backup_retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "backup" {
  count = var.enable_backup ? 1 : 0

  name               = "${local.name_prefix}-backup"
  description        = "AWS Backup of ${local.name_prefix}: back up and restore the state buckets."
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

# AWS's own policies for S3 backup and restore: they track the actions AWS Backup needs as the
# feature evolves (bucket inventory, object tags, KMS via S3, EventBridge for continuous backup).
resource "aws_iam_role_policy_attachment" "backup" {
  for_each = var.enable_backup ? toset(["AWSBackupServiceRolePolicyForS3Backup", "AWSBackupServiceRolePolicyForS3Restore"]) : toset([])

  role       = aws_iam_role.backup[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

resource "aws_backup_selection" "buckets" {
  count = var.enable_backup ? 1 : 0

  name         = "${local.name_prefix}-buckets"
  plan_id      = aws_backup_plan.daily[0].id
  iam_role_arn = aws_iam_role.backup[0].arn
  resources = concat(
    [aws_s3_bucket.state.arn],
    var.terraform_state_bucket_name == null ? [] : ["arn:${local.partition}:s3:::${var.terraform_state_bucket_name}"],
  )

  depends_on = [aws_iam_role_policy_attachment.backup]
}

# Images survive the loss of the region: every push to this environment's repositories is
# copied to the second region (repositories there are created on first replication, with
# AES-256 encryption: KMS keys are regional). This is the registry's only replication
# configuration: one per account and region, so environments sharing an account must agree.
resource "aws_ecr_replication_configuration" "this" {
  count = var.enable_ecr_replication ? 1 : 0

  replication_configuration {
    rule {
      destination {
        region      = var.ecr_replication_region
        registry_id = local.account_id
      }

      repository_filter {
        filter      = "${local.name_prefix}/"
        filter_type = "PREFIX_MATCH"
      }
    }
  }
}
