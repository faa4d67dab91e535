//! The planner: pure functions from (spec, what was observed, recorded state) to an ordered plan
//! of steps with their dependencies. No I/O here, so every case is a table row in the tests.
//!
//! Convergence comes from here: every step exists only because the observation shows it is
//! missing, so a repeated start or stop plans nothing, and a half-finished run plans the rest.
//! Ownership too: only resources carrying the ownership tags (records: the ownership TXT record;
//! routes: pointing at one of our NAT gateways) are ever targeted.
//!
//! Where to find what:
//! - [`start`]: `nat_branch`, `load_balancer_branch`, `records_branch`, `services_branch`,
//!   `services_wait`;
//! - [`stop`]: `exclusions`, `services_branch`, `records_branch`, `load_balancer_branch`,
//!   `nat_branch`, `addresses`;
//! - [`teardown`]: a stop that keeps nothing, then the services, their scaling and the records'
//!   ownership claims;
//! - [`admin`]: the override tags and a deploy, as steps like any other.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{
    AliasTarget, ElasticIp, LoadBalancer, NatGateway, NatState, RecordSet, RecordType, RouteTable,
    RouteTarget,
};
use crate::observe::{Observed, ObservedName, ObservedService};
use crate::ownership::{claims, is_owned, nat_name};
use crate::spec::{ServiceSpec, Spec};
use crate::state::{RecordedService, State};

pub mod admin;
pub mod start;
pub mod stop;
pub mod teardown;

/// A step on EC2: addresses, NAT gateways, default routes.
#[derive(Debug, Clone, PartialEq, Serialize, strum::IntoStaticStr)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum NetworkStep {
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
    /// Wait until available; `fresh` when the gateway was created in this run (the first poll
    /// then comes when gateways usually become available), not when it was found pending.
    WaitNatAvailable {
        nat: String,
        fresh: bool,
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
    DeleteRoute {
        route_table_id: String,
        nat_gateway_id: String,
    },
    DeleteNatGateway {
        nat: String,
        nat_gateway_id: String,
    },
    /// Wait until deleted; `fresh` when the deletion was asked in this run.
    WaitNatDeleted {
        nat: String,
        nat_gateway_id: String,
        fresh: bool,
    },
    /// Release an Elastic IP (AWS refuses until its NAT gateway is `deleted`).
    ReleaseAddress {
        nat: String,
        allocation_id: String,
    },
}

/// A step on ELBv2 and WAF.
#[derive(Debug, Clone, PartialEq, Serialize, strum::IntoStaticStr)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum LoadBalancerStep {
    CreateLoadBalancer {
        name: String,
    },
    /// Wait until active; `fresh` when the ALB was created in this run.
    WaitLoadBalancerActive {
        name: String,
        fresh: bool,
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
    DeleteListener {
        port: u16,
        listener_arn: String,
    },
    AssociateWebAcl {
        web_acl_arn: String,
    },
    DisassociateWebAcl {
        load_balancer_arn: String,
    },
    /// Deletes the ALB; AWS deletes its listeners and rules and drops its web ACL association.
    DeleteLoadBalancer {
        load_balancer_arn: String,
    },
}

/// A step on Route53.
#[derive(Debug, Clone, PartialEq, Serialize, strum::IntoStaticStr)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum DnsStep {
    /// Upsert the alias records at a name to the ALB (and the ownership TXT record when `claim`),
    /// then wait, within `timeouts.dns_in_sync_seconds`, until Route53 reports them in sync.
    UpsertRecords {
        zone_id: String,
        name: String,
        types: Vec<RecordType>,
        claim: bool,
    },
    /// Delete exactly these record sets (alias records, or the ownership TXT at teardown).
    DeleteRecords {
        zone_id: String,
        name: String,
        records: Vec<RecordSet>,
    },
}

/// A step on ECS and Application Auto Scaling.
#[derive(Debug, Clone, PartialEq, Serialize, strum::IntoStaticStr)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ServiceStep {
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
    CreateService {
        cluster: String,
        service: String,
        desired_count: u32,
        /// The revision recorded for it, or the spec's family (its latest ACTIVE revision).
        task_definition: String,
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
    /// Point a service at a task definition revision, leaving its desired count alone.
    PointService {
        cluster: String,
        service: String,
        task_definition: String,
    },
    DeregisterScaling {
        cluster: String,
        service: String,
    },
    DeleteService {
        cluster: String,
        service: String,
    },
}

