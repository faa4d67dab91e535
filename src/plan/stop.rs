//! The stop plan, in reverse order of creation: record what the services run with, suspend their
//! scaling and scale them to 0; then two branches at once: the alias records, then the ALB; and
//! the default routes, then the NAT gateways, the wait until they are deleted, then the Elastic
//! IPs that are not kept. What an excluded service needs is kept.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{NatGateway, NatState, RecordSet, RouteTable, RouteTarget, ServiceStatus};
use crate::ownership::{exclusion, is_owned, nat_name, Exclusion, TAG_EXCLUDE};
use crate::spec::{normalize_dns_name, ElasticIpMode, NatGatewaySpec, ServiceSpec, WakeSpec};
use crate::state::RecordedService;

use super::start::release_surplus;
use super::{
    alias_points_to, describe_target, AliasTo, DnsStep, LoadBalancerStep, NetworkStep, Plan,
    ServiceStep, View,
};

/// Plans a stop.
pub(super) fn plan(v: &View, now: chrono::DateTime<chrono::Utc>) -> Plan {
    let mut plan = Plan::default();
    let keep = exclusions(v, &mut plan);
    let services = services_branch(v, &mut plan, &keep, now);
    if keep.load_balancer_for.is_empty() {
        let mut records = records_branch(v, &mut plan, &services, true);
        if let Some(wake) = &v.spec.wake {
            records.extend(records_to_front(v, wake, &mut plan, &services));
            records.sort_unstable();
            records.dedup();
        }
        load_balancer_branch(v, &mut plan, &records);
    }
    nat_branch(v, &mut plan, &keep, &services, false);
    plan
}

/// What excluded services keep running, and for whom (nothing, for a teardown).
#[derive(Default)]
pub(super) struct Keep {
    services: BTreeSet<String>,
    /// Excluded services that the ALB serves.
    load_balancer_for: Vec<String>,
    /// Spec NAT names kept for an excluded service's egress.
    nats: BTreeSet<String>,
}

/// Services tagged `runtime-scheduler:exclude` keep running with the ALB (if they are behind it)
/// and the NAT gateways whose route tables carry their subnets.
fn exclusions(v: &View, plan: &mut Plan) -> Keep {
    let mut excluded: Vec<&ServiceSpec> = Vec::new();
    for spec in &v.spec.services {
        let Some(o) = v.service(spec) else { continue };
        if !is_owned(&o.service.tags, v.env) || o.service.status != ServiceStatus::Active {
            continue;
        }
        match exclusion(&o.service.tags) {
            Exclusion::No => {}
            Exclusion::Yes => excluded.push(spec),
            Exclusion::Malformed(value) => {
                plan.warnings.push(format!(
                    "service {}: {TAG_EXCLUDE} is '{value}' (expected true or false); treated as excluded so nothing it needs is stopped",
                    spec.key()
                ));
                excluded.push(spec);
            }
        }
    }
    let mut keep = Keep::default();
    if excluded.is_empty() {
        return keep;
    }
    let names = excluded
        .iter()
        .map(|s| s.key())
        .collect::<Vec<_>>()
        .join(", ");
    let subnets: BTreeSet<&str> = excluded
        .iter()
        .flat_map(|s| s.subnet_ids.iter().map(String::as_str))
        .collect();
    // A NAT gateway is kept when one of its route tables carries an excluded service's subnet
    // (or when the association is unknown: better an idle gateway than a service cut off).
    let needed = |nat: &NatGatewaySpec| {
        nat.route_table_ids.iter().any(|rt| {
            v.route_table(rt).is_none_or(|t| {
                t.subnet_ids.is_empty() || t.subnet_ids.iter().any(|s| subnets.contains(s.as_str()))
            })
        })
    };
    for nat in v.spec.nat_gateways.iter().filter(|n| needed(n)) {
        plan.kept.push(format!(
            "nat/{} and its routes and Elastic IP: egress of excluded service {names}",
            nat.name
        ));
        keep.nats.insert(nat.name.clone());
    }
    for s in &excluded {
        plan.kept
            .push(format!("service/{}: tagged {TAG_EXCLUDE}", s.key()));
        keep.services.insert(s.key());
    }
    keep.load_balancer_for = excluded
        .iter()
        .filter(|s| s.load_balancer.is_some())
        .map(|s| s.key())
        .collect();
    if !keep.load_balancer_for.is_empty() {
        plan.kept.push(format!(
            "the load balancer, its listeners and alias records: ingress of excluded service {}",
            keep.load_balancer_for.join(", ")
        ));
    }
    keep
}

