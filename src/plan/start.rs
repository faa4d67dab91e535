//! The start plan: two branches at once (per NAT: address, gateway, wait, routes; and the ALB:
//! create, wait, attributes, listeners, rules, web ACL), then the records on the ALB branch and
//! the services once egress and listeners exist, then the bounded wait for the services.

use crate::model::{LoadBalancerState, NatState, RecordSet, ScalingBounds, ServiceStatus};
use crate::ownership::is_owned;
use crate::spec::{normalize_dns_name, ElasticIpMode, NatGatewaySpec};

use super::{
    alias_points_at, describe_target, DnsStep, LoadBalancerStep, NetworkStep, Plan, ServiceStep,
    StepKind, View,
};
use crate::model::RouteTarget;

/// Plans a start.
pub(super) fn plan(v: &View) -> Plan {
    let mut plan = Plan::default();
    let egress = nat_branch(v, &mut plan);
    let ingress = load_balancer_branch(v, &mut plan);
    records_branch(v, &mut plan, &ingress);
    let services = services_branch(v, &mut plan, &egress, &ingress);
    services_wait(v, &mut plan, services);
    plan
}

/// What the ALB branch left for the steps after it.
#[derive(Default)]
struct Ingress {
    /// The ALB may be used (none in the way that is someone else's).
    usable: bool,
    /// A new ALB is created in this run.
    created: bool,
    /// Steps after which the ALB is active.
    active: Vec<usize>,
    /// Steps after which the listeners, rules and attributes are as the spec says.
    listeners: Vec<usize>,
}

/// Per NAT: allocate or reuse the address, create the gateway, wait until available, then create
/// or replace each default route. Returns the route steps (egress is ready after them).
fn nat_branch(v: &View, plan: &mut Plan) -> Vec<usize> {
    let mut routes = Vec::new();
    for nat in &v.spec.nat_gateways {
        let ready = nat_gateway(v, plan, nat);
        if nat.elastic_ip.mode != ElasticIpMode::External {
            release_surplus(v, plan, &nat.name);
        }
        routes.extend(default_routes(v, plan, nat, &ready));
    }
    routes
}

/// The gateway of one NAT: the steps after which it is available.
fn nat_gateway(v: &View, plan: &mut Plan, nat: &NatGatewaySpec) -> Vec<usize> {
    match v.live_nat(&nat.name) {
        Some(gw) if gw.state == NatState::Available => vec![],
        Some(gw) => vec![plan.network(
            NetworkStep::WaitNatAvailable {
                nat: nat.name.clone(),
                fresh: false,
            },
            &[],
            format!("NAT gateway {} is still pending", gw.id),
        )],
        None => {
            let (allocation_id, address_ready) = address(v, plan, nat);
            let create = plan.network(
                NetworkStep::CreateNatGateway {
                    nat: nat.name.clone(),
                    subnet_id: nat.subnet_id.clone(),
                    allocation_id,
                },
                &address_ready,
                format!("no NAT gateway of ours in {}", nat.subnet_id),
            );
            let allocating = address_ready.iter().any(|id| {
                matches!(
                    plan.steps[*id].kind,
                    StepKind::Network(NetworkStep::AllocateAddress { .. })
                )
            });
            if allocating {
                plan.network(
                    NetworkStep::SweepAddresses {
                        nat: nat.name.clone(),
                    },
                    &[create],
                    "an allocation retried after a lost response may have left a second address",
                );
            }
            vec![plan.network(
                NetworkStep::WaitNatAvailable {
                    nat: nat.name.clone(),
                    fresh: true,
                },
                &[create],
                "routes need an available gateway",
            )]
        }
    }
}

