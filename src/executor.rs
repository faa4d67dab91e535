//! The executor runs a plan: every step whose dependencies are done starts at once, so a start's
//! wall time approaches its slowest branch (the NAT gateway or the ALB), not the sum.
//!
//! Ids created during the run (a new NAT gateway, the new ALB, listener ARNs) live in the
//! [`Ledger`], which later steps read and which is checkpointed to the state document after each
//! step that changed it. Transient AWS errors are retried with bounded, jittered backoff; a
//! permanent error stops new steps from starting and is reported with its AWS code and step.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::aws::{AwsError, Clients, ErrorKind};
use crate::model::{
    is_owned, ownership_tags, AliasTarget, LoadBalancer, LoadBalancerState, NatState, RecordChange,
    ScalingBounds, Tags, TAG_EIP_MODE, TAG_NAT,
};
use crate::plan::{owner_record_value, Observed, Plan, Step, StepKind, OWNER_RECORD_PREFIX};
use crate::spec::{ElasticIpMode, Spec};
use crate::state::{FailureRecord, LoadBalancerRecord, NatRecord, Resources, StepRecord};

/// Ids known during a run: observed ones first, then what the run creates.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub resources: Resources,
    /// The ALB as last seen (its DNS name and zone are needed for the alias records).
    pub load_balancer: Option<LoadBalancer>,
}

impl Ledger {
    /// What exists and is ours, per the observation; `previous` keeps the retired NAT ids.
    pub fn from_observed(observed: &Observed, environment: &str, previous: &Resources) -> Ledger {
        let mut resources = Resources {
            retired_nat_gateway_ids: previous.retired_nat_gateway_ids.clone(),
            ..Default::default()
        };
        for nat in observed
            .nat_gateways
            .iter()
            .filter(|n| is_owned(&n.tags, environment) && n.state.is_live())
        {
            let Some(name) = nat.tags.get(TAG_NAT) else {
                continue;
            };
            let entry = resources.nat_gateways.entry(name.clone()).or_default();
            entry.nat_gateway_id = Some(nat.id.clone());
            entry.allocation_id = nat.allocation_ids.first().cloned();
        }
        for address in observed
            .addresses
            .iter()
            .filter(|a| is_owned(&a.tags, environment))
        {
            let Some(name) = address.tags.get(TAG_NAT) else {
                continue;
            };
            let entry = resources.nat_gateways.entry(name.clone()).or_default();
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
            resources.load_balancer = Some(LoadBalancerRecord {
                arn: lb.arn.clone(),
                dns_name: lb.dns_name.clone(),
                canonical_hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
            });
            for l in &observed.load_balancer.listeners {
                resources.listeners.insert(l.port, l.arn.clone());
            }
        }
        Ledger {
            resources,
            load_balancer,
        }
    }

    fn retire_nat(&mut self, name: &str, id: &str) {
        if let Some(entry) = self.resources.nat_gateways.get_mut(name) {
            if entry.nat_gateway_id.as_deref() == Some(id) {
                entry.nat_gateway_id = None;
            }
        }
        let retired = &mut self.resources.retired_nat_gateway_ids;
        if !retired.iter().any(|r| r == id) {
            retired.push(id.to_string());
        }
        let excess = retired.len().saturating_sub(20);
        retired.drain(..excess);
    }
}

/// Receives the ledger after each step that changed it (the handler writes it to S3).
pub trait Checkpoint: Send + Sync {
    /// Persists `resources`; an error aborts the run (e.g. the lease was lost).
    fn save<'a>(
        &'a self,
        resources: &'a Resources,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// A checkpoint that keeps nothing (dry runs, tests of the executor alone).
pub struct NoCheckpoint;

impl Checkpoint for NoCheckpoint {
    fn save<'a>(
        &'a self,
        _: &'a Resources,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
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
    /// Attempts per step for transient errors (the SDK also retries each call).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with jitter, capped at 20 s.
    pub base_backoff: Duration,
    /// Interval between polls while waiting for AWS.
    pub poll_interval: Duration,
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
            poll_interval: Duration::from_secs(5),
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
}

/// Runs plans against the adapters.
pub struct Executor<'a> {
    pub clients: &'a Clients,
    pub spec: &'a Spec,
    pub options: RunOptions,
    pub checkpoint: &'a dyn Checkpoint,
}

