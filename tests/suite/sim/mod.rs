//! An AWS simulator for the scheduler's adapter traits, on tokio's virtual clock.
//!
//! One [`Sim`] holds one account's world (EC2 NAT gateways, Elastic IPs and route tables; ELBv2
//! load balancers, listeners and rules with their WAF association; Route53 record sets; ECS
//! services with their Application Auto Scaling targets; S3 objects) behind a mutex, and
//! implements [`Network`], [`LoadBalancing`], [`Dns`], [`Containers`] and [`ObjectStore`] the
//! way the real adapters in `src/aws/` behave against real AWS: the AWS side answers with AWS's
//! error codes and timings (the right-hand column of `shared/local-aws.md`), and the adapter side
//! applies the same "already done is success" translations as the real adapters do.
//!
//! What it adds on top of AWS, for tests:
//! - virtual time: NAT gateways, ALBs, Route53 changes and ECS tasks take their (configurable)
//!   time, paid for in `tokio::time` only (tests run with `start_paused = true`);
//! - a log of every request (operation, mutating or not, argument summary, which invocation made
//!   it, attempt number, outcome), so tests assert what was and was not done;
//! - fault injection per operation (throttling, 5xx, timeouts, lost responses, permanent errors),
//!   for the next N requests or with a seeded probability;
//! - a crash: after the k-th mutating request completes, every request of every client hangs
//!   forever, which a test turns into "the Lambda died here" by dropping the handler future;
//! - the SDK's own retry layer (standard mode: 3 attempts, full-jitter exponential backoff), so a
//!   single throttle is absorbed below the adapter exactly as in production.
//!
//! Everything random draws from one seeded RNG, so a scenario replays identically.
#![allow(dead_code)]

mod check;
mod dns;
mod ecs;
mod elb;
mod network;
mod s3;

pub use check::*;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runtime_scheduler::aws::{classify, AwsError, Clients, ErrorKind};
use runtime_scheduler::model::{ScalingBounds, Tags};
use runtime_scheduler::spec::TargetTracking;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The account and region every ARN names.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The canonical hosted zone id of ALBs in us-east-1 (what alias records must name).
pub const ELB_ZONE_ID: &str = "Z35SXDOTRQ7X7K";
/// The hosted zone id of API Gateway's regional endpoints in us-east-1 (the wake front).
pub const API_GATEWAY_ZONE_ID: &str = "Z1UJRXOUMOOFQ8";

/// Timings and behaviour knobs. Defaults are in the range AWS shows.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// `pending` to `available`.
    pub nat_pending: Duration,
    /// `deleting` to `deleted`.
    pub nat_deleting: Duration,
    /// How long a deleted NAT gateway stays describable by id (AWS: about an hour).
    pub nat_deleted_retention: Duration,
    /// ALB `provisioning` to `active`.
    pub alb_provisioning: Duration,
    /// Route53 change `PENDING` to `INSYNC`.
    pub dns_propagation: Duration,
    /// From a desired count going up (with working egress) to tasks running.
    pub task_start: Duration,
    /// From a desired count going down to tasks stopped.
    pub task_stop: Duration,
    /// Latency of every request.
    pub latency: Duration,
    /// How long a request that times out takes before the SDK gives up on it.
    pub timeout_after: Duration,
    /// A describe right after a create may not see the new resource for this long.
    pub consistency_lag: Duration,
    /// SDK attempts per request for transient errors (standard retry mode: 3).
    pub sdk_max_attempts: u32,
    /// SDK initial backoff (standard retry mode: 1 s, full jitter, doubling, capped at 20 s).
    pub sdk_initial_backoff: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 7,
            nat_pending: Duration::from_secs(90),
            nat_deleting: Duration::from_secs(60),
            nat_deleted_retention: Duration::from_secs(3600),
            alb_provisioning: Duration::from_secs(150),
            dns_propagation: Duration::from_secs(30),
            task_start: Duration::from_secs(45),
            task_stop: Duration::from_secs(20),
            latency: Duration::from_millis(40),
            timeout_after: Duration::from_secs(3),
            consistency_lag: Duration::ZERO,
            sdk_max_attempts: 3,
            sdk_initial_backoff: Duration::from_secs(1),
        }
    }
}

