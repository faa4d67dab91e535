//! One invocation, end to end: parse, load the spec, read state, observe, plan, take the lease,
//! act, record. Used by the Lambda runtime and by the one-shot local command alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::aws::{AwsError, Clients, ETag};
use crate::config::Config;
use crate::event::{Action, EventError, OverrideMode, Request};
use crate::executor::{planned_records, prune, Checkpoint, Executor, Ledger, RunEnd, RunOptions};
use crate::observe::observe;
use crate::plan::plan;
use crate::schedule::{
    decide, Decision, DecisionInput, Desired, Hold, Intent, OverrideTags, Window, TAG_OVERRIDE,
    TAG_OVERRIDE_UNTIL,
};
use crate::spec::{Spec, SpecErrors};
use crate::state::{
    FailureRecord, Lease, Phase, Resources, State, StateError, StateStore, StepRecord, Transition,
};

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Steps ran and the tier reached the wanted phase.
    Applied,
    /// Nothing was missing.
    NoOp,
    /// The plan, not executed.
    DryRun,
    /// Deliberately not acted on (the event was for another environment).
    Skipped,
    /// Another invocation holds the lease; nothing was done.
    Busy,
    /// A step failed; see `error`.
    Failed,
    /// The Lambda deadline came near; the next invocation continues.
    InProgress,
    /// `status` answered.
    Reported,
}

/// The response of every invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub action: Action,
    pub environment: String,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub trigger: crate::event::Trigger,
    pub reason: String,
    pub invocation_id: String,
    /// The phase after this invocation.
    pub phase: Phase,
    /// Since when the tier has been in that phase.
    pub since: Option<DateTime<Utc>>,
    /// Steps planned (dry run) or run, each with its status and duration.
    pub steps: Vec<StepRecord>,
    /// Ids of what exists and is ours.
    pub resources: Resources,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureRecord>,
    /// `status` only: who holds the lease, if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// `status` only: the last transitions, newest last.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent_transitions: Vec<Transition>,
    /// What the schedule, overrides and holds decided (for `status`: what reconcile would do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The override tags as read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<OverrideTags>,
    /// The hold in force, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// The next edge of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_transition: Option<NextTransition>,
    /// What a stop kept running because an excluded service needs it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
}

/// The next edge of the business-hours window.
#[derive(Debug, Clone, Serialize)]
pub struct NextTransition {
    pub at: DateTime<Utc>,
    /// The same instant in the schedule's time zone.
    pub at_local: String,
    pub desired: Desired,
}

impl Response {
    fn new(request: &Request, environment: &str, invocation: &Invocation) -> Response {
        Response {
            action: request.action,
            environment: environment.to_string(),
            outcome: Outcome::Skipped,
            dry_run: request.dry_run,
            trigger: request.trigger,
            reason: request.reason.clone(),
            invocation_id: invocation.id.clone(),
            phase: Phase::Unknown,
            since: None,
            steps: vec![],
            resources: Resources::default(),
            warnings: vec![],
            error: None,
            lease: None,
            recent_transitions: vec![],
            decision: None,
            overrides: None,
            hold: None,
            next_transition: None,
            kept: vec![],
            started_at: invocation.now,
            duration_ms: 0,
        }
    }
}

fn w_tz(window: &Option<Window>) -> chrono_tz::Tz {
    window.as_ref().map_or(chrono_tz::UTC, |w| w.tz)
}

fn trigger_name(t: crate::event::Trigger) -> &'static str {
    match t {
        crate::event::Trigger::Manual => "manual",
        crate::event::Trigger::Schedule => "scheduled",
    }
}

