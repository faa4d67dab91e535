//! The state document (`<env>/state.json`) and the history records (`<env>/history/...`).
//!
//! Every write of the state document is conditional (If-None-Match on creation, If-Match
//! afterwards), so of two invocations that read the same version only one can take the lease;
//! the other answers `busy` and mutates nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::{AwsError, ETag, ObjectStore, Precondition, PutError};
use crate::model::ScalingBounds;

/// Where the tier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The scheduler has never acted on this environment.
    #[default]
    Unknown,
    Running,
    Stopped,
    Starting,
    Stopping,
    /// The last run stopped at a failed step; the next start or stop resumes.
    Failed,
    /// A teardown removed everything the scheduler owns, services included; a start builds it
    /// all again.
    TornDown,
}

/// Ids of what the scheduler created, as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Per spec NAT name.
    #[serde(default)]
    pub nat_gateways: BTreeMap<String, NatRecord>,
    #[serde(default)]
    pub load_balancer: Option<LoadBalancerRecord>,
    /// Listener ARNs by port.
    #[serde(default)]
    pub listeners: BTreeMap<u16, String>,
    /// NAT gateway ids the scheduler created and deleted, newest last (at most 20), so that a
    /// route still pointing at one of them is known to be ours.
    #[serde(default)]
    pub retired_nat_gateway_ids: Vec<String>,
}

/// A NAT gateway and its address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatRecord {
    #[serde(default)]
    pub nat_gateway_id: Option<String>,
    #[serde(default)]
    pub allocation_id: Option<String>,
    #[serde(default)]
    pub public_ip: Option<String>,
}

/// The ALB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerRecord {
    pub arn: String,
    pub dns_name: String,
    pub canonical_hosted_zone_id: String,
}

impl LoadBalancerRecord {
    /// What the state keeps of an ALB.
    pub fn of(lb: &crate::model::LoadBalancer) -> Self {
        LoadBalancerRecord {
            arn: lb.arn.clone(),
            dns_name: lb.dns_name.clone(),
            canonical_hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
        }
    }
}

/// What a service looked like when the tier was last put to sleep (or what a deploy pointed it
/// at while asleep); start restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedService {
    pub desired_count: u32,
    #[serde(default)]
    pub scaling: Option<ScalingBounds>,
    /// The task definition revision (ARN) the service runs at the next start.
    #[serde(default)]
    pub task_definition: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// Held by the one invocation that acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The invocation's request id.
    pub owner: String,
    pub action: String,
    pub acquired_at: DateTime<Utc>,
    /// After this instant the lease is abandoned (a crashed run) and may be taken over.
    pub expires_at: DateTime<Utc>,
}

/// A step as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: usize,
    pub action: String,
    pub target: String,
    /// Steps that had to finish first.
    #[serde(default)]
    pub after: Vec<usize>,
    /// Why the planner added it.
    #[serde(default)]
    pub why: String,
    /// `planned` (dry run), `done`, `failed`, `timed-out` (a bounded wait ran out), `not-started`.
    pub status: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A failure: the step, the operation that failed (an AWS API operation, or `bookkeeping` when
/// an id the step needed was not known), and AWS's error code when there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

/// One acting invocation: who, why, when, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub invocation_id: String,
    pub action: String,
    pub trigger: String,
    pub reason: String,
    pub outcome: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureRecord>,
}

/// How many past transitions the state document keeps (the history keeps all).
pub const RECENT_TRANSITIONS: usize = 10;
/// How many durations of each wait the state document keeps.
pub const LEARNED_WAITS: usize = 5;

/// The state document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub environment: String,
    pub phase: Phase,
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resources: Resources,
    /// Desired counts and bounds recorded at stop, by `cluster/service`.
    #[serde(default)]
    pub recorded: BTreeMap<String, RecordedService>,
    #[serde(default)]
    pub lease: Option<Lease>,
    #[serde(default)]
    pub last_transition: Option<Transition>,
    /// Newest last; summaries of up to [`RECENT_TRANSITIONS`] transitions (without steps).
    #[serde(default)]
    pub recent_transitions: Vec<Transition>,
    /// Left by a manual start outside the window or a manual stop inside it.
    #[serde(default)]
    pub hold: Option<crate::schedule::Hold>,
    /// How long recent waits took, in milliseconds, newest last, by wait (`load-balancer-active`,
    /// ...): the next run polls near these instead of from the first second.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waits: BTreeMap<String, Vec<u64>>,
}

impl State {
    /// The state of an environment the scheduler has never acted on.
    pub fn new(environment: &str) -> Self {
        State {
            version: 1,
            environment: environment.to_string(),
            phase: Phase::Unknown,
            since: None,
            resources: Resources::default(),
            recorded: BTreeMap::new(),
            lease: None,
            last_transition: None,
            recent_transitions: Vec::new(),
            hold: None,
            waits: BTreeMap::new(),
        }
    }

    /// Remembers how long a wait took (at most [`LEARNED_WAITS`] per wait).
    pub fn learn_wait(&mut self, wait: &str, took: std::time::Duration) {
        let recent = self.waits.entry(wait.to_string()).or_default();
        recent.push(took.as_millis().min(u128::from(u64::MAX)) as u64);
        let excess = recent.len().saturating_sub(LEARNED_WAITS);
        recent.drain(..excess);
    }

    /// The lease, if someone holds one that has not expired at `now`.
    pub fn live_lease(&self, now: DateTime<Utc>) -> Option<&Lease> {
        self.lease.as_ref().filter(|l| l.expires_at > now)
    }

