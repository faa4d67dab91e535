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
use crate::command::{Command, DeployCommand, Edge, PayloadError, Request, Trigger};
use crate::config::Config;
use crate::executor::{
    planned_records, prune, Executor, Expectations, Ledger, RunEnd, RunOptions, RunReport,
};
use crate::model::{Cluster, LoadBalancerState, NatState, ServiceStatus};
use crate::observe::{self, Reading};
use crate::ownership::{exclusion, is_owned, Exclusion};
use crate::plan::admin::{plan_deploy, plan_override, DeployMode, DeployPlan};
use crate::plan::{plan_start, plan_stop, plan_teardown, Plan};
use crate::schedule::{
    decide, next_change, Decision, DecisionInput, Desired, Hold, Intent, OverrideTags, Window,
};
use crate::spec::{Spec, SpecErrors};
use crate::state::{
    FailureRecord, Lease, Phase, Resources, State, StateError, StateStore, Transition,
};

mod response;

pub use response::{DeployView, NextTransition, Outcome, Response, ServiceView};

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
            HandlerError::State(_) => "StateWriteFailed",
        }
    }
}

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
        let loaded = self.load().await?;
        response.phase = loaded.state.phase;
        response.since = loaded.state.since;
        let now = request.at.unwrap_or(invocation.now);
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
            now,
        };
        self.describe_schedule(&ctx, &mut response);
        match &request.command {
            Command::Status => self.status(&ctx, &mut response).await?,
            Command::Report(_) => {
                response.outcome = Outcome::Reported;
            }
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
            Command::Start(_) | Command::Stop(_) | Command::Reconcile => {
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
        let clusters = observe::clusters(&self.clients, &spec).await?;
        Ok(Loaded {
            spec,
            state: versioned.state,
            etag: versioned.etag,
            clusters,
        })
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
        response.next_transition =
            next_change(ctx.window.as_ref(), &ctx.overrides, hold.as_ref(), ctx.now).map(
                |(at, desired)| NextTransition {
                    at,
                    at_local: crate::time::local_text(at, self.zone(ctx)),
                    desired,
                },
            );
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
            hold_request: edge.and_then(|e| e.hold),
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
        let decision = self.decide(ctx, edge);
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
                let records_ok = names.iter().flatten().all(|rs| rs.alias.is_none());
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
        let Some(etag) = self.lease(ctx, &plan, &intent, response).await? else {
            return Ok(());
        };
        let report = self.run(ctx, &plan, ledger).await;
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
    ) -> Result<Option<ETag>, HandlerError> {
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
        match self.states.save(&leased, ctx.etag).await {
            Ok(etag) => Ok(Some(etag)),
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

    async fn run(&self, ctx: &Context<'_>, plan: &Plan, ledger: Ledger) -> RunReport {
        let mut options = RunOptions::new(&ctx.invocation.id);
        options.deadline = ctx.invocation.deadline;
        (self.tune)(&mut options);
        let executor = Executor {
            clients: &self.clients,
            spec: ctx.spec,
            options,
            expected: Expectations {
                learned: ctx.state.waits.clone(),
            },
        };
        executor.run(plan, ledger).await
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
        state.finish(self.transition(ctx, response), phase);
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
        self.append_history(ctx, response).await;
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
    })
}