/// The address a new gateway gets: its allocation id when known at plan time, and the steps
/// that must finish first (allocating one, or freeing a kept one).
fn address(v: &View, plan: &mut Plan, nat: &NatGatewaySpec) -> (Option<String>, Vec<usize>) {
    if nat.elastic_ip.mode == ElasticIpMode::External {
        // Someone else's address, lent to this NAT: a stale association left by a deleted
        // gateway of ours (moto keeps it; AWS clears it) is cleared as for an address of ours,
        // but only when the state remembers our gateway using it and no instance holds it.
        let id = nat.elastic_ip.allocation_id.clone();
        let used_by_us = v
            .state
            .resources
            .nat_gateways
            .get(&nat.name)
            .and_then(|r| r.allocation_id.as_deref())
            == id.as_deref();
        let stale = id.as_deref().and_then(|id| v.address(id)).filter(|a| {
            used_by_us
                && a.association_id.is_some()
                && a.instance_id.is_none()
                && v.address_is_free(a)
        });
        let ready = stale
            .and_then(|a| {
                let association_id = a.association_id.clone()?;
                Some(plan.network(
                    NetworkStep::DisassociateAddress {
                        nat: nat.name.clone(),
                        allocation_id: a.allocation_id.clone(),
                        association_id,
                    },
                    &[],
                    format!(
                        "{} still shows an association with a gateway that is gone",
                        a.public_ip
                    ),
                ))
            })
            .into_iter()
            .collect();
        return (id, ready);
    }
    // A kept address still held by our old gateway (deleting) is reused once that gateway is
    // gone: allocating another would break the stable egress IP.
    let held_by_deleting = v.owned_addresses(&nat.name).find_map(|a| {
        v.owned_nats(&nat.name)
            .find(|n| n.state == NatState::Deleting && n.allocation_ids.contains(&a.allocation_id))
            .map(|n| (a, n))
    });
    if let (ElasticIpMode::Keep, Some((address, old))) = (nat.elastic_ip.mode, held_by_deleting) {
        let wait = plan.network(
            NetworkStep::WaitNatDeleted {
                nat: nat.name.clone(),
                nat_gateway_id: old.id.clone(),
                fresh: false,
            },
            &[],
            format!(
                "the kept address {} is still held by {}, which is being deleted",
                address.public_ip, old.id
            ),
        );
        return (Some(address.allocation_id.clone()), vec![wait]);
    }
    match v
        .address_keeper(&nat.name)
        .0
        .filter(|a| v.address_is_free(a))
    {
        Some(a) => {
            let ready = a
                .association_id
                .iter()
                .map(|association_id| {
                    plan.network(
                        NetworkStep::DisassociateAddress {
                            nat: nat.name.clone(),
                            allocation_id: a.allocation_id.clone(),
                            association_id: association_id.clone(),
                        },
                        &[],
                        format!(
                            "{} still shows an association with a gateway that is gone",
                            a.public_ip
                        ),
                    )
                })
                .collect();
            (Some(a.allocation_id.clone()), ready)
        }
        None => (
            None,
            vec![plan.network(
                NetworkStep::AllocateAddress {
                    nat: nat.name.clone(),
                },
                &[],
                "no Elastic IP of ours is free for this NAT gateway",
            )],
        ),
    }
}

/// Each route table's `0.0.0.0/0` through this NAT's gateway, once it is available.
fn default_routes(v: &View, plan: &mut Plan, nat: &NatGatewaySpec, ready: &[usize]) -> Vec<usize> {
    let live = v.live_nat(&nat.name);
    let mut steps = Vec::new();
    for rt_id in &nat.route_table_ids {
        let route = v.route_table(rt_id).and_then(|r| r.default_route.as_ref());
        match route {
            None => steps.push(plan.network(
                NetworkStep::CreateRoute {
                    route_table_id: rt_id.clone(),
                    nat: nat.name.clone(),
                },
                ready,
                "no 0.0.0.0/0 route",
            )),
            Some(r) => match &r.target {
                RouteTarget::NatGateway(id) if live.is_some_and(|gw| gw.id == *id) && r.active => {}
                RouteTarget::NatGateway(id) if v.route_is_ours(id) => steps.push(plan.network(
                    NetworkStep::ReplaceRoute {
                        route_table_id: rt_id.clone(),
                        nat: nat.name.clone(),
                        replaces: id.clone(),
                    },
                    ready,
                    format!("0.0.0.0/0 still points at our old NAT gateway {id}"),
                )),
                target => plan.warnings.push(format!(
                    "route table {rt_id}: 0.0.0.0/0 goes to {} which is not ours: left alone",
                    describe_target(target)
                )),
            },
        }
    }
    steps
}

/// Other free addresses of ours for this NAT name (a retried allocation's leftovers).
pub(super) fn release_surplus(v: &View, plan: &mut Plan, name: &str) {
    let (keeper, surplus) = v.address_keeper(name);
    for address in surplus {
        plan.network(
            NetworkStep::ReleaseAddress {
                nat: name.to_string(),
                allocation_id: address.allocation_id.clone(),
            },
            &[],
            format!(
                "surplus address {} for NAT '{name}' (the one in use is {})",
                address.public_ip,
                keeper.map_or("none", |k| k.public_ip.as_str())
            ),
        );
    }
}