    /// Records a finished transition and moves the phase.
    pub fn finish(&mut self, transition: Transition, phase: Phase) {
        if phase != self.phase {
            self.phase = phase;
            self.since = Some(transition.finished_at);
        }
        self.lease = None;
        let mut summary = transition.clone();
        summary.steps.clear();
        self.recent_transitions.push(summary);
        let excess = self
            .recent_transitions
            .len()
            .saturating_sub(RECENT_TRANSITIONS);
        self.recent_transitions.drain(..excess);
        self.last_transition = Some(transition);
    }
}

/// Errors reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("another invocation wrote the state first")]
    Conflict,
    #[error("state document s3://{bucket}/{key} is unreadable: {message}")]
    Corrupt {
        bucket: String,
        key: String,
        message: String,
    },
}

impl From<PutError> for StateError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::PreconditionFailed => StateError::Conflict,
            PutError::Aws(a) => StateError::Aws(a),
        }
    }
}

/// Reads and writes the state document and appends history records.
#[derive(Clone)]
pub struct StateStore {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    key: String,
    history_prefix: String,
}

/// A state document and the entity tag it was read with (`None`: it does not exist yet).
#[derive(Debug, Clone)]
pub struct Versioned {
    pub state: State,
    pub etag: Option<ETag>,
}

impl StateStore {
    /// A store for one environment.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        bucket: &str,
        key: String,
        history_prefix: String,
    ) -> Self {
        StateStore {
            store,
            bucket: bucket.to_string(),
            key,
            history_prefix,
        }
    }

    /// Reads the state; a missing document is a fresh [`State::new`].
    pub async fn load(&self, environment: &str) -> Result<Versioned, StateError> {
        match self.store.get(&self.key).await? {
            None => Ok(Versioned {
                state: State::new(environment),
                etag: None,
            }),
            Some((body, etag)) => {
                let state: State =
                    serde_json::from_slice(&body).map_err(|e| StateError::Corrupt {
                        bucket: self.bucket.clone(),
                        key: self.key.clone(),
                        message: e.to_string(),
                    })?;
                Ok(Versioned {
                    state,
                    etag: Some(etag),
                })
            }
        }
    }

    /// Writes the state only if it is still the version `current` was read at; returns the new
    /// version. [`StateError::Conflict`] means another invocation got there first.
    pub async fn save(&self, state: &State, current: &Option<ETag>) -> Result<ETag, StateError> {
        let precondition = match current {
            None => Precondition::Absent,
            Some(etag) => Precondition::Matches(etag.clone()),
        };
        let body = serde_json::to_vec_pretty(state).expect("state always serialises");
        self.put_once(&self.key, body, precondition).await
    }

    /// A conditional put that survives a lost response: if the SDK's retry of our own write
    /// answers 412, the object already holds exactly our body, and that is success.
    async fn put_once(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Precondition,
    ) -> Result<ETag, StateError> {
        match self.store.put(key, body.clone(), Some(precondition)).await {
            Err(PutError::PreconditionFailed) => match self.store.get(key).await? {
                Some((current, etag)) if current == body => Ok(etag),
                _ => Err(StateError::Conflict),
            },
            other => Ok(other?),
        }
    }

    /// Appends one history record; never overwrites one.
    pub async fn append_history(
        &self,
        transition: &Transition,
        extra: serde_json::Value,
    ) -> Result<String, StateError> {
        let key = format!(
            "{}{}-{}.json",
            self.history_prefix,
            transition.started_at.format("%Y/%m/%d/%H%M%S%.3fZ"),
            sanitize(&transition.invocation_id)
        );
        let mut record = serde_json::to_value(transition).expect("transition always serialises");
        if let (Some(obj), serde_json::Value::Object(more)) = (record.as_object_mut(), extra) {
            obj.extend(more);
        }
        let body = serde_json::to_vec_pretty(&record).expect("history always serialises");
        self.put_once(&key, body, Precondition::Absent).await?;
        Ok(key)
    }
}

fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn transition(n: u32) -> Transition {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, n).unwrap();
        Transition {
            invocation_id: format!("req-{n}"),
            action: "stop".into(),
            trigger: "manual".into(),
            reason: "test".into(),
            outcome: "applied".into(),
            started_at: t,
            finished_at: t,
            steps: vec![StepRecord {
                id: 0,
                action: "a".into(),
                target: "t".into(),
                after: vec![],
                why: String::new(),
                status: "done".into(),
                duration_ms: 1,
                detail: None,
            }],
            error: None,
        }
    }

    #[test]
    fn finishing_moves_the_phase_clears_the_lease_and_keeps_ten_summaries() {
        let mut s = State::new("dev");
        for n in 0..12 {
            s.lease = Some(Lease {
                owner: "x".into(),
                action: "stop".into(),
                acquired_at: Utc::now(),
                expires_at: Utc::now(),
            });
            s.finish(transition(n), Phase::Stopped);
        }
        assert_eq!(s.phase, Phase::Stopped);
        assert_eq!(
            s.since,
            Some(transition(0).finished_at),
            "since is when the phase was entered"
        );
        assert!(s.lease.is_none());
        assert_eq!(s.recent_transitions.len(), RECENT_TRANSITIONS);
        assert_eq!(s.recent_transitions.last().unwrap().invocation_id, "req-11");
        assert!(s.recent_transitions.iter().all(|t| t.steps.is_empty()));
        assert_eq!(s.last_transition.as_ref().unwrap().steps.len(), 1);
    }

    #[test]
    fn an_expired_lease_is_not_live() {
        let now = Utc::now();
        let mut s = State::new("dev");
        s.lease = Some(Lease {
            owner: "x".into(),
            action: "start".into(),
            acquired_at: now,
            expires_at: now,
        });
        assert!(s.live_lease(now).is_none());
        assert!(s.live_lease(now - chrono::Duration::seconds(1)).is_some());
    }
}
