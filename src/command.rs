//! Invocation payloads, parsed into a typed [`Request`] before any AWS call: the manual payload
//! (also EventBridge Scheduler's constant input) and the classic EventBridge "Scheduled Event".
//!
//! Parse, don't validate: a [`Command`] cannot hold an invalid case (an override always has its
//! mode, a hold is either a bounded span or a bounded instant). Anything that is not exactly what
//! the docs describe is refused with one message naming every problem: unknown fields, a field
//! given twice, `null` where a value is expected (a null is not an absent field), a field that
//! does not apply to the action, wrong types, out-of-range durations and instants.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time;

/// What the invocation asks for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Action {
    /// Wake the tier up.
    Start,
    /// Put the tier to sleep.
    Stop,
    /// Report phase, resources, decision and recent transitions; never mutates.
    Status,
    /// Converge to what the schedule, overrides and holds want now.
    Reconcile,
    /// Set or clear the tier-wide override tags.
    Override,
    /// Delete everything the scheduler owns, services included (before `terraform destroy`).
    Teardown,
    /// Point a service at a task definition revision, running or asleep.
    Deploy,
    /// What the tier cost and saved over a period, from the history.
    Report,
    /// The idle alarm changed state (its EventBridge event; not a payload action).
    Idle,
}

impl Action {
    /// The payload spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// True for actions that never change anything.
    pub fn is_read_only(self) -> bool {
        matches!(self, Action::Status | Action::Report)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Trigger {
    /// A person: `aws lambda invoke`, `cargo lambda invoke`, the command line.
    Manual,
    /// EventBridge Scheduler (constant input with `"trigger": "schedule"`) or a classic rule.
    Schedule,
    /// The wake page (the `wake-front` function), for a visitor who asked.
    Wake,
    /// The idle alarm's state change, through EventBridge.
    Alarm,
}

impl Trigger {
    /// The payload spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What the `override` action sets.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum OverrideMode {
    KeepRunning,
    KeepStopped,
    /// Remove the override tags.
    Clear,
}

impl OverrideMode {
    /// The tag value (and payload spelling).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How long a manual start or stop holds its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldRequest {
    /// For this long (at most [`time::MAX_HOLD`]).
    For(#[serde(serialize_with = "serialize_span")] Duration),
    /// Until this instant (at most [`time::MAX_HOLD`] away).
    Until(DateTime<Utc>),
}

impl HoldRequest {
    /// The instant the hold ends, counted from `now`.
    pub fn until(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            // Bounded by MAX_HOLD at parse time, so the sum always fits.
            HoldRequest::For(span) => time::after(now, span).unwrap_or(now),
            HoldRequest::Until(t) => t,
        }
    }
}

fn serialize_span<S: serde::Serializer>(span: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&time::span_text(*span))
}

/// A manual or scheduled start or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// Manual only: act even against an override tag (recorded with the reason).
    pub force: bool,
    /// Manual only: hold the result.
    pub hold: Option<HoldRequest>,
}

/// The `override` action: a mode, and for the two keep modes an optional expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OverrideCommand {
    pub mode: OverrideMode,
    /// When the override expires (`None`: until someone clears it).
    pub until: Option<DateTime<Utc>>,
}

/// The `deploy` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployCommand {
    /// The service's name in the spec.
    pub service: String,
    /// `family:revision` or a task definition ARN.
    pub task_definition: String,
}

/// The idle alarm's state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdleSignal {
    /// The alarm's name.
    pub alarm: String,
    /// `Some(true)`, ALARM: no request for `idle_minutes`; `Some(false)`, OK: requests again;
    /// `None`, INSUFFICIENT_DATA: says nothing about traffic.
    pub idle: Option<bool>,
    /// When the alarm changed state.
    pub at: DateTime<Utc>,
}

/// The `report` action: the period ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportCommand {
    /// 1 to 366 days.
    pub days: u32,
}

