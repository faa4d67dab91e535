//! The planner: a pure function from (action, spec, what was observed, recorded state) to an
//! ordered plan of steps with their dependencies. No I/O here, so it is tested with tables.
//!
//! Convergence comes from here: every step exists only because the observation shows it is
//! missing, so a repeated start or stop plans nothing, and a half-finished run plans the rest.
//! Ownership comes from here too: only resources carrying the ownership tags (or, for records,
//! the ownership TXT record; for routes, pointing at one of our NAT gateways) are ever targeted.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{
    is_owned, AliasTarget, ElasticIp, Listener, LoadBalancer, LoadBalancerState, NatGateway,
    NatState, RecordSet, RouteTable, RouteTarget, ScalingBounds, Service, ServiceStatus, TAG_NAT,
};
use crate::schedule::Desired;
use crate::spec::{ElasticIpMode, RecordType, ServiceSpec, Spec};
use crate::state::{RecordedService, State};

/// Prefix of the TXT record that marks an alias record name as ours (like external-dns).
pub const OWNER_RECORD_PREFIX: &str = "_runtime-scheduler.";

/// Value of the ownership TXT record (quoted, as Route53 stores TXT values).
pub fn owner_record_value(environment: &str) -> String {
    format!("\"heritage=runtime-scheduler,environment={environment}\"")
}

/// The ALB as observed, with what hangs off it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedLoadBalancer {
    pub load_balancer: Option<LoadBalancer>,
    pub listeners: Vec<Listener>,
    pub attributes_match: bool,
    pub web_acl_arn: Option<String>,
}

/// The record sets at one spec record name, and at its ownership TXT name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedName {
    pub zone_id: String,
    /// Normalised (lower case, trailing dot).
    pub name: String,
    pub records: Vec<RecordSet>,
    pub owner_records: Vec<RecordSet>,
}

/// A service with its scaling configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedService {
    pub service: Service,
    pub bounds: Option<ScalingBounds>,
    pub has_policy: bool,
}

/// Everything observed for one decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Live or deleting NAT gateways in the spec's subnets (owned or not).
    pub nat_gateways: Vec<NatGateway>,
    /// For each NAT id some default route points at: whether that gateway is ours (by tags,
    /// also for deleted gateways, or because state remembers creating it).
    pub route_target_owned: BTreeMap<String, bool>,
    pub addresses: Vec<ElasticIp>,
    pub route_tables: Vec<RouteTable>,
    pub load_balancer: ObservedLoadBalancer,
    pub names: Vec<ObservedName>,
    /// Services named by the spec that exist (any status, owned or not).
    pub services: Vec<ObservedService>,
}

/// What a step does. Ids created earlier in the same run (a new NAT, the new ALB) are not known
/// at plan time; the executor resolves them by NAT name or from the ALB it created.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum StepKind {
    /// Set a service's auto-scaling bounds to 0..0 so scaling cannot undo the scale-down.
    SuspendScaling {
        cluster: String,
        service: String,
    },
    /// Set a service's desired count.
    ScaleService {
        cluster: String,
        service: String,
        desired_count: u32,
    },
    /// Delete the alias records at a name (the ownership TXT record stays).
    DeleteRecords {
        zone_id: String,
        name: String,
        records: Vec<RecordSet>,
    },
    DisassociateWebAcl {
        load_balancer_arn: String,
    },
    DeleteListener {
        port: u16,
        listener_arn: String,
    },
    DeleteLoadBalancer {
        load_balancer_arn: String,
    },
    DeleteRoute {
        route_table_id: String,
        nat_gateway_id: String,
    },
    DeleteNatGateway {
        nat: String,
        nat_gateway_id: String,
    },
    WaitNatDeleted {
        nat: String,
        nat_gateway_id: String,
    },
    /// Release an Elastic IP (AWS refuses until its NAT gateway is `deleted`).
    ReleaseAddress {
        nat: String,
        allocation_id: String,
    },

    AllocateAddress {
        nat: String,
    },
    /// After a new address was allocated: release any other free address of ours for this NAT
    /// (an AllocateAddress applied twice because its response was lost and retried).
    SweepAddresses {
        nat: String,
    },
    /// Clear a stale association left by a deleted gateway, so the kept address can be reused.
    DisassociateAddress {
        nat: String,
        allocation_id: String,
        association_id: String,
    },
    /// Create the NAT gateway with the address allocated or reused for `nat`.
    CreateNatGateway {
        nat: String,
        subnet_id: String,
        allocation_id: Option<String>,
    },
    WaitNatAvailable {
        nat: String,
    },
    CreateRoute {
        route_table_id: String,
        nat: String,
    },
    ReplaceRoute {
        route_table_id: String,
        nat: String,
        replaces: String,
    },
    CreateLoadBalancer {
        name: String,
    },
    WaitLoadBalancerActive {
        name: String,
    },
    SetLoadBalancerAttributes {
        name: String,
    },
    CreateListener {
        port: u16,
    },
    CreateRule {
        port: u16,
        priority: u32,
    },
    AssociateWebAcl {
        web_acl_arn: String,
    },
    /// Upsert the alias records at a name (and the ownership TXT record).
    UpsertRecords {
        zone_id: String,
        name: String,
        types: Vec<RecordType>,
        claim: bool,
    },
    CreateService {
        cluster: String,
        service: String,
        desired_count: u32,
    },
    /// Register the scalable target with these bounds.
    RestoreScaling {
        cluster: String,
        service: String,
        min: u32,
        max: u32,
    },
    PutScalingPolicy {
        cluster: String,
        service: String,
    },
    /// Wait, within the spec's bound, for services to be stable and targets healthy.
    WaitServicesStable {
        services: Vec<String>,
    },
}

