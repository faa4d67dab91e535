//! One invocation, end to end, in named stages. Used by the Lambda runtime and by the command
//! line alike.
//!
//! ```text
//! guard    parse the payload into a typed request; an event for another environment stops here
//! load     the spec and the state document (with its version), and the clusters' tags
//! decide   what the schedule, overrides and holds want (start, stop, reconcile)
//! observe  what exists, as much as the action needs (a confirmation only, for a scheduled repeat)
//! plan     the steps, by a pure function
//! lease    a conditional write of the state document: one acting invocation at a time
//! run      the executor
//! record   the final state and one history record
//! ```
//!
//! Every action that changes something (start, stop, reconcile, override, deploy, teardown) goes
//! through the same plan, lease, run and record stages.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::time::Instant;

use crate::aws::{AwsError, Clients, ETag};
use crate::command::{
    Command, DeployCommand, Edge, HoldRequest, IdleSignal, PayloadError, Request, Trigger,
};
use crate::config::Config;
use crate::executor::{
    planned_records, prune, Executor, Expectations, Ledger, RunEnd, RunOptions, RunReport,
};
use crate::model::{Cluster, LoadBalancerState, NatState, ServiceStatus};
use crate::observe::{self, Reading};
use crate::ownership::{exclusion, is_owned, Exclusion};
use crate::plan::admin::{plan_deploy, plan_override, DeployMode, DeployPlan};
use crate::plan::{plan_start, plan_stop, plan_teardown, Plan};
use crate::report;
use crate::schedule::{
    decide, next_change, Decision, DecisionInput, Desired, Hold, Idleness, Intent, OverrideTags,
    Window,
};
use crate::spec::{Spec, SpecErrors};
use crate::state::{
    Activity, FailureRecord, Lease, Phase, Progress, Resources, State, StateError, StateStore,
    Transition,
};

mod response;

pub use response::{DeployView, NextTransition, Outcome, Response, SavingsView, ServiceView};

/// Invocation failures that happen before any plan: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("{0}")]
    Spec(#[from] SpecErrors),
    #[error("the runtime spec s3://{bucket}/{key} does not exist; terraform-runtime writes it (apply it, or check SPEC_KEY)")]
    SpecMissing { bucket: String, key: String },
    #[error("the state bucket {bucket} does not exist (check STATE_BUCKET and the region; terraform-base creates it)")]
    BucketMissing { bucket: String },
    #[error("refused, nothing was changed: {0}")]
    Refused(String),
    #[error("reading AWS failed, nothing was changed: {0}")]
    Aws(#[from] AwsError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl HandlerError {
    /// The kind of error, as the Lambda invocation error's `errorType` names it.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Payload(_) => "InvalidPayload",
            HandlerError::Spec(_) => "InvalidSpec",
            HandlerError::SpecMissing { .. } => "SpecMissing",
            HandlerError::BucketMissing { .. } => "StateBucketMissing",
            HandlerError::Refused(_) => "Refused",
            HandlerError::Aws(_) => "AwsReadFailed",
            HandlerError::State(StateError::Corrupt { .. }) => "StateUnreadable",
            HandlerError::State(StateError::Aws(a))
                if ["Get", "List", "Head"]
                    .iter()
                    .any(|p| a.operation.starts_with(p)) =>
            {
                "StateReadFailed"
            }
            HandlerError::State(_) => "StateWriteFailed",
        }
    }
}

/// The least time between two progress writes of a start.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Facts about the invocation that come from outside the payload.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id, or a generated one locally.
    pub id: String,
    /// The current time (injected, never read from the clock inside the logic).
    pub now: DateTime<Utc>,
    /// When the Lambda will be killed; `None` locally.
    pub deadline: Option<Instant>,
}

/// The handler with its configuration and clients, built once at cold start.
pub struct Handler {
    pub config: Config,
    pub clients: Clients,
    pub states: StateStore,
    /// Per-run knobs tests may tighten (poll interval, backoff).
    pub tune: fn(&mut RunOptions),
}

/// What `load` found.
struct Loaded {
    spec: Spec,
    state: State,
    etag: Option<ETag>,
    clusters: Vec<Cluster>,
    /// With idle stop only: what the idle alarm said last, and that document's version.
    activity: Option<Activity>,
    activity_etag: Option<ETag>,
}

/// Everything later stages read: the request, the invocation, what was loaded, and the schedule
/// as of the instant decided for (`at` in a dry run, else now).
struct Context<'a> {
    request: &'a Request,
    invocation: &'a Invocation,
    started: Instant,
    spec: &'a Spec,
    state: &'a State,
    etag: &'a Option<ETag>,
    clusters: &'a [Cluster],
    window: Option<Window>,
    /// `wake.on_demand`: no window, asleep unless woken.
    on_demand: bool,
    /// With idle stop: how long the running tier has been quiet.
    idle: Option<Idleness>,
    /// The hold a start or stop asks for (a wake's, bounded and defaulted by the spec).
    hold_request: Option<HoldRequest>,
    overrides: OverrideTags,
    now: DateTime<Utc>,
}

/// What a plan changes in the state besides the ids: the phase while it runs and once it is
/// done, and the hold.
struct Becomes {
    /// `(while running, once done)`; `None` leaves the phase as it is (override, deploy).
    phases: Option<(Phase, Phase)>,
    /// `Some(h)` sets the hold to `h`; `None` leaves it.
    hold: Option<Option<Hold>>,
}

impl Handler {
    /// A handler over these clients.
    pub fn new(config: Config, clients: Clients) -> Self {
        let states = StateStore::new(
            clients.store.clone(),
            &config.state_bucket,
            config.state_key(),
            config.history_key_prefix(),
        );
        Handler {
            config,
            clients,
            states,
            tune: |_| {},
        }
    }