/// What to do, with exactly the arguments that action takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Command {
    Start(Edge),
    Stop(Edge),
    Status,
    Reconcile,
    Override(OverrideCommand),
    Teardown,
    Deploy(DeployCommand),
    Report(ReportCommand),
    Idle(IdleSignal),
}

impl Command {
    /// The action this command performs.
    pub fn action(&self) -> Action {
        match self {
            Command::Start(_) => Action::Start,
            Command::Stop(_) => Action::Stop,
            Command::Status => Action::Status,
            Command::Reconcile => Action::Reconcile,
            Command::Override(_) => Action::Override,
            Command::Teardown => Action::Teardown,
            Command::Deploy(_) => Action::Deploy,
            Command::Report(_) => Action::Report,
            Command::Idle(_) => Action::Idle,
        }
    }
}

/// A parsed, valid request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub command: Command,
    /// Return the plan without acting.
    pub dry_run: bool,
    /// Why; recorded in state and history.
    pub reason: String,
    pub trigger: Trigger,
    /// When set, the environment the sender meant; must match the function's.
    pub environment: Option<String>,
    /// Dry runs and `status`: decide as if it were this instant.
    pub at: Option<DateTime<Utc>>,
}

impl Request {
    /// The action requested.
    pub fn action(&self) -> Action {
        self.command.action()
    }

    /// Parses payload bytes; `now` bounds the instants and spans they carry.
    pub fn parse(bytes: &[u8], now: DateTime<Utc>) -> Result<Request, PayloadError> {
        let object = Object::from_slice(bytes)?;
        if object.str("detail-type") == Some(ALARM_STATE_CHANGE)
            || object.str("source") == Some("aws.cloudwatch")
        {
            return alarm_event(object);
        }
        if object.has("detail-type") || object.str("source") == Some("aws.events") {
            return scheduled_event(object);
        }
        manual(object, now)
    }
}

/// Every problem with a payload, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid invocation payload:\n  {}", .0.join("\n  "))]
pub struct PayloadError(pub Vec<String>);

/// The most a `reason` may hold.
pub const MAX_REASON: usize = 512;

/// Fields each action accepts besides the common ones.
fn action_fields(action: Action) -> &'static [&'static str] {
    match action {
        Action::Start | Action::Stop => &["force", "hold_for", "hold_until", "at"],
        Action::Status | Action::Reconcile => &["at"],
        Action::Override => &["mode", "until", "for"],
        Action::Teardown => &[],
        Action::Deploy => &["service", "task_definition"],
        Action::Report => &["days"],
        Action::Idle => &[],
    }
}

const COMMON_FIELDS: [&str; 5] = ["action", "dry_run", "reason", "trigger", "environment"];

fn all_fields() -> BTreeSet<&'static str> {
    use strum::IntoEnumIterator;
    COMMON_FIELDS
        .iter()
        .copied()
        .chain(Action::iter().flat_map(|a| action_fields(a).iter().copied()))
        .collect()
}

