# The scheduler's bucket: the runtime spec (<environment>/spec.json, written by
# terraform-runtime), its state (<environment>/state.json) and one history record per
# invocation (<environment>/<state_history_prefix>...).
resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Server access logs for a bucket of a few small JSON objects cost more than they tell; every write is also a history record and CloudTrail data events can be enabled account-wide.
  #checkov:skip=CKV_AWS_144:Cross-region replication is out of scope: the spec is re-rendered by terraform apply and the state is rebuilt by the scheduler's next observation.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications; the scheduler reads the bucket itself.
  bucket        = local.state_bucket_name
  force_destroy = var.force_destroy_state_bucket
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioning keeps every earlier spec and state; conditional writes (If-Match) by the scheduler
# work with or without it.
resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-history-records"
    status = "Enabled"

    filter {
      prefix = "${var.environment}/${var.state_history_prefix}"
    }

    expiration {
      days = var.state_history_retention_days
    }
  }

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.state_noncurrent_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

data "aws_iam_policy_document" "state_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  count = var.enable_tls_only_bucket_policy ? 1 : 0

  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.state]
}