    /// Handles one payload.
    pub async fn handle(
        &self,
        payload: &[u8],
        invocation: Invocation,
    ) -> Result<Response, HandlerError> {
        let started = Instant::now();
        let request = Request::parse(payload, invocation.now)?;
        let env = &self.config.environment;
        let mut response = Response::new(&request, env, &invocation.id, invocation.now);
        if let Some(other) = guard(&request, env) {
            // Not an error: a shared schedule may fan out to several functions.
            response.warnings.push(other);
            return Ok(self.finish(response, started));
        }
        let mut loaded = self.load().await?;
        response.phase = loaded.state.phase;
        response.since = loaded.state.since;
        if let Command::Idle(signal) = &request.command {
            // The alarm's word is recorded first; only an idle signal goes on to decide.
            if !self
                .note_activity(&mut loaded, signal, &mut response)
                .await?
            {
                return Ok(self.finish(response, started));
            }
        }
        let now = request.at.unwrap_or(invocation.now);
        let hold_request = wake_hold(&request, &loaded.spec, invocation.now)?;
        let window = loaded.spec.schedule.as_ref().map(Window::from_spec);
        let cluster_tags: Vec<(String, crate::model::Tags)> = loaded
            .clusters
            .iter()
            .map(|c| (c.name.clone(), c.tags.clone()))
            .collect();
        let ctx = Context {
            request: &request,
            invocation: &invocation,
            started,
            spec: &loaded.spec,
            state: &loaded.state,
            etag: &loaded.etag,
            clusters: &loaded.clusters,
            overrides: OverrideTags::read(&cluster_tags, now),
            window,
            on_demand: loaded.spec.wake.as_ref().is_some_and(|w| w.on_demand),
            idle: idleness(&loaded.spec, &loaded.state, loaded.activity.as_ref()),
            hold_request,
            now,
        };
        response.activity = loaded.activity.clone();
        self.describe_schedule(&ctx, &mut response);
        match &request.command {
            Command::Status => self.status(&ctx, &mut response).await?,
            Command::Report(r) => self.report(&ctx, r.days, &mut response).await?,
            Command::Override(command) => {
                if ctx.clusters.is_empty() {
                    return Err(HandlerError::Refused(
                        "the spec has no ECS services, so there is no cluster to carry override tags"
                            .into(),
                    ));
                }
                let plan = plan_override(ctx.clusters, command, &request.reason);
                let ledger = Ledger {
                    resources: ctx.state.resources.clone(),
                    load_balancer: None,
                };
                let keep = Becomes {
                    phases: None,
                    hold: None,
                };
                self.act(&ctx, plan, ledger, keep, &mut response).await?;
            }
            Command::Deploy(command) => self.deploy(&ctx, command, &mut response).await?,
            Command::Teardown => {
                let observed =
                    observe::observe(&self.clients, ctx.spec, ctx.state, Reading::ForStop).await?;
                let ledger = Ledger::from_observed(&observed, ctx.spec, &ctx.state.resources);
                response.resources = ledger.resources.clone();
                let plan = plan_teardown(ctx.spec, &observed, ctx.state);
                let intent = Becomes {
                    phases: Some((Phase::Stopping, Phase::TornDown)),
                    hold: Some(None),
                };
                self.act(&ctx, plan, ledger, intent, &mut response).await?;
            }
            Command::Start(_) | Command::Stop(_) | Command::Reconcile | Command::Idle(_) => {
                self.converge(&ctx, &mut response).await?
            }
        }
        Ok(self.finish(response, started))
    }

    /// The spec, the state document and the clusters' tags.
    async fn load(&self) -> Result<Loaded, HandlerError> {
        let (spec, versioned) = tokio::try_join!(self.load_spec(), async {
            self.states
                .load(&self.config.environment)
                .await
                .map_err(|e| self.bucket_error(e.into()))
        })?;
        let idle_stop = spec.wake.as_ref().is_some_and(|w| w.idle_minutes.is_some());
        let (clusters, (activity, activity_etag)) = tokio::try_join!(
            async { Ok(observe::clusters(&self.clients, &spec).await?) },
            async {
                if idle_stop {
                    self.states
                        .load_activity()
                        .await
                        .map_err(|e| self.bucket_error(e.into()))
                } else {
                    Ok((None, None))
                }
            }
        )?;
        Ok(Loaded {
            spec,
            state: versioned.state,
            etag: versioned.etag,
            clusters,
            activity,
            activity_etag,
        })
    }

    /// The idle alarm's state change: refused unless it is this environment's idle alarm,
    /// ignored when older than what was recorded, else recorded. True when it says idle and a
    /// decision follows.
    async fn note_activity(
        &self,
        loaded: &mut Loaded,
        signal: &IdleSignal,
        response: &mut Response,
    ) -> Result<bool, HandlerError> {
        let wake = loaded.spec.wake.as_ref();
        match wake.and_then(|w| w.idle_alarm_name.as_deref()) {
            None => {
                return Err(HandlerError::Refused(format!(
                    "alarm {}: idle stop is off (the spec has no wake.idle_minutes); remove the rule that sends its events here",
                    signal.alarm
                )))
            }
            Some(name) if name != signal.alarm => {
                return Err(HandlerError::Refused(format!(
                    "alarm {} is not this environment's idle alarm ({name})",
                    signal.alarm
                )))
            }
            Some(_) => {}
        }
        let Some(idle) = signal.idle else {
            response.outcome = Outcome::Skipped;
            response.decision = Some(Decision {
                desired: None,
                reason: "the alarm has insufficient data: it says nothing about traffic".into(),
                notes: Vec::new(),
                new_hold: None,
            });
            return Ok(false);
        };
        let said = |idle: bool| if idle { "idle" } else { "busy" };
        if let Some(last) = loaded.activity.as_ref().filter(|a| a.since > signal.at) {
            response.outcome = Outcome::Skipped;
            response.activity = Some(last.clone());
            response.decision = Some(Decision {
                desired: None,
                reason: format!(
                    "stale event: the alarm said {} at {}, after this event's {} ({})",
                    said(last.idle),
                    last.since.to_rfc3339(),
                    said(idle),
                    signal.at.to_rfc3339()
                ),
                notes: Vec::new(),
                new_hold: None,
            });
            return Ok(false);
        }
        let activity = Activity {
            idle,
            since: signal.at,
            alarm: signal.alarm.clone(),
        };
        if loaded.activity.as_ref() != Some(&activity) {
            match self
                .states
                .save_activity(&activity, &loaded.activity_etag)
                .await
            {
                Ok(etag) => loaded.activity_etag = Some(etag),
                Err(StateError::Conflict) => {
                    response.outcome = Outcome::Busy;
                    response
                        .warnings
                        .push("another alarm event was recorded first; nothing was done".into());
                    return Ok(false);
                }
                Err(e) => return Err(self.bucket_error(e.into())),
            }
        }
        loaded.activity = Some(activity.clone());
        response.activity = Some(activity);
        if idle {
            return Ok(true);
        }
        response.outcome = Outcome::NoOp;
        response.decision = Some(Decision {
            desired: None,
            reason: "the load balancer serves requests again: recorded, nothing to do".into(),
            notes: Vec::new(),
            new_hold: None,
        });
        Ok(false)
    }