fn manual(mut o: Object, now: DateTime<Utc>) -> Result<Request, PayloadError> {
    let action = o.required_enum::<Action>("action");
    let dry_run = o.bool("dry_run").unwrap_or(false);
    let trigger = o
        .enumeration::<Trigger>("trigger")
        .unwrap_or(Trigger::Manual);
    let reason = o.text("reason", MAX_REASON);
    let environment = o.string("environment");
    if let Some(env) = &environment {
        if !crate::config::is_environment_name(env) {
            o.problem(format!(
                "'environment' is '{env}'; an environment name is 1 to 32 lower-case letters, digits or '-'"
            ));
        }
    }
    let known = all_fields();
    for key in o.keys() {
        if !known.contains(key.as_str()) {
            o.problem(format!(
                "unknown field '{key}' (expected: {})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let Some(action) = action else {
        return Err(PayloadError(o.into_problems()));
    };
    for key in o.keys() {
        if known.contains(key.as_str())
            && !COMMON_FIELDS.contains(&key.as_str())
            && !action_fields(action).contains(&key.as_str())
        {
            o.problem(format!("'{key}' does not apply to {action}"));
        }
    }

    let at = o.instant("at");
    if at.is_some() && !(dry_run || action == Action::Status) {
        o.problem("'at' needs \"dry_run\": true (it asks what would be decided then)".into());
    }
    if let Some(t) = at {
        if (t - now).abs() > time::MAX_AT_DISTANCE {
            o.problem(format!(
                "'at' {} is more than ten years from now",
                t.to_rfc3339()
            ));
        }
    }
    let manual_edge = trigger == Trigger::Manual;
    if trigger == Trigger::Alarm {
        o.problem(
            "trigger 'alarm' is for the idle alarm's EventBridge event, not a payload".into(),
        );
    }
    if trigger == Trigger::Wake && action != Action::Start {
        o.problem("trigger 'wake' applies only to start".into());
    }
    let command = match action {
        Action::Start | Action::Stop => {
            let force = o.bool("force").unwrap_or(false);
            let hold_for = o.span("hold_for", time::MAX_HOLD);
            let hold_until = o.future_instant("hold_until", now, time::MAX_HOLD);
            let woken = trigger == Trigger::Wake;
            if !manual_edge && !woken && (force || o.has("hold_for") || o.has("hold_until")) {
                o.problem(
                    "'force', 'hold_for' and 'hold_until' apply only to a manual start or stop, or a wake"
                        .into(),
                );
            }
            if woken && force {
                o.problem("a wake cannot force past an override".into());
            }
            let hold = match (hold_for, hold_until) {
                (Some(_), Some(_)) => {
                    o.problem("give either 'hold_for' or 'hold_until', not both".into());
                    None
                }
                (Some(span), None) => Some(HoldRequest::For(span)),
                (None, Some(t)) => Some(HoldRequest::Until(t)),
                (None, None) => None,
            };
            let edge = Edge { force, hold };
            if action == Action::Start {
                Command::Start(edge)
            } else {
                Command::Stop(edge)
            }
        }
        Action::Status => Command::Status,
        Action::Reconcile => Command::Reconcile,
        Action::Override => {
            let mode = o.required_enum::<OverrideMode>("mode");
            let until = o.future_instant("until", now, time::MAX_OVERRIDE);
            let span = o.span("for", time::MAX_OVERRIDE);
            let until = match (until, span) {
                (Some(_), Some(_)) => {
                    o.problem("give either 'until' or 'for', not both".into());
                    None
                }
                (Some(t), None) => Some(t),
                (None, Some(span)) => time::after(now, span),
                (None, None) => None,
            };
            if mode == Some(OverrideMode::Clear) && (o.has("until") || o.has("for")) {
                o.problem("'until' and 'for' make no sense with mode clear".into());
            }
            match mode {
                Some(mode) => Command::Override(OverrideCommand { mode, until }),
                None => return Err(PayloadError(o.into_problems())),
            }
        }
        Action::Teardown => {
            // Deleting everything is never an accident: the payload must name the environment.
            if environment.is_none() {
                o.problem(
                    "teardown needs 'environment' (the name of the environment to tear down)"
                        .into(),
                );
            }
            Command::Teardown
        }
        Action::Deploy => {
            let service = o.required_string("service");
            let task_definition = o.required_string("task_definition");
            if let Some(td) = &task_definition {
                if !is_task_definition_ref(td) {
                    o.problem(format!(
                        "'task_definition' is '{td}'; expected family:revision or a task definition ARN"
                    ));
                }
            }
            match (service, task_definition) {
                (Some(service), Some(task_definition)) => Command::Deploy(DeployCommand {
                    service,
                    task_definition,
                }),
                _ => return Err(PayloadError(o.into_problems())),
            }
        }
        Action::Report => {
            let days = o.integer("days", 1, 366).unwrap_or(30);
            Command::Report(ReportCommand { days })
        }
        Action::Idle => {
            o.problem(
                "'idle' comes from the idle alarm's EventBridge event (see events/idle-alarm.json), not a payload"
                    .into(),
            );
            return Err(PayloadError(o.into_problems()));
        }
    };
    if dry_run && action.is_read_only() {
        o.problem(format!(
            "{action} never changes anything; 'dry_run' does not apply"
        ));
    }
    let problems = o.into_problems();
    if !problems.is_empty() {
        return Err(PayloadError(problems));
    }
    Ok(Request {
        command,
        dry_run,
        reason: reason.unwrap_or_else(|| default_reason(action, trigger)),
        trigger,
        environment,
        at,
    })
}

/// `family:revision` or `arn:aws...:task-definition/family:revision`.
pub fn is_task_definition_ref(s: &str) -> bool {
    let tail = match s.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":task-definition/") {
            Some((_, tail)) => tail,
            None => return false,
        },
        None => s,
    };
    match tail.split_once(':') {
        Some((family, revision)) => {
            !family.is_empty()
                && family.len() <= 255
                && family
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && revision.parse::<u32>().is_ok_and(|r| r > 0)
        }
        None => false,
    }
}

/// A classic EventBridge rule's "Scheduled Event". It carries no input, so the action comes from
/// the rule's name, which must end in `-start`, `-stop`, `-reconcile` or `-status`.
fn scheduled_event(o: Object) -> Result<Request, PayloadError> {
    let mut problems = Vec::new();
    if o.str("detail-type") != Some("Scheduled Event") {
        problems.push(format!(
            "EventBridge event with detail-type {} is not supported (only \"Scheduled Event\")",
            o.get("detail-type")
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".into())
        ));
    }
    if o.str("source") != Some("aws.events") {
        problems.push("a Scheduled Event must have source \"aws.events\"".to_string());
    }
    let rules: Vec<&str> = o
        .get("resources")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let rule = match rules.as_slice() {
        [arn] => Some(arn.rsplit('/').next().unwrap_or(arn).to_string()),
        _ => {
            problems
                .push("a Scheduled Event must name exactly one rule in 'resources'".to_string());
            None
        }
    };
    let command = rule.as_deref().and_then(|name| {
        let command = match name.rsplit('-').next() {
            Some("start") => Some(Command::Start(Edge {
                force: false,
                hold: None,
            })),
            Some("stop") => Some(Command::Stop(Edge {
                force: false,
                hold: None,
            })),
            Some("reconcile") => Some(Command::Reconcile),
            Some("status") => Some(Command::Status),
            _ => None,
        };
        if command.is_none() {
            problems.push(format!(
                "rule '{name}' does not say what to do: its name must end in -start, -stop, -reconcile or -status"
            ));
        }
        command
    });
    match (command, rule) {
        (Some(command), Some(rule)) if problems.is_empty() => Ok(Request {
            command,
            dry_run: false,
            reason: format!("EventBridge rule {rule}"),
            trigger: Trigger::Schedule,
            environment: None,
            at: None,
        }),
        _ => Err(PayloadError(problems)),
    }
}

/// The detail-type of CloudWatch's alarm events.
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";

/// The idle alarm's "CloudWatch Alarm State Change" event: `ALARM` says idle, `OK` busy,
/// `INSUFFICIENT_DATA` nothing (answered `skipped`, so it never reaches a dead-letter queue).
fn alarm_event(o: Object) -> Result<Request, PayloadError> {
    let mut problems = Vec::new();
    if o.str("detail-type") != Some(ALARM_STATE_CHANGE) {
        problems.push(format!(
            "an aws.cloudwatch event must have detail-type \"{ALARM_STATE_CHANGE}\""
        ));
    }
    if o.str("source") != Some("aws.cloudwatch") {
        problems.push(format!(
            "a \"{ALARM_STATE_CHANGE}\" event must have source \"aws.cloudwatch\""
        ));
    }
    let detail = o.get("detail").and_then(Value::as_object);
    let alarm = detail
        .and_then(|d| d.get("alarmName"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && n.len() <= 255);
    if alarm.is_none() {
        problems.push("'detail.alarmName' must name the alarm".into());
    }
    let value = detail
        .and_then(|d| d.get("state"))
        .and_then(|s| s.get("value"))
        .and_then(Value::as_str);
    let idle = match value {
        Some("ALARM") => Some(Some(true)),
        Some("OK") => Some(Some(false)),
        Some("INSUFFICIENT_DATA") => Some(None),
        Some(other) => {
            problems.push(format!(
                "alarm state '{other}' is not one of ALARM, OK, INSUFFICIENT_DATA"
            ));
            None
        }
        None => {
            problems.push("'detail.state.value' is missing".into());
            None
        }
    };
    let at = match o.str("time").map(time::parse_instant) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            problems.push(format!("'time': {e}"));
            None
        }
        None => {
            problems.push("'time' is missing".into());
            None
        }
    };
    match (alarm, idle, at) {
        (Some(alarm), Some(idle), Some(at)) if problems.is_empty() => Ok(Request {
            command: Command::Idle(IdleSignal {
                alarm: alarm.to_string(),
                idle,
                at,
            }),
            dry_run: false,
            reason: match idle {
                Some(true) => format!("alarm {alarm}: the load balancer is idle"),
                Some(false) => format!("alarm {alarm}: the load balancer serves requests"),
                None => format!("alarm {alarm}: insufficient data"),
            },
            trigger: Trigger::Alarm,
            environment: None,
            at: None,
        }),
        _ => Err(PayloadError(problems)),
    }
}

