locals {
  name_prefix = "${var.project}-${var.environment}"
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition

  default_tags = merge(var.extra_tags, {
    Project       = var.project
    Environment   = var.environment
    ProductDomain = var.product_domain
    ManagedBy     = "terraform"
  })

  azs = slice(sort(data.aws_availability_zones.available.names), 0, var.availability_zone_count)

  # Public subnets take the first /(newbits) blocks, private ones start at block 8.
  public_subnet_cidrs  = [for i in range(var.availability_zone_count) : cidrsubnet(var.vpc_cidr, var.subnet_newbits, i)]
  private_subnet_cidrs = [for i in range(var.availability_zone_count) : cidrsubnet(var.vpc_cidr, var.subnet_newbits, i + 8)]

  state_bucket_name = coalesce(var.state_bucket_name, "${local.name_prefix}-runtime-state-${local.account_id}")

  # NAT gateway i lives in public subnet i; private route table j is served by NAT (j mod count).
  # The scheduler creates the gateways and the routes; Terraform only publishes this layout.
  nat_names = ["a", "b", "c", "d"]
  nat_layout = [for i in range(var.nat_gateway_count) : {
    name             = local.nat_names[i]
    public_subnet_id = aws_subnet.public[i].id
    route_table_ids = [
      for j in range(var.availability_zone_count) : aws_route_table.private[j].id if j % var.nat_gateway_count == i
    ]
    eip_allocation_id = var.create_persistent_nat_eips ? aws_eip.nat[i].allocation_id : null
  }]

  github_oidc_url             = "https://token.actions.githubusercontent.com"
  create_deploy_role          = var.github_repository != null
  scheduler_function_name     = "${local.name_prefix}-runtime-scheduler"
  ecs_task_role_name_pattern  = "${local.name_prefix}-ecs-*"
  ecs_task_execution_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.name_prefix}-ecs-task-execution"
}