    async fn load_spec(&self) -> Result<Spec, HandlerError> {
        let body = match self.clients.store.get(&self.config.spec_key).await {
            Ok(Some((body, _))) => body,
            Ok(None) => {
                return Err(HandlerError::SpecMissing {
                    bucket: self.config.state_bucket.clone(),
                    key: self.config.spec_key.clone(),
                })
            }
            Err(e) => return Err(self.bucket_error(e.into())),
        };
        Ok(Spec::from_json(&body, &self.config.environment)?)
    }

    /// A missing bucket is named as such, whatever asked for it.
    fn bucket_error(&self, e: HandlerError) -> HandlerError {
        let missing = |a: &AwsError| a.has_code(&["NoSuchBucket"]);
        match &e {
            HandlerError::Aws(a) | HandlerError::State(StateError::Aws(a)) if missing(a) => {
                HandlerError::BucketMissing {
                    bucket: self.config.state_bucket.clone(),
                }
            }
            _ => e,
        }
    }

    /// The override tags, the hold in force and when what the tier wants changes next.
    fn describe_schedule(&self, ctx: &Context, response: &mut Response) {
        response.overrides = Some(ctx.overrides.clone());
        let hold = ctx.state.hold.clone().filter(|h| h.until > ctx.now);
        response.next_transition = next_change(
            ctx.window.as_ref(),
            ctx.on_demand,
            &ctx.overrides,
            hold.as_ref(),
            ctx.now,
        )
        .map(|(at, desired)| NextTransition {
            at,
            at_local: crate::time::local_text(at, self.zone(ctx)),
            desired,
        });
        response.hold = hold;
    }

    fn zone(&self, ctx: &Context) -> chrono_tz::Tz {
        ctx.window.as_ref().map_or(chrono_tz::UTC, |w| w.tz)
    }

    /// What the schedule, overrides and holds want for this request.
    fn decide(&self, ctx: &Context, edge: Option<&Edge>) -> Decision {
        let intent = match &ctx.request.command {
            Command::Start(_) => Intent::Start,
            Command::Stop(_) => Intent::Stop,
            Command::Idle(_) => Intent::Idle,
            _ => Intent::Reconcile,
        };
        decide(&DecisionInput {
            intent,
            trigger: ctx.request.trigger,
            force: edge.is_some_and(|e| e.force),
            now: ctx.now,
            window: ctx.window.as_ref(),
            overrides: &ctx.overrides,
            hold: ctx.state.hold.as_ref(),
            default_hold: self.config.default_hold,
            hold_request: ctx.hold_request,
            on_demand: ctx.on_demand,
            idle: ctx.idle,
        })
    }

    /// `status`: phase, resources confirmed to exist, services and their revisions, lease,
    /// transitions, and what reconcile would do now. Reads only.
    async fn status(&self, ctx: &Context<'_>, response: &mut Response) -> Result<(), HandlerError> {
        let decision = self.decide(ctx, None);
        response.warnings.extend(decision.notes.iter().cloned());
        response.decision = Some(decision);
        response.outcome = Outcome::Reported;
        response.lease = ctx.state.live_lease(ctx.invocation.now).cloned();
        response.recent_transitions = ctx.state.recent_transitions.clone();
        let (services, resources) = tokio::try_join!(
            observe::observe(&self.clients, ctx.spec, ctx.state, Reading::Services),
            self.confirmed_resources(ctx.state)
        )?;
        response.services = service_views(ctx, &services);
        response.resources = resources;
        let days = ctx.state.usage.days_until(ctx.invocation.now);
        let baseline = report::always_on(ctx.spec, ctx.state);
        let window = |n: i64| {
            let to = ctx.invocation.now;
            let first = to.date_naive() - chrono::Duration::days(n - 1);
            let totals =
                report::sum_days(&days, first, to.date_naive() + chrono::Duration::days(1));
            let from = first.and_hms_opt(0, 0, 0).map_or(to, |d| d.and_utc());
            report::savings(&totals, &baseline, &ctx.spec.prices, from, to, ctx.spec)
        };
        response.savings = Some(SavingsView {
            last_7_days: Some(window(7)),
            last_30_days: Some(window(30)),
            period: None,
        });
        Ok(())
    }

    /// `report`: what the tier cost and saved over the last `days`, from the history records
    /// (each holds what existed from its transition on).
    async fn report(
        &self,
        ctx: &Context<'_>,
        days: u32,
        response: &mut Response,
    ) -> Result<(), HandlerError> {
        use futures::stream::{StreamExt, TryStreamExt};
        let to = ctx.invocation.now;
        let from = to - chrono::Duration::days(i64::from(days));
        // Records from a week before the period too: the last one before it says what existed
        // when the period began.
        let look_from = from - chrono::Duration::days(7);
        let prefix = self.states.history_prefix().to_string();
        let start_after = format!("{prefix}{}", look_from.format("%Y/%m/%d/"));
        let keys = self.states.history_keys(&start_after, 10_000).await?;
        let records: Vec<serde_json::Value> = futures::stream::iter(keys)
            .map(|k| async move { self.states.history_record(&k).await })
            .buffer_unordered(8)
            .try_filter_map(|r| async move { Ok(r) })
            .try_collect()
            .await?;
        let recorded: Vec<report::Recorded> = records
            .iter()
            .filter_map(|r| {
                let at = r.get("finished_at")?.as_str()?.parse().ok()?;
                let usage = serde_json::from_value(r.get("usage")?.clone()).ok()?;
                Some(report::Recorded { at, usage })
            })
            .collect();
        let totals = report::from_history(&recorded, from, to);
        let baseline = report::always_on(ctx.spec, ctx.state);
        let mut savings = report::savings(&totals, &baseline, &ctx.spec.prices, from, to, ctx.spec);
        let covered = totals.hours;
        let asked = (to - from).num_minutes() as f64 / 60.0;
        if covered + 0.05 < asked {
            savings.notes.push(format!(
                "the history covers {covered:.1} of the {asked:.0} hours asked (records with usage begin later)"
            ));
        }
        response.outcome = Outcome::Reported;
        response.savings = Some(SavingsView {
            last_7_days: None,
            last_30_days: None,
            period: Some(savings),
        });
        Ok(())
    }

