//! The executor runs a plan: every step whose dependencies are done starts at once, so a start's
//! wall time approaches its slowest branch (the NAT gateway or the ALB), not the sum.
//!
//! Each step reads the ids it needs from a snapshot of the [`Ledger`] taken when it starts, calls
//! the adapters, and returns the [`Change`]s it made; the run loop alone applies them. Transient
//! AWS errors are retried with bounded, jittered backoff; a permanent error stops new steps from
//! starting and is reported with the operation, its AWS code and the step. Waits are bounded by
//! their timeout and the invocation's deadline, poll near the time AWS usually takes, and are
//! never retried: a wait that runs out ends the step.
//!
//! Step bodies live with their service: [`network`], [`load_balancer`], [`dns`], [`services`],
//! [`cluster`].

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::aws::{AwsError, Clients};
use crate::model::LoadBalancer;
use crate::observe::Observed;
use crate::ownership::{is_owned, nat_name};
use crate::plan::{Plan, Step, StepKind};
use crate::spec::{ElasticIpMode, Spec};
use crate::state::{FailureRecord, LoadBalancerRecord, Resources, StepRecord};

mod cluster;
mod dns;
mod load_balancer;
mod network;
mod services;

/// Ids known during a run: observed ones first, then what the run creates.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub resources: Resources,
    /// The ALB as last seen (its DNS name and zone are needed for the alias records).
    pub load_balancer: Option<LoadBalancer>,
}

/// What a step changed, for the run loop to apply to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    AddressAllocated {
        nat: String,
        allocation_id: String,
        public_ip: String,
    },
    AddressReleased {
        nat: String,
        allocation_id: String,
    },
    NatCreated {
        nat: String,
        id: String,
        allocation_id: String,
    },
    NatDeleted {
        nat: String,
        id: String,
    },
    LoadBalancer(LoadBalancer),
    LoadBalancerDeleted,
    ListenerCreated {
        port: u16,
        arn: String,
    },
    ListenerDeleted {
        port: u16,
    },
}

impl Ledger {
    /// What exists and is ours, per the observation. `previous` keeps the retired NAT ids and
    /// the addresses lent to the NAT gateways (`external` mode), which no tag marks as ours.
    pub fn from_observed(observed: &Observed, spec: &Spec, previous: &Resources) -> Ledger {
        let environment = &spec.environment;
        let mut resources = Resources {
            retired_nat_gateway_ids: previous.retired_nat_gateway_ids.clone(),
            ..Default::default()
        };
        for nat in spec
            .nat_gateways
            .iter()
            .filter(|n| n.elastic_ip.mode == ElasticIpMode::External)
        {
            if let Some(record) = previous.nat_gateways.get(&nat.name) {
                let entry = resources.nat_gateways.entry(nat.name.clone()).or_default();
                entry.allocation_id = record.allocation_id.clone();
                entry.public_ip = record.public_ip.clone();
            }
        }
        for nat in observed
            .nat_gateways
            .iter()
            .filter(|n| is_owned(&n.tags, environment) && n.state.is_live())
        {
            let Some(name) = nat_name(&nat.tags) else {
                continue;
            };
            let entry = resources.nat_gateways.entry(name.to_string()).or_default();
            entry.nat_gateway_id = Some(nat.id.clone());
            entry.allocation_id = nat.allocation_ids.first().cloned();
        }
        for address in observed
            .addresses
            .iter()
            .filter(|a| is_owned(&a.tags, environment))
        {
            let Some(name) = nat_name(&address.tags) else {
                continue;
            };
            let entry = resources.nat_gateways.entry(name.to_string()).or_default();
            if entry.allocation_id.is_none()
                || entry.allocation_id.as_deref() == Some(&address.allocation_id)
            {
                entry.allocation_id = Some(address.allocation_id.clone());
                entry.public_ip = Some(address.public_ip.clone());
            }
        }
        let load_balancer = observed
            .load_balancer
            .load_balancer
            .clone()
            .filter(|lb| is_owned(&lb.tags, environment));
        if let Some(lb) = &load_balancer {
            resources.load_balancer = Some(LoadBalancerRecord::of(lb));
            for l in &observed.load_balancer.listeners {
                resources.listeners.insert(l.port, l.arn.clone());
            }
        }
        Ledger {
            resources,
            load_balancer,
        }
    }