/// What an injected fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `Throttling` (transient).
    Throttling,
    /// HTTP 500 `InternalError` (transient).
    InternalError,
    /// HTTP 503 `ServiceUnavailable` (transient).
    ServiceUnavailable,
    /// No answer within the SDK's timeout; the request was not applied (transient, no code).
    Timeout,
    /// The request was applied but its answer was lost (transient, no code): the worst case of
    /// a timeout, which only idempotent requests survive.
    LostResponse,
    /// The service's access-denied code (`UnauthorizedOperation` for EC2, ...): permanent.
    AccessDenied,
    /// The service's invalid-parameter code: permanent.
    InvalidParameter,
}

impl FaultKind {
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FaultKind::Throttling
                | FaultKind::InternalError
                | FaultKind::ServiceUnavailable
                | FaultKind::Timeout
                | FaultKind::LostResponse
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Throttling => "throttling",
            FaultKind::InternalError => "500 InternalError",
            FaultKind::ServiceUnavailable => "503 ServiceUnavailable",
            FaultKind::Timeout => "timeout",
            FaultKind::LostResponse => "lost response",
            FaultKind::AccessDenied => "access denied",
            FaultKind::InvalidParameter => "invalid parameter",
        }
    }
}

/// One injection rule.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: String,
    pub kind: FaultKind,
    /// How many more requests it hits; `None`: every request (subject to `probability`).
    pub remaining: Option<u32>,
    pub probability: f64,
    /// Only requests whose argument summary contains this.
    pub matching: Option<String>,
}

/// One request as the simulated AWS saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub seq: usize,
    /// Virtual time since the simulator was created.
    pub at: Duration,
    /// The client's tag (the invocation that made the request).
    pub client: String,
    pub operation: &'static str,
    pub mutating: bool,
    pub args: String,
    /// SDK attempt number, from 1.
    pub attempt: u32,
    /// `None` when it succeeded, else the error code (or `timeout`).
    pub error: Option<String>,
    /// True when the request changed the world (a mutating request that succeeded, or whose
    /// answer was lost).
    pub applied: bool,
    /// True when the error was injected (not AWS's own answer, such as a not-found).
    pub injected: bool,
}

/// Which service an operation belongs to (for service-specific error codes).
fn service_of(op: &str) -> &'static str {
    match op {
        "DescribeNatGateways"
        | "CreateNatGateway"
        | "DeleteNatGateway"
        | "DescribeAddresses"
        | "AllocateAddress"
        | "ReleaseAddress"
        | "DescribeRouteTables"
        | "CreateRoute"
        | "ReplaceRoute"
        | "DeleteRoute" => "ec2",
        "GetWebACLForResource" | "AssociateWebACL" | "DisassociateWebACL" => "wafv2",
        "ListResourceRecordSets" | "ChangeResourceRecordSets" | "GetChange" => "route53",
        "DescribeServices" | "CreateService" | "UpdateService" | "DescribeClusters"
        | "TagResource" | "UntagResource" => "ecs",
        "DescribeScalableTargets"
        | "RegisterScalableTarget"
        | "DescribeScalingPolicies"
        | "PutScalingPolicy" => "autoscaling",
        "GetObject" | "PutObject" => "s3",
        _ => "elbv2",
    }
}