/// Record what each service runs with (counts, bounds, revision), then bounds to 0..0 (so
/// scaling cannot undo it), then desired count 0. Services stay defined, so a start only scales
/// them up. Returns the steps after which no task of ours runs.
fn services_branch(
    v: &View,
    plan: &mut Plan,
    keep: &Keep,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<usize> {
    let mut done = Vec::new();
    for spec in &v.spec.services {
        let Some(observed) = v.service(spec) else {
            continue;
        };
        let s = &observed.service;
        if !is_owned(&s.tags, v.env) {
            plan.warnings.push(format!(
                "service {} exists but is not ours (no ownership tags): left alone",
                s.key()
            ));
            continue;
        }
        if s.status != ServiceStatus::Active || keep.services.contains(&s.key()) {
            continue;
        }
        let bounds = observed.bounds.filter(|b| b.max > 0);
        if s.desired_count > 0 || bounds.is_some() {
            let previous = v.state.recorded.get(&s.key());
            plan.record.insert(
                s.key(),
                RecordedService {
                    // A half-finished stop may already have scaled to 0: keep what was recorded.
                    desired_count: if s.desired_count > 0 {
                        s.desired_count
                    } else {
                        previous.map_or(spec.desired_count, |p| p.desired_count)
                    },
                    scaling: bounds.or(previous.and_then(|p| p.scaling)),
                    task_definition: s
                        .task_definition
                        .clone()
                        .or_else(|| previous.and_then(|p| p.task_definition.clone())),
                    recorded_at: now,
                },
            );
        }
        let mut after = Vec::new();
        if let Some(b) = bounds {
            after.push(plan.service(
                ServiceStep::SuspendScaling {
                    cluster: s.cluster.clone(),
                    service: s.name.clone(),
                },
                &[],
                format!("auto-scaling bounds are {}..{}", b.min, b.max),
            ));
        }
        if s.desired_count > 0 {
            done.push(plan.service(
                ServiceStep::ScaleService {
                    cluster: s.cluster.clone(),
                    service: s.name.clone(),
                    desired_count: 0,
                },
                &after,
                format!("desired count is {}", s.desired_count),
            ));
        } else {
            done.extend(after);
        }
    }
    done
}

/// The alias records first, so resolvers stop being handed the ALB before it disappears.
/// Returns the steps after which no record of ours points at the ALB. With `spare_fronted`,
/// names that have a wake front are left to [`records_to_front`].
pub(super) fn records_branch(
    v: &View,
    plan: &mut Plan,
    after: &[usize],
    spare_fronted: bool,
) -> Vec<usize> {
    let mut steps = after.to_vec();
    for r in &v.spec.dns_records {
        let fronted = v.spec.wake.as_ref().and_then(|w| w.front_for(&r.name));
        if spare_fronted && fronted.is_some() {
            continue;
        }
        let Some(observed) = v.name(&r.zone_id, &r.name) else {
            continue;
        };
        let aliases: Vec<RecordSet> = observed
            .records
            .iter()
            .filter(|rs| rs.alias.is_some() && r.types.iter().any(|t| t.as_str() == rs.record_type))
            .cloned()
            .collect();
        if aliases.is_empty() {
            continue;
        }
        if !v.name_is_ours(observed) {
            plan.warnings.push(format!(
                "record {} is not ours (no ownership TXT record): left alone",
                observed.name
            ));
            continue;
        }
        steps.push(plan.dns(
            DnsStep::DeleteRecords {
                zone_id: r.zone_id.clone(),
                name: observed.name.clone(),
                records: aliases,
            },
            after,
            "alias records point at the ALB",
        ));
    }
    steps
}

/// With wake on request: the alias records move to the wake front (claiming names nobody
/// holds), so the sleeping tier's names answer. Returns the steps after which no record of ours
/// points at the ALB.
fn records_to_front(v: &View, wake: &WakeSpec, plan: &mut Plan, after: &[usize]) -> Vec<usize> {
    let mut steps = after.to_vec();
    for r in &v.spec.dns_records {
        // The spec check makes every name have a front.
        let Some(front) = wake.front_for(&r.name) else {
            continue;
        };
        let observed = v.name(&r.zone_id, &r.name);
        let claimed = observed.is_some_and(|n| v.name_is_ours(n));
        let current: Vec<&RecordSet> = observed
            .map(|n| {
                n.records
                    .iter()
                    .filter(|rs| r.types.iter().any(|t| t.as_str() == rs.record_type))
                    .collect()
            })
            .unwrap_or_default();
        let cname = observed.is_some_and(|n| n.records.iter().any(|rs| rs.record_type == "CNAME"));
        if cname || (!current.is_empty() && !claimed) {
            plan.warnings.push(format!(
                "record {} exists and is not ours (no ownership TXT record): left alone",
                normalize_dns_name(&r.name)
            ));
            continue;
        }
        let at_front = r.types.iter().all(|t| {
            current.iter().any(|rs| {
                rs.record_type == t.as_str()
                    && rs
                        .alias
                        .as_ref()
                        .is_some_and(|a| alias_points_to(a, &front.dns_name))
            })
        });
        if claimed && at_front {
            continue;
        }
        steps.push(plan.dns(
            DnsStep::UpsertRecords {
                zone_id: r.zone_id.clone(),
                name: normalize_dns_name(&r.name),
                types: r.types.clone(),
                claim: !claimed,
                to: AliasTo::Front {
                    dns_name: front.dns_name.clone(),
                    hosted_zone_id: front.hosted_zone_id.clone(),
                },
            },
            after,
            if current.is_empty() {
                "asleep, the name answers from the wake page (no alias record yet)"
            } else {
                "asleep, the name answers from the wake page"
            },
        ));
    }
    steps
}

/// The ALB, once nothing points at it. Deleting it deletes its listeners and rules and drops
/// its web ACL association.
pub(super) fn load_balancer_branch(v: &View, plan: &mut Plan, after: &[usize]) {
    match v.load_balancer() {
        Some(lb) if !is_owned(&lb.tags, v.env) => plan.warnings.push(format!(
            "load balancer {} exists but is not ours (no ownership tags): left alone",
            lb.name
        )),
        Some(lb) => {
            plan.load_balancer(
                LoadBalancerStep::DeleteLoadBalancer {
                    load_balancer_arn: lb.arn.clone(),
                },
                after,
                "the ALB exists",
            );
        }
        None => {}
    }
}

/// The default routes, then the NAT gateways, the wait until they are deleted, then the
/// addresses that are not kept (AWS refuses to release an address while a gateway holds it).
pub(super) fn nat_branch(
    v: &View,
    plan: &mut Plan,
    keep: &Keep,
    after: &[usize],
    release_kept: bool,
) {
    let stopping = |n: &&NatGatewaySpec| !keep.nats.contains(&n.name);
    let mut routes = Vec::new();
    for nat in v.spec.nat_gateways.iter().filter(stopping) {
        for rt_id in &nat.route_table_ids {
            let Some(RouteTable {
                default_route: Some(route),
                ..
            }) = v.route_table(rt_id)
            else {
                continue;
            };
            match &route.target {
                RouteTarget::NatGateway(id) if v.route_is_ours(id) => routes.push(plan.network(
                    NetworkStep::DeleteRoute {
                        route_table_id: rt_id.clone(),
                        nat_gateway_id: id.clone(),
                    },
                    after,
                    format!("0.0.0.0/0 goes through our NAT gateway {id}"),
                )),
                target => plan.warnings.push(format!(
                    "route table {rt_id}: 0.0.0.0/0 goes to {} which is not ours: left alone",
                    describe_target(target)
                )),
            }
        }
    }
    let gateways: Vec<&NatGateway> = v
        .spec
        .nat_gateways
        .iter()
        .filter(stopping)
        .flat_map(|n| v.owned_nats(&n.name))
        .chain(v.orphan_nats())
        .collect();
    // Only a release needs the gateway to be `deleted` first; a kept address waits for the next
    // start, which waits for its old gateway itself.
    let releases = |name: &str| {
        release_kept
            || v.spec
                .nat_gateways
                .iter()
                .find(|n| n.name == name)
                .is_none_or(|n| n.elastic_ip.mode == ElasticIpMode::Release)
    };
    let mut deleted: BTreeMap<String, usize> = BTreeMap::new();
    for nat in gateways {
        let name = nat_name(&nat.tags).unwrap_or(&nat.id).to_string();
        let delete = match nat.state {
            NatState::Pending | NatState::Available | NatState::Failed => vec![plan.network(
                NetworkStep::DeleteNatGateway {
                    nat: name.clone(),
                    nat_gateway_id: nat.id.clone(),
                },
                &routes,
                format!("NAT gateway {} is {:?}", nat.id, nat.state).to_lowercase(),
            )],
            NatState::Deleting => vec![],
            NatState::Deleted => continue,
        };
        if !releases(&name) {
            continue;
        }
        let wait = plan.network(
            NetworkStep::WaitNatDeleted {
                nat: name.clone(),
                nat_gateway_id: nat.id.clone(),
                fresh: !delete.is_empty(),
            },
            &delete,
            "its Elastic IP can only be released once it is deleted",
        );
        deleted.insert(name, wait);
    }
    addresses(v, plan, keep, &deleted, release_kept);
}

/// Releases the addresses of ours that are not kept across cycles (with `release_kept`, the
/// kept ones too), each after its gateway is deleted.
fn addresses(
    v: &View,
    plan: &mut Plan,
    keep: &Keep,
    deleted: &BTreeMap<String, usize>,
    release_kept: bool,
) {
    for nat in &v.spec.nat_gateways {
        if nat.elastic_ip.mode == ElasticIpMode::Keep && !release_kept {
            release_surplus(v, plan, &nat.name);
        }
        let releasable = match nat.elastic_ip.mode {
            ElasticIpMode::Release => true,
            ElasticIpMode::Keep => release_kept,
            ElasticIpMode::External => false,
        };
        if !releasable || keep.nats.contains(&nat.name) {
            continue;
        }
        for address in v.owned_addresses(&nat.name) {
            let after: Vec<usize> = deleted.get(&nat.name).copied().into_iter().collect();
            plan.network(
                NetworkStep::ReleaseAddress {
                    nat: nat.name.clone(),
                    allocation_id: address.allocation_id.clone(),
                },
                &after,
                if release_kept {
                    format!("{} is ours and the tier is torn down", address.public_ip)
                } else {
                    format!(
                        "{} is not kept across cycles (elastic_ip.mode = release)",
                        address.public_ip
                    )
                },
            );
        }
    }
    // Addresses of NAT names that left the spec are released too, kept ones included: nothing
    // will use them again.
    let names: BTreeSet<&str> = v
        .spec
        .nat_gateways
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    for address in v
        .observed
        .addresses
        .iter()
        .filter(|a| is_owned(&a.tags, v.env))
    {
        let Some(name) = nat_name(&address.tags) else {
            continue;
        };
        if names.contains(name) {
            continue;
        }
        let after: Vec<usize> = deleted.get(name).copied().into_iter().collect();
        plan.network(
            NetworkStep::ReleaseAddress {
                nat: name.to_string(),
                allocation_id: address.allocation_id.clone(),
            },
            &after,
            format!("NAT '{name}' is no longer in the spec"),
        );
    }
}
