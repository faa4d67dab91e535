# Everything slow or persistent comes from terraform-base.
data "terraform_remote_state" "base" {
  backend = "s3"
  config  = local.base_state_config
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}