pub fn fault_error(op: &'static str, kind: FaultKind) -> AwsError {
    let service = service_of(op);
    let (code, message): (Option<&str>, String) = match kind {
        FaultKind::Throttling => (
            Some(match service {
                "ec2" => "RequestLimitExceeded",
                "ecs" | "autoscaling" | "wafv2" => "ThrottlingException",
                "s3" => "SlowDown",
                _ => "Throttling",
            }),
            "Rate exceeded".into(),
        ),
        FaultKind::InternalError => (Some("InternalError"), "We encountered an internal error. Please try again.".into()),
        FaultKind::ServiceUnavailable => (Some("ServiceUnavailable"), "Service is unavailable. Please try again.".into()),
        FaultKind::Timeout | FaultKind::LostResponse => (None, "timeout: the operation did not complete within 3.1 s".into()),
        FaultKind::AccessDenied => (
            Some(match service {
                "ec2" => "UnauthorizedOperation",
                "ecs" | "autoscaling" | "wafv2" => "AccessDeniedException",
                _ => "AccessDenied",
            }),
            format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/runtime-scheduler/fn is not authorized to perform: {op}"),
        ),
        FaultKind::InvalidParameter => (
            Some(match service {
                "ec2" => "InvalidParameterValue",
                "ecs" => "InvalidParameterException",
                "route53" => "InvalidInput",
                "autoscaling" => "ValidationException",
                "s3" => "InvalidArgument",
                "wafv2" => "WAFInvalidParameterException",
                _ => "ValidationError",
            }),
            format!("invalid value for a parameter of {op} (injected)"),
        ),
    };
    let kind = if kind.is_transient() {
        ErrorKind::Transient
    } else {
        classify(op, code)
    };
    AwsError {
        operation: op,
        code: code.map(str::to_string),
        message,
        kind,
    }
}

/// An AWS error with its code, classified by the same table as the real adapters' errors.
pub fn aws_error(op: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    AwsError::service(op, code, message)
}

// ---------------------------------------------------------------------------------------------
// The world.