/// A step on the ECS cluster's tags (the tier-wide override).
#[derive(Debug, Clone, PartialEq, Serialize, strum::IntoStaticStr)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ClusterStep {
    /// Set the override tags (and remove an old expiry when the new override has none).
    SetOverrideTags {
        cluster: String,
        cluster_arn: String,
        mode: String,
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    RemoveOverrideTags {
        cluster: String,
        cluster_arn: String,
    },
}

/// What a step does, by the service it talks to. Ids created earlier in the same run (a new NAT,
/// the new ALB) are not known at plan time; the executor resolves them from its ledger when the
/// step starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StepKind {
    Network(NetworkStep),
    LoadBalancer(LoadBalancerStep),
    Dns(DnsStep),
    Service(ServiceStep),
    Cluster(ClusterStep),
}

impl StepKind {
    /// The kebab-case name of the step, as serialised (`create-nat-gateway`).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Network(s) => s.into(),
            StepKind::LoadBalancer(s) => s.into(),
            StepKind::Dns(s) => s.into(),
            StepKind::Service(s) => s.into(),
            StepKind::Cluster(s) => s.into(),
        }
    }

    /// Short, stable description of what the step touches, e.g. `nat/a`, `service/dev/backend`.
    pub fn target(&self) -> String {
        match self {
            StepKind::Network(s) => {
                use NetworkStep::*;
                match s {
                    DeleteRoute { route_table_id, .. }
                    | CreateRoute { route_table_id, .. }
                    | ReplaceRoute { route_table_id, .. } => {
                        format!("route/{route_table_id}/0.0.0.0/0")
                    }
                    DeleteNatGateway { nat, .. }
                    | WaitNatDeleted { nat, .. }
                    | CreateNatGateway { nat, .. }
                    | WaitNatAvailable { nat, .. } => format!("nat/{nat}"),
                    ReleaseAddress { nat, .. }
                    | AllocateAddress { nat }
                    | DisassociateAddress { nat, .. }
                    | SweepAddresses { nat } => format!("elastic-ip/{nat}"),
                }
            }
            StepKind::LoadBalancer(s) => {
                use LoadBalancerStep::*;
                match s {
                    CreateLoadBalancer { name }
                    | WaitLoadBalancerActive { name, .. }
                    | SetLoadBalancerAttributes { name } => format!("load-balancer/{name}"),
                    DeleteLoadBalancer { .. } => "load-balancer".into(),
                    DeleteListener { port, .. } | CreateListener { port } => {
                        format!("listener/{port}")
                    }
                    CreateRule { port, priority } => format!("listener/{port}/rule/{priority}"),
                    AssociateWebAcl { .. } | DisassociateWebAcl { .. } => {
                        "load-balancer/web-acl".into()
                    }
                }
            }
            StepKind::Dns(
                DnsStep::UpsertRecords { name, .. } | DnsStep::DeleteRecords { name, .. },
            ) => {
                format!("record/{name}")
            }
            StepKind::Service(s) => {
                use ServiceStep::*;
                match s {
                    WaitServicesStable { .. } => "services".into(),
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
                    | PutScalingPolicy { cluster, service }
                    | PointService {
                        cluster, service, ..
                    }
                    | DeregisterScaling { cluster, service }
                    | DeleteService { cluster, service } => format!("service/{cluster}/{service}"),
                }
            }
            StepKind::Cluster(
                ClusterStep::SetOverrideTags { cluster, .. }
                | ClusterStep::RemoveOverrideTags { cluster, .. },
            ) => format!("cluster/{cluster}"),
        }
    }

    /// True for steps that only wait and read.
    pub fn is_wait(&self) -> bool {
        matches!(
            self,
            StepKind::Network(
                NetworkStep::WaitNatDeleted { .. } | NetworkStep::WaitNatAvailable { .. }
            ) | StepKind::LoadBalancer(LoadBalancerStep::WaitLoadBalancerActive { .. })
                | StepKind::Service(ServiceStep::WaitServicesStable { .. })
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
    /// What to record in the state before acting, by `cluster/service`: counts and bounds at a
    /// stop, the revision a deploy points a service at.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub record: BTreeMap<String, RecordedService>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.record.is_empty()
    }

    /// Adds a step after `after`; returns its id.
    pub fn add(&mut self, kind: StepKind, after: &[usize], why: impl Into<String>) -> usize {
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

    fn network(&mut self, step: NetworkStep, after: &[usize], why: impl Into<String>) -> usize {
        self.add(StepKind::Network(step), after, why)
    }

    fn load_balancer(
        &mut self,
        step: LoadBalancerStep,
        after: &[usize],
        why: impl Into<String>,
    ) -> usize {
        self.add(StepKind::LoadBalancer(step), after, why)
    }

    fn dns(&mut self, step: DnsStep, after: &[usize], why: impl Into<String>) -> usize {
        self.add(StepKind::Dns(step), after, why)
    }

    fn service(&mut self, step: ServiceStep, after: &[usize], why: impl Into<String>) -> usize {
        self.add(StepKind::Service(step), after, why)
    }
}

/// Plans a start: everything missing for the tier to run.
pub fn plan_start(spec: &Spec, observed: &Observed, state: &State) -> Plan {
    start::plan(&View::new(spec, observed, state))
}

/// Plans a stop: everything the tier does not need while asleep, except what excluded services
/// need. `now` stamps what is recorded.
pub fn plan_stop(
    spec: &Spec,
    observed: &Observed,
    state: &State,
    now: chrono::DateTime<chrono::Utc>,
) -> Plan {
    stop::plan(&View::new(spec, observed, state), now)
}

/// Plans a teardown: everything the scheduler owns, services included.
pub fn plan_teardown(spec: &Spec, observed: &Observed, state: &State) -> Plan {
    teardown::plan(&View::new(spec, observed, state))
}

/// A query object over one observation: the planner asks questions, it does not walk raw vectors.
pub struct View<'a> {
    pub spec: &'a Spec,
    pub observed: &'a Observed,
    pub state: &'a State,
    pub env: &'a str,
}

