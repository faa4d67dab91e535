# What the dashboard (dashboard.tf) and the alarms (alarms.tf) select, in one place.
#
# The scheduler deletes the ALB and the NAT gateways every evening and creates new ones, with
# new ids, every morning. Nothing here may therefore name a load balancer or NAT gateway id
# (.ci/lib/ops_check.py checks the deployed dashboard and alarms for it). Instead:
#   - target-group metrics are selected by the TargetGroup dimension (the target groups are
#     Terraform's and stable), aggregated over whichever ALB reports them (Metrics Insights);
#   - the ALB's own metrics and the NAT gateways' are selected by the ownership tags the
#     scheduler puts on them (Metrics Insights `tag.` filters, with enable_tag_based_metrics:
#     needs CloudWatch "resource tags on telemetry" in the account), otherwise, on the
#     dashboard only, by SEARCH on the ALB's name or over the region's NAT gateways;
#   - ECS services and the scheduler's own metrics have stable dimensions.

locals {
  scheduler_namespace = "RuntimeScheduler"
  alarm_actions       = [aws_sns_topic.alerts.arn]

  # TargetGroup dimension value: targetgroup/<name>/<id>.
  target_group_dimension = { for k, tg in aws_lb_target_group.service : k => tg.arn_suffix }

  # "FROM ... WHERE ..." of a Metrics Insights query over one target group's metrics, whatever
  # the ALB (SCHEMA keeps the per-AZ series out, so SUM does not count twice).
  target_group_from = {
    for k, v in local.target_group_dimension : k => "FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer, TargetGroup) WHERE TargetGroup = '${v}'"
  }

  # Metrics Insights tag filter for what the scheduler creates for this environment.
  owned_by_tags = "tag.${local.ownership_tag_key} = '${local.ownership_tag_value}' AND tag.Environment = '${var.environment}'"
  alb_from      = "FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer) WHERE ${local.owned_by_tags}"
  nat_from      = "FROM SCHEMA(\"AWS/NATGateway\", NatGatewayId) WHERE ${local.owned_by_tags}"

  # The scheduler's phase metrics arrive with every reconcile (and start, stop, status); the
  # mismatch alarms look at periods of one reconcile interval.
  phase_period_seconds  = max(var.reconcile_interval_minutes, 5) * 60
  phase_grace_periods   = max(1, ceil(var.tier_mismatch_grace_minutes / max(var.reconcile_interval_minutes, 5)))
  reconcile_is_periodic = local.create_schedules && var.reconcile_interval_minutes > 0
}
