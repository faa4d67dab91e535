//! Invocation payloads: the manual payload (also EventBridge Scheduler's constant input) and the
//! classic EventBridge "Scheduled Event". Anything else is rejected before any AWS call, with one
//! message naming every problem.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// What the invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Wake the tier up.
    Start,
    /// Put the tier to sleep.
    Stop,
    /// Report phase, resources and recent transitions; never mutates.
    Status,
    /// Converge to what the schedule, overrides and holds want now.
    Reconcile,
    /// Set or clear the tier-wide override tags.
    Override,
}

impl Action {
    /// The payload spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Status => "status",
            Action::Reconcile => "reconcile",
            Action::Override => "override",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Action::Start),
            "stop" => Some(Action::Stop),
            "status" => Some(Action::Status),
            "reconcile" => Some(Action::Reconcile),
            "override" => Some(Action::Override),
            _ => None,
        }
    }
}

/// Who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A person: `aws lambda invoke`, `cargo lambda invoke`, the local command.
    Manual,
    /// EventBridge Scheduler (constant input with `"trigger": "schedule"`) or a classic rule.
    Schedule,
}

/// A parsed, valid request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub action: Action,
    /// Return the plan without acting.
    pub dry_run: bool,
    /// Why; recorded in state and history.
    pub reason: String,
    pub trigger: Trigger,
    /// When set, the environment the sender meant; must match the function's.
    pub environment: Option<String>,
    /// Manual start/stop: act even against an override tag (recorded with the reason).
    pub force: bool,
    /// Dry run only: decide as if it were this instant.
    pub at: Option<DateTime<Utc>>,
    /// Manual start/stop: hold the result until this instant...
    pub hold_until: Option<DateTime<Utc>>,
    /// ...or for this long.
    pub hold_for: Option<chrono::Duration>,
    /// `override` only: what to set.
    pub override_mode: Option<OverrideMode>,
    /// `override` only: when the override expires.
    pub override_until: Option<DateTime<Utc>>,
}

/// What the `override` action sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverrideMode {
    KeepRunning,
    KeepStopped,
    /// Remove the override tags.
    Clear,
}

/// Every problem with a payload, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid invocation payload:\n  {}", .0.join("\n  "))]
pub struct EventError(pub Vec<String>);

const FIELDS: [&str; 11] = [
    "action",
    "dry_run",
    "reason",
    "trigger",
    "environment",
    "force",
    "at",
    "hold_for",
    "hold_until",
    "mode",
    "until",
];
const MAX_REASON: usize = 512;

impl Request {
    /// Parses a payload.
    pub fn from_value(value: &Value) -> Result<Request, EventError> {
        let Some(obj) = value.as_object() else {
            return Err(EventError(vec![format!(
                "the payload must be a JSON object such as {{\"action\": \"start\"}}, got {}",
                kind_of(value)
            )]));
        };
        if obj.contains_key("detail-type")
            || obj.get("source").and_then(Value::as_str) == Some("aws.events")
        {
            return scheduled_event(obj);
        }
        manual(obj)
    }

    /// Parses payload bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Request, EventError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| EventError(vec![format!("the payload is not valid JSON: {e}")]))?;
        Self::from_value(&value)
    }
}