    /// The recorded ids that still exist: NAT gateways by id, the ALB by ARN.
    async fn confirmed_resources(&self, state: &State) -> Result<Resources, AwsError> {
        let mut resources = state.resources.clone();
        let nat_ids: Vec<String> = resources
            .nat_gateways
            .values()
            .filter_map(|r| r.nat_gateway_id.clone())
            .collect();
        let lb_arn = resources.load_balancer.as_ref().map(|lb| lb.arn.clone());
        let (nats, lb) = tokio::try_join!(
            self.clients.network.describe_nat_gateways_by_id(&nat_ids),
            async {
                match &lb_arn {
                    Some(arn) => {
                        self.clients
                            .load_balancing
                            .describe_load_balancer(arn)
                            .await
                    }
                    None => Ok(None),
                }
            }
        )?;
        for record in resources.nat_gateways.values_mut() {
            let live = record.nat_gateway_id.as_ref().is_some_and(|id| {
                nats.iter()
                    .any(|n| &n.id == id && n.state != NatState::Deleted)
            });
            if !live {
                record.nat_gateway_id = None;
            }
        }
        if lb.is_none() {
            resources.load_balancer = None;
            resources.listeners.clear();
        }
        prune(&mut resources);
        Ok(resources)
    }

    /// `start`, `stop` and `reconcile`: decide, then (unless told to change nothing) confirm or
    /// observe, plan and act.
    async fn converge(
        &self,
        ctx: &Context<'_>,
        response: &mut Response,
    ) -> Result<(), HandlerError> {
        let edge = match &ctx.request.command {
            Command::Start(e) | Command::Stop(e) => Some(e),
            _ => None,
        };
        let decision = match ctx.state.phase {
            // Torn down before `terraform destroy`: nothing but a person rebuilds it.
            Phase::TornDown
                if !(ctx.request.trigger == Trigger::Manual
                    && ctx.request.action() == crate::command::Action::Start) =>
            {
                Decision {
                    desired: None,
                    reason: "skipped: the tier was torn down; only a manual start rebuilds it"
                        .into(),
                    notes: Vec::new(),
                    new_hold: None,
                }
            }
            _ => self.decide(ctx, edge),
        };
        response.warnings.extend(decision.notes.iter().cloned());
        response.decision = Some(decision.clone());
        let Some(desired) = decision.desired else {
            response.outcome = Outcome::Skipped;
            // A refusal is worth a record when someone (or a scheduled edge) asked; a reconcile
            // every 15 minutes that keeps refusing would only bury the decisions that matter.
            if !ctx.request.dry_run && ctx.request.action() != crate::command::Action::Reconcile {
                self.append_history(ctx, response).await;
            }
            return Ok(());
        };
        let hold = self.new_hold(ctx, &decision);
        let (working, done) = match desired {
            Desired::Running => (Phase::Starting, Phase::Running),
            Desired::Stopped => (Phase::Stopping, Phase::Stopped),
        };
        let quiet_repeat = !ctx.request.dry_run
            && (ctx.request.trigger == Trigger::Schedule
                || ctx.request.action() == crate::command::Action::Reconcile)
            && ctx.state.phase == done
            && hold
                == ctx
                    .state
                    .hold
                    .clone()
                    .filter(|h| h.until > ctx.invocation.now)
            && ctx.state.lease.is_none();
        if quiet_repeat && self.confirm(ctx, desired).await? {
            // A scheduled repeat or a reconcile with nothing to do: a handful of reads, no write.
            response.outcome = Outcome::NoOp;
            response.resources = ctx.state.resources.clone();
            return Ok(());
        }
        let reading = match desired {
            Desired::Running => Reading::ForStart,
            Desired::Stopped => Reading::ForStop,
        };
        let observed = observe::observe(&self.clients, ctx.spec, ctx.state, reading).await?;
        let ledger = Ledger::from_observed(&observed, ctx.spec, &ctx.state.resources);
        response.resources = ledger.resources.clone();
        let plan = match desired {
            Desired::Running => plan_start(ctx.spec, &observed, ctx.state),
            Desired::Stopped => plan_stop(ctx.spec, &observed, ctx.state, ctx.invocation.now),
        };
        let intent = Becomes {
            phases: Some((working, done)),
            hold: Some(hold),
        };
        self.act(ctx, plan, ledger, intent, response).await
    }

    /// The hold to keep after acting on `decision`.
    fn new_hold(&self, ctx: &Context, decision: &Decision) -> Option<Hold> {
        let live = ctx
            .state
            .hold
            .clone()
            .filter(|h| h.until > ctx.invocation.now);
        match decision.new_hold.clone() {
            Some(Some(h)) if ctx.state.hold.as_ref() == Some(&h) => Some(h),
            Some(Some(mut h)) => {
                h.reason = ctx.request.reason.clone();
                h.set_by = format!(
                    "{} {} {}",
                    ctx.request.trigger.as_str(),
                    ctx.request.action(),
                    ctx.invocation.id
                );
                Some(h)
            }
            Some(None) => None,
            None => live,
        }
    }

