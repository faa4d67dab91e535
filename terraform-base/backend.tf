# Partial configuration: bucket, key and region come from -backend-config (see README.md,
# "Remote state"). One key per root and environment, e.g. "<environment>/terraform-base.tfstate".
# use_lockfile takes the lock with an S3 conditional write (Terraform >= 1.10); no DynamoDB table.
terraform {
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