fn default_reason(action: Action, trigger: Trigger) -> String {
    match trigger {
        Trigger::Schedule => format!("scheduled {action}"),
        Trigger::Manual => format!("manual {action} (no reason given)"),
        Trigger::Wake => "woken from the wake page".into(),
        Trigger::Alarm => format!("alarm {action}"),
    }
}

/// A JSON object read with its keys in order and every duplicate key noted, then taken apart
/// field by field while collecting problems.
struct Object {
    fields: Vec<(String, Value)>,
    problems: Vec<String>,
}

impl Object {
    fn from_slice(bytes: &[u8]) -> Result<Object, PayloadError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = de
            .deserialize_any(ObjectVisitor)
            .and_then(|o| de.end().map(|()| o))
            .map_err(|e| PayloadError(vec![format!("the payload is not valid JSON: {e}")]))?;
        let fields = match parsed {
            Parsed::Object(fields) => fields,
            Parsed::Other(kind) => {
                return Err(PayloadError(vec![format!(
                "the payload must be a JSON object such as {{\"action\": \"status\"}}, got {kind}"
            )]))
            }
        };
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        for (key, _) in &fields {
            if !seen.insert(key.as_str()) {
                problems.push(format!(
                    "'{key}' is given more than once; give each field once"
                ));
            }
        }
        problems.dedup();
        Ok(Object { fields, problems })
    }

    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    fn into_problems(self) -> Vec<String> {
        self.problems
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.fields.iter().map(|(k, _)| k.clone()).collect();
        keys.dedup();
        keys
    }

    fn has(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == key)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The value at `key` when present and not null; a null is reported.
    fn present(&mut self, key: &str, expected: &str) -> Option<Value> {
        match self.get(key).cloned() {
            None => None,
            Some(Value::Null) => {
                self.problem(format!(
                    "'{key}' is null; give {expected} or leave the field out"
                ));
                None
            }
            Some(v) => Some(v),
        }
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        match self.present(key, "true or false")? {
            Value::Bool(b) => Some(b),
            other => {
                self.problem(format!(
                    "'{key}' must be true or false, got {}",
                    kind_of(&other)
                ));
                None
            }
        }
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.present(key, "a string")? {
            Value::String(s) => Some(s),
            other => {
                self.problem(format!("'{key}' must be a string, got {}", kind_of(&other)));
                None
            }
        }
    }

    fn required_string(&mut self, key: &str) -> Option<String> {
        if !self.has(key) {
            self.problem(format!("missing '{key}'"));
        }
        let s = self.string(key)?;
        if s.trim().is_empty() {
            self.problem(format!("'{key}' is empty"));
            return None;
        }
        Some(s)
    }

    fn text(&mut self, key: &str, max: usize) -> Option<String> {
        let s = self.string(key)?;
        let chars = s.chars().count();
        if chars > max {
            self.problem(format!("'{key}' is {chars} characters; at most {max}"));
            None
        } else if s.chars().any(char::is_control) {
            self.problem(format!("'{key}' must not contain control characters"));
            None
        } else if s.trim().is_empty() {
            self.problem(format!("'{key}' is empty; leave it out instead"));
            None
        } else {
            Some(s)
        }
    }

    fn enumeration<T>(&mut self, key: &str) -> Option<T>
    where
        T: std::str::FromStr + strum::VariantNames,
    {
        let s = self.string(key)?;
        match s.parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.problem(format!(
                    "'{key}' is '{s}'; expected one of {}",
                    T::VARIANTS.join(", ")
                ));
                None
            }
        }
    }

    fn required_enum<T>(&mut self, key: &str) -> Option<T>
    where
        T: std::str::FromStr + strum::VariantNames,
    {
        if !self.has(key) {
            self.problem(format!(
                "missing '{key}' (one of {})",
                T::VARIANTS.join(", ")
            ));
            return None;
        }
        self.enumeration(key)
    }

    fn instant(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let s = self.string(key)?;
        match time::parse_instant(&s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(format!("'{key}': {e}"));
                None
            }
        }
    }

    fn future_instant(
        &mut self,
        key: &str,
        now: DateTime<Utc>,
        max: Duration,
    ) -> Option<DateTime<Utc>> {
        let t = self.instant(key)?;
        match time::check_future(t, now, max) {
            Ok(()) => Some(t),
            Err(e) => {
                self.problem(format!("'{key}': {e}"));
                None
            }
        }
    }

    fn span(&mut self, key: &str, max: Duration) -> Option<Duration> {
        let s = self.string(key)?;
        match time::parse_span(&s, max) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(format!("'{key}': {e}"));
                None
            }
        }
    }

    fn integer(&mut self, key: &str, min: u32, max: u32) -> Option<u32> {
        let v = self.present(key, "a whole number")?;
        match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.problem(format!(
                    "'{key}' must be a whole number from {min} to {max}, got {v}"
                ));
                None
            }
        }
    }
}

