//! ELBv2 and WAFv2: the ALB, attributes, listeners, rules, web ACL association, target health.
//! As AWS behaves; what counts as already done is decided above the adapters, as in production.

use std::collections::BTreeMap;

use async_trait::async_trait;
use runtime_scheduler::aws::{ErrorKind, LoadBalancing, Result};
use runtime_scheduler::model::{Listener, LoadBalancer, LoadBalancerState, Tags};
use runtime_scheduler::spec::{Action, ListenerSpec, LoadBalancerSpec, RuleSpec};
use tokio::time::Instant;

use super::{
    aws_error, tags_summary, SimClient, SimListener, SimLoadBalancer, World, ACCOUNT, ELB_ZONE_ID,
    REGION,
};

/// What a new ALB has before anyone sets attributes.
pub fn default_attributes() -> BTreeMap<String, String> {
    [
        ("idle_timeout.timeout_seconds", "60"),
        ("routing.http.drop_invalid_header_fields.enabled", "false"),
        ("deletion_protection.enabled", "false"),
        ("access_logs.s3.enabled", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn forwards_to(a: &Action) -> Option<String> {
    match a {
        Action::Forward { target_group_arn } => Some(target_group_arn.clone()),
        _ => None,
    }
}

impl World {
    fn lb_view(&self, lb: &SimLoadBalancer, now: Instant) -> LoadBalancer {
        LoadBalancer {
            arn: lb.arn.clone(),
            name: lb.name.clone(),
            dns_name: lb.dns_name.clone(),
            canonical_hosted_zone_id: ELB_ZONE_ID.into(),
            state: if self.lb_active(lb, now) {
                LoadBalancerState::Active
            } else {
                LoadBalancerState::Provisioning
            },
            tags: lb.tags.clone(),
        }
    }

    /// Inserts an ALB (test setup: decoys). Returns its ARN.
    pub fn add_load_balancer(
        &mut self,
        name: &str,
        tags: Tags,
        now: Instant,
        created_by: Option<String>,
    ) -> String {
        let id = self.next_hex(16);
        let arn =
            format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/{name}/{id}");
        let dns_name = format!("{name}-{}.{REGION}.elb.amazonaws.com", &id[..10]);
        self.load_balancers.insert(
            arn.clone(),
            SimLoadBalancer {
                arn: arn.clone(),
                name: name.into(),
                dns_name,
                scheme: "internet-facing".into(),
                subnets: vec![],
                security_groups: vec![],
                tags,
                attributes: default_attributes(),
                web_acl: None,
                created_at: now,
                created_by,
            },
        );
        arn
    }

    /// Inserts a listener (test setup). Returns its ARN.
    pub fn add_listener(
        &mut self,
        lb_arn: &str,
        port: u16,
        protocol: &str,
        default_tg: Option<String>,
        tags: Tags,
        now: Instant,
    ) -> String {
        let lb = self
            .load_balancers
            .get(lb_arn)
            .expect("listener of an existing ALB");
        let suffix = lb
            .arn
            .split_once(":loadbalancer/")
            .map(|(_, r)| r.to_string())
            .unwrap_or_default();
        let arn = format!(
            "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/{suffix}/{}",
            self.next_hex(16)
        );
        self.listeners.insert(
            arn.clone(),
            SimListener {
                arn: arn.clone(),
                load_balancer_arn: lb_arn.into(),
                port,
                protocol: protocol.into(),
                default_target_group: default_tg,
                rules: BTreeMap::new(),
                tags,
                created_at: now,
            },
        );
        arn
    }

    fn find_lb(&self, op: &'static str, arn: &str) -> Result<&SimLoadBalancer> {
        self.load_balancers.get(arn).ok_or_else(|| {
            aws_error(
                op,
                "LoadBalancerNotFound",
                format!("One or more load balancers not found: {arn}"),
            )
        })
    }
}

#[async_trait]
impl LoadBalancing for SimClient {
    async fn find_load_balancer(&self, name: &str) -> Result<Option<LoadBalancer>> {
        let found = self
            .call(
                "DescribeLoadBalancers",
                false,
                format!("name={name}"),
                |w, now| {
                    w.load_balancers
                        .values()
                        .find(|lb| lb.name == name && w.visible(lb.created_at, now))
                        .map(|lb| w.lb_view(lb, now))
                        .ok_or_else(|| {
                            aws_error(
                                "DescribeLoadBalancers",
                                "LoadBalancerNotFound",
                                format!("Load balancers '[{name}]' not found"),
                            )
                        })
                },
            )
            .await;
        let mut lb = match found {
            Ok(lb) => lb,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Tags come from a second request, as in the real adapter.
        let arn = lb.arn.clone();
        lb.tags = self
            .call("DescribeTags", false, format!("arn={arn}"), |w, _| {
                Ok(w.load_balancers
                    .get(&arn)
                    .map(|l| l.tags.clone())
                    .unwrap_or_default())
            })
            .await?;
        Ok(Some(lb))
    }

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> Result<LoadBalancer> {
        let tag = self.tag.to_string();
        let r = self
            .call(
                "CreateLoadBalancer",
                true,
                format!("name={} subnets={} tags={}", spec.name, spec.subnet_ids.join(","), tags_summary(tags)),
                |w, now| {
                    if let Some(existing) = w.load_balancers.values().find(|lb| lb.name == spec.name) {
                        // ELBv2 answers an identical request with the existing ALB, and refuses a
                        // different one with the same name.
                        if existing.tags == *tags && existing.subnets == spec.subnet_ids && existing.security_groups == spec.security_group_ids {
                            return Ok(w.lb_view(existing, now));
                        }
                        return Err(aws_error(
                            "CreateLoadBalancer",
                            "DuplicateLoadBalancerName",
                            format!("A load balancer with the same name '{}' exists, but with different settings", spec.name),
                        ));
                    }
                    let arn = w.add_load_balancer(&spec.name, tags.clone(), now, Some(tag.clone()));
                    let lb = w.load_balancers.get_mut(&arn).expect("just added");
                    lb.subnets = spec.subnet_ids.clone();
                    lb.security_groups = spec.security_group_ids.clone();
                    lb.scheme = spec.scheme.as_str().into();
                    let lb = lb.clone();
                    Ok(w.lb_view(&lb, now))
                },
            )
            .await;
        r
    }

    async fn delete_load_balancer(&self, arn: &str) -> Result<()> {
        let r = self
            .call("DeleteLoadBalancer", true, format!("arn={arn}"), |w, _| {
                let lb = w.find_lb("DeleteLoadBalancer", arn)?;
                if lb
                    .attributes
                    .get("deletion_protection.enabled")
                    .map(String::as_str)
                    == Some("true")
                {
                    return Err(aws_error(
                        "DeleteLoadBalancer",
                        "OperationNotPermitted",
                        "Load balancer has deletion protection enabled",
                    ));
                }
                // Listeners, rules and the WAF association go with it.
                w.load_balancers.remove(arn);
                w.listeners.retain(|_, l| l.load_balancer_arn != arn);
                Ok(())
            })
            .await;
        r
    }

    async fn describe_load_balancer(&self, arn: &str) -> Result<Option<LoadBalancer>> {
        let found = self
            .call(
                "DescribeLoadBalancers",
                false,
                format!("arn={arn}"),
                |w, now| {
                    w.load_balancers
                        .get(arn)
                        .filter(|lb| w.visible(lb.created_at, now))
                        .map(|lb| {
                            let mut view = w.lb_view(lb, now);
                            // Described by ARN, without tags (as the real adapter).
                            view.tags = Tags::new();
                            view
                        })
                        .ok_or_else(|| {
                            aws_error(
                                "DescribeLoadBalancers",
                                "LoadBalancerNotFound",
                                format!("One or more load balancers not found: {arn}"),
                            )
                        })
                },
            )
            .await;
        match found {
            Ok(lb) => Ok(Some(lb)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        self.call(
            "DescribeLoadBalancerAttributes",
            false,
            format!("arn={arn}"),
            |w, _| {
                Ok(w.find_lb("DescribeLoadBalancerAttributes", arn)?
                    .attributes
                    .clone())
            },
        )
        .await
    }

    async fn set_attributes(&self, arn: &str, attributes: &[(String, String)]) -> Result<()> {
        self.call(
            "ModifyLoadBalancerAttributes",
            true,
            format!("arn={arn}"),
            |w, _| {
                w.find_lb("ModifyLoadBalancerAttributes", arn)?;
                if let Some(lb) = w.load_balancers.get_mut(arn) {
                    for (k, v) in attributes {
                        lb.attributes.insert(k.clone(), v.clone());
                    }
                }
                Ok(())
            },
        )
        .await
    }

    async fn describe_listeners(&self, load_balancer_arn: &str) -> Result<Vec<Listener>> {
        let listeners = self
            .call(
                "DescribeListeners",
                false,
                format!("lb={load_balancer_arn}"),
                |w, now| {
                    w.find_lb("DescribeListeners", load_balancer_arn)?;
                    Ok(w.listeners
                        .values()
                        .filter(|l| {
                            l.load_balancer_arn == load_balancer_arn && w.visible(l.created_at, now)
                        })
                        .cloned()
                        .collect::<Vec<_>>())
                },
            )
            .await?;
        let mut out: Vec<Listener> = listeners
            .into_iter()
            .map(|l| Listener {
                arn: l.arn,
                port: l.port,
                protocol: l.protocol,
                rule_priorities: vec![],
            })
            .collect();
        out.sort_by_key(|l| l.port);
        Ok(out)
    }

    async fn rule_priorities(&self, listener_arn: &str) -> Result<Vec<u32>> {
        self.call(
            "DescribeRules",
            false,
            format!("listener={listener_arn}"),
            |w, _| {
                w.listeners
                    .get(listener_arn)
                    .map(|l| l.rules.keys().copied().collect::<Vec<u32>>())
                    .ok_or_else(|| {
                        aws_error(
                            "DescribeRules",
                            "ListenerNotFound",
                            format!("listener {listener_arn} not found"),
                        )
                    })
            },
        )
        .await
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> Result<Listener> {
        let r = self
            .call(
                "CreateListener",
                true,
                format!(
                    "lb={load_balancer_arn} port={} protocol={}",
                    spec.port,
                    spec.protocol.as_str()
                ),
                |w, now| {
                    let lb = w.find_lb("CreateListener", load_balancer_arn)?;
                    if !w.lb_active(lb, now) {
                        return Err(aws_error(
                            "CreateListener",
                            "OperationNotPermitted",
                            format!("load balancer '{load_balancer_arn}' is not active"),
                        ));
                    }
                    if w.listeners
                        .values()
                        .any(|l| l.load_balancer_arn == load_balancer_arn && l.port == spec.port)
                    {
                        return Err(aws_error(
                            "CreateListener",
                            "DuplicateListener",
                            "A listener already exists on this port for this load balancer",
                        ));
                    }
                    let tg = forwards_to(&spec.default_action);
                    if let Some(tg) = &tg {
                        if !w.target_groups.contains(tg) {
                            return Err(aws_error(
                                "CreateListener",
                                "TargetGroupNotFound",
                                format!("Target groups '{tg}' not found"),
                            ));
                        }
                    }
                    let arn = w.add_listener(
                        load_balancer_arn,
                        spec.port,
                        spec.protocol.as_str(),
                        tg,
                        tags.clone(),
                        now,
                    );
                    Ok(Listener {
                        arn,
                        port: spec.port,
                        protocol: spec.protocol.as_str().into(),
                        rule_priorities: vec![],
                    })
                },
            )
            .await;
        r
    }

    async fn delete_listener(&self, arn: &str) -> Result<()> {
        let r = self
            .call("DeleteListener", true, format!("arn={arn}"), |w, _| {
                w.listeners.remove(arn).map(|_| ()).ok_or_else(|| {
                    aws_error(
                        "DeleteListener",
                        "ListenerNotFound",
                        format!("listener {arn} not found"),
                    )
                })
            })
            .await;
        r
    }

    async fn create_rule(&self, listener_arn: &str, rule: &RuleSpec, _tags: &Tags) -> Result<()> {
        let r = self
            .call(
                "CreateRule",
                true,
                format!("listener={listener_arn} priority={}", rule.priority),
                |w, _| {
                    let tg = forwards_to(&rule.action);
                    if let Some(tg) = &tg {
                        if !w.target_groups.contains(tg) {
                            return Err(aws_error(
                                "CreateRule",
                                "TargetGroupNotFound",
                                format!("Target groups '{tg}' not found"),
                            ));
                        }
                    }
                    let Some(l) = w.listeners.get_mut(listener_arn) else {
                        return Err(aws_error(
                            "CreateRule",
                            "ListenerNotFound",
                            format!("listener {listener_arn} not found"),
                        ));
                    };
                    if l.rules.contains_key(&rule.priority) {
                        return Err(aws_error(
                            "CreateRule",
                            "PriorityInUse",
                            format!("Priority '{}' is currently in use", rule.priority),
                        ));
                    }
                    l.rules.insert(rule.priority, tg);
                    Ok(())
                },
            )
            .await;
        r
    }

    async fn web_acl_for(&self, load_balancer_arn: &str) -> Result<Option<String>> {
        let r = self
            .call(
                "GetWebACLForResource",
                false,
                format!("resource={load_balancer_arn}"),
                |w, _| {
                    w.load_balancers
                        .get(load_balancer_arn)
                        .map(|lb| lb.web_acl.clone())
                        .ok_or_else(|| {
                            aws_error(
                                "GetWebACLForResource",
                                "WAFNonexistentItemException",
                                "resource not found",
                            )
                        })
                },
            )
            .await;
        match r {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            other => other,
        }
    }

    async fn associate_web_acl(&self, load_balancer_arn: &str, web_acl_arn: &str) -> Result<()> {
        self.call(
            "AssociateWebACL",
            true,
            format!("resource={load_balancer_arn} acl={web_acl_arn}"),
            |w, now| {
                let lb = w.load_balancers.get(load_balancer_arn).ok_or_else(|| {
                    aws_error(
                        "AssociateWebACL",
                        "WAFNonexistentItemException",
                        "the resource does not exist",
                    )
                })?;
                if !w.lb_active(lb, now) {
                    return Err(aws_error(
                        "AssociateWebACL",
                        "WAFUnavailableEntityException",
                        "the load balancer is not ready yet",
                    ));
                }
                w.load_balancers
                    .get_mut(load_balancer_arn)
                    .expect("checked")
                    .web_acl = Some(web_acl_arn.into());
                Ok(())
            },
        )
        .await
    }

    async fn disassociate_web_acl(&self, load_balancer_arn: &str) -> Result<()> {
        let r = self
            .call(
                "DisassociateWebACL",
                true,
                format!("resource={load_balancer_arn}"),
                |w, _| {
                    let lb = w.load_balancers.get_mut(load_balancer_arn).ok_or_else(|| {
                        aws_error(
                            "DisassociateWebACL",
                            "WAFNonexistentItemException",
                            "the resource does not exist",
                        )
                    })?;
                    lb.web_acl = None;
                    Ok(())
                },
            )
            .await;
        r
    }

    async fn target_health(&self, target_group_arn: &str) -> Result<(u32, u32)> {
        self.call(
            "DescribeTargetHealth",
            false,
            format!("tg={target_group_arn}"),
            |w, now| {
                if !w.target_groups.contains(target_group_arn) {
                    return Err(aws_error(
                        "DescribeTargetHealth",
                        "TargetGroupNotFound",
                        format!("Target groups '{target_group_arn}' not found"),
                    ));
                }
                let registered: u32 = w
                    .services
                    .values()
                    .filter(|s| s.target_group.as_deref() == Some(target_group_arn))
                    .map(|s| w.running_count(s, now))
                    .sum();
                let attached = w.listeners.values().any(|l| {
                    w.load_balancers
                        .get(&l.load_balancer_arn)
                        .is_some_and(|lb| w.lb_active(lb, now))
                        && (l.default_target_group.as_deref() == Some(target_group_arn)
                            || l.rules
                                .values()
                                .any(|t| t.as_deref() == Some(target_group_arn)))
                });
                Ok((if attached { registered } else { 0 }, registered))
            },
        )
        .await
    }
}
