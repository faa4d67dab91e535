locals {
  name_prefix = "${var.project}-${var.environment}"
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.name
  base        = data.terraform_remote_state.base.outputs

  base_state_config = {
    bucket = var.base_state_bucket
    key    = coalesce(var.base_state_key, "${var.environment}/terraform-base.tfstate")
    region = coalesce(var.base_state_region, var.region)
  }

  default_tags = merge(var.extra_tags, {
    Project       = var.project
    Environment   = var.environment
    ProductDomain = var.product_domain
    ManagedBy     = "terraform"
  })

  # Tags the scheduler puts on what it creates, on top of its own ManagedBy=runtime-scheduler
  # and Environment=<env> (which the spec must not carry).
  spec_tags = merge(var.extra_tags, {
    Project       = var.project
    ProductDomain = var.product_domain
  })

  cluster_name  = local.name_prefix
  alb_name      = local.name_prefix
  function_name = "${local.name_prefix}-runtime-scheduler"
  spec_key      = "${var.environment}/spec.json"

  # The one service without path_patterns takes the HTTPS listener's default action.
  default_service = one([for k, s in var.services : k if length(s.path_patterns) == 0])
  routed_services = { for k, s in var.services : k => s if length(s.path_patterns) > 0 }

  service_secrets = merge([
    for svc, s in var.services : { for name in s.secrets : "${svc}/${name}" => { service = svc, name = name } }
  ]...)

  ownership_tag_key   = "ManagedBy"
  ownership_tag_value = "runtime-scheduler"
  override_tag_keys   = ["runtime-scheduler:override", "runtime-scheduler:override-until"]
}