/// Invocation failures that happen before any plan: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{0}")]
    Spec(#[from] SpecErrors),
    #[error("the runtime spec s3://{bucket}/{key} does not exist; apply terraform-runtime first")]
    SpecMissing { bucket: String, key: String },
    #[error("reading AWS failed, nothing was changed: {0}")]
    Aws(#[from] AwsError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Facts about the invocation that come from outside the payload.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id, or a generated one locally.
    pub id: String,
    /// The current time (injected, never read from the clock inside the logic).
    pub now: DateTime<Utc>,
    /// When the Lambda will be killed; `None` locally.
    pub deadline: Option<tokio::time::Instant>,
}

/// The handler with its configuration and clients, built once at cold start.
pub struct Handler {
    pub config: Config,
    pub clients: Clients,
    pub states: StateStore,
    /// Per-run knobs tests may tighten (poll interval, backoff).
    pub tune: fn(&mut RunOptions),
}

impl Handler {
    /// A handler over these clients.
    pub fn new(config: Config, clients: Clients) -> Self {
        let states = StateStore::new(
            clients.store.clone(),
            &config.state_bucket,
            config.state_key(),
            config.history_prefix(),
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
        payload: &Value,
        invocation: Invocation,
    ) -> Result<Response, HandlerError> {
        let request = Request::from_value(payload)?;
        let env = &self.config.environment;
        let started = tokio::time::Instant::now();
        let mut response = Response::new(&request, env, &invocation);
        if let Some(other) = request.environment.as_deref().filter(|e| e != env) {
            // Not an error: a shared schedule may fan out to several functions.
            response.warnings.push(format!(
                "the event is for environment '{other}'; this function serves '{env}'"
            ));
            return Ok(self.finish_response(response, started));
        }
        for (name, t) in [
            ("hold_until", request.hold_until),
            ("until", request.override_until),
        ] {
            if t.is_some_and(|t| t <= invocation.now) {
                return Err(HandlerError::Event(EventError(vec![format!(
                    "'{name}' is in the past"
                )])));
            }
        }

        let spec = self.load_spec().await?;
        if request.action == Action::Override {
            return self
                .set_override(&request, &spec, &invocation, response, started)
                .await;
        }
        let versioned = self.states.load(env).await?;
        let state = versioned.state;
        response.phase = state.phase;
        response.since = state.since;

        let acting = request.action != Action::Status && !request.dry_run;
        if acting {
            if let Some(lease) = state.live_lease(invocation.now) {
                response.outcome = Outcome::Busy;
                response.warnings.push(format!(
                    "{} {} holds the lease until {}",
                    lease.action, lease.owner, lease.expires_at
                ));
                response.lease = Some(lease.clone());
                return Ok(self.finish_response(response, started));
            }
        }

        let (observed, cluster_tags) = tokio::try_join!(
            observe(&self.clients, &spec, &state),
            self.cluster_tags(&spec)
        )?;
        let ledger = Ledger::from_observed(&observed, env, &state.resources);
        response.resources = ledger.resources.clone();

        // Decide what the tier should be doing, at `at` for a dry run that asks.
        let now = request.at.unwrap_or(invocation.now);
        let window = spec.schedule.as_ref().and_then(Window::from_spec);
        let overrides = OverrideTags::read(&cluster_tags, now);
        response.overrides = Some(overrides.clone());
        response.hold = state.hold.clone().filter(|h| h.until > now);
        response.next_transition =
            window
                .as_ref()
                .and_then(|w| w.next_transition(now))
                .map(|(at, desired)| NextTransition {
                    at_local: at.with_timezone(&w_tz(&window)).to_rfc3339(),
                    at,
                    desired,
                });
        let intent = match request.action {
            Action::Start => Intent::Start,
            Action::Stop => Intent::Stop,
            _ => Intent::Reconcile,
        };
        let decision = decide(&DecisionInput {
            intent,
            trigger: request.trigger,
            force: request.force,
            now,
            window: window.as_ref(),
            overrides: &overrides,
            hold: state.hold.as_ref(),
            default_hold: self.config.default_hold,
            hold_until: request.hold_until,
            hold_for: request.hold_for,
        });
        response.warnings.extend(decision.notes.iter().cloned());
        response.decision = Some(decision.clone());

        if request.action == Action::Status {
            response.outcome = Outcome::Reported;
            response.lease = state.live_lease(invocation.now).cloned();
            response.recent_transitions = state.recent_transitions.clone();
            return Ok(self.finish_response(response, started));
        }

        let Some(desired) = decision.desired else {
            response.outcome = Outcome::Skipped;
            if !request.dry_run {
                let transition =
                    self.transition(&request, &invocation, &response, started.elapsed());
                if let Err(e) = self
                    .states
                    .append_history(&transition, self.history_extra(&response))
                    .await
                {
                    response
                        .warnings
                        .push(format!("the history record could not be written: {e}"));
                }
            }
            return Ok(self.finish_response(response, started));
        };
        let new_hold = match decision.new_hold.clone() {
            Some(Some(h)) if state.hold.as_ref() == Some(&h) => Some(h),
            Some(Some(mut h)) => {
                h.reason = request.reason.clone();
                h.set_by = format!(
                    "{} {} {}",
                    trigger_name(request.trigger),
                    request.action.as_str(),
                    invocation.id
                );
                Some(h)
            }
            Some(None) => None,
            None => state.hold.clone().filter(|h| h.until > invocation.now),
        };

        let plan = plan(desired, &spec, &observed, &state, invocation.now);
        response.warnings.extend(plan.warnings.iter().cloned());
        response.kept = plan.kept.clone();
        if request.dry_run {
            response.outcome = Outcome::DryRun;
            response.steps = planned_records(&plan);
            return Ok(self.finish_response(response, started));
        }

        let target = match desired {
            Desired::Running => Phase::Running,
            Desired::Stopped => Phase::Stopped,
        };
        if plan.is_empty() {
            response.outcome = Outcome::NoOp;
            // What state should say now: the observed ids (a crashed run may have left stale
            // ones), the hold, the phase.
            let mut settled = state.clone();
            settled.hold = new_hold;
            settled.resources = ledger.resources.clone();
            prune(&mut settled.resources);
            self.record_no_op(
                &request,
                &invocation,
                state,
                settled,
                versioned.etag,
                target,
                &mut response,
                started.elapsed(),
            )
            .await?;
            return Ok(self.finish_response(response, started));
        }

        // Take the lease with a conditional write on the version read before observing: if anyone
        // else wrote in between, the write fails and this invocation acts on nothing.
        let mut leased = state.clone();
        let lease_until = invocation.deadline.map_or_else(
            || invocation.now + chrono::Duration::from_std(self.config.lease).expect("lease fits"),
            |d| {
                invocation.now
                    + chrono::Duration::from_std(d.saturating_duration_since(started))
                        .expect("deadline fits")
            },
        );
        leased.lease = Some(Lease {
            owner: invocation.id.clone(),
            action: request.action.as_str().to_string(),
            acquired_at: invocation.now,
            expires_at: lease_until,
        });
        leased.phase = match desired {
            Desired::Running => Phase::Starting,
            Desired::Stopped => Phase::Stopping,
        };
        leased.recorded.extend(plan.record.clone());
        let etag = match self.states.save(&leased, &versioned.etag).await {
            Ok(etag) => etag,
            Err(StateError::Conflict) => {
                response.outcome = Outcome::Busy;
                response
                    .warnings
                    .push("another invocation took the lease first; nothing was done".into());
                return Ok(self.finish_response(response, started));
            }
            Err(e) => return Err(e.into()),
        };

        let session = Session {
            states: &self.states,
            current: Mutex::new((leased, Some(etag))),
        };
        let mut options = RunOptions::new(&invocation.id);
        options.deadline = invocation.deadline;
        (self.tune)(&mut options);
        let executor = Executor {
            clients: &self.clients,
            spec: &spec,
            options,
            checkpoint: &session,
        };
        let report = executor.run(&plan, ledger).await;

        let (outcome, phase) = match &report.end {
            RunEnd::Completed => (Outcome::Applied, target),
            RunEnd::DeadlineReached => (Outcome::InProgress, session.current.lock().await.0.phase),
            RunEnd::Failed(_) => (Outcome::Failed, Phase::Failed),
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

        let transition = self.transition(&request, &invocation, &response, started.elapsed());
        let (mut final_state, etag) = session.current.into_inner();
        final_state.resources = resources;
        final_state.hold = new_hold;
        final_state.finish(transition.clone(), phase);
        match self.states.save(&final_state, &etag).await {
            Ok(_) => {}
            Err(e) => {
                response
                    .warnings
                    .push(format!("the final state write failed: {e}"));
                if response.outcome == Outcome::Applied {
                    response.outcome = Outcome::Failed;
                    response.error = Some(FailureRecord {
                        step: None,
                        code: None,
                        message: e.to_string(),
                    });
                }
            }
        }
        response.phase = final_state.phase;
        response.since = final_state.since;
        response.hold = final_state.hold.clone();
        if let Err(e) = self
            .states
            .append_history(&transition, self.history_extra(&response))
            .await
        {
            response
                .warnings
                .push(format!("the history record could not be written: {e}"));
        }
        Ok(self.finish_response(response, started))
    }

    /// Tags of every cluster the spec's services run in (where the override tags live).
    async fn cluster_tags(
        &self,
        spec: &Spec,
    ) -> Result<Vec<(String, crate::model::Tags)>, AwsError> {
        let clusters: std::collections::BTreeSet<&str> =
            spec.services.iter().map(|s| s.cluster.as_str()).collect();
        futures::future::try_join_all(clusters.into_iter().map(|c| async move {
            Ok::<_, AwsError>((
                c.to_string(),
                self.clients.containers.cluster_tags(c).await?,
            ))
        }))
        .await
    }

    /// The `override` action: sets (or clears) the override tags on the tier's clusters.
    async fn set_override(
        &self,
        request: &Request,
        spec: &Spec,
        invocation: &Invocation,
        mut response: Response,
        started: tokio::time::Instant,
    ) -> Result<Response, HandlerError> {
        let clusters: std::collections::BTreeSet<&str> =
            spec.services.iter().map(|s| s.cluster.as_str()).collect();
        if clusters.is_empty() {
            return Err(HandlerError::Event(EventError(vec![
                "the spec has no ECS services, so there is no cluster to carry override tags"
                    .into(),
            ])));
        }
        let mode = request
            .override_mode
            .expect("validated: override has a mode");
        let mut tags = crate::model::Tags::new();
        let value = match mode {
            OverrideMode::KeepRunning => Some("keep-running"),
            OverrideMode::KeepStopped => Some("keep-stopped"),
            OverrideMode::Clear => None,
        };
        if let Some(v) = value {
            tags.insert(TAG_OVERRIDE.into(), v.into());
            if let Some(u) = request.override_until {
                tags.insert(TAG_OVERRIDE_UNTIL.into(), u.to_rfc3339());
            }
        }
        response.steps = clusters
            .iter()
            .enumerate()
            .map(|(i, c)| StepRecord {
                id: i,
                action: if value.is_some() {
                    "set-override-tags".into()
                } else {
                    "remove-override-tags".into()
                },
                target: format!("cluster/{c}"),
                after: vec![],
                why: request.reason.clone(),
                status: "planned".into(),
                duration_ms: 0,
                detail: value.map(|v| {
                    format!(
                        "{v}{}",
                        request
                            .override_until
                            .map(|u| format!(" until {}", u.to_rfc3339()))
                            .unwrap_or_default()
                    )
                }),
            })
            .collect();
        if request.dry_run {
            response.outcome = Outcome::DryRun;
            return Ok(self.finish_response(response, started));
        }
        for (step, cluster) in response.steps.iter_mut().zip(&clusters) {
            let t0 = tokio::time::Instant::now();
            // An override without expiry must not keep an old expiry: remove it first.
            let result = if value.is_some() {
                if request.override_until.is_none() {
                    self.clients
                        .containers
                        .remove_cluster_tags(cluster, &[TAG_OVERRIDE_UNTIL.to_string()])
                        .await?;
                }
                self.clients
                    .containers
                    .set_cluster_tags(cluster, &tags)
                    .await
            } else {
                self.clients
                    .containers
                    .remove_cluster_tags(
                        cluster,
                        &[TAG_OVERRIDE.to_string(), TAG_OVERRIDE_UNTIL.to_string()],
                    )
                    .await
            };
            step.duration_ms = t0.elapsed().as_millis() as u64;
            match result {
                Ok(()) => step.status = "done".into(),
                Err(e) => {
                    step.status = "failed".into();
                    response.outcome = Outcome::Failed;
                    response.error = Some(FailureRecord {
                        step: Some(step.target.clone()),
                        code: e.code.clone(),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
        if response.outcome != Outcome::Failed {
            response.outcome = Outcome::Applied;
        }
        let transition = self.transition(request, invocation, &response, started.elapsed());
        if let Err(e) = self
            .states
            .append_history(&transition, self.history_extra(&response))
            .await
        {
            response
                .warnings
                .push(format!("the history record could not be written: {e}"));
        }
        Ok(self.finish_response(response, started))
    }

    async fn load_spec(&self) -> Result<Spec, HandlerError> {
        let Some((body, _)) = self.clients.store.get(&self.config.spec_key).await? else {
            return Err(HandlerError::SpecMissing {
                bucket: self.config.state_bucket.clone(),
                key: self.config.spec_key.clone(),
            });
        };
        Ok(Spec::from_json(&body, &self.config.environment)?)
    }

    /// A no-op still leaves a history record (except a quiet `reconcile`: no change, no notes);
    /// state is written only if it was wrong: the phase
    /// (e.g. the first stop of a tier the scheduler never started), the hold, the ids (a crashed
    /// run's leftovers), or an expired lease.
    #[allow(clippy::too_many_arguments)]
    async fn record_no_op(
        &self,
        request: &Request,
        invocation: &Invocation,
        state: State,
        settled: State,
        etag: Option<ETag>,
        target: Phase,
        response: &mut Response,
        elapsed: std::time::Duration,
    ) -> Result<(), HandlerError> {
        let transition = self.transition(request, invocation, response, elapsed);
        let mut pruned = state.resources.clone();
        prune(&mut pruned);
        if state.phase != target
            || state.hold != settled.hold
            || pruned != settled.resources
            || state.lease.is_some()
        {
            // An expired lease left by a crashed run is cleared here too.
            let mut state = settled;
            state.finish(transition.clone(), target);
            match self.states.save(&state, &etag).await {
                Ok(_) => {}
                Err(StateError::Conflict) => {
                    response.outcome = Outcome::Busy;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            response.phase = state.phase;
            response.since = state.since;
            response.hold = state.hold.clone();
        } else {
            response.phase = state.phase;
            // A periodic reconcile that found nothing to do and nothing to say costs only reads:
            // recording it every 15 minutes would bury the decisions that matter.
            let quiet = request.action == Action::Reconcile
                && response
                    .decision
                    .as_ref()
                    .is_some_and(|d| d.notes.is_empty());
            if quiet {
                return Ok(());
            }
        }
        if let Err(e) = self
            .states
            .append_history(&transition, self.history_extra(response))
            .await
        {
            response
                .warnings
                .push(format!("the history record could not be written: {e}"));
        }
        Ok(())
    }

    fn transition(
        &self,
        request: &Request,
        invocation: &Invocation,
        response: &Response,
        elapsed: std::time::Duration,
    ) -> Transition {
        Transition {
            invocation_id: invocation.id.clone(),
            action: request.action.as_str().to_string(),
            trigger: serde_json::to_value(request.trigger)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            reason: request.reason.clone(),
            outcome: serde_json::to_value(response.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            started_at: invocation.now,
            finished_at: invocation.now + chrono::Duration::from_std(elapsed).unwrap_or_default(),
            steps: response.steps.clone(),
            error: response.error.clone(),
        }
    }

    fn history_extra(&self, response: &Response) -> Value {
        serde_json::json!({
            "environment": response.environment,
            "dry_run": response.dry_run,
            "decision": response.decision,
            "warnings": response.warnings,
            "kept": response.kept,
            "resources": response.resources,
        })
    }

    fn finish_response(&self, mut response: Response, started: tokio::time::Instant) -> Response {
        response.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            action = response.action.as_str(),
            outcome = ?response.outcome,
            phase = ?response.phase,
            steps = response.steps.len(),
            duration_ms = response.duration_ms,
            "invocation finished"
        );
        response
    }
}

/// Writes the ledger into the leased state after each step, with If-Match on the version this
/// invocation wrote last. A conflict means the lease was lost, which aborts the run.
struct Session<'a> {
    states: &'a StateStore,
    current: Mutex<(State, Option<ETag>)>,
}

impl Checkpoint for Session<'_> {
    fn save<'b>(
        &'b self,
        resources: &'b Resources,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'b>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if current.0.resources == *resources {
                return Ok(());
            }
            let mut next = current.0.clone();
            next.resources = resources.clone();
            match self.states.save(&next, &current.1).await {
                Ok(etag) => {
                    *current = (next, Some(etag));
                    Ok(())
                }
                Err(StateError::Conflict) => {
                    Err("the state changed under this invocation's lease; stopping".to_string())
                }
                Err(e) => Err(format!("checkpoint failed: {e}")),
            }
        })
    }
}

/// Shared handle used by `main`.
pub type SharedHandler = Arc<Handler>;