fn manual(obj: &Map<String, Value>) -> Result<Request, EventError> {
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            problems.push(format!(
                "unknown field '{key}' (expected: {})",
                FIELDS.join(", ")
            ));
        }
    }
    let action = match obj.get("action") {
        None => {
            problems.push(
                "missing 'action' (one of start, stop, status, reconcile, override)".to_string(),
            );
            None
        }
        Some(Value::String(s)) => {
            let a = Action::parse(s);
            if a.is_none() {
                problems.push(format!(
                    "'action' is '{s}'; expected one of start, stop, status, reconcile, override"
                ));
            }
            a
        }
        Some(other) => {
            problems.push(format!("'action' must be a string, got {}", kind_of(other)));
            None
        }
    };
    let dry_run = match obj.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(format!(
                "'dry_run' must be true or false, got {}",
                kind_of(other)
            ));
            false
        }
    };
    let reason = match obj.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() > MAX_REASON => {
            problems.push(format!(
                "'reason' is {} characters; at most {MAX_REASON}",
                s.chars().count()
            ));
            None
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            problems.push("'reason' must not contain control characters".to_string());
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            problems.push(format!("'reason' must be a string, got {}", kind_of(other)));
            None
        }
    };
    let trigger = match obj.get("trigger") {
        None | Some(Value::Null) => Trigger::Manual,
        Some(Value::String(s)) if s == "manual" => Trigger::Manual,
        Some(Value::String(s)) if s == "schedule" => Trigger::Schedule,
        Some(other) => {
            problems.push(format!(
                "'trigger' must be \"manual\" or \"schedule\", got {other}"
            ));
            Trigger::Manual
        }
    };
    let environment = match obj.get("environment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            problems.push(format!(
                "'environment' must be a string, got {}",
                kind_of(other)
            ));
            None
        }
    };
    let force = match obj.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(format!(
                "'force' must be true or false, got {}",
                kind_of(other)
            ));
            false
        }
    };
    let at = timestamp(obj, "at", &mut problems);
    let hold_until = timestamp(obj, "hold_until", &mut problems);
    let override_until = timestamp(obj, "until", &mut problems);
    let hold_for = match obj.get("hold_for") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let d = crate::schedule::parse_duration(s);
            if d.is_none() {
                problems.push(format!(
                    "'hold_for' is '{s}'; expected a duration such as \"3h\", \"90m\" or \"1h30m\""
                ));
            }
            d
        }
        Some(other) => {
            problems.push(format!(
                "'hold_for' must be a string such as \"3h\", got {}",
                kind_of(other)
            ));
            None
        }
    };
    let override_mode = match obj.get("mode") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "keep-running" => Some(OverrideMode::KeepRunning),
            "keep-stopped" => Some(OverrideMode::KeepStopped),
            "clear" => Some(OverrideMode::Clear),
            other => {
                problems.push(format!(
                    "'mode' is '{other}'; expected keep-running, keep-stopped or clear"
                ));
                None
            }
        },
        Some(other) => {
            problems.push(format!("'mode' must be a string, got {}", kind_of(other)));
            None
        }
    };
    if let Some(action) = action {
        let manual_edge =
            matches!(action, Action::Start | Action::Stop) && trigger == Trigger::Manual;
        if at.is_some() && !dry_run {
            problems.push(
                "'at' is only allowed with \"dry_run\": true (it asks what would be decided then)"
                    .to_string(),
            );
        }
        if force && !manual_edge {
            problems.push("'force' only applies to a manual start or stop".to_string());
        }
        if (hold_for.is_some() || hold_until.is_some()) && !manual_edge {
            problems.push(
                "'hold_for' and 'hold_until' only apply to a manual start or stop".to_string(),
            );
        }
        if hold_for.is_some() && hold_until.is_some() {
            problems.push("give either 'hold_for' or 'hold_until', not both".to_string());
        }
        match action {
            Action::Override if override_mode.is_none() && !obj.contains_key("mode") => problems
                .push("'override' needs 'mode' (keep-running, keep-stopped or clear)".to_string()),
            Action::Override
                if override_mode == Some(OverrideMode::Clear) && override_until.is_some() =>
            {
                problems.push("'until' makes no sense with mode clear".to_string())
            }
            Action::Override => {}
            _ if obj.contains_key("mode") || obj.contains_key("until") => {
                problems.push("'mode' and 'until' only apply to the override action".to_string())
            }
            _ => {}
        }
    }
    match action {
        Some(action) if problems.is_empty() => Ok(Request {
            action,
            dry_run,
            reason: reason.unwrap_or_else(|| default_reason(action, trigger)),
            trigger,
            environment,
            force,
            at,
            hold_until,
            hold_for,
            override_mode,
            override_until,
        }),
        _ => Err(EventError(problems)),
    }
}

