# ALB access logs. The scheduler creates a new ALB every morning; terraform-runtime puts this
# bucket and prefix into the spec (load_balancer.attributes.access_logs) and the scheduler sets
# the attribute on every ALB it creates. Elastic Load Balancing writes with SSE-S3 only (it
# cannot use a KMS key), and checks at ModifyLoadBalancerAttributes time that it may write here.

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the log bucket; logging its own access would need yet another bucket.
  #checkov:skip=CKV_AWS_144:Access logs expire after alb_access_logs_retention_days; a second-region copy is not worth its cost for a dev/staging tier.
  #checkov:skip=CKV_AWS_145:Elastic Load Balancing delivers access logs only to buckets encrypted with SSE-S3 (AES256), not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications; logs are read with Athena or downloaded on demand.
  #checkov:skip=CKV_AWS_21:Log objects are written once and never overwritten; versioning would only keep deleted logs past their expiry.
  count = var.enable_alb_access_logs ? 1 : 0

  bucket        = "${local.name_prefix}-alb-logs-${local.account_id}"
  force_destroy = var.force_destroy_access_logs_bucket
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  count = var.enable_alb_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  count = var.enable_alb_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  count = var.enable_alb_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  count = var.enable_alb_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.alb_access_logs_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# The principal that delivers logs: the regional Elastic Load Balancing account in regions
# opened before August 2022, the log-delivery service principal in newer ones. Both are
# allowed, each only under this environment's prefix and account.
data "aws_elb_service_account" "this" {}

data "aws_iam_policy_document" "access_logs" {
  count = var.enable_alb_access_logs ? 1 : 0

  statement {
    sid       = "ElbRegionalAccountDeliversLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs[0].arn}/${var.alb_access_logs_prefix}/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }

  statement {
    sid       = "ElbLogDeliveryServiceDeliversLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs[0].arn}/${var.alb_access_logs_prefix}/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_tls_only_bucket_policy ? [1] : []
    content {
      sid       = "DenyInsecureTransport"
      effect    = "Deny"
      actions   = ["s3:*"]
      resources = [aws_s3_bucket.access_logs[0].arn, "${aws_s3_bucket.access_logs[0].arn}/*"]
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
}

resource "aws_s3_bucket_policy" "access_logs" {
  count = var.enable_alb_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id
  policy = data.aws_iam_policy_document.access_logs[0].json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
