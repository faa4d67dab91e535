//! CloudWatch Embedded Metric Format: one JSON line per invocation on stdout, which Lambda's log
//! pipeline turns into metrics without an API call. Namespace `RuntimeScheduler`.
//!
//! | Dimensions | Metrics |
//! |---|---|
//! | Environment, Action, Outcome | `Invocations`, `DurationMs`, `AwsCalls`, `Retries` |
//! | Environment | `Failures`, `TierRunning`, `TierWanted`, `TierMismatch`, `WakeSeconds`, `SleepSeconds` |

use serde_json::{json, Map, Value};

use crate::command::Action;
use crate::handler::{Outcome, Response};
use crate::schedule::Desired;
use crate::state::Phase;

/// The metrics namespace.
pub const NAMESPACE: &str = "RuntimeScheduler";

/// What the adapters did during the invocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calls {
    /// AWS API operations.
    pub operations: u64,
    /// Retries: the SDK's and the executor's.
    pub retries: u64,
}

/// The EMF document for one invocation, as one line.
pub fn emf(response: &Response, calls: Calls, timestamp_ms: i64) -> String {
    let mut values = Map::new();
    let mut tier_metrics: Vec<Value> = Vec::new();
    let mut put = |values: &mut Map<String, Value>, name: &str, unit: &str, value: Value| {
        values.insert(name.to_string(), value);
        tier_metrics.push(json!({"Name": name, "Unit": unit}));
    };
    let failed = response.outcome == Outcome::Failed;
    put(&mut values, "Failures", "Count", json!(u8::from(failed)));
    let running = match response.phase {
        Phase::Running => Some(true),
        Phase::Unknown => None,
        _ => Some(false),
    };
    let wanted = response
        .decision
        .as_ref()
        .and_then(|d| d.desired)
        .map(|d| d == Desired::Running);
    if let Some(r) = running {
        put(&mut values, "TierRunning", "Count", json!(u8::from(r)));
    }
    if let Some(w) = wanted {
        put(&mut values, "TierWanted", "Count", json!(u8::from(w)));
    }
    if let (Some(r), Some(w)) = (running, wanted) {
        put(
            &mut values,
            "TierMismatch",
            "Count",
            json!(u8::from(r != w)),
        );
    }
    // A transition of the tier, not a tag write or a deploy.
    let transition = matches!(
        response.action,
        Action::Start | Action::Stop | Action::Reconcile | Action::Idle
    );
    if response.outcome == Outcome::Applied && transition {
        let seconds = response.duration_ms as f64 / 1000.0;
        match response.phase {
            Phase::Running => put(&mut values, "WakeSeconds", "Seconds", json!(seconds)),
            Phase::Stopped => put(&mut values, "SleepSeconds", "Seconds", json!(seconds)),
            _ => {}
        }
    }
    values.insert("Environment".into(), json!(response.environment));
    values.insert("Action".into(), json!(response.action.as_str()));
    values.insert("Outcome".into(), json!(response.outcome.as_str()));
    values.insert("Invocations".into(), json!(1));
    values.insert("DurationMs".into(), json!(response.duration_ms));
    values.insert("AwsCalls".into(), json!(calls.operations));
    values.insert("Retries".into(), json!(calls.retries));
    values.insert("InvocationId".into(), json!(response.invocation_id));
    values.insert("Phase".into(), json!(response.phase));
    values.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Environment", "Action", "Outcome"]],
                    "Metrics": [
                        {"Name": "Invocations", "Unit": "Count"},
                        {"Name": "DurationMs", "Unit": "Milliseconds"},
                        {"Name": "AwsCalls", "Unit": "Count"},
                        {"Name": "Retries", "Unit": "Count"},
                    ],
                },
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Environment"]],
                    "Metrics": tier_metrics,
                },
            ],
        }),
    );
    Value::Object(values).to_string()
}