impl<'a> View<'a> {
    pub fn new(spec: &'a Spec, observed: &'a Observed, state: &'a State) -> Self {
        View {
            spec,
            observed,
            state,
            env: &spec.environment,
        }
    }

    /// Our NAT gateways for a spec NAT name that are pending, available, deleting or failed.
    fn owned_nats<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s NatGateway> + 's {
        self.observed
            .nat_gateways
            .iter()
            .filter(move |n| is_owned(&n.tags, self.env) && nat_name(&n.tags) == Some(name))
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
            is_owned(&n.tags, self.env) && !nat_name(&n.tags).is_some_and(|t| names.contains(t))
        })
    }

    fn owned_addresses<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s ElasticIp> + 's {
        self.observed
            .addresses
            .iter()
            .filter(move |a| is_owned(&a.tags, self.env) && nat_name(&a.tags) == Some(name))
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

    /// An address someone else owns (`elastic_ip.mode = external`), by allocation id.
    fn address(&self, allocation_id: &str) -> Option<&ElasticIp> {
        self.observed
            .addresses
            .iter()
            .find(|a| a.allocation_id == allocation_id)
    }

    fn route_is_ours(&self, nat_id: &str) -> bool {
        let resources = &self.state.resources;
        self.observed
            .route_target_owned
            .get(nat_id)
            .copied()
            .unwrap_or(false)
            || resources
                .retired_nat_gateway_ids
                .iter()
                .any(|id| id == nat_id)
            || resources
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
        observed
            .owner_records
            .iter()
            .any(|r| r.record_type == "TXT" && claims(&r.values, self.env))
    }

    fn service(&self, spec: &ServiceSpec) -> Option<&ObservedService> {
        self.observed
            .services
            .iter()
            .find(|s| s.service.cluster == spec.cluster && s.service.name == spec.name)
    }
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

fn describe_target(target: &RouteTarget) -> String {
    match target {
        RouteTarget::NatGateway(id) => format!("NAT gateway {id}"),
        RouteTarget::Other(id) => id.clone(),
    }
}