/// The ALB: create it (or wait for one still provisioning), then its attributes, listeners,
/// rules and web ACL where they differ from the spec.
fn load_balancer_branch(v: &View, plan: &mut Plan) -> Ingress {
    let Some(lb_spec) = &v.spec.load_balancer else {
        return Ingress::default();
    };
    if let Some(lb) = v.load_balancer().filter(|lb| !is_owned(&lb.tags, v.env)) {
        plan.warnings.push(format!(
            "a load balancer named {} exists and is not ours: not touched, so the ALB, its listeners and records are not created",
            lb.name
        ));
        return Ingress::default();
    }
    let observed = &v.observed.load_balancer;
    let existing = v.owned_load_balancer();
    let mut ingress = Ingress {
        usable: true,
        created: existing.is_none(),
        ..Ingress::default()
    };
    let name = || lb_spec.name.clone();
    match existing {
        None => {
            let create = plan.load_balancer(
                LoadBalancerStep::CreateLoadBalancer { name: name() },
                &[],
                "no ALB of ours exists",
            );
            ingress.active.push(plan.load_balancer(
                LoadBalancerStep::WaitLoadBalancerActive {
                    name: name(),
                    fresh: true,
                },
                &[create],
                "listeners need an active ALB",
            ));
        }
        Some(lb) if lb.state == LoadBalancerState::Provisioning => {
            ingress.active.push(plan.load_balancer(
                LoadBalancerStep::WaitLoadBalancerActive {
                    name: name(),
                    fresh: false,
                },
                &[],
                "the ALB is still provisioning",
            ))
        }
        Some(_) => {}
    }
    let active = ingress.active.clone();
    let attributes_ok = existing.is_some()
        && observed
            .attributes
            .as_ref()
            .is_some_and(|a| lb_spec.attributes.satisfied_by(a));
    if !attributes_ok {
        ingress.listeners.push(plan.load_balancer(
            LoadBalancerStep::SetLoadBalancerAttributes { name: name() },
            &active,
            if existing.is_none() {
                "a new ALB has default attributes"
            } else {
                "attributes differ from the spec"
            },
        ));
    }
    for l in &lb_spec.listeners {
        let found = existing.and_then(|_| observed.listeners.iter().find(|o| o.port == l.port));
        let mut after = active.clone();
        if found.is_none() {
            let id = plan.load_balancer(
                LoadBalancerStep::CreateListener { port: l.port },
                &active,
                format!("no {} listener on port {}", l.protocol.as_str(), l.port),
            );
            ingress.listeners.push(id);
            after = vec![id];
        }
        for r in &l.rules {
            if found.is_some_and(|o| o.rule_priorities.contains(&r.priority)) {
                continue;
            }
            ingress.listeners.push(plan.load_balancer(
                LoadBalancerStep::CreateRule {
                    port: l.port,
                    priority: r.priority,
                },
                &after,
                format!("no rule with priority {}", r.priority),
            ));
        }
    }
    if existing.is_some() {
        for o in &observed.listeners {
            if !lb_spec.listeners.iter().any(|l| l.port == o.port) {
                ingress.listeners.push(plan.load_balancer(
                    LoadBalancerStep::DeleteListener {
                        port: o.port,
                        listener_arn: o.arn.clone(),
                    },
                    &active,
                    format!("port {} is not in the spec", o.port),
                ));
            }
        }
    }
    let acl_now = existing.and(observed.web_acl_arn.as_deref());
    if let Some(want) = &lb_spec.web_acl_arn {
        if acl_now != Some(want.as_str()) {
            ingress.listeners.push(plan.load_balancer(
                LoadBalancerStep::AssociateWebAcl {
                    web_acl_arn: want.clone(),
                },
                &active,
                "the web ACL is not associated",
            ));
        }
    }
    ingress
}

/// The alias records at each spec name, pointed at the ALB once its listeners serve.
fn records_branch(v: &View, plan: &mut Plan, ingress: &Ingress) {
    if !ingress.usable {
        return;
    }
    let existing = v.owned_load_balancer();
    for r in &v.spec.dns_records {
        let observed_name = v.name(&r.zone_id, &r.name);
        let claimed = observed_name.is_some_and(|n| v.name_is_ours(n));
        let current: Vec<&RecordSet> = observed_name
            .map(|n| {
                n.records
                    .iter()
                    .filter(|rs| r.types.iter().any(|t| t.as_str() == rs.record_type))
                    .collect()
            })
            .unwrap_or_default();
        let cname =
            observed_name.is_some_and(|n| n.records.iter().any(|rs| rs.record_type == "CNAME"));
        if cname || (!current.is_empty() && !claimed) {
            plan.warnings.push(format!(
                "record {} exists and is not ours (no ownership TXT record): not touched",
                normalize_dns_name(&r.name)
            ));
            continue;
        }
        let up_to_date = !ingress.created
            && existing.is_some_and(|lb| {
                r.types.iter().all(|t| {
                    current.iter().any(|rs| {
                        rs.record_type == t.as_str()
                            && rs.alias.as_ref().is_some_and(|a| alias_points_at(a, lb))
                    })
                })
            });
        if up_to_date && claimed {
            continue;
        }
        let mut after = ingress.active.clone();
        after.extend(ingress.listeners.iter().copied());
        plan.dns(
            DnsStep::UpsertRecords {
                zone_id: r.zone_id.clone(),
                name: normalize_dns_name(&r.name),
                types: r.types.clone(),
                claim: !claimed,
            },
            &after,
            if current.is_empty() {
                "no alias record"
            } else {
                "the alias points elsewhere"
            },
        );
    }
}

