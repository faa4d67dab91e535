//! The IAM actions the adapters need: the least privilege for the function's role.
//!
//! A unit test reads the adapters' source and checks this list against the SDK operations they
//! actually call, so the two cannot drift apart silently.

/// Every IAM action the adapters call, sorted.
pub const REQUIRED_ACTIONS: &[&str] = &[
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:RegisterScalableTarget",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:PutMetricAlarm",
    "ec2:AllocateAddress",
    "ec2:CreateNatGateway",
    "ec2:CreateRoute",
    "ec2:CreateTags",
    "ec2:DeleteNatGateway",
    "ec2:DeleteRoute",
    "ec2:DescribeAddresses",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "ec2:DisassociateAddress",
    "ec2:ReleaseAddress",
    "ec2:ReplaceRoute",
    "ecs:CreateService",
    "ecs:DeleteService",
    "ecs:DescribeClusters",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:TagResource",
    "ecs:UntagResource",
    "ecs:UpdateService",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:SetWebAcl",
    "route53:ChangeResourceRecordSets",
    "route53:GetChange",
    "route53:ListResourceRecordSets",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutObject",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "wafv2:GetWebACLForResource",
];

/// [`REQUIRED_ACTIONS`] as owned strings (for rendering a policy document).
pub fn required_actions() -> Vec<String> {
    REQUIRED_ACTIONS.iter().map(|a| a.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(client field, IAM prefix of that client's service)`.
    type Clients = &'static [(&'static str, &'static str)];

    /// Each adapter file with its client fields and the IAM prefix of each client's service.
    /// Adapters call the SDK only as `self.<field>.<operation>(...)`, which is what this scans for.
    const SOURCES: &[(&str, &str, Clients)] = &[
        ("network.rs", include_str!("network.rs"), &[("ec2", "ec2")]),
        (
            "load_balancing.rs",
            include_str!("load_balancing.rs"),
            &[("elb", "elasticloadbalancing"), ("waf", "wafv2")],
        ),
        ("dns.rs", include_str!("dns.rs"), &[("route53", "route53")]),
        (
            "containers.rs",
            include_str!("containers.rs"),
            &[("ecs", "ecs"), ("scaling", "application-autoscaling")],
        ),
        ("store.rs", include_str!("store.rs"), &[("s3", "s3")]),
    ];

    /// Actions no fluent call names, granted because a call needs them implicitly.
    const IMPLIED: &[&str] = &[
        // Tag specifications on CreateNatGateway / AllocateAddress are authorised as CreateTags.
        "ec2:CreateTags",
        // Tags on CreateLoadBalancer / CreateListener / CreateRule are authorised as AddTags.
        "elasticloadbalancing:AddTags",
        // wafv2:AssociateWebACL / DisassociateWebACL on an ALB also need this ELB-side action.
        "elasticloadbalancing:SetWebAcl",
        // A target-tracking PutScalingPolicy creates (and on replacement deletes) its CloudWatch
        // alarms with the caller's permissions.
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
    ];

    /// `describe_nat_gateways` -> `DescribeNatGateways`; IAM spells the WAF acronym `ACL`, and
    /// S3's ListObjectsV2 is authorised as `ListBucket`.
    fn pascal(snake: &str) -> String {
        if snake == "list_objects_v2" {
            return "ListBucket".into();
        }
        let mut out: String = snake
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        if out.contains("WebAcl") {
            out = out.replace("WebAcl", "WebACL");
        }
        out
    }

    /// The `<prefix>:<Operation>` of every `self.<field>.<operation>(` in `source`.
    fn called_actions(source: &str, fields: &[(&str, &str)]) -> BTreeSet<String> {
        // rustfmt splits chains over lines (`self\n    .ec2\n    .describe_...()`).
        let source: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        let mut found = BTreeSet::new();
        for (field, prefix) in fields {
            let needle = format!("self.{field}");
            let mut rest = source.as_str();
            while let Some(at) = rest.find(&needle) {
                rest = &rest[at + needle.len()..];
                // `self.ecs` must not match `self.ecs_client`.
                if rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                let Some(call) = rest.strip_prefix('.') else {
                    continue;
                };
                let name: String = call
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && call[name.len()..].starts_with('(') {
                    found.insert(format!("{prefix}:{}", pascal(&name)));
                }
            }
        }
        found
    }

    fn all_called() -> BTreeSet<String> {
        SOURCES
            .iter()
            .flat_map(|(_, source, fields)| called_actions(source, fields))
            .collect()
    }

    #[test]
    fn required_actions_are_sorted_and_unique() {
        let mut sorted = REQUIRED_ACTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, REQUIRED_ACTIONS);
        assert_eq!(required_actions().len(), REQUIRED_ACTIONS.len());
    }

    #[test]
    fn the_scanner_sees_calls_in_every_adapter() {
        for (file, source, fields) in SOURCES {
            for field in fields.iter() {
                assert!(
                    !called_actions(source, std::slice::from_ref(field)).is_empty(),
                    "no calls on self.{} found in {file}: the scan is broken or the client is unused",
                    field.0
                );
            }
        }
        let sample = "let x = self\n    .ec2\n    .create_vpc()\n; self.ec2_other.delete_vpc(); self.ec2.client_field;";
        assert_eq!(
            called_actions(sample, &[("ec2", "ec2")]),
            BTreeSet::from(["ec2:CreateVpc".to_string()])
        );
        assert_eq!(pascal("get_web_acl_for_resource"), "GetWebACLForResource");
        assert_eq!(pascal("describe_nat_gateways"), "DescribeNatGateways");
    }

    #[test]
    fn every_operation_the_adapters_call_is_granted() {
        let granted: BTreeSet<&str> = REQUIRED_ACTIONS.iter().copied().collect();
        let missing: Vec<String> = all_called()
            .into_iter()
            .filter(|a| !granted.contains(a.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "called but not in REQUIRED_ACTIONS: {missing:?}"
        );
    }

    #[test]
    fn every_granted_action_is_called_or_implied() {
        let called = all_called();
        let unused: Vec<&str> = REQUIRED_ACTIONS
            .iter()
            .copied()
            .filter(|a| !called.contains(*a) && !IMPLIED.contains(a))
            .collect();
        assert!(
            unused.is_empty(),
            "in REQUIRED_ACTIONS but never called: {unused:?}"
        );
        for implied in IMPLIED {
            assert!(
                REQUIRED_ACTIONS.contains(implied),
                "{implied} is whitelisted but not granted"
            );
            assert!(
                !called.contains(*implied),
                "{implied} is called directly; drop it from IMPLIED"
            );
        }
    }
}
