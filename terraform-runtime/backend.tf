# Partial configuration: bucket, key and region come from -backend-config (see README.md,
# "Remote state"). One key per root and environment, e.g. "<environment>/terraform-runtime.tfstate".
terraform {
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