fn timestamp(
    obj: &Map<String, Value>,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<DateTime<Utc>> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(e) => {
                problems.push(format!("'{key}' is '{s}', not an RFC 3339 timestamp such as 2026-12-24T18:00:00-05:00 ({e})"));
                None
            }
        },
        Some(other) => {
            problems.push(format!(
                "'{key}' must be an RFC 3339 timestamp string, got {}",
                kind_of(other)
            ));
            None
        }
    }
}

/// A classic EventBridge rule's "Scheduled Event". It carries no input, so the action comes from
/// the rule's name, which must end in `-start`, `-stop` or `-status`.
fn scheduled_event(obj: &Map<String, Value>) -> Result<Request, EventError> {
    let mut problems = Vec::new();
    if obj.get("detail-type").and_then(Value::as_str) != Some("Scheduled Event") {
        problems.push(format!(
            "EventBridge event with detail-type {} is not supported (only \"Scheduled Event\")",
            obj.get("detail-type")
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".into())
        ));
    }
    if obj.get("source").and_then(Value::as_str) != Some("aws.events") {
        problems.push("a Scheduled Event must have source \"aws.events\"".to_string());
    }
    let rules: Vec<&str> = obj
        .get("resources")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let action = match rules.as_slice() {
        [arn] => {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            let action = name
                .rsplit('-')
                .next()
                .and_then(Action::parse)
                .filter(|a| *a != Action::Override);
            if action.is_none() {
                problems.push(format!(
                    "rule '{name}' does not say what to do: its name must end in -start, -stop, -reconcile or -status"
                ));
            }
            action
        }
        _ => {
            problems
                .push("a Scheduled Event must name exactly one rule in 'resources'".to_string());
            None
        }
    };
    match action {
        Some(action) if problems.is_empty() => Ok(Request {
            action,
            dry_run: false,
            reason: format!(
                "EventBridge rule {}",
                rules[0].rsplit('/').next().unwrap_or_default()
            ),
            trigger: Trigger::Schedule,
            environment: None,
            force: false,
            at: None,
            hold_until: None,
            hold_for: None,
            override_mode: None,
            override_until: None,
        }),
        _ => Err(EventError(problems)),
    }
}

fn default_reason(action: Action, trigger: Trigger) -> String {
    match trigger {
        Trigger::Schedule => format!("scheduled {}", action.as_str()),
        Trigger::Manual => format!("manual {} (no reason given)", action.as_str()),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manual_payload_with_every_field() {
        let r = Request::from_value(&json!({"action":"stop","dry_run":true,"reason":"demo over","trigger":"manual","environment":"dev"}))
            .unwrap();
        assert_eq!(r.action, Action::Stop);
        assert!(r.dry_run);
        assert_eq!(r.reason, "demo over");
        assert_eq!(r.environment.as_deref(), Some("dev"));
    }

    #[test]
    fn scheduler_constant_input_is_a_scheduled_trigger() {
        let r = Request::from_value(&json!({"action":"start","trigger":"schedule"})).unwrap();
        assert_eq!((r.action, r.trigger), (Action::Start, Trigger::Schedule));
        assert_eq!(r.reason, "scheduled start");
    }

    #[test]
    fn classic_scheduled_event_takes_its_action_from_the_rule_name() {
        let r = Request::from_value(&json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-26T13:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/dev-runtime-stop"], "detail": {}
        }))
        .unwrap();
        assert_eq!((r.action, r.trigger), (Action::Stop, Trigger::Schedule));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Request::from_value(
            &json!({"action":"restart","dry_run":"yes","reason":7,"colour":"blue"}),
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
    }

    #[test]
    fn a_rule_whose_name_says_nothing_is_rejected() {
        let err = Request::from_value(&json!({
            "detail-type": "Scheduled Event", "source": "aws.events",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("must end in -start"), "{err}");
    }
}