enum StepResult {
    Done(Option<String>),
    /// A bounded wait ran out; the tier works, only slower than hoped.
    TimedOut(String),
    /// The Lambda deadline came near before the step could finish; the next run continues.
    Interrupted(String),
}

type StepFuture<'f> =
    Pin<Box<dyn Future<Output = (usize, Result<StepResult, AwsError>, Duration)> + Send + 'f>>;

impl<'a> Executor<'a> {
    /// Runs `plan`, starting with the ids in `ledger`.
    pub async fn run(&self, plan: &Plan, ledger: Ledger) -> RunReport {
        let ledger = Mutex::new(ledger);
        let mut records: Vec<StepRecord> = plan
            .steps
            .iter()
            .map(|s| StepRecord {
                id: s.id,
                action: s.kind.name(),
                target: s.target.clone(),
                after: s.after.clone(),
                why: s.why.clone(),
                status: "not-started".into(),
                duration_ms: 0,
                detail: None,
            })
            .collect();
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut started: BTreeSet<usize> = BTreeSet::new();
        let mut running: FuturesUnordered<StepFuture<'_>> = FuturesUnordered::new();
        let mut end = RunEnd::Completed;
        let mut warnings = Vec::new();

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
                    let ledger = &ledger;
                    running.push(Box::pin(async move {
                        let t0 = Instant::now();
                        let result = self.run_step(step, ledger).await;
                        (step.id, result, t0.elapsed())
                    }));
                }
            }
            let Some((id, result, elapsed)) = running.next().await else {
                break;
            };
            let record = &mut records[id];
            record.duration_ms = elapsed.as_millis() as u64;
            match result {
                Ok(StepResult::Done(detail)) => {
                    record.status = "done".into();
                    record.detail = detail;
                    done.insert(id);
                }
                Ok(StepResult::TimedOut(message)) => {
                    record.status = "timed-out".into();
                    record.detail = Some(message.clone());
                    warnings.push(message);
                    done.insert(id);
                }
                Ok(StepResult::Interrupted(message)) => {
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
                        end = RunEnd::Failed(FailureRecord {
                            step: Some(format!(
                                "{} {}",
                                plan.steps[id].kind.name(),
                                plan.steps[id].target
                            )),
                            code: e.code.clone(),
                            message: e.to_string(),
                        });
                    }
                }
            }
            if !plan.steps[id].kind.is_wait() {
                let snapshot = ledger.lock().expect("ledger lock").resources.clone();
                if let Err(message) = self.checkpoint.save(&snapshot).await {
                    end = RunEnd::Failed(FailureRecord {
                        step: None,
                        code: None,
                        message,
                    });
                }
            }
        }
        drop(running);
        RunReport {
            steps: records,
            end,
            ledger: ledger.into_inner().expect("ledger lock"),
            warnings,
        }
    }

    fn deadline_near(&self) -> bool {
        self.options
            .deadline
            .is_some_and(|d| Instant::now() + self.options.deadline_margin >= d)
    }

    /// Runs one step, retrying transient errors with backoff.
    async fn run_step(&self, step: &Step, ledger: &Mutex<Ledger>) -> Result<StepResult, AwsError> {
        let mut attempt = 1;
        loop {
            match self.execute(&step.kind, ledger).await {
                Err(e)
                    if (e.is_transient() || retry_anyway(&step.kind, &e))
                        && self.deadline_near() =>
                {
                    // No time left for another attempt: leave it to the next invocation.
                    return Ok(StepResult::Interrupted(format!(
                        "the deadline is near; not retried: {e}"
                    )));
                }
                Err(e)
                    if (e.is_transient() || retry_anyway(&step.kind, &e))
                        && attempt < self.options.max_attempts =>
                {
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
                    tracing::warn!(step = %step.target, attempt, error = %e, "transient error; retrying");
                    tokio::time::sleep(backoff + jitter).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn tags(&self, extra: &[(&str, &str)]) -> Tags {
        let mut tags = self.spec.tags.clone();
        tags.extend(ownership_tags(&self.spec.environment));
        for (k, v) in extra {
            tags.insert(k.to_string(), v.to_string());
        }
        tags
    }

    async fn execute(
        &self,
        kind: &StepKind,
        ledger: &Mutex<Ledger>,
    ) -> Result<StepResult, AwsError> {
        use StepKind::*;
        let c = self.clients;
        let done = |detail: Option<String>| Ok(StepResult::Done(detail));
        match kind {
            SuspendScaling { cluster, service } => {
                c.containers
                    .set_scaling_bounds(cluster, service, ScalingBounds { min: 0, max: 0 })
                    .await?;
                done(None)
            }
            ScaleService {
                cluster,
                service,
                desired_count,
            } => {
                c.containers
                    .set_desired_count(cluster, service, *desired_count)
                    .await?;
                done(Some(format!("desired count {desired_count}")))
            }
            DeleteRecords {
                zone_id, records, ..
            } => {
                let changes: Vec<RecordChange> = records
                    .iter()
                    .map(|r| RecordChange::Delete { record: r.clone() })
                    .collect();
                c.dns.change_records(zone_id, &changes).await?;
                done(None)
            }
            DisassociateWebAcl { load_balancer_arn } => {
                c.load_balancing
                    .disassociate_web_acl(load_balancer_arn)
                    .await?;
                done(None)
            }
            DeleteListener { port, listener_arn } => {
                c.load_balancing.delete_listener(listener_arn).await?;
                ledger
                    .lock()
                    .expect("ledger lock")
                    .resources
                    .listeners
                    .remove(port);
                done(Some(listener_arn.clone()))
            }
            DeleteLoadBalancer { load_balancer_arn } => {
                c.load_balancing
                    .delete_load_balancer(load_balancer_arn)
                    .await?;
                let mut l = ledger.lock().expect("ledger lock");
                l.resources.load_balancer = None;
                l.resources.listeners.clear();
                l.load_balancer = None;
                done(Some(load_balancer_arn.clone()))
            }
            DeleteRoute { route_table_id, .. } => {
                c.network.delete_default_route(route_table_id).await?;
                done(None)
            }
            DeleteNatGateway {
                nat,
                nat_gateway_id,
            } => {
                c.network.delete_nat_gateway(nat_gateway_id).await?;
                ledger
                    .lock()
                    .expect("ledger lock")
                    .retire_nat(nat, nat_gateway_id);
                done(Some(nat_gateway_id.clone()))
            }
            WaitNatDeleted { nat_gateway_id, .. } => {
                let bound = Duration::from_secs(self.spec.timeouts.nat_deleted_seconds);
                let id = nat_gateway_id.clone();
                let result = self
                    .wait(bound, format!("NAT gateway {id} to be deleted"), || async {
                        Ok(c.network
                            .describe_nat_gateway(&id)
                            .await?
                            .is_none_or(|n| n.state == NatState::Deleted))
                    })
                    .await?;
                // The Elastic IP cannot be released before the gateway is gone: running out of
                // time here is a (retried) failure of the step, never a warning.
                must_finish(result, "DescribeNatGateways")
            }
            ReleaseAddress { nat, allocation_id } => {
                c.network.release_address(allocation_id).await?;
                let mut l = ledger.lock().expect("ledger lock");
                if let Some(entry) = l.resources.nat_gateways.get_mut(nat) {
                    if entry.allocation_id.as_deref() == Some(allocation_id) {
                        entry.allocation_id = None;
                        entry.public_ip = None;
                    }
                }
                done(Some(allocation_id.clone()))
            }
            DisassociateAddress { association_id, .. } => {
                c.network.disassociate_address(association_id).await?;
                done(Some(association_id.clone()))
            }
            SweepAddresses { nat } => {
                let in_use = ledger
                    .lock()
                    .expect("ledger lock")
                    .resources
                    .nat_gateways
                    .get(nat)
                    .and_then(|r| r.allocation_id.clone());
                let surplus: Vec<String> = c
                    .network
                    .describe_addresses()
                    .await?
                    .into_iter()
                    .filter(|a| is_owned(&a.tags, &self.spec.environment))
                    .filter(|a| a.tags.get(TAG_NAT) == Some(nat) && a.association_id.is_none())
                    .filter(|a| Some(&a.allocation_id) != in_use.as_ref())
                    .map(|a| a.allocation_id)
                    .collect();
                for allocation_id in &surplus {
                    c.network.release_address(allocation_id).await?;
                }
                done((!surplus.is_empty()).then(|| format!("released {}", surplus.join(", "))))
            }
            AllocateAddress { nat } => {
                let mode = self
                    .spec
                    .nat_gateways
                    .iter()
                    .find(|n| &n.name == nat)
                    .map(|n| n.elastic_ip.mode);
                let mode = if mode == Some(ElasticIpMode::Keep) {
                    "keep"
                } else {
                    "release"
                };
                let address = c
                    .network
                    .allocate_address(&self.tags(&[(TAG_NAT, nat), (TAG_EIP_MODE, mode)]))
                    .await?;
                let mut l = ledger.lock().expect("ledger lock");
                let entry = l.resources.nat_gateways.entry(nat.clone()).or_default();
                entry.allocation_id = Some(address.allocation_id.clone());
                entry.public_ip = Some(address.public_ip.clone());
                done(Some(format!(
                    "{} ({})",
                    address.allocation_id, address.public_ip
                )))
            }
            CreateNatGateway {
                nat,
                subnet_id,
                allocation_id,
            } => {
                let allocation = match allocation_id {
                    Some(a) => a.clone(),
                    None => ledger
                        .lock()
                        .expect("ledger lock")
                        .resources
                        .nat_gateways
                        .get(nat)
                        .and_then(|r| r.allocation_id.clone())
                        .ok_or_else(|| {
                            internal(
                                "CreateNatGateway",
                                "no Elastic IP was allocated for this NAT",
                            )
                        })?,
                };
                let token: String = format!("{}-{}", self.options.invocation_id, nat)
                    .chars()
                    .take(64)
                    .collect();
                let gw = c
                    .network
                    .create_nat_gateway(
                        subnet_id,
                        &allocation,
                        &self.tags(&[(TAG_NAT, nat)]),
                        &token,
                    )
                    .await?;
                let mut l = ledger.lock().expect("ledger lock");
                let entry = l.resources.nat_gateways.entry(nat.clone()).or_default();
                entry.nat_gateway_id = Some(gw.id.clone());
                entry.allocation_id = Some(allocation);
                done(Some(gw.id))
            }
            WaitNatAvailable { nat } => {
                let id = self.nat_id(ledger, nat)?;
                let bound = Duration::from_secs(self.spec.timeouts.nat_available_seconds);
                let result = self
                    .wait(
                        bound,
                        format!("NAT gateway {id} to become available"),
                        || async {
                            match c.network.describe_nat_gateway(&id).await? {
                                Some(n) if n.state == NatState::Available => Ok(true),
                                Some(n)
                                    if n.state == NatState::Failed
                                        || n.state == NatState::Deleted =>
                                {
                                    Err(AwsError {
                                        operation: "DescribeNatGateways",
                                        code: Some("NatGatewayFailed".into()),
                                        message: format!("NAT gateway {id} is {:?}", n.state)
                                            .to_lowercase(),
                                        kind: ErrorKind::Permanent,
                                    })
                                }
                                _ => Ok(false),
                            }
                        },
                    )
                    .await?;
                // Routes to a gateway that is not available would blackhole traffic: a timeout
                // here is a failure of the step, not a warning.
                must_finish(result, "DescribeNatGateways")
            }
            CreateRoute {
                route_table_id,
                nat,
            } => {
                let id = self.nat_id(ledger, nat)?;
                match c.network.create_default_route(route_table_id, &id).await {
                    Err(e) if e.has_code(&["RouteAlreadyExists"]) => {
                        c.network.replace_default_route(route_table_id, &id).await?
                    }
                    other => other?,
                }
                done(Some(id))
            }
            ReplaceRoute {
                route_table_id,
                nat,
                ..
            } => {
                let id = self.nat_id(ledger, nat)?;
                c.network.replace_default_route(route_table_id, &id).await?;
                done(Some(id))
            }
            CreateLoadBalancer { .. } => {
                let spec = self.lb_spec()?;
                let lb = c
                    .load_balancing
                    .create_load_balancer(spec, &self.tags(&[]))
                    .await?;
                let mut l = ledger.lock().expect("ledger lock");
                l.resources.load_balancer = Some(LoadBalancerRecord {
                    arn: lb.arn.clone(),
                    dns_name: lb.dns_name.clone(),
                    canonical_hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
                });
                let arn = lb.arn.clone();
                l.load_balancer = Some(lb);
                done(Some(arn))
            }
            WaitLoadBalancerActive { name } => {
                let bound = Duration::from_secs(self.spec.timeouts.load_balancer_active_seconds);
                let result = self
                    .wait(
                        bound,
                        format!("load balancer {name} to become active"),
                        || async {
                            match c.load_balancing.find_load_balancer(name).await? {
                                Some(lb)
                                    if matches!(
                                        lb.state,
                                        LoadBalancerState::Active
                                            | LoadBalancerState::ActiveImpaired
                                    ) =>
                                {
                                    ledger.lock().expect("ledger lock").load_balancer = Some(lb);
                                    Ok(true)
                                }
                                Some(lb) if lb.state == LoadBalancerState::Failed => {
                                    Err(AwsError {
                                        operation: "DescribeLoadBalancers",
                                        code: Some("LoadBalancerFailed".into()),
                                        message: format!(
                                            "load balancer {name} failed to provision"
                                        ),
                                        kind: ErrorKind::Permanent,
                                    })
                                }
                                _ => Ok(false),
                            }
                        },
                    )
                    .await?;
                must_finish(result, "DescribeLoadBalancers")
            }
            SetLoadBalancerAttributes { .. } => {
                let arn = self.lb_arn(ledger)?;
                c.load_balancing
                    .set_attributes(&arn, &self.lb_spec()?.attributes)
                    .await?;
                done(None)
            }
            CreateListener { port } => {
                let arn = self.lb_arn(ledger)?;
                let spec = self.listener_spec(*port)?;
                let listener = c
                    .load_balancing
                    .create_listener(&arn, spec, &self.tags(&[]))
                    .await?;
                ledger
                    .lock()
                    .expect("ledger lock")
                    .resources
                    .listeners
                    .insert(*port, listener.arn.clone());
                done(Some(listener.arn))
            }
            CreateRule { port, priority } => {
                let listener_arn = ledger
                    .lock()
                    .expect("ledger lock")
                    .resources
                    .listeners
                    .get(port)
                    .cloned()
                    .ok_or_else(|| {
                        internal("CreateRule", &format!("no listener on port {port}"))
                    })?;
                let rule = self
                    .listener_spec(*port)?
                    .rules
                    .iter()
                    .find(|r| r.priority == *priority)
                    .ok_or_else(|| {
                        internal("CreateRule", &format!("no rule {priority} in the spec"))
                    })?;
                c.load_balancing
                    .create_rule(&listener_arn, rule, &self.tags(&[]))
                    .await?;
                done(None)
            }
            AssociateWebAcl { web_acl_arn } => {
                let arn = self.lb_arn(ledger)?;
                c.load_balancing
                    .associate_web_acl(&arn, web_acl_arn)
                    .await?;
                done(None)
            }
            UpsertRecords {
                zone_id,
                name,
                types,
                claim,
            } => {
                let lb = ledger
                    .lock()
                    .expect("ledger lock")
                    .load_balancer
                    .clone()
                    .ok_or_else(|| {
                        internal("ChangeResourceRecordSets", "no load balancer to point at")
                    })?;
                let mut changes = Vec::new();
                if *claim {
                    changes.push(RecordChange::UpsertTxt {
                        name: format!("{OWNER_RECORD_PREFIX}{name}"),
                        ttl: 300,
                        values: vec![owner_record_value(&self.spec.environment)],
                    });
                }
                for t in types {
                    changes.push(RecordChange::UpsertAlias {
                        name: name.clone(),
                        record_type: *t,
                        target: AliasTarget {
                            dns_name: lb.dns_name.clone(),
                            hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
                            evaluate_target_health: true,
                        },
                    });
                }
                c.dns.change_records(zone_id, &changes).await?;
                done(Some(format!("alias to {}", lb.dns_name)))
            }
            CreateService {
                cluster,
                service,
                desired_count,
            } => {
                let spec = self.service_spec(cluster, service)?;
                let created = c
                    .containers
                    .create_service(spec, *desired_count, &self.tags(&[]))
                    .await?;
                done(Some(format!(
                    "{} with desired count {desired_count}",
                    created.arn
                )))
            }
            RestoreScaling {
                cluster,
                service,
                min,
                max,
            } => {
                c.containers
                    .set_scaling_bounds(
                        cluster,
                        service,
                        ScalingBounds {
                            min: *min,
                            max: *max,
                        },
                    )
                    .await?;
                done(Some(format!("{min}..{max}")))
            }
            PutScalingPolicy { cluster, service } => {
                let spec = self.service_spec(cluster, service)?;
                let Some(scaling) = &spec.auto_scaling else {
                    return done(None);
                };
                let label = if scaling.target_tracking.metric == "ALBRequestCountPerTarget" {
                    let lb_arn = self.lb_arn(ledger)?;
                    let tg = spec
                        .load_balancer
                        .as_ref()
                        .map(|l| l.target_group_arn.clone())
                        .unwrap_or_default();
                    Some(resource_label(&lb_arn, &tg))
                } else {
                    None
                };
                c.containers
                    .put_scaling_policy(
                        cluster,
                        service,
                        &scaling.target_tracking,
                        label.as_deref(),
                    )
                    .await?;
                done(None)
            }
            WaitServicesStable { services } => {
                let bound = Duration::from_secs(self.spec.timeouts.services_stable_seconds);
                self.wait(
                    bound,
                    format!(
                        "services {} to be stable with healthy targets",
                        services.join(", ")
                    ),
                    || self.services_stable(services),
                )
                .await
            }
        }
    }

    async fn services_stable(&self, keys: &[String]) -> Result<bool, AwsError> {
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for s in self
            .spec
            .services
            .iter()
            .filter(|s| keys.contains(&s.key()))
        {
            by_cluster
                .entry(&s.cluster)
                .or_default()
                .push(s.name.clone());
        }
        for (cluster, names) in by_cluster {
            for s in self
                .clients
                .containers
                .describe_services(cluster, &names)
                .await?
            {
                if s.running_count != s.desired_count || s.deployments > 1 || s.pending_count > 0 {
                    return Ok(false);
                }
                let spec = self.service_spec(&s.cluster, &s.name)?;
                if let Some(lb) = &spec.load_balancer {
                    let (healthy, _) = self
                        .clients
                        .load_balancing
                        .target_health(&lb.target_group_arn)
                        .await?;
                    if healthy < s.desired_count {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Polls `check` until it answers true, at most for `bound` (and never past the deadline).
    async fn wait<F, Fut>(
        &self,
        bound: Duration,
        what: String,
        check: F,
    ) -> Result<StepResult, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<bool, AwsError>>,
    {
        let started = Instant::now();
        let bound_end = started + bound;
        let deadline_end = self
            .options
            .deadline
            .map(|d| d.checked_sub(self.options.deadline_margin).unwrap_or(d));
        let until = deadline_end.map_or(bound_end, |d| d.min(bound_end));
        // Short bounds (local runs) still get a few polls.
        let poll = self
            .options
            .poll_interval
            .min(bound / 4)
            .max(Duration::from_millis(10));
        loop {
            match check().await {
                Ok(true) => return Ok(StepResult::Done(None)),
                Ok(false) => {}
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "transient error while waiting")
                }
                Err(e) => return Err(e),
            }
            if Instant::now() + poll > until {
                let message = format!(
                    "gave up waiting after {} s for {what}",
                    started.elapsed().as_secs()
                );
                return Ok(if deadline_end.is_some_and(|d| d < bound_end) {
                    StepResult::Interrupted(format!("{message}: the deadline is near"))
                } else {
                    StepResult::TimedOut(message)
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    fn nat_id(&self, ledger: &Mutex<Ledger>, nat: &str) -> Result<String, AwsError> {
        ledger
            .lock()
            .expect("ledger lock")
            .resources
            .nat_gateways
            .get(nat)
            .and_then(|r| r.nat_gateway_id.clone())
            .ok_or_else(|| {
                internal(
                    "DescribeNatGateways",
                    &format!("no NAT gateway for '{nat}'"),
                )
            })
    }

    fn lb_arn(&self, ledger: &Mutex<Ledger>) -> Result<String, AwsError> {
        ledger
            .lock()
            .expect("ledger lock")
            .resources
            .load_balancer
            .as_ref()
            .map(|lb| lb.arn.clone())
            .ok_or_else(|| internal("DescribeLoadBalancers", "no load balancer of ours exists"))
    }

    fn lb_spec(&self) -> Result<&crate::spec::LoadBalancerSpec, AwsError> {
        self.spec
            .load_balancer
            .as_ref()
            .ok_or_else(|| internal("CreateLoadBalancer", "the spec has no load_balancer"))
    }

    fn listener_spec(&self, port: u16) -> Result<&crate::spec::ListenerSpec, AwsError> {
        self.lb_spec()?
            .listeners
            .iter()
            .find(|l| l.port == port)
            .ok_or_else(|| {
                internal(
                    "CreateListener",
                    &format!("no listener on port {port} in the spec"),
                )
            })
    }

    fn service_spec(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<&crate::spec::ServiceSpec, AwsError> {
        self.spec
            .services
            .iter()
            .find(|s| s.cluster == cluster && s.name == name)
            .ok_or_else(|| {
                internal(
                    "CreateService",
                    &format!("no service {cluster}/{name} in the spec"),
                )
            })
    }
}

/// Errors worth retrying although AWS calls them permanent: releasing an address in the
/// seconds after its NAT gateway reached `deleted`.
fn retry_anyway(kind: &StepKind, e: &AwsError) -> bool {
    matches!(kind, StepKind::ReleaseAddress { .. })
        && e.has_code(&["InvalidIPAddress.InUse", "AuthFailure"])
}

/// For waits whose end later steps depend on (a NAT gateway available or deleted, the ALB
/// active): running out of time is a transient failure of the step (retried, and resumed by the
/// next invocation), never a warning that lets dependents run too early.
fn must_finish(result: StepResult, operation: &'static str) -> Result<StepResult, AwsError> {
    match result {
        StepResult::TimedOut(message) => Err(AwsError {
            operation,
            code: None,
            message,
            kind: ErrorKind::Transient,
        }),
        other => Ok(other),
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

fn internal(operation: &'static str, message: &str) -> AwsError {
    AwsError {
        operation,
        code: None,
        message: message.to_string(),
        kind: ErrorKind::Permanent,
    }
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

/// Records of a plan that is not executed (dry run).
pub fn planned_records(plan: &Plan) -> Vec<StepRecord> {
    plan.steps
        .iter()
        .map(|s| StepRecord {
            id: s.id,
            action: s.kind.name(),
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
        .retain(|_, r: &mut NatRecord| r.nat_gateway_id.is_some() || r.allocation_id.is_some());
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
}