impl StepKind {
    /// Short, stable description of what the step touches, e.g. `nat/a`, `service/dev/backend`.
    pub fn target(&self) -> String {
        use StepKind::*;
        match self {
            SuspendScaling { cluster, service }
            | ScaleService {
                cluster, service, ..
            }
            | CreateService {
                cluster, service, ..
            }
            | RestoreScaling {
                cluster, service, ..
            }
            | PutScalingPolicy { cluster, service } => format!("service/{cluster}/{service}"),
            DeleteRecords { name, .. } | UpsertRecords { name, .. } => format!("record/{name}"),
            DisassociateWebAcl { .. } | AssociateWebAcl { .. } => "load-balancer/web-acl".into(),
            DeleteListener { port, .. } | CreateListener { port } => format!("listener/{port}"),
            CreateRule { port, priority } => format!("listener/{port}/rule/{priority}"),
            DeleteLoadBalancer { .. } => "load-balancer".into(),
            CreateLoadBalancer { name }
            | WaitLoadBalancerActive { name }
            | SetLoadBalancerAttributes { name } => {
                format!("load-balancer/{name}")
            }
            DeleteRoute { route_table_id, .. }
            | CreateRoute { route_table_id, .. }
            | ReplaceRoute { route_table_id, .. } => {
                format!("route/{route_table_id}/0.0.0.0/0")
            }
            DeleteNatGateway { nat, .. }
            | WaitNatDeleted { nat, .. }
            | CreateNatGateway { nat, .. }
            | WaitNatAvailable { nat } => format!("nat/{nat}"),
            ReleaseAddress { nat, .. }
            | AllocateAddress { nat }
            | DisassociateAddress { nat, .. }
            | SweepAddresses { nat } => {
                format!("elastic-ip/{nat}")
            }
            WaitServicesStable { .. } => "services".into(),
        }
    }

    /// The kebab-case name of the step, as serialised.
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_string))
            .unwrap_or_default()
    }

    /// True for steps that only wait and read.
    pub fn is_wait(&self) -> bool {
        matches!(
            self,
            StepKind::WaitNatDeleted { .. }
                | StepKind::WaitNatAvailable { .. }
                | StepKind::WaitLoadBalancerActive { .. }
                | StepKind::WaitServicesStable { .. }
        )
    }
}

/// One planned step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub id: usize,
    #[serde(flatten)]
    pub kind: StepKind,
    pub target: String,
    /// Steps that must finish first.
    pub after: Vec<usize>,
    /// Why the step is needed, from the observation.
    pub why: String,
}

/// The plan for one invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Things noticed and deliberately left alone (foreign resources in the way, ...).
    pub warnings: Vec<String>,
    /// Resources a stop keeps because an excluded service needs them, each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// Counts and bounds to record before scaling down (stop only), by `cluster/service`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub record: BTreeMap<String, RecordedService>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.record.is_empty()
    }

    fn add(&mut self, kind: StepKind, after: &[usize], why: impl Into<String>) -> usize {
        let id = self.steps.len();
        let target = kind.target();
        let mut after: Vec<usize> = after.to_vec();
        after.sort_unstable();
        after.dedup();
        self.steps.push(Step {
            id,
            kind,
            target,
            after,
            why: why.into(),
        });
        id
    }
}

/// Plans the way to `desired`: running (start) or stopped (stop).
pub fn plan(
    desired: Desired,
    spec: &Spec,
    observed: &Observed,
    state: &State,
    now: chrono::DateTime<chrono::Utc>,
) -> Plan {
    let view = View {
        spec,
        observed,
        state,
        env: &spec.environment,
    };
    match desired {
        Desired::Running => plan_start(&view),
        Desired::Stopped => plan_stop(&view, now),
    }
}