enum Parsed {
    Object(Vec<(String, Value)>),
    Other(&'static str),
}

/// Keeps an object's entries in order, duplicates included (serde_json's `Value` keeps only the
/// last of two equal keys, which would let a payload say `start` and act on `stop`).
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            fields.push((k, v));
        }
        Ok(Parsed::Object(fields))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Parsed, E> {
        Ok(Parsed::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Parsed, E> {
        Ok(Parsed::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Parsed, E> {
        Ok(Parsed::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Parsed, E> {
        Ok(Parsed::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Parsed, E> {
        Ok(Parsed::Other("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        Ok(Parsed::Other("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Parsed::Other("an array"))
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

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn parse(v: Value) -> Result<Request, PayloadError> {
        Request::parse(v.to_string().as_bytes(), now())
    }

    #[test]
    fn a_manual_payload_with_every_common_field() {
        let r = parse(json!({"action":"stop","dry_run":true,"reason":"demo over","trigger":"manual","environment":"dev"}))
            .unwrap();
        assert_eq!(r.action(), Action::Stop);
        assert!(r.dry_run);
        assert_eq!(r.reason, "demo over");
        assert_eq!(r.environment.as_deref(), Some("dev"));
    }

    #[test]
    fn scheduler_constant_input_is_a_scheduled_trigger() {
        let r = parse(json!({"action":"start","trigger":"schedule"})).unwrap();
        assert_eq!((r.action(), r.trigger), (Action::Start, Trigger::Schedule));
        assert_eq!(r.reason, "scheduled start");
    }

    #[test]
    fn classic_scheduled_event_takes_its_action_from_the_rule_name() {
        let r = parse(json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-26T13:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/dev-runtime-stop"], "detail": {}
        }))
        .unwrap();
        assert_eq!((r.action(), r.trigger), (Action::Stop, Trigger::Schedule));
    }

    #[test]
    fn a_null_is_not_an_absent_field() {
        for field in [
            "dry_run",
            "environment",
            "trigger",
            "reason",
            "force",
            "hold_for",
        ] {
            let err = parse(json!({"action":"start", field: null})).unwrap_err();
            assert!(
                err.0
                    .iter()
                    .any(|p| p.contains(&format!("'{field}' is null"))),
                "{field}: {err}"
            );
        }
        let err = parse(json!({"action":"override","mode":null})).unwrap_err();
        assert!(err.to_string().contains("'mode' is null"), "{err}");
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let err = Request::parse(br#"{"action":"start","action":"stop"}"#, now()).unwrap_err();
        assert!(
            err.to_string().contains("'action' is given more than once"),
            "{err}"
        );
        let err = Request::parse(
            br#"{"action":"stop","dry_run":true,"dry_run":false}"#,
            now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("'dry_run'"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse(json!({"action":"restart","dry_run":"yes","reason":7,"colour":"blue"}))
            .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
    }

    #[test]
    fn fields_that_do_not_apply_to_the_action_are_named() {
        let err = parse(json!({"action":"status","force":true,"mode":"clear"})).unwrap_err();
        assert!(
            err.to_string().contains("'force' does not apply to status"),
            "{err}"
        );
        assert!(
            err.to_string().contains("'mode' does not apply to status"),
            "{err}"
        );
    }

    #[test]
    fn an_enormous_hold_is_refused_not_a_panic() {
        let err = parse(json!({"action":"start","hold_for":"9999999999d"})).unwrap_err();
        assert!(err.to_string().contains("'hold_for'"), "{err}");
        let err = parse(json!({"action":"start","hold_until":"9999-12-31T00:00:00Z"})).unwrap_err();
        assert!(err.to_string().contains("more than 31 days away"), "{err}");
    }

    #[test]
    fn an_override_always_has_its_mode_and_for_becomes_until() {
        let r = parse(json!({"action":"override","mode":"keep-running","for":"8h"})).unwrap();
        assert_eq!(
            r.command,
            Command::Override(OverrideCommand {
                mode: OverrideMode::KeepRunning,
                until: Some(now() + Duration::hours(8)),
            })
        );
        assert!(parse(json!({"action":"override"})).is_err());
        assert!(parse(json!({"action":"override","mode":"clear","for":"1h"})).is_err());
    }

    #[test]
    fn teardown_must_name_the_environment() {
        assert!(parse(json!({"action":"teardown"})).is_err());
        assert!(parse(json!({"action":"teardown","environment":"dev"})).is_ok());
    }

    #[test]
    fn deploy_needs_a_service_and_a_revision() {
        let r = parse(
            json!({"action":"deploy","service":"backend","task_definition":"demo-backend:7"}),
        )
        .unwrap();
        assert_eq!(r.action(), Action::Deploy);
        let err = parse(json!({"action":"deploy","service":"backend","task_definition":"latest"}))
            .unwrap_err();
        assert!(err.to_string().contains("family:revision"), "{err}");
        assert!(is_task_definition_ref(
            "arn:aws:ecs:us-east-1:123456789012:task-definition/demo-backend:12"
        ));
        assert!(!is_task_definition_ref("demo-backend:0"));
    }

    #[test]
    fn a_rule_whose_name_says_nothing_is_rejected() {
        let err = parse(json!({
            "detail-type": "Scheduled Event", "source": "aws.events",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("must end in -start"), "{err}");
    }

    #[test]
    fn payloads_that_are_not_objects_are_named() {
        let err = Request::parse(b"[1,2]", now()).unwrap_err();
        assert!(err.to_string().contains("got an array"), "{err}");
        let err = Request::parse(b"{\"action\":", now()).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
}