#[derive(Debug, Clone)]
pub struct SimNat {
    pub id: String,
    pub subnet_id: String,
    pub allocation_id: String,
    pub tags: Tags,
    pub created_at: Instant,
    pub deleted_at: Option<Instant>,
    pub client_token: Option<String>,
    /// Who created it (`None`: set up by the test, e.g. a decoy).
    pub created_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SimAddress {
    pub allocation_id: String,
    pub public_ip: String,
    pub tags: Tags,
    pub created_at: Instant,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimTarget {
    Nat(String),
    Other(String),
}

#[derive(Debug, Clone)]
pub struct SimRoute {
    pub target: SimTarget,
    pub set_at: Instant,
}

#[derive(Debug, Clone)]
pub struct SimLoadBalancer {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub scheme: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub tags: Tags,
    pub attributes: BTreeMap<String, String>,
    pub web_acl: Option<String>,
    pub created_at: Instant,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SimListener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: String,
    pub default_target_group: Option<String>,
    /// Priority to the target group it forwards to, if any.
    pub rules: BTreeMap<u32, Option<String>>,
    pub tags: Tags,
    pub created_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRecord {
    pub name: String,
    pub record_type: String,
    pub alias: Option<(String, String, bool)>,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SimService {
    pub arn: String,
    pub cluster: String,
    pub name: String,
    pub active: bool,
    pub desired: u32,
    pub running_before: u32,
    pub changed_at: Instant,
    pub target_group: Option<String>,
    pub task_definition: String,
    pub tags: Tags,
    pub created_at: Instant,
    pub created_by: Option<String>,
}

/// The whole simulated account.
pub struct World {
    pub cfg: SimConfig,
    pub started: Instant,
    rng: StdRng,
    seq: u64,
    pub nats: BTreeMap<String, SimNat>,
    pub addresses: BTreeMap<String, SimAddress>,
    /// Route table id to its `0.0.0.0/0` route.
    pub route_tables: BTreeMap<String, Option<SimRoute>>,
    /// Route table id to the subnets explicitly associated with it.
    pub route_table_subnets: BTreeMap<String, Vec<String>>,
    pub load_balancers: BTreeMap<String, SimLoadBalancer>,
    pub listeners: BTreeMap<String, SimListener>,
    /// Target groups Terraform created (ARNs).
    pub target_groups: BTreeSet<String>,
    /// zone id to record sets by (name, type).
    pub zones: BTreeMap<String, BTreeMap<(String, String), SimRecord>>,
    pub changes: BTreeMap<String, Instant>,
    pub clusters: BTreeMap<String, Tags>,
    pub services: BTreeMap<(String, String), SimService>,
    pub scalable_targets: BTreeMap<(String, String), ScalingBounds>,
    pub policies: BTreeMap<(String, String), (TargetTracking, Option<String>)>,
    /// S3 objects: key to (body, ETag).
    pub objects: BTreeMap<String, (Vec<u8>, String)>,
    /// Route tables of the private subnets the ECS tasks run in (egress for image pulls).
    pub private_route_tables: Vec<String>,
    pub log: Vec<Call>,
    pub faults: Vec<Fault>,
    /// Crash after this many more applied mutating requests.
    crash_countdown: Option<usize>,
    pub crashed: bool,
}

impl World {
    fn new(cfg: SimConfig) -> World {
        World {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            started: Instant::now(),
            seq: 0,
            nats: BTreeMap::new(),
            addresses: BTreeMap::new(),
            route_tables: BTreeMap::new(),
            route_table_subnets: BTreeMap::new(),
            load_balancers: BTreeMap::new(),
            listeners: BTreeMap::new(),
            target_groups: BTreeSet::new(),
            zones: BTreeMap::new(),
            changes: BTreeMap::new(),
            clusters: BTreeMap::new(),
            services: BTreeMap::new(),
            scalable_targets: BTreeMap::new(),
            policies: BTreeMap::new(),
            objects: BTreeMap::new(),
            private_route_tables: Vec::new(),
            log: Vec::new(),
            faults: Vec::new(),
            crash_countdown: None,
            crashed: false,
        }
    }

    /// A fresh hex id of `width` digits, deterministic per world.
    pub fn next_hex(&mut self, width: usize) -> String {
        self.seq += 1;
        let noise: u64 = self.rng.random::<u32>() as u64;
        let v = (noise << 20) ^ self.seq;
        format!("{v:0width$x}", width = width)
    }

    /// True once a resource created at `created_at` is visible to describes.
    pub fn visible(&self, created_at: Instant, now: Instant) -> bool {
        now >= created_at + self.cfg.consistency_lag
    }

    pub fn nat_state(&self, nat: &SimNat, now: Instant) -> runtime_scheduler::model::NatState {
        use runtime_scheduler::model::NatState;
        match nat.deleted_at {
            Some(d) if now >= d + self.cfg.nat_deleting => NatState::Deleted,
            Some(_) => NatState::Deleting,
            None if now >= nat.created_at + self.cfg.nat_pending => NatState::Available,
            None => NatState::Pending,
        }
    }

    pub fn lb_active(&self, lb: &SimLoadBalancer, now: Instant) -> bool {
        now >= lb.created_at + self.cfg.alb_provisioning
    }

    /// Since when every private route table has had an active default route through an
    /// available NAT gateway; `None` while any has not.
    pub fn egress_since(&self, now: Instant) -> Option<Instant> {
        let mut since = self.started;
        for rt in &self.private_route_tables {
            let route = self.route_tables.get(rt)?.as_ref()?;
            let SimTarget::Nat(id) = &route.target else {
                return None;
            };
            let nat = self.nats.get(id)?;
            if self.nat_state(nat, now) != runtime_scheduler::model::NatState::Available {
                return None;
            }
            since = since
                .max(route.set_at)
                .max(nat.created_at + self.cfg.nat_pending);
        }
        Some(since)
    }

    pub fn running_count(&self, s: &SimService, now: Instant) -> u32 {
        if !s.active {
            return 0;
        }
        if s.desired > s.running_before {
            let ready = self
                .egress_since(now)
                .map(|e| e.max(s.changed_at) + self.cfg.task_start);
            if ready.is_some_and(|r| now >= r) {
                s.desired
            } else {
                s.running_before
            }
        } else if now >= s.changed_at + self.cfg.task_stop {
            s.desired
        } else {
            s.running_before
        }
    }

    pub fn set_desired(&mut self, key: &(String, String), desired: u32, now: Instant) {
        let running = self
            .services
            .get(key)
            .map(|s| self.running_count(s, now))
            .unwrap_or(0);
        if let Some(s) = self.services.get_mut(key) {
            if s.desired != desired {
                s.running_before = running;
                s.desired = desired;
                s.changed_at = now;
            }
        }
    }

    /// Target groups some listener or rule of an existing ALB forwards to.
    pub fn attached_target_groups(&self) -> BTreeSet<String> {
        self.listeners
            .values()
            .filter(|l| self.load_balancers.contains_key(&l.load_balancer_arn))
            .flat_map(|l| {
                l.default_target_group
                    .iter()
                    .chain(l.rules.values().flatten())
            })
            .cloned()
            .collect()
    }

    fn take_fault(&mut self, op: &str, args: &str) -> Option<FaultKind> {
        let mut hit = None;
        for i in 0..self.faults.len() {
            let f = &self.faults[i];
            if f.operation != op && f.operation != "*" {
                continue;
            }
            if f.remaining == Some(0) {
                continue;
            }
            if f.matching.as_deref().is_some_and(|m| !args.contains(m)) {
                continue;
            }
            let p = f.probability;
            if p < 1.0 && self.rng.random::<f64>() >= p {
                continue;
            }
            let f = &mut self.faults[i];
            if let Some(n) = &mut f.remaining {
                *n -= 1;
            }
            hit = Some(f.kind);
            break;
        }
        self.faults.retain(|f| f.remaining != Some(0));
        hit
    }
}

// ---------------------------------------------------------------------------------------------
// The handle.

struct Shared {
    world: Mutex<World>,
    crash: Notify,
}

/// The simulator: cheap to clone, one world inside.
#[derive(Clone)]
pub struct Sim {
    shared: Arc<Shared>,
}

/// One client of the simulator, tagging its requests (one per invocation).
#[derive(Clone)]
pub struct SimClient {
    sim: Sim,
    tag: Arc<str>,
}

impl Sim {
    /// A new, empty account. Call inside a tokio runtime with a paused clock.
    pub fn new(cfg: SimConfig) -> Sim {
        Sim {
            shared: Arc::new(Shared {
                world: Mutex::new(World::new(cfg)),
                crash: Notify::new(),
            }),
        }
    }

    /// Locks the world (tests read and arrange it directly; these accesses are not logged).
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world.lock().expect("world lock")
    }

    /// The five adapters over this simulator, tagging every request with `tag`.
    pub fn clients(&self, tag: &str) -> Clients {
        let c = Arc::new(SimClient {
            sim: self.clone(),
            tag: Arc::from(tag),
        });
        Clients {
            network: c.clone(),
            load_balancing: c.clone(),
            dns: c.clone(),
            containers: c.clone(),
            store: c,
        }
    }

    // --- faults -----------------------------------------------------------------------------

    /// The next `times` requests of `operation` (`"*"`: any) fail with `kind`.
    pub fn fail(&self, operation: &str, kind: FaultKind, times: u32) {
        self.world().faults.push(Fault {
            operation: operation.into(),
            kind,
            remaining: Some(times),
            probability: 1.0,
            matching: None,
        });
    }

    /// Every request of `operation` fails with `kind` until [`Sim::clear_faults`].
    pub fn fail_always(&self, operation: &str, kind: FaultKind) {
        self.world().faults.push(Fault {
            operation: operation.into(),
            kind,
            remaining: None,
            probability: 1.0,
            matching: None,
        });
    }

    /// Each request of `operation` fails with probability `p` (seeded).
    pub fn fail_randomly(&self, operation: &str, kind: FaultKind, p: f64) {
        self.world().faults.push(Fault {
            operation: operation.into(),
            kind,
            remaining: None,
            probability: p,
            matching: None,
        });
    }

    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    // --- crash ------------------------------------------------------------------------------

    /// After the `k`-th applied mutating request from now, the process "dies": that request's
    /// effect stays, and every later request of every client hangs forever.
    pub fn crash_after(&self, k: usize) {
        assert!(k >= 1);
        let mut w = self.world();
        w.crash_countdown = Some(k);
        w.crashed = false;
    }

    /// Resolves when the armed crash has happened.
    pub async fn crashed(&self) {
        loop {
            let notified = self.shared.crash.notified();
            if self.world().crashed {
                return;
            }
            notified.await;
        }
    }

    /// Lets requests through again (a new Lambda instance after the crash).
    pub fn recover(&self) {
        let mut w = self.world();
        w.crashed = false;
        w.crash_countdown = None;
    }

    // --- the log ----------------------------------------------------------------------------

    pub fn calls(&self) -> Vec<Call> {
        self.world().log.clone()
    }

    /// Requests that changed the world, optionally only those of one client.
    pub fn mutations(&self, client: Option<&str>) -> Vec<Call> {
        self.world()
            .log
            .iter()
            .filter(|c| c.applied && client.is_none_or(|t| c.client == t))
            .cloned()
            .collect()
    }

    /// Mutating requests that reached AWS (applied or not), optionally of one client.
    pub fn mutating_requests(&self, client: Option<&str>) -> Vec<Call> {
        self.world()
            .log
            .iter()
            .filter(|c| c.mutating && client.is_none_or(|t| c.client == t))
            .cloned()
            .collect()
    }

    pub fn log_len(&self) -> usize {
        self.world().log.len()
    }

    /// Virtual time since the simulator was created.
    pub fn elapsed(&self) -> Duration {
        Instant::now() - self.world().started
    }
}

impl SimClient {
    /// One AWS request as the SDK sends it: latency, then the injected fault or `apply`, with
    /// the SDK's retries of transient errors around it. Every attempt is logged.
    pub(crate) async fn call<T>(
        &self,
        op: &'static str,
        mutating: bool,
        args: String,
        mut apply: impl FnMut(&mut World, Instant) -> Result<T, AwsError> + Send,
    ) -> Result<T, AwsError>
    where
        T: Send,
    {
        let mut attempt = 1u32;
        loop {
            self.hang_if_crashed().await;
            let (latency, timeout_after) = {
                let w = self.sim.world();
                (w.cfg.latency, w.cfg.timeout_after)
            };
            tokio::time::sleep(latency).await;
            self.hang_if_crashed().await;
            let fault = self.sim.world().take_fault(op, &args);
            if matches!(fault, Some(FaultKind::Timeout | FaultKind::LostResponse)) {
                tokio::time::sleep(timeout_after).await;
                self.hang_if_crashed().await;
            }
            let (result, crash_now) = {
                let mut w = self.sim.world();
                let now = Instant::now();
                let (result, applied) = match fault {
                    None => {
                        let r = apply(&mut w, now);
                        let ok = r.is_ok();
                        (r, mutating && ok)
                    }
                    Some(FaultKind::LostResponse) => {
                        let applied = apply(&mut w, now).is_ok() && mutating;
                        (Err(fault_error(op, FaultKind::LostResponse)), applied)
                    }
                    Some(kind) => (Err(fault_error(op, kind)), false),
                };
                let seq = w.log.len();
                let at = now - w.started;
                w.log.push(Call {
                    seq,
                    at,
                    client: self.tag.to_string(),
                    operation: op,
                    mutating,
                    args: args.clone(),
                    attempt,
                    error: result
                        .as_ref()
                        .err()
                        .map(|e| e.code.clone().unwrap_or_else(|| "timeout".into())),
                    applied,
                    injected: fault.is_some(),
                });
                let mut crash_now = false;
                if applied {
                    if let Some(n) = &mut w.crash_countdown {
                        *n -= 1;
                        if *n == 0 {
                            w.crash_countdown = None;
                            w.crashed = true;
                            crash_now = true;
                        }
                    }
                }
                (result, crash_now)
            };
            if crash_now {
                self.sim.shared.crash.notify_waiters();
                self.sim.shared.crash.notify_one();
                std::future::pending::<()>().await;
            }
            match result {
                Err(e) if e.is_transient() && attempt < self.sim.world().cfg.sdk_max_attempts => {
                    let backoff = {
                        let mut w = self.sim.world();
                        let cap = w
                            .cfg
                            .sdk_initial_backoff
                            .saturating_mul(1 << (attempt - 1))
                            .min(Duration::from_secs(20));
                        cap.mul_f64(w.rng.random::<f64>())
                    };
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn hang_if_crashed(&self) {
        if self.sim.world().crashed {
            std::future::pending::<()>().await;
        }
    }
}

/// Tags as `k=v,k=v` for argument summaries.
pub fn tags_summary(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