struct View<'a> {
    spec: &'a Spec,
    observed: &'a Observed,
    state: &'a State,
    env: &'a str,
}

impl View<'_> {
    /// Our NAT gateways for a spec NAT name that are pending, available or deleting.
    fn owned_nats<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s NatGateway> + 's {
        self.observed.nat_gateways.iter().filter(move |n| {
            is_owned(&n.tags, self.env) && n.tags.get(TAG_NAT).map(String::as_str) == Some(name)
        })
    }

    fn live_nat<'s>(&'s self, name: &'s str) -> Option<&'s NatGateway> {
        self.owned_nats(name).find(|n| n.state.is_live())
    }

    /// Our NAT gateways whose name is no longer in the spec.
    fn orphan_nats(&self) -> impl Iterator<Item = &NatGateway> {
        let names: BTreeSet<&str> = self
            .spec
            .nat_gateways
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        self.observed.nat_gateways.iter().filter(move |n| {
            is_owned(&n.tags, self.env)
                && !n
                    .tags
                    .get(TAG_NAT)
                    .is_some_and(|t| names.contains(t.as_str()))
        })
    }

    fn owned_addresses<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s ElasticIp> + 's {
        self.observed.addresses.iter().filter(move |a| {
            is_owned(&a.tags, self.env) && a.tags.get(TAG_NAT).map(String::as_str) == Some(name)
        })
    }

    /// The one address of ours to use for NAT `name` (the one a live gateway holds, else the one
    /// state remembers, else the lowest id among the free ones) and the surplus: other free
    /// addresses of ours for that name, e.g. from an AllocateAddress whose response was lost and
    /// retried. Surplus addresses are released, so the egress IP stays the same one.
    fn address_keeper<'s>(&'s self, name: &'s str) -> (Option<&'s ElasticIp>, Vec<&'s ElasticIp>) {
        let mut mine: Vec<&ElasticIp> = self.owned_addresses(name).collect();
        mine.sort_by(|a, b| a.allocation_id.cmp(&b.allocation_id));
        let held = mine.iter().copied().find(|a| !self.address_is_free(a));
        let recorded = self
            .state
            .resources
            .nat_gateways
            .get(name)
            .and_then(|r| r.allocation_id.as_deref());
        let keeper = held
            .or_else(|| {
                mine.iter()
                    .copied()
                    .find(|a| Some(a.allocation_id.as_str()) == recorded)
            })
            .or_else(|| mine.first().copied());
        let surplus = mine
            .into_iter()
            .filter(|a| Some(a.allocation_id.as_str()) != keeper.map(|k| k.allocation_id.as_str()))
            .filter(|a| self.address_is_free(a))
            .collect();
        (keeper, surplus)
    }

    /// Free for a new gateway: not associated, or only with a gateway that is no longer live
    /// (moto keeps the association of a deleted gateway's address; AWS clears it).
    fn address_is_free(&self, address: &ElasticIp) -> bool {
        address.association_id.is_none()
            || !self.observed.nat_gateways.iter().any(|n| {
                n.state != NatState::Deleted && n.allocation_ids.contains(&address.allocation_id)
            })
    }

    fn route_is_ours(&self, nat_id: &str) -> bool {
        self.observed
            .route_target_owned
            .get(nat_id)
            .copied()
            .unwrap_or(false)
            || self
                .state
                .resources
                .retired_nat_gateway_ids
                .iter()
                .any(|id| id == nat_id)
            || self
                .state
                .resources
                .nat_gateways
                .values()
                .any(|r| r.nat_gateway_id.as_deref() == Some(nat_id))
            || self
                .observed
                .nat_gateways
                .iter()
                .any(|n| n.id == nat_id && is_owned(&n.tags, self.env))
    }

    fn route_table(&self, id: &str) -> Option<&RouteTable> {
        self.observed.route_tables.iter().find(|r| r.id == id)
    }

    fn load_balancer(&self) -> Option<&LoadBalancer> {
        self.observed.load_balancer.load_balancer.as_ref()
    }

    fn owned_load_balancer(&self) -> Option<&LoadBalancer> {
        self.load_balancer()
            .filter(|lb| is_owned(&lb.tags, self.env))
    }

    fn name(&self, zone_id: &str, name: &str) -> Option<&ObservedName> {
        let name = crate::spec::normalize_dns_name(name);
        self.observed
            .names
            .iter()
            .find(|n| n.zone_id == zone_id && n.name == name)
    }

    fn name_is_ours(&self, observed: &ObservedName) -> bool {
        let value = owner_record_value(self.env);
        observed
            .owner_records
            .iter()
            .any(|r| r.record_type == "TXT" && r.values.iter().any(|v| *v == value))
    }

    fn service(&self, spec: &ServiceSpec) -> Option<&ObservedService> {
        self.observed
            .services
            .iter()
            .find(|s| s.service.cluster == spec.cluster && s.service.name == spec.name)
    }
}

