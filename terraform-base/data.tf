data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Subnets take the first availability_zone_count names in sorted order, so a newly added zone (which sorts last) never moves them.
  state = "available"
}