    /// Applies what a step changed.
    pub fn apply(&mut self, change: Change) {
        let r = &mut self.resources;
        match change {
            Change::AddressAllocated {
                nat,
                allocation_id,
                public_ip,
            } => {
                let entry = r.nat_gateways.entry(nat).or_default();
                entry.allocation_id = Some(allocation_id);
                entry.public_ip = Some(public_ip);
            }
            Change::AddressReleased { nat, allocation_id } => {
                if let Some(entry) = r.nat_gateways.get_mut(&nat) {
                    if entry.allocation_id.as_deref() == Some(&allocation_id) {
                        entry.allocation_id = None;
                        entry.public_ip = None;
                    }
                }
            }
            Change::NatCreated {
                nat,
                id,
                allocation_id,
            } => {
                let entry = r.nat_gateways.entry(nat).or_default();
                entry.nat_gateway_id = Some(id);
                entry.allocation_id = Some(allocation_id);
            }
            Change::NatDeleted { nat, id } => {
                if let Some(entry) = r.nat_gateways.get_mut(&nat) {
                    if entry.nat_gateway_id.as_deref() == Some(&id) {
                        entry.nat_gateway_id = None;
                    }
                }
                if !r.retired_nat_gateway_ids.contains(&id) {
                    r.retired_nat_gateway_ids.push(id);
                }
                let excess = r.retired_nat_gateway_ids.len().saturating_sub(20);
                r.retired_nat_gateway_ids.drain(..excess);
            }
            Change::LoadBalancer(lb) => {
                r.load_balancer = Some(LoadBalancerRecord::of(&lb));
                self.load_balancer = Some(lb);
            }
            Change::LoadBalancerDeleted => {
                r.load_balancer = None;
                r.listeners.clear();
                self.load_balancer = None;
            }
            Change::ListenerCreated { port, arn } => {
                r.listeners.insert(port, arn);
            }
            Change::ListenerDeleted { port } => {
                r.listeners.remove(&port);
            }
        }
    }

    /// The NAT gateway id of a spec NAT name.
    fn nat_id(&self, nat: &str) -> Result<String, StepError> {
        self.resources
            .nat_gateways
            .get(nat)
            .and_then(|r| r.nat_gateway_id.clone())
            .ok_or_else(|| StepError::Missing(format!("no NAT gateway is known for '{nat}'")))
    }

    fn allocation_id(&self, nat: &str) -> Result<String, StepError> {
        self.resources
            .nat_gateways
            .get(nat)
            .and_then(|r| r.allocation_id.clone())
            .ok_or_else(|| StepError::Missing(format!("no Elastic IP is known for '{nat}'")))
    }

    fn load_balancer_arn(&self) -> Result<String, StepError> {
        self.resources
            .load_balancer
            .as_ref()
            .map(|lb| lb.arn.clone())
            .ok_or_else(|| StepError::Missing("no load balancer of ours is known".into()))
    }

    fn listener_arn(&self, port: u16) -> Result<String, StepError> {
        self.resources
            .listeners
            .get(&port)
            .cloned()
            .ok_or_else(|| StepError::Missing(format!("no listener on port {port} is known")))
    }
}

/// Waits whose durations are learned, by the name the state document keeps them under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum WaitKind {
    NatAvailable,
    NatDeleted,
    LoadBalancerActive,
    ServicesStable,
    DnsInSync,
}

/// How long each wait usually takes: what recent runs measured (the fastest of them), or the
/// spec's `timeouts.expected`.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub learned: std::collections::BTreeMap<String, Vec<u64>>,
}

impl Expectations {
    fn of(&self, kind: WaitKind, spec: &Spec) -> Duration {
        let e = &spec.timeouts.expected;
        let default = Duration::from_secs(match kind {
            WaitKind::NatAvailable => e.nat_available_seconds,
            WaitKind::NatDeleted => e.nat_deleted_seconds,
            WaitKind::LoadBalancerActive => e.load_balancer_active_seconds,
            WaitKind::ServicesStable => e.services_stable_seconds,
            WaitKind::DnsInSync => e.dns_in_sync_seconds,
        });
        let name: &str = kind.into();
        self.learned
            .get(name)
            .and_then(|recent| recent.iter().min())
            .map_or(default, |ms| Duration::from_millis(*ms))
    }
}

/// Knobs of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Unique per invocation; makes CreateNatGateway idempotent across SDK retries.
    pub invocation_id: String,
    /// Do not start a step when less than `deadline_margin` remains before this instant.
    pub deadline: Option<Instant>,
    pub deadline_margin: Duration,
    /// Attempts per step for transient errors (the SDK also retries each call). Waits are not
    /// retried: they tolerate transient errors while they poll.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with jitter, capped at 20 s.
    pub base_backoff: Duration,
    /// Interval between polls once the expected time has come.
    pub fast_poll: Duration,
    /// The longest interval between polls when AWS is much slower than expected.
    pub slow_poll: Duration,
}