/// Services tagged `runtime-scheduler:exclude`: a stop leaves them running, with what they need.
/// A value other than `true`/`false` counts as excluded: a malformed tag never causes the stop
/// it may have been meant to prevent.
fn excluded_services<'s>(v: &View<'s>, plan: &mut Plan) -> Vec<&'s ServiceSpec> {
    let mut excluded = Vec::new();
    for spec in &v.spec.services {
        let Some(o) = v.service(spec) else { continue };
        if !is_owned(&o.service.tags, v.env) || o.service.status != ServiceStatus::Active {
            continue;
        }
        match o
            .service
            .tags
            .get(crate::schedule::TAG_EXCLUDE)
            .map(|t| t.trim())
        {
            None | Some("false") => {}
            Some("true") => excluded.push(spec),
            Some(other) => {
                plan.warnings.push(format!(
                    "service {}: {} is '{other}' (expected true or false); treated as excluded so nothing it needs is stopped",
                    spec.key(),
                    crate::schedule::TAG_EXCLUDE
                ));
                excluded.push(spec);
            }
        }
    }
    excluded
}

fn plan_stop(v: &View, now: chrono::DateTime<chrono::Utc>) -> Plan {
    let mut plan = Plan::default();
    let excluded = excluded_services(v, &mut plan);
    let excluded_keys: BTreeSet<String> = excluded.iter().map(|s| s.key()).collect();
    let lb_needed_by: Vec<String> = excluded
        .iter()
        .filter(|s| s.load_balancer.is_some())
        .map(|s| s.key())
        .collect();
    let excluded_subnets: BTreeSet<&str> = excluded
        .iter()
        .flat_map(|s| s.subnet_ids.iter().map(String::as_str))
        .collect();
    // A NAT gateway is kept when one of its route tables carries an excluded service's subnet
    // (or when the association is unknown: better an idle gateway than a service cut off).
    let nat_needed_by = |nat: &crate::spec::NatGatewaySpec| -> Option<String> {
        if excluded.is_empty() {
            return None;
        }
        let needed = nat.route_table_ids.iter().any(|rt| {
            v.route_table(rt).is_none_or(|t| {
                t.subnet_ids.is_empty()
                    || t.subnet_ids
                        .iter()
                        .any(|s| excluded_subnets.contains(s.as_str()))
            })
        });
        needed.then(|| {
            excluded
                .iter()
                .map(|s| s.key())
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let mut kept_nats: BTreeSet<String> = BTreeSet::new();
    for nat in &v.spec.nat_gateways {
        if let Some(by) = nat_needed_by(nat) {
            plan.kept.push(format!(
                "nat/{} and its routes and Elastic IP: egress of excluded service {by}",
                nat.name
            ));
            kept_nats.insert(nat.name.clone());
        }
    }
    for key in &excluded_keys {
        plan.kept.push(format!(
            "service/{key}: tagged {}",
            crate::schedule::TAG_EXCLUDE
        ));
    }
    if !lb_needed_by.is_empty() {
        plan.kept.push(format!(
            "the load balancer, its listeners and alias records: ingress of excluded service {}",
            lb_needed_by.join(", ")
        ));
    }

    // 1. Services: record what they run with, then bounds to 0 (so scaling cannot undo it),
    //    then desired count to 0. Services stay defined, so start only has to scale them up.
    let mut service_steps = Vec::new();
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
        if s.status != ServiceStatus::Active || excluded_keys.contains(&s.key()) {
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
                    recorded_at: now,
                },
            );
        }
        let mut after = Vec::new();
        if bounds.is_some() {
            after.push(plan.add(
                StepKind::SuspendScaling {
                    cluster: s.cluster.clone(),
                    service: s.name.clone(),
                },
                &[],
                format!(
                    "auto-scaling bounds are {}..{}",
                    bounds.unwrap().min,
                    bounds.unwrap().max
                ),
            ));
        }
        if s.desired_count > 0 {
            service_steps.push(plan.add(
                StepKind::ScaleService {
                    cluster: s.cluster.clone(),
                    service: s.name.clone(),
                    desired_count: 0,
                },
                &after,
                format!("desired count is {}", s.desired_count),
            ));
        } else {
            service_steps.extend(after);
        }
    }

    // 2. The ALB branch, in reverse order of creation: records first (so resolvers stop being
    //    handed the ALB before it disappears), then WAF, listeners, the ALB itself.
    let mut lb_after = service_steps.clone();
    let keep_lb = !lb_needed_by.is_empty();
    for r in v.spec.dns_records.iter().filter(|_| !keep_lb) {
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
        lb_after.push(plan.add(
            StepKind::DeleteRecords {
                zone_id: r.zone_id.clone(),
                name: observed.name.clone(),
                records: aliases,
            },
            &service_steps,
            "alias records point at the ALB",
        ));
    }
    match v.load_balancer() {
        _ if keep_lb => {}
        Some(lb) if !is_owned(&lb.tags, v.env) => plan.warnings.push(format!(
            "load balancer {} exists but is not ours (no ownership tags): left alone",
            lb.name
        )),
        Some(lb) => {
            let mut prev = lb_after.clone();
            if v.observed.load_balancer.web_acl_arn.is_some() {
                prev = vec![plan.add(
                    StepKind::DisassociateWebAcl {
                        load_balancer_arn: lb.arn.clone(),
                    },
                    &prev,
                    "a web ACL is associated",
                )];
            }
            let listeners: Vec<usize> = v
                .observed
                .load_balancer
                .listeners
                .iter()
                .map(|l| {
                    plan.add(
                        StepKind::DeleteListener {
                            port: l.port,
                            listener_arn: l.arn.clone(),
                        },
                        &prev,
                        format!("listener {} {} exists", l.protocol, l.port),
                    )
                })
                .collect();
            let after: Vec<usize> = if listeners.is_empty() {
                prev
            } else {
                listeners
            };
            plan.add(
                StepKind::DeleteLoadBalancer {
                    load_balancer_arn: lb.arn.clone(),
                },
                &after,
                "the ALB exists",
            );
        }
        None => {}
    }

    // 3. The NAT branch: routes, gateways, wait until deleted, then release the addresses that
    //    are not kept (AWS refuses to release an address while a gateway holds it).
    let mut deleted_nats: BTreeMap<String, usize> = BTreeMap::new();
    let mut route_steps = Vec::new();
    for nat in v
        .spec
        .nat_gateways
        .iter()
        .filter(|n| !kept_nats.contains(&n.name))
    {
        for rt_id in &nat.route_table_ids {
            if let Some(RouteTable {
                default_route: Some(route),
                ..
            }) = v.route_table(rt_id)
            {
                match &route.target {
                    RouteTarget::NatGateway(id) if v.route_is_ours(id) => {
                        route_steps.push(plan.add(
                            StepKind::DeleteRoute {
                                route_table_id: rt_id.clone(),
                                nat_gateway_id: id.clone(),
                            },
                            &service_steps,
                            format!("0.0.0.0/0 goes through our NAT gateway {id}"),
                        ))
                    }
                    target => plan.warnings.push(format!(
                        "route table {rt_id}: 0.0.0.0/0 goes to {} which is not ours: left alone",
                        describe_target(target)
                    )),
                }
            }
        }
    }
    let owned: Vec<&NatGateway> = v
        .spec
        .nat_gateways
        .iter()
        .filter(|n| !kept_nats.contains(&n.name))
        .flat_map(|n| v.owned_nats(&n.name))
        .chain(v.orphan_nats())
        .collect();
    for nat in owned {
        let name = nat
            .tags
            .get(TAG_NAT)
            .cloned()
            .unwrap_or_else(|| nat.id.clone());
        let delete = match nat.state {
            NatState::Pending | NatState::Available | NatState::Failed => vec![plan.add(
                StepKind::DeleteNatGateway {
                    nat: name.clone(),
                    nat_gateway_id: nat.id.clone(),
                },
                &route_steps,
                format!("NAT gateway {} is {:?}", nat.id, nat.state).to_lowercase(),
            )],
            NatState::Deleting => vec![],
            NatState::Deleted => continue,
        };
        let wait = plan.add(
            StepKind::WaitNatDeleted {
                nat: name.clone(),
                nat_gateway_id: nat.id.clone(),
            },
            &delete,
            "its Elastic IP can only be released once it is deleted",
        );
        deleted_nats.insert(name, wait);
    }
    for nat in &v.spec.nat_gateways {
        if nat.elastic_ip.mode == ElasticIpMode::Keep {
            release_surplus(v, &mut plan, &nat.name);
        }
        if nat.elastic_ip.mode != ElasticIpMode::Release || kept_nats.contains(&nat.name) {
            continue;
        }
        for address in v.owned_addresses(&nat.name) {
            let after: Vec<usize> = deleted_nats.get(&nat.name).copied().into_iter().collect();
            plan.add(
                StepKind::ReleaseAddress {
                    nat: nat.name.clone(),
                    allocation_id: address.allocation_id.clone(),
                },
                &after,
                format!(
                    "{} is not kept across cycles (elastic_ip.mode = release)",
                    address.public_ip
                ),
            );
        }
    }
    // Addresses of NAT names that left the spec are released too; kept ones included, since
    // nothing will use them again.
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
        let Some(name) = address.tags.get(TAG_NAT) else {
            continue;
        };
        if names.contains(name.as_str()) {
            continue;
        }
        let after: Vec<usize> = deleted_nats.get(name).copied().into_iter().collect();
        plan.add(
            StepKind::ReleaseAddress {
                nat: name.clone(),
                allocation_id: address.allocation_id.clone(),
            },
            &after,
            format!("NAT '{name}' is no longer in the spec"),
        );
    }
    plan
}

