//! The response every invocation returns, its outcomes and the exit codes the command line maps
//! them to. docs/responses.md describes the same fields for people and scripts.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::command::{Action, Request, Trigger};
use crate::plan::admin::DeployMode;
use crate::schedule::{Decision, Desired, Hold, OverrideTags};
use crate::state::{FailureRecord, Lease, Phase, Resources, StepRecord, Transition};

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Outcome {
    /// Steps ran and the tier reached the wanted phase.
    Applied,
    /// Nothing was missing.
    NoOp,
    /// The plan, not executed.
    DryRun,
    /// Deliberately not acted on: an override, a hold, a skip date, or an event meant for
    /// another environment.
    Skipped,
    /// Another invocation holds the lease; nothing was done.
    Busy,
    /// A step failed; see `error`.
    Failed,
    /// The Lambda deadline came near; the next invocation continues.
    InProgress,
    /// `status` or `report` answered.
    Reported,
}

impl Outcome {
    /// The payload spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The command line's exit code: 0 when the request was carried out (or there was nothing
    /// to do), otherwise a code per reason, so scripts can tell them apart. Invalid input and
    /// configuration exit 2 before any response exists.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Applied | Outcome::NoOp | Outcome::DryRun | Outcome::Reported => 0,
            Outcome::Failed => 1,
            Outcome::Busy => 3,
            Outcome::Skipped => 4,
            Outcome::InProgress => 5,
        }
    }
}

/// The response of every invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub action: Action,
    pub environment: String,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub trigger: Trigger,
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
    /// When what the tier wants changes next: an override or hold ending, or a window edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_transition: Option<NextTransition>,
    /// What a stop kept running because an excluded service needs it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// `status` and `deploy`: each service's revision now and at the next start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceView>,
    /// `deploy` only: what was deployed and how it lands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployView>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
}

/// The next change of what the tier wants.
#[derive(Debug, Clone, Serialize)]
pub struct NextTransition {
    pub at: DateTime<Utc>,
    /// The same instant in the schedule's time zone, to the second.
    pub at_local: String,
    pub desired: Desired,
}

/// A service as `status` and `deploy` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// `cluster/name`.
    pub service: String,
    /// The revision the service points at now (`null` when it does not exist).
    pub task_definition: Option<String>,
    pub desired_count: u32,
    pub running_count: u32,
    /// The revision it runs after the next start.
    pub next_start_task_definition: Option<String>,
}

/// What a deploy did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployView {
    /// `cluster/name`.
    pub service: String,
    pub from: Option<String>,
    pub to: String,
    pub mode: DeployMode,
    /// With `parked`: when the schedule wakes the tier next (`null` when it will not by itself).
    pub next_start: Option<DateTime<Utc>>,
}

impl Response {
    pub(super) fn new(request: &Request, environment: &str, id: &str, now: DateTime<Utc>) -> Self {
        Response {
            action: request.action(),
            environment: environment.to_string(),
            outcome: Outcome::Skipped,
            dry_run: request.dry_run,
            trigger: request.trigger,
            reason: request.reason.clone(),
            invocation_id: id.to_string(),
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
            services: vec![],
            deploy: None,
            started_at: now,
            duration_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn only_a_request_carried_out_exits_zero_and_each_other_outcome_has_its_own_code() {
        let codes: Vec<(Outcome, u8)> = Outcome::iter().map(|o| (o, o.exit_code())).collect();
        for (o, code) in &codes {
            let carried_out = matches!(
                o,
                Outcome::Applied | Outcome::NoOp | Outcome::DryRun | Outcome::Reported
            );
            assert_eq!(*code == 0, carried_out, "{o:?}");
        }
        let failing: std::collections::BTreeSet<u8> =
            codes.iter().map(|(_, c)| *c).filter(|c| *c != 0).collect();
        assert_eq!(
            failing.len(),
            4,
            "failed, busy, skipped, in-progress differ"
        );
        assert!(
            !failing.contains(&2),
            "2 is for invalid input and configuration"
        );
    }
}