impl RunOptions {
    /// Production defaults.
    pub fn new(invocation_id: &str) -> Self {
        RunOptions {
            invocation_id: invocation_id.to_string(),
            deadline: None,
            deadline_margin: Duration::from_secs(30),
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            fast_poll: Duration::from_secs(1),
            slow_poll: Duration::from_secs(15),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Every step done.
    Completed,
    /// The deadline came near; the remaining steps were not started.
    DeadlineReached,
    /// A step failed.
    Failed(FailureRecord),
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub steps: Vec<StepRecord>,
    pub end: RunEnd,
    pub ledger: Ledger,
    /// Bounded waits that ran out, and similar.
    pub warnings: Vec<String>,
    /// How long the waits that started with a new resource took.
    pub learned: Vec<(WaitKind, Duration)>,
    /// Steps retried after a transient error.
    pub retries: u32,
}

/// Runs plans against the adapters.
pub struct Executor<'a> {
    pub clients: &'a Clients,
    pub spec: &'a Spec,
    pub options: RunOptions,
    pub expected: Expectations,
}

/// How a step ended, when it did not fail.
#[derive(Debug, Default)]
pub(crate) struct Done {
    detail: Option<String>,
    changes: Vec<Change>,
    /// A bounded wait ran out; the tier works, only slower than hoped.
    timed_out: Option<String>,
    learned: Option<(WaitKind, Duration)>,
}

impl Done {
    fn with(detail: impl Into<String>) -> Self {
        Done {
            detail: Some(detail.into()),
            ..Done::default()
        }
    }

    fn change(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }
}

/// Why a step did not finish.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum StepError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// An id the step needs is not in the ledger: a bug or a half-observed world, never retried.
    #[error("{0}")]
    Missing(String),
    /// A wait that later steps depend on ran out.
    #[error("{0}")]
    TimedOut(String),
    /// The Lambda deadline came near before the step could finish; the next run continues.
    #[error("{0}")]
    Interrupted(String),
}

impl StepError {
    fn failure(&self, step: &Step) -> FailureRecord {
        let (operation, code) = match self {
            StepError::Aws(e) => (Some(e.operation.to_string()), e.code.clone()),
            StepError::Missing(_) => (Some("bookkeeping".to_string()), None),
            StepError::TimedOut(_) => (None, Some("WaitTimedOut".to_string())),
            StepError::Interrupted(_) => (None, None),
        };
        FailureRecord {
            step: Some(format!("{} {}", step.kind.name(), step.target)),
            operation,
            code,
            message: self.to_string(),
        }
    }
}

type StepResult = Result<Done, StepError>;
type StepFuture<'f> = Pin<Box<dyn Future<Output = (usize, StepResult, Duration, u32)> + Send + 'f>>;

impl<'a> Executor<'a> {
    /// Runs `plan`, starting with the ids in `ledger`.
    pub async fn run(&self, plan: &Plan, mut ledger: Ledger) -> RunReport {
        let mut records = planned_records(plan);
        for r in &mut records {
            r.status = "not-started".into();
        }
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut started: BTreeSet<usize> = BTreeSet::new();
        let mut running: FuturesUnordered<StepFuture<'_>> = FuturesUnordered::new();
        let mut end = RunEnd::Completed;
        let mut report = RunReport {
            steps: Vec::new(),
            end: RunEnd::Completed,
            ledger: Ledger::default(),
            warnings: Vec::new(),
            learned: Vec::new(),
            retries: 0,
        };

        loop {
            if end == RunEnd::Completed {
                for step in &plan.steps {
                    if started.contains(&step.id) || !step.after.iter().all(|d| done.contains(d)) {
                        continue;
                    }
                    if self.deadline_near() {
                        end = RunEnd::DeadlineReached;
                        break;
                    }
                    started.insert(step.id);
                    // The step sees the ids as they are now; what it changes comes back to
                    // this loop, which alone applies it.
                    let snapshot = ledger.clone();
                    running.push(Box::pin(async move {
                        let t0 = Instant::now();
                        let (result, retries) = self.run_step(step, &snapshot).await;
                        (step.id, result, t0.elapsed(), retries)
                    }));
                }
            }
            let Some((id, result, elapsed, retries)) = running.next().await else {
                break;
            };
            report.retries += retries;
            let record = &mut records[id];
            record.duration_ms = elapsed.as_millis().min(u128::from(u64::MAX)) as u64;
            match result {
                Ok(outcome) => {
                    record.detail = outcome.detail;
                    match outcome.timed_out {
                        Some(message) => {
                            record.status = "timed-out".into();
                            record.detail = Some(message.clone());
                            report.warnings.push(message);
                        }
                        None => record.status = "done".into(),
                    }
                    for change in outcome.changes {
                        ledger.apply(change);
                    }
                    report.learned.extend(outcome.learned);
                    done.insert(id);
                }
                Err(StepError::Interrupted(message)) => {
                    record.status = "interrupted".into();
                    record.detail = Some(message);
                    if end == RunEnd::Completed {
                        end = RunEnd::DeadlineReached;
                    }
                }
                Err(e) => {
                    record.status = "failed".into();
                    record.detail = Some(e.to_string());
                    if !matches!(end, RunEnd::Failed(_)) {
                        end = RunEnd::Failed(e.failure(&plan.steps[id]));
                    }
                }
            }
        }
        drop(running);
        report.steps = records;
        report.end = end;
        report.ledger = ledger;
        report
    }