fn release_surplus(v: &View, plan: &mut Plan, name: &str) {
    let (keeper, surplus) = v.address_keeper(name);
    for address in surplus {
        plan.add(
            StepKind::ReleaseAddress {
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

fn describe_target(target: &RouteTarget) -> String {
    match target {
        RouteTarget::NatGateway(id) => format!("NAT gateway {id}"),
        RouteTarget::Other(id) => id.clone(),
    }
}

fn plan_start(v: &View) -> Plan {
    let mut plan = Plan::default();

    // NAT branch, one chain per gateway: address, gateway, wait, routes.
    let mut route_steps = Vec::new();
    for nat in &v.spec.nat_gateways {
        let live = v.live_nat(&nat.name);
        let mut ready = Vec::new();
        match live {
            Some(gw) if gw.state == NatState::Available => {}
            Some(gw) => ready.push(plan.add(
                StepKind::WaitNatAvailable {
                    nat: nat.name.clone(),
                },
                &[],
                format!("NAT gateway {} is still pending", gw.id),
            )),
            None => {
                // A kept address still held by our old gateway (deleting) is reused once that
                // gateway is gone: allocating another would break the stable egress IP.
                let held = v.owned_addresses(&nat.name).find_map(|a| {
                    v.owned_nats(&nat.name)
                        .find(|n| {
                            n.state == NatState::Deleting
                                && n.allocation_ids.contains(&a.allocation_id)
                        })
                        .map(|n| (a, n))
                });
                let (allocation_id, allocate) = match (nat.elastic_ip.mode, held) {
                    (ElasticIpMode::External, _) => (nat.elastic_ip.allocation_id.clone(), vec![]),
                    (ElasticIpMode::Keep, Some((address, old))) => (
                        Some(address.allocation_id.clone()),
                        vec![plan.add(
                            StepKind::WaitNatDeleted {
                                nat: nat.name.clone(),
                                nat_gateway_id: old.id.clone(),
                            },
                            &[],
                            format!(
                                "the kept address {} is still held by {}, which is being deleted",
                                address.public_ip, old.id
                            ),
                        )],
                    ),
                    (ElasticIpMode::Keep | ElasticIpMode::Release, _) => {
                        match v.address_keeper(&nat.name).0.filter(|a| v.address_is_free(a)) {
                            Some(a) => (
                                Some(a.allocation_id.clone()),
                                a.association_id
                                    .iter()
                                    .map(|association_id| {
                                        plan.add(
                                            StepKind::DisassociateAddress {
                                                nat: nat.name.clone(),
                                                allocation_id: a.allocation_id.clone(),
                                                association_id: association_id.clone(),
                                            },
                                            &[],
                                            format!("{} still shows an association with a gateway that is gone", a.public_ip),
                                        )
                                    })
                                    .collect(),
                            ),
                            None => (
                                None,
                                vec![plan.add(
                                    StepKind::AllocateAddress { nat: nat.name.clone() },
                                    &[],
                                    "no Elastic IP of ours is free for this NAT gateway",
                                )],
                            ),
                        }
                    }
                };
                let create = plan.add(
                    StepKind::CreateNatGateway {
                        nat: nat.name.clone(),
                        subnet_id: nat.subnet_id.clone(),
                        allocation_id,
                    },
                    &allocate,
                    format!("no NAT gateway of ours in {}", nat.subnet_id),
                );
                ready.push(plan.add(
                    StepKind::WaitNatAvailable {
                        nat: nat.name.clone(),
                    },
                    &[create],
                    "routes need an available gateway",
                ));
                let allocating = allocate
                    .iter()
                    .any(|id| matches!(plan.steps[*id].kind, StepKind::AllocateAddress { .. }));
                if allocating {
                    plan.add(
                        StepKind::SweepAddresses { nat: nat.name.clone() },
                        &[create],
                        "an allocation retried after a lost response may have left a second address",
                    );
                }
            }
        }
        if nat.elastic_ip.mode != ElasticIpMode::External {
            release_surplus(v, &mut plan, &nat.name);
        }
        for rt_id in &nat.route_table_ids {
            let route = v.route_table(rt_id).and_then(|r| r.default_route.as_ref());
            match route {
                None => route_steps.push(plan.add(
                    StepKind::CreateRoute {
                        route_table_id: rt_id.clone(),
                        nat: nat.name.clone(),
                    },
                    &ready,
                    "no 0.0.0.0/0 route",
                )),
                Some(r) => match &r.target {
                    RouteTarget::NatGateway(id)
                        if live.is_some_and(|gw| gw.id == *id) && r.active => {}
                    RouteTarget::NatGateway(id) if v.route_is_ours(id) => {
                        route_steps.push(plan.add(
                            StepKind::ReplaceRoute {
                                route_table_id: rt_id.clone(),
                                nat: nat.name.clone(),
                                replaces: id.clone(),
                            },
                            &ready,
                            format!("0.0.0.0/0 still points at our old NAT gateway {id}"),
                        ))
                    }
                    target => plan.warnings.push(format!(
                        "route table {rt_id}: 0.0.0.0/0 goes to {} which is not ours: left alone",
                        describe_target(target)
                    )),
                },
            }
        }
    }

    // ALB branch: create, wait active, attributes, listeners, rules, WAF; then the records.
    let mut listener_steps = Vec::new();
    let mut record_steps = Vec::new();
    let mut lb_created = false;
    if let Some(lb_spec) = &v.spec.load_balancer {
        let observed = &v.observed.load_balancer;
        let lb_ok = match v.load_balancer() {
            Some(lb) if !is_owned(&lb.tags, v.env) => {
                plan.warnings.push(format!(
                    "a load balancer named {} exists and is not ours: not touched, so the ALB, its listeners and records are not created",
                    lb.name
                ));
                false
            }
            _ => true,
        };
        if lb_ok {
            let existing = v.owned_load_balancer();
            let mut active = Vec::new();
            match existing {
                None => {
                    lb_created = true;
                    let create = plan.add(
                        StepKind::CreateLoadBalancer {
                            name: lb_spec.name.clone(),
                        },
                        &[],
                        "no ALB of ours exists",
                    );
                    active.push(plan.add(
                        StepKind::WaitLoadBalancerActive {
                            name: lb_spec.name.clone(),
                        },
                        &[create],
                        "listeners need an active ALB",
                    ));
                }
                Some(lb) if lb.state == LoadBalancerState::Provisioning => active.push(plan.add(
                    StepKind::WaitLoadBalancerActive {
                        name: lb_spec.name.clone(),
                    },
                    &[],
                    "the ALB is still provisioning",
                )),
                Some(_) => {}
            }
            if existing.is_none() || !observed.attributes_match {
                listener_steps.push(plan.add(
                    StepKind::SetLoadBalancerAttributes {
                        name: lb_spec.name.clone(),
                    },
                    &active,
                    if existing.is_none() {
                        "a new ALB has default attributes"
                    } else {
                        "attributes differ from the spec"
                    },
                ));
            }
            for l in &lb_spec.listeners {
                let found =
                    existing.and_then(|_| observed.listeners.iter().find(|o| o.port == l.port));
                let mut after = active.clone();
                if found.is_none() {
                    let id = plan.add(
                        StepKind::CreateListener { port: l.port },
                        &active,
                        format!("no {} listener on port {}", l.protocol.as_str(), l.port),
                    );
                    listener_steps.push(id);
                    after = vec![id];
                }
                for r in &l.rules {
                    if found.is_some_and(|o| o.rule_priorities.contains(&r.priority)) {
                        continue;
                    }
                    listener_steps.push(plan.add(
                        StepKind::CreateRule {
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
                        listener_steps.push(plan.add(
                            StepKind::DeleteListener {
                                port: o.port,
                                listener_arn: o.arn.clone(),
                            },
                            &active,
                            format!("port {} is not in the spec", o.port),
                        ));
                    }
                }
            }
            let acl_now = if existing.is_some() {
                observed.web_acl_arn.as_deref()
            } else {
                None
            };
            match (&lb_spec.web_acl_arn, acl_now) {
                (Some(want), now) if now != Some(want.as_str()) => listener_steps.push(plan.add(
                    StepKind::AssociateWebAcl {
                        web_acl_arn: want.clone(),
                    },
                    &active,
                    "the web ACL is not associated",
                )),
                (None, Some(_)) => {
                    if let Some(lb) = existing {
                        listener_steps.push(plan.add(
                            StepKind::DisassociateWebAcl {
                                load_balancer_arn: lb.arn.clone(),
                            },
                            &active,
                            "the spec has no web ACL",
                        ))
                    }
                }
                _ => {}
            }
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
                let cname = observed_name
                    .is_some_and(|n| n.records.iter().any(|rs| rs.record_type == "CNAME"));
                if cname || (!current.is_empty() && !claimed) {
                    plan.warnings.push(format!(
                        "record {} exists and is not ours (no ownership TXT record): not touched",
                        crate::spec::normalize_dns_name(&r.name)
                    ));
                    continue;
                }
                let up_to_date = !lb_created
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
                let mut after = active.clone();
                after.extend(listener_steps.iter().copied());
                record_steps.push(plan.add(
                    StepKind::UpsertRecords {
                        zone_id: r.zone_id.clone(),
                        name: crate::spec::normalize_dns_name(&r.name),
                        types: r.types.clone(),
                        claim: !claimed,
                    },
                    &after,
                    if current.is_empty() {
                        "no alias record"
                    } else {
                        "the alias points elsewhere"
                    },
                ));
            }
        }
    }

    // Services, once egress and listeners exist: create missing ones, restore recorded counts.
    let mut ready: Vec<usize> = route_steps.clone();
    ready.extend(listener_steps.iter().copied());
    let mut service_steps = Vec::new();
    let mut touched = Vec::new();
    for spec in &v.spec.services {
        let recorded = v.state.recorded.get(&spec.key());
        let desired = recorded.map_or(spec.desired_count, |r| r.desired_count);
        let mut after = ready.clone();
        let mut needs_scaling = false;
        match v.service(spec) {
            Some(o) if !is_owned(&o.service.tags, v.env) => {
                plan.warnings.push(format!(
                    "service {} exists but is not ours: left alone",
                    spec.key()
                ));
                continue;
            }
            Some(o) if o.service.status == ServiceStatus::Draining => {
                plan.warnings.push(format!(
                    "service {} is still draining from a deletion; it is created at the next run",
                    spec.key()
                ));
                continue;
            }
            Some(o) if o.service.status == ServiceStatus::Active => {
                if o.service.desired_count == 0 && desired > 0 {
                    let id = plan.add(
                        StepKind::ScaleService {
                            cluster: spec.cluster.clone(),
                            service: spec.name.clone(),
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
                    service_steps.push(id);
                    after = vec![id];
                    touched.push(spec.key());
                }
                if let Some(a) = &spec.auto_scaling {
                    needs_scaling = o.bounds.is_none_or(|b| b.max == 0);
                    if !needs_scaling && !o.has_policy {
                        service_steps.push(plan.add(
                            StepKind::PutScalingPolicy {
                                cluster: spec.cluster.clone(),
                                service: spec.name.clone(),
                            },
                            &after,
                            "the target-tracking policy is missing",
                        ));
                    } else if !needs_scaling
                        && lb_created
                        && a.target_tracking.metric == "ALBRequestCountPerTarget"
                    {
                        service_steps.push(plan.add(
                            StepKind::PutScalingPolicy {
                                cluster: spec.cluster.clone(),
                                service: spec.name.clone(),
                            },
                            &after,
                            "the policy's resource label names the new ALB",
                        ));
                    }
                }
            }
            _ => {
                let id = plan.add(
                    StepKind::CreateService {
                        cluster: spec.cluster.clone(),
                        service: spec.name.clone(),
                        desired_count: desired,
                    },
                    &after,
                    "the service does not exist",
                );
                service_steps.push(id);
                after = vec![id];
                touched.push(spec.key());
                needs_scaling = spec.auto_scaling.is_some();
            }
        }
        if let (true, Some(a)) = (needs_scaling, &spec.auto_scaling) {
            let bounds = recorded.and_then(|r| r.scaling).unwrap_or(ScalingBounds {
                min: a.min_capacity,
                max: a.max_capacity,
            });
            let id = plan.add(
                StepKind::RestoreScaling {
                    cluster: spec.cluster.clone(),
                    service: spec.name.clone(),
                    min: bounds.min,
                    max: bounds.max,
                },
                &after,
                format!("auto-scaling bounds {}..{}", bounds.min, bounds.max),
            );
            service_steps.push(id);
            service_steps.push(plan.add(
                StepKind::PutScalingPolicy {
                    cluster: spec.cluster.clone(),
                    service: spec.name.clone(),
                },
                &[id],
                "the target-tracking policy follows the scalable target",
            ));
        }
    }
    if !touched.is_empty() && v.spec.timeouts.services_stable_seconds > 0 {
        let mut after = service_steps.clone();
        after.extend(record_steps.iter().copied());
        plan.add(
            StepKind::WaitServicesStable { services: touched },
            &after,
            format!(
                "wait up to {} s for tasks to run and targets to be healthy",
                v.spec.timeouts.services_stable_seconds
            ),
        );
    }
    plan
}

/// True when an alias target names this load balancer. Route53 stores ALB aliases with a
/// `dualstack.` prefix and a trailing dot, in lower case.
pub fn alias_points_at(alias: &AliasTarget, lb: &LoadBalancer) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim_end_matches('.').to_ascii_lowercase();
        s.strip_prefix("dualstack.")
            .map(str::to_string)
            .unwrap_or(s)
    }
    norm(&alias.dns_name) == norm(&lb.dns_name)
}
