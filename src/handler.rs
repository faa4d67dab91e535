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
use crate::event::{Action, EventError, Request};
use crate::executor::{planned_records, prune, Checkpoint, Executor, Ledger, RunEnd, RunOptions};
use crate::observe::observe;
use crate::plan::plan;
use crate::spec::{Spec, SpecErrors};
use crate::state::{FailureRecord, Lease, Phase, Resources, State, StateError, StateStore, StepRecord, Transition};

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
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
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
        let states = StateStore::new(clients.store.clone(), &config.state_bucket, config.state_key(), config.history_prefix());
        Handler { config, clients, states, tune: |_| {} }
    }

    /// Handles one payload.
    pub async fn handle(&self, payload: &Value, invocation: Invocation) -> Result<Response, HandlerError> {
        let request = Request::from_value(payload)?;
        let env = &self.config.environment;
        let mut response = Response {
            action: request.action,
            environment: env.clone(),
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
            started_at: invocation.now,
            duration_ms: 0,
        };
        let started = tokio::time::Instant::now();
        if let Some(other) = request.environment.as_deref().filter(|e| e != env) {
            // Not an error: a shared schedule may fan out to several functions.
            response.warnings.push(format!("the event is for environment '{other}'; this function serves '{env}'"));
            return Ok(response);
        }

        let spec = self.load_spec().await?;
        let versioned = self.states.load(env).await?;
        let state = versioned.state;
        response.phase = state.phase;
        response.since = state.since;

        if request.action != Action::Status && !request.dry_run {
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

        let observed = observe(&self.clients, &spec, &state).await?;
        let ledger = Ledger::from_observed(&observed, env, &state.resources);

        if request.action == Action::Status {
            response.outcome = Outcome::Reported;
            response.resources = ledger.resources;
            response.lease = state.live_lease(invocation.now).cloned();
            response.recent_transitions = state.recent_transitions.clone();
            return Ok(self.finish_response(response, started));
        }

        let plan = plan(request.action, &spec, &observed, &state, invocation.now);
        response.warnings.extend(plan.warnings.iter().cloned());
        response.resources = ledger.resources.clone();
        if request.dry_run {
            response.outcome = Outcome::DryRun;
            response.steps = planned_records(&plan);
            return Ok(self.finish_response(response, started));
        }

        let target = match request.action {
            Action::Start => Phase::Running,
            _ => Phase::Stopped,
        };
        if plan.is_empty() {
            response.outcome = Outcome::NoOp;
            self.record_no_op(&request, &invocation, state, versioned.etag, target, &mut response, started.elapsed()).await?;
            return Ok(self.finish_response(response, started));
        }

        // Take the lease with a conditional write on the version read before observing: if anyone
        // else wrote in between, the write fails and this invocation acts on nothing.
        let mut leased = state.clone();
        let lease_until = invocation.deadline.map_or_else(
            || invocation.now + chrono::Duration::from_std(self.config.lease).expect("lease fits"),
            |d| invocation.now + chrono::Duration::from_std(d.saturating_duration_since(tokio::time::Instant::now())).expect("deadline fits"),
        );
        leased.lease = Some(Lease {
            owner: invocation.id.clone(),
            action: request.action.as_str().to_string(),
            acquired_at: invocation.now,
            expires_at: lease_until,
        });
        leased.phase = match request.action {
            Action::Start => Phase::Starting,
            _ => Phase::Stopping,
        };
        leased.recorded.extend(plan.record.clone());
        let etag = match self.states.save(&leased, &versioned.etag).await {
            Ok(etag) => etag,
            Err(StateError::Conflict) => {
                response.outcome = Outcome::Busy;
                response.warnings.push("another invocation took the lease first; nothing was done".into());
                return Ok(self.finish_response(response, started));
            }
            Err(e) => return Err(e.into()),
        };

        let session = Session { states: &self.states, current: Mutex::new((leased, Some(etag))) };
        let mut options = RunOptions::new(&invocation.id);
        options.deadline = invocation.deadline;
        (self.tune)(&mut options);
        let executor = Executor { clients: &self.clients, spec: &spec, options, checkpoint: &session };
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
        final_state.finish(transition.clone(), phase);
        if outcome == Outcome::InProgress {
            // Keep the intermediate phase; the lease is released so the next run continues.
            final_state.lease = None;
        }
        match self.states.save(&final_state, &etag).await {
            Ok(_) => {}
            Err(e) => {
                response.warnings.push(format!("the final state write failed: {e}"));
                if response.outcome == Outcome::Applied {
                    response.outcome = Outcome::Failed;
                    response.error = Some(FailureRecord { step: None, code: None, message: e.to_string() });
                }
            }
        }
        response.phase = final_state.phase;
        response.since = final_state.since;
        if let Err(e) = self.states.append_history(&transition, self.history_extra(&response)).await {
            response.warnings.push(format!("the history record could not be written: {e}"));
        }
        Ok(self.finish_response(response, started))
    }

    async fn load_spec(&self) -> Result<Spec, HandlerError> {
        let Some((body, _)) = self.clients.store.get(&self.config.spec_key).await? else {
            return Err(HandlerError::SpecMissing { bucket: self.config.state_bucket.clone(), key: self.config.spec_key.clone() });
        };
        Ok(Spec::from_json(&body, &self.config.environment)?)
    }

    /// A no-op still leaves a history record; state is written only if its phase was wrong
    /// (e.g. the first stop of a tier that was never started by the scheduler).
    async fn record_no_op(
        &self,
        request: &Request,
        invocation: &Invocation,
        state: State,
        etag: Option<ETag>,
        target: Phase,
        response: &mut Response,
        elapsed: std::time::Duration,
    ) -> Result<(), HandlerError> {
        let transition = self.transition(request, invocation, response, elapsed);
        if state.phase != target {
            let mut state = state;
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
        } else {
            response.phase = state.phase;
        }
        if let Err(e) = self.states.append_history(&transition, self.history_extra(response)).await {
            response.warnings.push(format!("the history record could not be written: {e}"));
        }
        Ok(())
    }

    fn transition(&self, request: &Request, invocation: &Invocation, response: &Response, elapsed: std::time::Duration) -> Transition {
        Transition {
            invocation_id: invocation.id.clone(),
            action: request.action.as_str().to_string(),
            trigger: serde_json::to_value(request.trigger).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            reason: request.reason.clone(),
            outcome: serde_json::to_value(response.outcome).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            started_at: invocation.now,
            finished_at: invocation.now + chrono::Duration::from_std(elapsed).unwrap_or_default(),
            steps: response.steps.clone(),
            error: response.error.clone(),
        }
    }

    fn history_extra(&self, response: &Response) -> Value {
        serde_json::json!({ "environment": response.environment, "warnings": response.warnings, "resources": response.resources })
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
    fn save<'b>(&'b self, resources: &'b Resources) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'b>> {
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
                Err(StateError::Conflict) => Err("the state changed under this invocation's lease; stopping".to_string()),
                Err(e) => Err(format!("checkpoint failed: {e}")),
            }
        })
    }
}

/// Shared handle used by `main`.
pub type SharedHandler = Arc<Handler>;
