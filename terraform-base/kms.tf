# One customer-managed key per environment, for the state bucket, ECR, log groups, SNS and
# SSM parameters of both roots, and the backup vault. Services that write on their own
# (CloudWatch Logs; alarms, Budgets and EventBridge publishing to an encrypted SNS topic) need it
# granted in the key policy; IAM principals of the account get access through their own IAM
# policies (the root statement), AWS Backup through grants it creates with the caller's rights.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key; the account statement delegates to IAM, as the KMS default policy does.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key, nothing else.
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the account statement delegates to IAM, as the KMS default policy does.
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsLogGroupsOfThisAccount"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${data.aws_region.current.name}:${local.account_id}:log-group:*"]
    }
  }

  # EventBridge delivers ECR scan and GuardDuty findings to the same encrypted alert topic.
  statement {
    sid       = "AlarmsBudgetsAndEventsPublishToEncryptedTopics"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.name_prefix}: state bucket, ECR, logs, SNS and SSM parameters"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