    /// For a scheduled repeat: true when the recorded ids still exist and the tier looks as
    /// `desired` says, from a handful of reads. Anything unexpected means a full observation.
    async fn confirm(&self, ctx: &Context<'_>, desired: Desired) -> Result<bool, AwsError> {
        let spec = ctx.spec;
        let resources = &ctx.state.resources;
        let services = async {
            observe::observe(&self.clients, spec, ctx.state, Reading::Services)
                .await
                .map(|o| o.services)
        };
        match desired {
            Desired::Running => {
                let nat_ids: Option<Vec<String>> = spec
                    .nat_gateways
                    .iter()
                    .map(|n| {
                        resources
                            .nat_gateways
                            .get(&n.name)
                            .and_then(|r| r.nat_gateway_id.clone())
                    })
                    .collect();
                let Some(nat_ids) = nat_ids else {
                    return Ok(false);
                };
                let lb_arn = resources.load_balancer.as_ref().map(|lb| lb.arn.clone());
                if spec.load_balancer.is_some() != lb_arn.is_some() {
                    return Ok(false);
                }
                let tables: Vec<String> = spec
                    .nat_gateways
                    .iter()
                    .flat_map(|n| n.route_table_ids.iter().cloned())
                    .collect();
                let net = &self.clients.network;
                let lbs = &self.clients.load_balancing;
                let (nats, routes, lb, listeners, services) = tokio::try_join!(
                    net.describe_nat_gateways_by_id(&nat_ids),
                    net.describe_route_tables(&tables),
                    async {
                        match &lb_arn {
                            Some(arn) => lbs.describe_load_balancer(arn).await,
                            None => Ok(None),
                        }
                    },
                    async {
                        match &lb_arn {
                            Some(arn) => lbs.describe_listeners(arn).await,
                            None => Ok(Vec::new()),
                        }
                    },
                    services
                )?;
                let nats_ok = nat_ids.iter().all(|id| {
                    nats.iter()
                        .any(|n| &n.id == id && n.state == NatState::Available)
                });
                let routes_ok = spec.nat_gateways.iter().zip(&nat_ids).all(|(n, id)| {
                    n.route_table_ids.iter().all(|rt| {
                        routes.iter().any(|t| {
                            &t.id == rt
                                && t.default_route.as_ref().is_some_and(|r| {
                                    r.active
                                        && r.target
                                            == crate::model::RouteTarget::NatGateway(id.clone())
                                })
                        })
                    })
                });
                let lb_ok = match &spec.load_balancer {
                    None => true,
                    Some(l) => {
                        lb.is_some_and(|lb| lb.state == LoadBalancerState::Active)
                            && l.listeners
                                .iter()
                                .all(|want| listeners.iter().any(|have| have.port == want.port))
                            && listeners.len() == l.listeners.len()
                    }
                };
                let services_ok = spec.services.iter().all(|s| {
                    services.iter().any(|o| {
                        o.service.cluster == s.cluster
                            && o.service.name == s.name
                            && o.service.status == ServiceStatus::Active
                            && is_owned(&o.service.tags, &spec.environment)
                            && (o.service.desired_count > 0
                                || ctx
                                    .state
                                    .recorded
                                    .get(&s.key())
                                    .is_some_and(|r| r.desired_count == 0))
                    })
                });
                Ok(nats_ok && routes_ok && lb_ok && services_ok)
            }
            Desired::Stopped => {
                let subnets: Vec<String> = spec
                    .nat_gateways
                    .iter()
                    .map(|n| n.subnet_id.clone())
                    .collect();
                let net = &self.clients.network;
                let (nats, lb, services, names) = tokio::try_join!(
                    net.describe_nat_gateways(&subnets),
                    async {
                        match &spec.load_balancer {
                            Some(l) => {
                                self.clients
                                    .load_balancing
                                    .find_load_balancer(&l.name)
                                    .await
                            }
                            None => Ok(None),
                        }
                    },
                    services,
                    futures::future::try_join_all(
                        spec.dns_records
                            .iter()
                            .map(|r| { self.clients.dns.records(&r.zone_id, &r.name, &[]) })
                    )
                )?;
                let env = &spec.environment;
                let nats_ok = !nats
                    .iter()
                    .any(|n| is_owned(&n.tags, env) && n.state.is_live());
                let lb_ok = !lb.is_some_and(|lb| is_owned(&lb.tags, env));
                // Excluded services keep what they need running: not a case for the fast path.
                let services_ok = services.iter().all(|o| {
                    !is_owned(&o.service.tags, env)
                        || o.service.status != ServiceStatus::Active
                        || (o.service.desired_count == 0
                            && exclusion(&o.service.tags) == Exclusion::No)
                });
                let records_ok = spec.dns_records.iter().zip(&names).all(|(r, found)| {
                    let aliases = found.iter().filter(|rs| rs.alias.is_some());
                    match spec.wake.as_ref().and_then(|w| w.front_for(&r.name)) {
                        // Asleep with wake on request: every alias points at the front.
                        Some(front) => {
                            let mut at_front = aliases.filter(|rs| {
                                rs.alias.as_ref().is_some_and(|a| {
                                    crate::plan::alias_points_to(a, &front.dns_name)
                                })
                            });
                            r.types
                                .iter()
                                .all(|t| at_front.clone().any(|rs| rs.record_type == t.as_str()))
                                && at_front.all(|_| true)
                                && found.iter().filter(|rs| rs.alias.is_some()).all(|rs| {
                                    rs.alias.as_ref().is_some_and(|a| {
                                        crate::plan::alias_points_to(a, &front.dns_name)
                                    })
                                })
                        }
                        None => aliases.count() == 0,
                    }
                });
                Ok(nats_ok && lb_ok && services_ok && records_ok)
            }
        }
    }