    fn deadline_near(&self) -> bool {
        self.options
            .deadline
            .is_some_and(|d| Instant::now() + self.options.deadline_margin >= d)
    }

    /// Runs one step, retrying transient AWS errors with backoff (waits are not retried).
    async fn run_step(&self, step: &Step, ledger: &Ledger) -> (StepResult, u32) {
        let mut attempt = 1;
        loop {
            let result = self.execute(&step.kind, ledger).await;
            let transient = matches!(&result, Err(StepError::Aws(e)) if e.is_transient());
            if !transient || step.kind.is_wait() {
                return (result, attempt - 1);
            }
            if self.deadline_near() {
                // No time left for another attempt: leave it to the next invocation.
                let e = result.err().map(|e| e.to_string()).unwrap_or_default();
                return (
                    Err(StepError::Interrupted(format!(
                        "the deadline is near; not retried: {e}"
                    ))),
                    attempt - 1,
                );
            }
            if attempt >= self.options.max_attempts {
                return (result, attempt - 1);
            }
            let backoff = self
                .options
                .base_backoff
                .saturating_mul(1 << (attempt - 1))
                .min(Duration::from_secs(20));
            let jitter = backoff.mul_f64(jitter_fraction(
                &self.options.invocation_id,
                step.id,
                attempt,
            ));
            if let Err(StepError::Aws(e)) = &result {
                tracing::warn!(step = %step.target, attempt, error = %e, "transient error; retrying");
            }
            tokio::time::sleep(backoff + jitter).await;
            attempt += 1;
        }
    }

    async fn execute(&self, kind: &StepKind, ledger: &Ledger) -> StepResult {
        match kind {
            StepKind::Network(step) => network::run(self, step, ledger).await,
            StepKind::LoadBalancer(step) => load_balancer::run(self, step, ledger).await,
            StepKind::Dns(step) => dns::run(self, step, ledger).await,
            StepKind::Service(step) => services::run(self, step, ledger).await,
            StepKind::Cluster(step) => cluster::run(self, step).await,
        }
    }

    /// Polls `check` until it answers `Some`: first after the time this wait usually takes (or
    /// at once when `resumed`, i.e. the resource was already on its way), then every `fast_poll`,
    /// slowing down to `slow_poll` when AWS is much slower than usual. Never longer than `bound`
    /// nor past the invocation's deadline. Transient errors while polling are tolerated.
    async fn wait<T, F, Fut>(
        &self,
        kind: WaitKind,
        what: &str,
        bound: Duration,
        resumed: bool,
        check: F,
    ) -> Result<Waited<T>, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, AwsError>>,
    {
        let started = Instant::now();
        let expected = self.expected.of(kind, self.spec);
        let bound_end = started + bound;
        let deadline_end = self
            .options
            .deadline
            .map(|d| d.checked_sub(self.options.deadline_margin).unwrap_or(d));
        let until = deadline_end.map_or(bound_end, |d| d.min(bound_end));
        let mut next = if resumed {
            started
        } else {
            started + expected.min(bound)
        };
        loop {
            if next > until {
                let message = format!(
                    "gave up waiting after {} s for {what}",
                    started.elapsed().as_secs()
                );
                return Ok(if deadline_end.is_some_and(|d| d < bound_end) {
                    Waited::Interrupted(format!("{message}: the deadline is near"))
                } else {
                    Waited::TimedOut(message)
                });
            }
            tokio::time::sleep_until(next).await;
            match check().await {
                Ok(Some(value)) => {
                    let took = started.elapsed();
                    return Ok(Waited::Ready {
                        value,
                        learned: (!resumed).then_some((kind, took)),
                        took,
                    });
                }
                Ok(None) => {}
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "transient error while waiting")
                }
                Err(e) => return Err(e),
            }
            // Fast while within half the expected time past it, then slower and slower.
            let late = started.elapsed().saturating_sub(expected);
            let interval = if late <= expected / 2 {
                self.options.fast_poll
            } else {
                (late / 4).clamp(self.options.fast_poll, self.options.slow_poll)
            };
            next = Instant::now() + interval;
        }
    }
}

