# Terraform owns the target groups and the security groups; the scheduler owns the ALB, its
# listeners and rules (rendered into the spec), and creates them at every start.

resource "aws_lb_target_group" "service" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; ALB to task traffic stays inside the VPC on the tasks' HTTP port.
  for_each = var.services

  name                 = "${local.name_prefix}-${each.key}"
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = each.value.container_port
  vpc_id               = local.base.vpc_id
  deregistration_delay = 30

  health_check {
    path                = each.value.health_check_path
    protocol            = "HTTP"
    matcher             = "200-399"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  lifecycle {
    precondition {
      condition     = length("${local.name_prefix}-${each.key}") <= 32
      error_message = "Target group name ${local.name_prefix}-${each.key} is longer than 32 characters: shorten project, environment or the service name."
    }
  }
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the ALB the scheduler creates at each start, outside Terraform.
  name        = "${local.name_prefix}-alb"
  description = "ALB of ${local.name_prefix}: HTTP and HTTPS from the internet, to the tasks only"
  vpc_id      = local.base.vpc_id

  tags = { Name = "${local.name_prefix}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (the spec's HTTP listener).
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet (redirected to HTTPS)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  for_each = { for k, s in var.services : k => s.container_port }

  security_group_id            = aws_security_group.alb.id
  description                  = "To the ${each.key} tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5:Attached to the ECS services the scheduler creates, outside Terraform.
  name        = "${local.name_prefix}-tasks"
  description = "ECS tasks of ${local.name_prefix}: only from the ALB"
  vpc_id      = local.base.vpc_id

  tags = { Name = "${local.name_prefix}-tasks" }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  for_each = { for k, s in var.services : k => s.container_port }

  security_group_id            = aws_security_group.tasks.id
  description                  = "${each.key} from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS out through the NAT gateway (ECR, SSM, CloudWatch Logs, third parties)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
