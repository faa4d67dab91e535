# The scheduler's permissions: exactly the API actions the Rust code calls (compared with
# `runtime-scheduler permissions` by .ci/lib/terraform-e2e.sh), scoped to this environment's
# resources, with every mutating action conditioned on the ownership tags where AWS supports
# that condition for the action (checked against the Service Authorization Reference).
# CloudWatch Logs (its own log group), KMS (the state bucket's key, via S3 only) and SQS (its
# dead-letter queue) are platform permissions the code never calls itself.

locals {
  arn_ec2  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"
  arn_elb  = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}"
  arn_ecs  = "arn:${local.partition}:ecs:${local.region}:${local.account_id}"
  arn_waf  = "arn:${local.partition}:wafv2:${local.region}:${local.account_id}"
  arn_alb  = "${local.arn_elb}:loadbalancer/app/${local.alb_name}/*"
  arn_lst  = "${local.arn_elb}:listener/app/${local.alb_name}/*"
  arn_rule = "${local.arn_elb}:listener-rule/app/${local.alb_name}/*"
  arn_svcs = "${local.arn_ecs}:service/${local.cluster_name}/*"
  arn_zone = "arn:${local.partition}:route53:::hostedzone/${local.base.route53_zone_id}"
  # Route53's normalized form: lower case, no trailing dot.
  app_record_name = lower(trimsuffix(local.base.app_hostname, "."))
  arn_acl         = var.enable_waf ? aws_wafv2_web_acl.this[0].arn : "${local.arn_waf}:regional/webacl/${local.name_prefix}/*"
  arn_rtbs        = [for id in local.base.private_route_table_ids : "${local.arn_ec2}:route-table/${id}"]
  arn_pubs        = [for n in local.base.nat_layout : "${local.arn_ec2}:subnet/${n.public_subnet_id}"]
  arn_ext_eips = [
    for n in local.base.nat_layout : "${local.arn_ec2}:elastic-ip/${n.eip_allocation_id}" if n.eip_allocation_id != null
  ]

  tag_request  = { "aws:RequestTag/${local.ownership_tag_key}" = [local.ownership_tag_value], "aws:RequestTag/Environment" = [var.environment] }
  tag_resource = { "aws:ResourceTag/${local.ownership_tag_key}" = [local.ownership_tag_value], "aws:ResourceTag/Environment" = [var.environment] }

  # Each statement: sid, actions, resources, condition (operator => key => values). `api`
  # marks statements whose actions the Rust code calls (they make scheduler_iam_actions).
  scheduler_statements = [
    # --- EC2: NAT gateways, Elastic IPs, private default routes -------------------------
    { sid = "Ec2Describe", api = true, condition = {}, resources = ["*"],
    actions = ["ec2:DescribeAddresses", "ec2:DescribeNatGateways", "ec2:DescribeRouteTables"] },
    { sid = "Ec2CreateOwnedNatGateway", api = true, condition = { StringEquals = local.tag_request },
    actions = ["ec2:CreateNatGateway"], resources = ["${local.arn_ec2}:natgateway/*"] },
    { sid = "Ec2CreateNatGatewayInPublicSubnets", api = true, condition = {},
    actions = ["ec2:CreateNatGateway"], resources = local.arn_pubs },
    { sid = "Ec2CreateNatGatewayWithOwnedAddress", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["ec2:CreateNatGateway"], resources = ["${local.arn_ec2}:elastic-ip/*"] },
    # Persistent addresses of terraform-base (elastic_ip mode "external") carry Terraform's
    # tags, not the scheduler's: they are named one by one instead. Dropped when there are none.
    { sid = "Ec2UseExternalAddresses", api = true, condition = {},
    actions = ["ec2:CreateNatGateway", "ec2:DisassociateAddress"], resources = local.arn_ext_eips },
    { sid = "Ec2DeleteOwnedNatGateway", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["ec2:DeleteNatGateway"], resources = ["${local.arn_ec2}:natgateway/*"] },
    { sid = "Ec2AllocateOwnedAddress", api = true, condition = { StringEquals = local.tag_request },
    actions = ["ec2:AllocateAddress"], resources = ["${local.arn_ec2}:elastic-ip/*"] },
    { sid = "Ec2ReleaseOwnedAddress", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["ec2:ReleaseAddress"], resources = ["${local.arn_ec2}:elastic-ip/*"] },
    # A kept address can stay associated with the network interface of a NAT gateway that
    # has already been deleted; the scheduler detaches it before reusing it.
    { sid = "Ec2DisassociateOwnedAddress", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["ec2:DisassociateAddress"], resources = ["${local.arn_ec2}:elastic-ip/*"] },
    { sid       = "Ec2DisassociateFromInterfacesOfTheVpc", api = true,
      condition = { ArnEquals = { "ec2:Vpc" = ["${local.arn_ec2}:vpc/${local.base.vpc_id}"] } },
    actions = ["ec2:DisassociateAddress"], resources = ["${local.arn_ec2}:network-interface/*"] },
    { sid = "Ec2DefaultRouteOfPrivateRouteTables", api = true, condition = {},
    actions = ["ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute"], resources = local.arn_rtbs },
    { sid       = "Ec2TagOnCreateOnly", api = true,
      condition = { StringEquals = { "ec2:CreateAction" = ["AllocateAddress", "CreateNatGateway"] } },
    actions = ["ec2:CreateTags"], resources = ["${local.arn_ec2}:natgateway/*", "${local.arn_ec2}:elastic-ip/*"] },

    # --- Elastic Load Balancing: the ALB, its listeners and rules ------------------------
    { sid = "ElbDescribe", api = true, condition = {}, resources = ["*"], actions = [
      "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetHealth",
    ] },
    { sid = "ElbCreateOwnedLoadBalancer", api = true, condition = { StringEquals = local.tag_request },
    actions = ["elasticloadbalancing:CreateLoadBalancer"], resources = [local.arn_alb] },
    { sid = "ElbChangeOwnedLoadBalancer", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes"], resources = [local.arn_alb] },
    { sid = "ElbCreateOwnedListenerOnOwnedLoadBalancer", api = true, condition = { StringEquals = merge(local.tag_resource, local.tag_request) },
    actions = ["elasticloadbalancing:CreateListener"], resources = [local.arn_alb] },
    { sid = "ElbDeleteOwnedListener", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["elasticloadbalancing:DeleteListener"], resources = [local.arn_lst] },
    { sid = "ElbCreateOwnedRuleOnOwnedListener", api = true, condition = { StringEquals = merge(local.tag_resource, local.tag_request) },
    actions = ["elasticloadbalancing:CreateRule"], resources = [local.arn_lst] },
    { sid       = "ElbTagOnCreateOnly", api = true,
      condition = { StringEquals = { "elasticloadbalancing:CreateAction" = ["CreateListener", "CreateLoadBalancer", "CreateRule"] } },
    actions = ["elasticloadbalancing:AddTags"], resources = [local.arn_alb, local.arn_lst, local.arn_rule] },
    # SetWebAcl has no resource types in the Service Authorization Reference; it is only
    # reachable through the wafv2 calls below, which are scoped.
    { sid = "ElbSetWebAclForWafAssociation", api = true, condition = {},
    actions = ["elasticloadbalancing:SetWebAcl"], resources = ["*"] },

    # --- WAFv2: associate this environment's web ACL with the ALB ------------------------
    { sid = "WafAssociateOwnAcl", api = true, condition = {},
    actions = ["wafv2:AssociateWebACL", "wafv2:GetWebACLForResource"], resources = [local.arn_acl, local.arn_alb] },
    { sid = "WafDisassociateFromOwnAlb", api = true, condition = {},
    actions = ["wafv2:DisassociateWebACL"], resources = [local.arn_alb] },

    # --- Route53: the application's alias records only ----------------------------------
    { sid = "Route53ReadZone", api = true, condition = {},
    actions = ["route53:ListResourceRecordSets"], resources = [local.arn_zone] },
    # The alias record(s) and the TXT record that marks the name as the scheduler's
    # (_runtime-scheduler.<name>, like external-dns); nothing else in the zone.
    { sid = "Route53ChangeAppAliasRecords", api = true, actions = ["route53:ChangeResourceRecordSets"], resources = [local.arn_zone],
      condition = {
        "ForAllValues:StringEquals" = {
          "route53:ChangeResourceRecordSetsNormalizedRecordNames" = [local.app_record_name, "_runtime-scheduler.${local.app_record_name}"]
          "route53:ChangeResourceRecordSetsRecordTypes"           = concat(var.dns_record_types, ["TXT"])
          "route53:ChangeResourceRecordSetsActions"               = ["CREATE", "DELETE", "UPSERT"]
        }
    } },
    { sid = "Route53WaitForChange", api = true, condition = {},
    actions = ["route53:GetChange"], resources = ["arn:${local.partition}:route53:::change/*"] },

    # --- ECS: services of this cluster, override tags of the cluster --------------------
    { sid = "EcsDescribeCluster", api = true, condition = {},
    actions = ["ecs:DescribeClusters"], resources = [aws_ecs_cluster.this.arn] },
    { sid = "EcsDescribeServicesOfCluster", api = true, condition = {},
    actions = ["ecs:DescribeServices"], resources = [local.arn_svcs] },
    { sid = "EcsCreateOwnedService", api = true, actions = ["ecs:CreateService"], resources = [local.arn_svcs],
      condition = {
        StringEquals = local.tag_request
        ArnEquals    = { "ecs:cluster" = [aws_ecs_cluster.this.arn] }
        ArnLike      = { "ecs:task-definition" = ["${local.arn_ecs}:task-definition/${local.name_prefix}-*"] }
    } },
    { sid = "EcsUpdateOwnedService", api = true, condition = { StringEquals = local.tag_resource },
    actions = ["ecs:DeleteService", "ecs:UpdateService"], resources = [local.arn_svcs] },

    { sid = "EcsTagServiceOnCreateOnly", api = true, condition = { StringEquals = { "ecs:CreateAction" = ["CreateService"] } },
    actions = ["ecs:TagResource"], resources = [local.arn_svcs] },
    { sid = "EcsOverrideTagsOfCluster", api = true, condition = { "ForAllValues:StringEquals" = { "aws:TagKeys" = local.override_tag_keys } },
    actions = ["ecs:TagResource", "ecs:UntagResource"], resources = [aws_ecs_cluster.this.arn] },

    # --- Application Auto Scaling: ECS desired-count targets and policies ---------------
    # No resource types. DescribeTaskDefinition: the deploy action checks that a revision belongs
    # to the service's family and is ACTIVE (one statement: the policy is near IAM's 10,240 limit).
    { sid = "DescribeScalingAndTaskDefinitions", api = true, condition = {}, resources = ["*"], actions = [
      "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies", "ecs:DescribeTaskDefinition",
    ] },
    { sid       = "AutoScalingEcsDesiredCount", api = true,
      actions   = ["application-autoscaling:DeregisterScalableTarget", "application-autoscaling:PutScalingPolicy", "application-autoscaling:RegisterScalableTarget"]
      resources = ["arn:${local.partition}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]
      condition = { StringEquals = {
        "application-autoscaling:service-namespace"  = ["ecs"]
        "application-autoscaling:scalable-dimension" = ["ecs:service:DesiredCount"]
    } } },

    # A target-tracking PutScalingPolicy creates (and on replacement deletes) its CloudWatch
    # alarms with the caller's permissions; Application Auto Scaling names them
    # TargetTracking-service/<cluster>/<service>-...
    { sid     = "AutoScalingTargetTrackingAlarms", api = true, condition = {},
      actions = ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:TargetTracking-service/${aws_ecs_cluster.this.name}/*"] },

    # --- S3: spec, state and history of this environment --------------------------------
    { sid = "StateObjectsOfEnvironment", api = true, condition = {},
    actions = ["s3:GetObject", "s3:PutObject"], resources = ["${local.base.state_bucket_arn}/${var.environment}/*"] },
    # Bucket-level ListBucket makes a missing key answer 404 instead of 403.
    { sid = "StateBucketList", api = true, condition = {},
    actions = ["s3:ListBucket"], resources = [local.base.state_bucket_arn] },

    # --- Platform (not called by the code) ----------------------------------------------
    { sid     = "StateBucketKmsViaS3", api = false, resources = [local.base.kms_key_arn],
      actions = ["kms:Decrypt", "kms:GenerateDataKey"]
    condition = { StringEquals = { "kms:ViaService" = ["s3.${local.region}.amazonaws.com"] } } },
    { sid = "OwnLogGroup", api = false, condition = {},
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = ["${aws_cloudwatch_log_group.scheduler.arn}:*"] },
    { sid = "DeadLetterQueue", api = false, condition = {},
    actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dlq.arn] },
  ]

  scheduler_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [for s in local.scheduler_statements : merge(
      { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources },
      length(s.condition) > 0 ? { Condition = s.condition } : {},
    ) if length(s.resources) > 0]
  })

  scheduler_iam_actions = sort(distinct(flatten([for s in local.scheduler_statements : s.actions if s.api && length(s.resources) > 0])))
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = local.function_name
  description        = "The runtime scheduler of ${local.name_prefix}."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "runtime-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = local.scheduler_policy
}