/// How a wait ended.
pub(crate) enum Waited<T> {
    /// Ready after `took`; with what to learn when the wait began with the resource.
    Ready {
        value: T,
        learned: Option<(WaitKind, Duration)>,
        took: Duration,
    },
    TimedOut(String),
    Interrupted(String),
}

impl<T> Waited<T> {
    /// For waits whose end later steps depend on (a NAT gateway available or deleted, the ALB
    /// active): running out of time ends the step; dependents never run too early.
    fn must_finish(self) -> Result<(Done, T), StepError> {
        match self {
            Waited::Ready {
                value,
                learned,
                took,
            } => Ok((
                Done {
                    detail: Some(format!("ready after {} s", took.as_secs())),
                    learned,
                    ..Done::default()
                },
                value,
            )),
            Waited::TimedOut(m) => Err(StepError::TimedOut(m)),
            Waited::Interrupted(m) => Err(StepError::Interrupted(m)),
        }
    }

    /// For waits nothing depends on (services stable, records in sync): running out is a
    /// warning, the tier works.
    fn may_time_out(self) -> StepResult {
        match self {
            Waited::TimedOut(m) => Ok(Done {
                timed_out: Some(m),
                ..Done::default()
            }),
            other => other.must_finish().map(|(done, _)| done),
        }
    }
}

/// Jitter in [0, 0.5) of the backoff: different for concurrent invocations (their ids differ),
/// yet reproducible for one invocation, so simulated runs give the same numbers every time.
fn jitter_fraction(invocation_id: &str, step: usize, attempt: u32) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (invocation_id, step, attempt).hash(&mut h);
    (h.finish() % 1000) as f64 / 2000.0
}

/// Records of a plan that is not executed (dry run).
pub fn planned_records(plan: &Plan) -> Vec<StepRecord> {
    plan.steps
        .iter()
        .map(|s| StepRecord {
            id: s.id,
            action: s.kind.name().to_string(),
            target: s.target.clone(),
            after: s.after.clone(),
            why: s.why.clone(),
            status: "planned".into(),
            duration_ms: 0,
            detail: None,
        })
        .collect()
}

/// Keeps only NAT records that still hold something.
pub fn prune(resources: &mut Resources) {
    resources
        .nat_gateways
        .retain(|_, r| r.nat_gateway_id.is_some() || r.allocation_id.is_some());
}

/// `app/<lb>/<id>/targetgroup/<tg>/<id>`, the resource label of `ALBRequestCountPerTarget`.
pub fn resource_label(load_balancer_arn: &str, target_group_arn: &str) -> String {
    let lb = load_balancer_arn
        .split_once(":loadbalancer/")
        .map_or("", |(_, r)| r);
    let tg = target_group_arn
        .split_once(":targetgroup/")
        .map_or("", |(_, r)| r);
    format!("{lb}/targetgroup/{tg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_label_joins_the_alb_and_target_group_suffixes() {
        assert_eq!(
            resource_label(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/demo-web/50dc6c495c0c9188",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/demo-backend/943f017f100becff"
            ),
            "app/demo-web/50dc6c495c0c9188/targetgroup/demo-backend/943f017f100becff"
        );
    }

    #[test]
    fn the_ledger_keeps_twenty_retired_nat_ids() {
        let mut ledger = Ledger::default();
        for n in 0..25 {
            ledger.apply(Change::NatDeleted {
                nat: "a".into(),
                id: format!("nat-{n}"),
            });
        }
        let retired = &ledger.resources.retired_nat_gateway_ids;
        assert_eq!(retired.len(), 20);
        assert_eq!(retired.last().map(String::as_str), Some("nat-24"));
    }
}