    /// `deploy`: the service's new revision, rolled out if the tier runs, parked if it sleeps.
    async fn deploy(
        &self,
        ctx: &Context<'_>,
        command: &DeployCommand,
        response: &mut Response,
    ) -> Result<(), HandlerError> {
        let spec = ctx.spec;
        let matching: Vec<_> = spec
            .services
            .iter()
            .filter(|s| s.name == command.service || s.key() == command.service)
            .collect();
        let service = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(HandlerError::Refused(format!(
                    "no service '{}' in the spec (services: {})",
                    command.service,
                    spec.services
                        .iter()
                        .map(|s| s.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            _ => {
                return Err(HandlerError::Refused(format!(
                    "'{}' names a service in several clusters; give cluster/name",
                    command.service
                )))
            }
        };
        let (revision, observed) = tokio::try_join!(
            self.clients
                .containers
                .describe_task_definition(&command.task_definition),
            observe::observe(&self.clients, spec, ctx.state, Reading::Services)
        )?;
        let Some(revision) = revision else {
            return Err(HandlerError::Refused(format!(
                "task definition {} does not exist",
                command.task_definition
            )));
        };
        let planned = plan_deploy(
            spec,
            service,
            &revision,
            &observed,
            ctx.state,
            &ctx.request.reason,
            ctx.invocation.now,
        );
        let (plan, mode, key, from) = match planned {
            DeployPlan::Refused(why) => return Err(HandlerError::Refused(why)),
            DeployPlan::Planned {
                plan,
                mode,
                service,
                from,
            } => (plan, mode, service, from),
        };
        let next_start = match mode {
            DeployMode::Rolling => None,
            DeployMode::Parked => response
                .next_transition
                .as_ref()
                .filter(|t| t.desired == Desired::Running)
                .map(|t| t.at),
        };
        response.deploy = Some(DeployView {
            service: key,
            from,
            to: revision.arn.clone(),
            mode,
            next_start,
        });
        response.services = service_views(ctx, &observed);
        let ledger = Ledger {
            resources: ctx.state.resources.clone(),
            load_balancer: None,
        };
        let keep = Becomes {
            phases: None,
            hold: None,
        };
        self.act(ctx, plan, ledger, keep, response).await
    }

    /// The stages every change shares: a dry run returns the plan; an empty plan is a no-op
    /// (with a state write only if the state was wrong); otherwise lease, run, record.
    async fn act(
        &self,
        ctx: &Context<'_>,
        plan: Plan,
        ledger: Ledger,
        intent: Becomes,
        response: &mut Response,
    ) -> Result<(), HandlerError> {
        response.warnings.extend(plan.warnings.iter().cloned());
        response.kept = plan.kept.clone();
        if ctx.request.dry_run {
            response.outcome = Outcome::DryRun;
            response.steps = planned_records(&plan);
            return Ok(());
        }
        if let Some(lease) = ctx.state.live_lease(ctx.invocation.now) {
            response.outcome = Outcome::Busy;
            response.warnings.push(format!(
                "{} {} holds the lease until {}",
                lease.action, lease.owner, lease.expires_at
            ));
            response.lease = Some(lease.clone());
            return Ok(());
        }
        if plan.is_empty() {
            return self.no_op(ctx, ledger, intent, response).await;
        }
        let Some((etag, leased)) = self.lease(ctx, &plan, &intent, response).await? else {
            return Ok(());
        };
        // The wake page shows how far a start is: progress goes into the state as it runs.
        let starting = matches!(intent.phases, Some((Phase::Starting, _)));
        let tracked = (ctx.spec.wake.is_some() && starting).then_some(leased);
        let (report, etag) = self.run(ctx, &plan, ledger, tracked, etag).await;
        self.record(ctx, &plan, report, intent, etag, response)
            .await;
        Ok(())
    }

    /// Nothing to do. The state is written only if it was wrong: the phase (e.g. the first
    /// stop of a tier the scheduler never started), the hold, the ids (a crashed run's
    /// leftovers), or an expired lease; then a history record says so.
    async fn no_op(
        &self,
        ctx: &Context<'_>,
        ledger: Ledger,
        intent: Becomes,
        response: &mut Response,
    ) -> Result<(), HandlerError> {
        response.outcome = Outcome::NoOp;
        let state = ctx.state;
        let mut settled = state.clone();
        if let Some(hold) = intent.hold.clone() {
            settled.hold = hold;
        }
        settled.resources = ledger.resources;
        prune(&mut settled.resources);
        let mut pruned = state.resources.clone();
        prune(&mut pruned);
        let phase = intent.phases.map_or(state.phase, |(_, done)| done);
        response.resources = settled.resources.clone();
        if state.phase == phase
            && state.hold == settled.hold
            && pruned == settled.resources
            && state.lease.is_none()
        {
            response.phase = state.phase;
            return Ok(());
        }
        settled.finish(self.transition(ctx, response), phase);
        if intent.phases.is_some() {
            let usage = report::usage_of(ctx.spec, &settled, phase == Phase::Running);
            settled.usage.transition(usage, ctx.invocation.now);
        }
        self.outlook(ctx, &mut settled);
        match self.states.save(&settled, ctx.etag).await {
            Ok(_) => {}
            Err(StateError::Conflict) => {
                response.outcome = Outcome::Busy;
                response
                    .warnings
                    .push("another invocation wrote the state first; nothing was done".into());
                return Ok(());
            }
            Err(e) => return Err(self.bucket_error(e.into())),
        }
        response.phase = settled.phase;
        response.since = settled.since;
        response.hold = settled.hold.clone();
        response.usage = Some(settled.usage.current);
        self.append_history(ctx, response).await;
        Ok(())
    }

    /// Takes the lease with a conditional write on the version read before observing: if anyone
    /// else wrote in between, the write fails and this invocation acts on nothing. What the plan
    /// records (counts at a stop, a parked revision) is written with it, before anything changes.
    /// `None`: busy.
    async fn lease(
        &self,
        ctx: &Context<'_>,
        plan: &Plan,
        intent: &Becomes,
        response: &mut Response,
    ) -> Result<Option<(ETag, State)>, HandlerError> {
        let mut leased = ctx.state.clone();
        let now = ctx.invocation.now;
        let remaining = match ctx.invocation.deadline {
            Some(d) => d.saturating_duration_since(ctx.started),
            None => self.config.lease,
        };
        let expires_at = chrono::Duration::from_std(remaining)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        leased.lease = Some(Lease {
            owner: ctx.invocation.id.clone(),
            action: ctx.request.action().as_str().to_string(),
            acquired_at: now,
            expires_at,
        });
        if let Some((working, _)) = intent.phases {
            leased.phase = working;
        }
        leased.recorded.extend(plan.record.clone());
        if ctx.spec.wake.is_some() && matches!(intent.phases, Some((Phase::Starting, _))) {
            leased.progress = Some(Progress {
                done: 0,
                total: plan.steps.len(),
                running: Vec::new(),
                updated_at: now,
            });
        }
        match self.states.save(&leased, ctx.etag).await {
            Ok(etag) => Ok(Some((etag, leased))),
            Err(StateError::Conflict) => {
                response.outcome = Outcome::Busy;
                response
                    .warnings
                    .push("another invocation took the lease first; nothing was done".into());
                Ok(None)
            }
            Err(e) => Err(self.bucket_error(e.into())),
        }
    }

    /// Runs the plan. With `tracked` (the leased state), progress is written into the state as
    /// steps finish; the version to write the final state over comes back.
    async fn run(
        &self,
        ctx: &Context<'_>,
        plan: &Plan,
        ledger: Ledger,
        tracked: Option<State>,
        etag: ETag,
    ) -> (RunReport, ETag) {
        let mut options = RunOptions::new(&ctx.invocation.id);
        options.deadline = ctx.invocation.deadline;
        (self.tune)(&mut options);
        let (sender, receiver) = match tracked {
            Some(_) => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let executor = Executor {
            clients: &self.clients,
            spec: ctx.spec,
            options,
            expected: Expectations {
                learned: ctx.state.waits.clone(),
            },
            progress: sender,
        };
        // The executor moves into the run, so the progress channel closes when the run ends.
        let run = async move { executor.run(plan, ledger).await };
        match (tracked, receiver) {
            (Some(state), Some(rx)) => {
                tokio::join!(run, self.write_progress(ctx, rx, state, etag))
            }
            _ => (run.await, etag),
        }
    }

    /// Writes the latest progress into the leased state, at most every
    /// [`PROGRESS_INTERVAL`], until the run ends; returns the version written last. A failed
    /// write ends the progress writes (the final write then reports the problem).
    async fn write_progress(
        &self,
        ctx: &Context<'_>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<crate::executor::RunProgress>,
        mut state: State,
        mut etag: ETag,
    ) -> ETag {
        let mut pending = None;
        let mut last_write: Option<Instant> = None;
        loop {
            let wait = last_write.map_or(std::time::Duration::ZERO, |t| {
                PROGRESS_INTERVAL.saturating_sub(t.elapsed())
            });
            if let Some(p) = pending.take().filter(|_| wait.is_zero()) {
                let p: crate::executor::RunProgress = p;
                let elapsed = chrono::Duration::from_std(ctx.started.elapsed()).unwrap_or_default();
                state.progress = Some(Progress {
                    done: p.done,
                    total: p.total,
                    running: p.running,
                    updated_at: ctx.invocation.now + elapsed,
                });
                match self.states.save(&state, &Some(etag.clone())).await {
                    Ok(new) => etag = new,
                    Err(e) => {
                        tracing::warn!(error = %e, "progress write failed; no more progress writes");
                        return etag;
                    }
                }
                last_write = Some(Instant::now());
                continue;
            }
            let next = if pending.is_some() {
                match tokio::time::timeout(wait, rx.recv()).await {
                    Ok(message) => message.map(Some),
                    Err(_) => Some(None),
                }
            } else {
                rx.recv().await.map(Some)
            };
            match next {
                // The run is over: its final write replaces any progress.
                None => return etag,
                Some(Some(p)) => pending = Some(p),
                Some(None) => {}
            }
        }
    }

    /// The final state (ids, phase, hold, learned waits) written with If-Match on the lease
    /// holder's write, then one history record.
    async fn record(
        &self,
        ctx: &Context<'_>,
        plan: &Plan,
        report: RunReport,
        intent: Becomes,
        etag: ETag,
        response: &mut Response,
    ) {
        let (outcome, phase) = match (&report.end, intent.phases) {
            (RunEnd::Completed, Some((_, done))) => (Outcome::Applied, done),
            (RunEnd::Completed, None) => (Outcome::Applied, ctx.state.phase),
            (RunEnd::DeadlineReached, Some((working, _))) => (Outcome::InProgress, working),
            (RunEnd::DeadlineReached, None) => (Outcome::InProgress, ctx.state.phase),
            (RunEnd::Failed(_), Some(_)) => (Outcome::Failed, Phase::Failed),
            (RunEnd::Failed(_), None) => (Outcome::Failed, ctx.state.phase),
        };
        response.outcome = outcome;
        response.steps = report.steps;
        response.warnings.extend(report.warnings);
        response.error = match report.end {
            RunEnd::Failed(f) => Some(f),
            _ => None,
        };
        let mut resources = report.ledger.resources;
        prune(&mut resources);
        response.resources = resources.clone();

        let mut state = ctx.state.clone();
        if let Some((working, _)) = intent.phases {
            state.phase = working;
        }
        state.resources = resources;
        if let Some(hold) = intent.hold {
            state.hold = hold;
        }
        // What the lease write recorded stays (counts at a stop, a parked revision).
        state.recorded.extend(plan.record.clone());
        for (kind, took) in &report.learned {
            state.learn_wait((*kind).into(), *took);
        }
        let transition = self.transition(ctx, response);
        if outcome == Outcome::Applied
            && phase == Phase::Running
            && ctx.state.phase != Phase::Running
        {
            state.learn_start(transition.finished_at - transition.started_at);
        }
        state.finish(transition, phase);
        if intent.phases.is_some() {
            let usage = report::usage_of(ctx.spec, &state, phase == Phase::Running);
            state.usage.transition(usage, ctx.invocation.now);
        }
        self.outlook(ctx, &mut state);
        match self.states.save(&state, &Some(etag)).await {
            Ok(_) => {}
            Err(e) => {
                response
                    .warnings
                    .push(format!("the final state write failed: {e}"));
                if response.outcome == Outcome::Applied {
                    response.outcome = Outcome::Failed;
                    response.error = Some(FailureRecord {
                        step: None,
                        operation: Some("PutObject".into()),
                        code: None,
                        message: e.to_string(),
                    });
                }
            }
        }
        response.phase = state.phase;
        response.since = state.since;
        response.hold = state.hold.clone();
        response.usage = Some(state.usage.current);
        self.append_history(ctx, response).await;
    }

    /// For the wake page: when the tier starts next on its own, with the hold just written.
    fn outlook(&self, ctx: &Context, state: &mut State) {
        state.next_start = next_change(
            ctx.window.as_ref(),
            ctx.on_demand,
            &ctx.overrides,
            state.hold.as_ref(),
            ctx.invocation.now,
        )
        .filter(|(_, desired)| *desired == Desired::Running)
        .map(|(at, _)| at);
        state.timezone = ctx.window.as_ref().map(|w| w.tz.name().to_string());
    }

    async fn append_history(&self, ctx: &Context<'_>, response: &mut Response) {
        let transition = self.transition(ctx, response);
        if let Err(e) = self
            .states
            .append_history(&transition, history_extra(response))
            .await
        {
            response
                .warnings
                .push(format!("the history record could not be written: {e}"));
        }
    }

    fn transition(&self, ctx: &Context, response: &Response) -> Transition {
        let elapsed = chrono::Duration::from_std(ctx.started.elapsed()).unwrap_or_default();
        Transition {
            invocation_id: ctx.invocation.id.clone(),
            action: ctx.request.action().as_str().to_string(),
            trigger: ctx.request.trigger.as_str().to_string(),
            reason: ctx.request.reason.clone(),
            outcome: response.outcome.as_str().to_string(),
            started_at: ctx.invocation.now,
            finished_at: ctx
                .invocation
                .now
                .checked_add_signed(elapsed)
                .unwrap_or(ctx.invocation.now),
            steps: response.steps.clone(),
            error: response.error.clone(),
        }
    }

    fn finish(&self, mut response: Response, started: Instant) -> Response {
        response.duration_ms = started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        tracing::info!(
            action = response.action.as_str(),
            outcome = response.outcome.as_str(),
            phase = ?response.phase,
            steps = response.steps.len(),
            duration_ms = response.duration_ms,
            "invocation finished"
        );
        response
    }
}

/// The hold a start or stop asks for. A wake's is bounded by `wake.max_hours` and defaults to
/// `wake.default_hours`; a wake when the spec has no `wake` section is refused.
fn wake_hold(
    request: &Request,
    spec: &Spec,
    now: DateTime<Utc>,
) -> Result<Option<HoldRequest>, HandlerError> {
    let asked = match &request.command {
        Command::Start(e) | Command::Stop(e) => e.hold,
        _ => None,
    };
    if request.trigger != Trigger::Wake {
        return Ok(asked);
    }
    let Some(wake) = &spec.wake else {
        return Err(HandlerError::Refused(
            "wake on request is off: the spec has no wake section".into(),
        ));
    };
    let max = chrono::Duration::hours(i64::from(wake.max_hours));
    match asked {
        None => Ok(Some(HoldRequest::For(chrono::Duration::hours(i64::from(
            wake.default_hours,
        ))))),
        Some(HoldRequest::For(span)) if span > max => Err(HandlerError::Refused(format!(
            "a wake holds at most wake.max_hours ({}h); asked for {}",
            wake.max_hours,
            crate::time::span_text(span)
        ))),
        Some(HoldRequest::Until(t)) if t - now > max + chrono::Duration::minutes(1) => {
            Err(HandlerError::Refused(format!(
                "a wake holds at most wake.max_hours ({}h); asked until {}",
                wake.max_hours,
                t.to_rfc3339()
            )))
        }
        other => Ok(other),
    }
}

/// With idle stop: how long the running tier has been quiet. The alarm says idle from `since`,
/// meaning no request for `idle_minutes` before that; a tier started since has been quiet since
/// its start (the alarm would have said busy otherwise).
fn idleness(spec: &Spec, state: &State, activity: Option<&Activity>) -> Option<Idleness> {
    let minutes = spec.wake.as_ref()?.idle_minutes?;
    let quiet_since = match (state.phase, activity) {
        (Phase::Running, Some(a)) if a.idle => {
            let by_alarm = a.since - chrono::Duration::minutes(i64::from(minutes));
            Some(state.since.map_or(by_alarm, |s| s.max(by_alarm)))
        }
        _ => None,
    };
    Some(Idleness {
        minutes,
        quiet_since,
    })
}

/// The environment guard: an event meant for another environment is answered, not acted on.
fn guard(request: &Request, environment: &str) -> Option<String> {
    request
        .environment
        .as_deref()
        .filter(|e| *e != environment)
        .map(|other| {
            format!("the event is for environment '{other}'; this function serves '{environment}'")
        })
}

/// Each spec service: the revision it points at now, and the one it runs after the next start.
fn service_views(ctx: &Context, observed: &observe::Observed) -> Vec<ServiceView> {
    ctx.spec
        .services
        .iter()
        .map(|s| {
            let o = observed
                .services
                .iter()
                .find(|o| o.service.cluster == s.cluster && o.service.name == s.name)
                .map(|o| &o.service)
                .filter(|svc| svc.status == ServiceStatus::Active);
            let recorded = ctx.state.recorded.get(&s.key());
            let next = o
                .and_then(|svc| svc.task_definition.clone())
                .or_else(|| recorded.and_then(|r| r.task_definition.clone()))
                .or_else(|| Some(s.task_definition.clone()));
            ServiceView {
                service: s.key(),
                task_definition: o.and_then(|svc| svc.task_definition.clone()),
                desired_count: o.map_or(0, |svc| svc.desired_count),
                running_count: o.map_or(0, |svc| svc.running_count),
                next_start_task_definition: next,
            }
        })
        .collect()
}

fn history_extra(response: &Response) -> Value {
    serde_json::json!({
        "environment": response.environment,
        "dry_run": response.dry_run,
        "phase": response.phase,
        "decision": response.decision,
        "warnings": response.warnings,
        "kept": response.kept,
        "resources": response.resources,
        "deploy": response.deploy,
        "usage": response.usage,
    })
}