/// What the services branch did: the steps, and the services whose tasks it started.
struct Services {
    steps: Vec<usize>,
    started: Vec<String>,
}

/// Once egress and listeners exist: create missing services, restore recorded counts and bounds.
fn services_branch(v: &View, plan: &mut Plan, egress: &[usize], ingress: &Ingress) -> Services {
    let mut ready: Vec<usize> = egress.to_vec();
    ready.extend(ingress.listeners.iter().copied());
    let mut out = Services {
        steps: Vec::new(),
        started: Vec::new(),
    };
    for spec in &v.spec.services {
        let key = spec.key();
        let recorded = v.state.recorded.get(&key);
        let desired = recorded.map_or(spec.desired_count, |r| r.desired_count);
        let cluster = || spec.cluster.clone();
        let service = || spec.name.clone();
        let mut after = ready.clone();
        let mut needs_scaling = false;
        match v.service(spec) {
            Some(o) if !is_owned(&o.service.tags, v.env) => {
                plan.warnings
                    .push(format!("service {key} exists but is not ours: left alone"));
                continue;
            }
            Some(o) if o.service.status == ServiceStatus::Draining => {
                plan.warnings.push(format!(
                    "service {key} is still draining from a deletion; it is created at the next run"
                ));
                continue;
            }
            Some(o) if o.service.status == ServiceStatus::Active => {
                if o.service.desired_count == 0 && desired > 0 {
                    let id = plan.service(
                        ServiceStep::ScaleService {
                            cluster: cluster(),
                            service: service(),
                            desired_count: desired,
                        },
                        &after,
                        match recorded {
                            Some(_) => {
                                format!("restore the {desired} tasks recorded at the last stop")
                            }
                            None => {
                                format!("nothing recorded; the spec's desired count is {desired}")
                            }
                        },
                    );
                    out.steps.push(id);
                    after = vec![id];
                    out.started.push(key.clone());
                }
                if let Some(a) = &spec.auto_scaling {
                    needs_scaling = o.bounds.is_none_or(|b| b.max == 0);
                    let why = if !o.has_policy {
                        Some("the target-tracking policy is missing")
                    } else if ingress.created
                        && a.target_tracking.metric == "ALBRequestCountPerTarget"
                    {
                        Some("the policy's resource label names the new ALB")
                    } else {
                        None
                    };
                    if let (false, Some(why)) = (needs_scaling, why) {
                        out.steps.push(plan.service(
                            ServiceStep::PutScalingPolicy {
                                cluster: cluster(),
                                service: service(),
                            },
                            &after,
                            why,
                        ));
                    }
                }
            }
            _ => {
                // A revision recorded for it (at the last stop, or by a deploy while asleep)
                // wins over the spec's family, so a start never reverts a deploy.
                let task_definition = recorded
                    .and_then(|r| r.task_definition.clone())
                    .unwrap_or_else(|| spec.task_definition.clone());
                let id = plan.service(
                    ServiceStep::CreateService {
                        cluster: cluster(),
                        service: service(),
                        desired_count: desired,
                        task_definition,
                    },
                    &after,
                    "the service does not exist",
                );
                out.steps.push(id);
                after = vec![id];
                out.started.push(key.clone());
                needs_scaling = spec.auto_scaling.is_some();
            }
        }
        if let (true, Some(a)) = (needs_scaling, &spec.auto_scaling) {
            let bounds = recorded.and_then(|r| r.scaling).unwrap_or(ScalingBounds {
                min: a.min_capacity,
                max: a.max_capacity,
            });
            let id = plan.service(
                ServiceStep::RestoreScaling {
                    cluster: cluster(),
                    service: service(),
                    min: bounds.min,
                    max: bounds.max,
                },
                &after,
                format!("auto-scaling bounds {}..{}", bounds.min, bounds.max),
            );
            out.steps.push(id);
            out.steps.push(plan.service(
                ServiceStep::PutScalingPolicy {
                    cluster: cluster(),
                    service: service(),
                },
                &[id],
                "the target-tracking policy follows the scalable target",
            ));
        }
    }
    out
}

/// The bounded wait for the started services: it begins as soon as the services are updated, not
/// after the records (Route53's sync runs meanwhile on the ALB branch).
fn services_wait(v: &View, plan: &mut Plan, services: Services) {
    if services.started.is_empty() || v.spec.timeouts.services_stable_seconds == 0 {
        return;
    }
    plan.service(
        ServiceStep::WaitServicesStable {
            services: services.started,
        },
        &services.steps,
        format!(
            "wait up to {} s for tasks to run and targets to be healthy",
            v.spec.timeouts.services_stable_seconds
        ),
    );
}
