//! Deciding what the tier should be doing at an instant: the business-hours window in local time,
//! skip dates, override tags, holds left by manual actions, and `force`. Pure: the instant is an
//! argument, never read from the clock here, so every case is a table row in the tests.
//!
//! Precedence, highest first: a valid, unexpired override tag; then, for scheduled events and
//! `reconcile`, an unexpired hold; then the window. A manual event replaces any hold and
//! respects overrides unless `force` is set. A malformed override freezes the tier: no change is
//! made in either direction, because the malformed tag may have been meant to prevent it.

use std::collections::{BTreeSet, HashSet};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::command::{HoldRequest, Trigger};
use crate::ownership::{Tags, TAG_OVERRIDE, TAG_OVERRIDE_UNTIL};
use crate::spec::ScheduleSpec;

/// Running or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Desired {
    Running,
    Stopped,
}

/// The business-hours window of a spec, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub tz: Tz,
    pub start: NaiveTime,
    pub stop: NaiveTime,
    pub days: HashSet<Weekday>,
    pub skip_dates: BTreeSet<NaiveDate>,
}

impl Window {
    /// The window of a spec's schedule (typed when the spec was parsed).
    pub fn from_spec(s: &ScheduleSpec) -> Window {
        Window {
            tz: s.timezone,
            start: s.start.0,
            stop: s.stop.0,
            days: s.days.iter().map(|d| d.weekday()).collect(),
            skip_dates: s.skip_dates.iter().map(|d| d.0).collect(),
        }
    }

    /// The local date at `t`.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The opening of the window that opens on local date `d`, as `[open, close)`, if it opens
    /// that day (a listed weekday, not a skip date). A window whose stop is not after its start
    /// closes the next day.
    pub fn opening_on(&self, d: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days.contains(&d.weekday()) || self.skip_dates.contains(&d) {
            return None;
        }
        let close_date = if self.stop > self.start {
            d
        } else {
            d.succ_opt()?
        };
        Some((
            self.resolve(d.and_time(self.start)),
            self.resolve(close_date.and_time(self.stop)),
        ))
    }

    /// The instant of a local wall-clock time. A time that does not exist (the spring-forward
    /// gap) resolves to the end of the gap; one that occurs twice (fall back) to its first
    /// occurrence. EventBridge Scheduler skips an invocation in the gap and runs a repeated time
    /// once, so `reconcile` catches up the skipped edge right after the gap.
    pub fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut candidate = local;
        for _ in 0..=180 {
            match self.tz.from_local_datetime(&candidate) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
                LocalResult::None => match candidate.checked_add_signed(Duration::minutes(1)) {
                    Some(next) => candidate = next,
                    None => break,
                },
            }
        }
        // No zone has a gap of three hours; fall back to reading the time as UTC.
        Utc.from_utc_datetime(&local)
    }

    /// Whether the window is open at `t` (start inclusive, stop exclusive).
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let today = self.local_date(t);
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.opening_on(d))
            .any(|(open, close)| open <= t && t < close)
    }

    /// Whether `t`'s local date is a skip date.
    pub fn is_skip_date(&self, t: DateTime<Utc>) -> bool {
        self.skip_dates.contains(&self.local_date(t))
    }

    /// The next edge after `t`: when, and what the window wants from then on.
    pub fn next_transition(&self, t: DateTime<Utc>) -> Option<(DateTime<Utc>, Desired)> {
        let today = self.local_date(t);
        let mut edges: Vec<(DateTime<Utc>, Desired)> = (-1..=14)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .filter_map(|d| self.opening_on(d))
            .flat_map(|(open, close)| [(open, Desired::Running), (close, Desired::Stopped)])
            .filter(|(at, _)| *at > t)
            .collect();
        edges.sort_by_key(|(at, _)| *at);
        edges
            .into_iter()
            .find(|(at, want)| self.is_open(*at) == (*want == Desired::Running))
    }

    /// The close of the opening that `t` is in, if the window is open at `t`.
    pub fn close_of(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = self.local_date(t);
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.opening_on(d))
            .filter(|(open, close)| *open <= t && t < *close)
            .map(|(_, close)| close)
            .max()
    }

    /// The start of the next opening after `t`.
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = self.local_date(t);
        (0..=14)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .filter_map(|d| self.opening_on(d))
            .map(|(open, _)| open)
            .find(|open| *open > t)
    }
}

/// A tier-wide override read from the cluster's tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub mode: Desired,
    /// `None`: until someone removes the tag.
    pub until: Option<DateTime<Utc>>,
}

/// What the override tags say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum OverrideTags {
    /// No override tag.
    None,
    /// A valid override, in force.
    Active(Override),
    /// A valid override whose expiry has passed: ignored.
    Expired(Override),
    /// A tag that cannot be read: the tier is frozen and the problem reported.
    Malformed { problem: String },
}

impl OverrideTags {
    /// Reads the override tags of every cluster of the tier (they must agree).
    pub fn read(cluster_tags: &[(String, Tags)], now: DateTime<Utc>) -> OverrideTags {
        let mut found: Option<(String, Option<String>, String)> = None;
        for (cluster, tags) in cluster_tags {
            let mode = tags.get(TAG_OVERRIDE).cloned();
            let until = tags.get(TAG_OVERRIDE_UNTIL).cloned();
            match (mode, &found) {
                (None, _) if until.is_some() => {
                    return OverrideTags::Malformed {
                        problem: format!(
                            "cluster {cluster}: {TAG_OVERRIDE_UNTIL} is set without {TAG_OVERRIDE}"
                        ),
                    }
                }
                (None, _) => {}
                (Some(m), None) => found = Some((m, until, cluster.clone())),
                (Some(m), Some((m0, u0, c0))) if m != *m0 || until != *u0 => {
                    return OverrideTags::Malformed {
                        problem: format!(
                            "clusters {c0} and {cluster} carry different override tags"
                        ),
                    }
                }
                (Some(_), Some(_)) => {}
            }
        }
        let Some((mode, until, cluster)) = found else {
            return OverrideTags::None;
        };
        let mode = match mode.trim() {
            "keep-running" => Desired::Running,
            "keep-stopped" => Desired::Stopped,
            other => {
                return OverrideTags::Malformed {
                    problem: format!("cluster {cluster}: {TAG_OVERRIDE} is '{other}'; expected keep-running or keep-stopped"),
                }
            }
        };
        let until = match until.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => match DateTime::parse_from_rfc3339(u) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(e) => {
                    return OverrideTags::Malformed {
                        problem: format!("cluster {cluster}: {TAG_OVERRIDE_UNTIL} '{u}' is not an RFC 3339 timestamp ({e})"),
                    }
                }
            },
        };
        let o = Override { mode, until };
        match until {
            Some(u) if u <= now => OverrideTags::Expired(o),
            _ => OverrideTags::Active(o),
        }
    }
}

/// A hold left by a manual action, a wake or an idle stop, kept in the state document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub desired: Desired,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub set_by: String,
    #[serde(default)]
    pub kind: HoldKind,
}

/// Who left a hold, which decides what may end it early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldKind {
    /// A person's start or stop: only another manual action or its end changes it.
    #[default]
    Manual,
    /// A wake from the page: "up to N hours", ended early by an idle stop.
    Wake,
    /// An idle stop inside the window: asleep until the window closes or someone wakes it.
    Idle,
}

impl Hold {
    fn new(desired: Desired, until: DateTime<Utc>, kind: HoldKind) -> Hold {
        Hold {
            desired,
            until,
            reason: String::new(),
            set_by: String::new(),
            kind,
        }
    }
}

/// Idle stop, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idleness {
    /// `wake.idle_minutes`.
    pub minutes: u32,
    /// Since when the running tier has served no request, per the idle alarm and the start
    /// time; `None` when it is not running or served requests last the alarm said.
    pub quiet_since: Option<DateTime<Utc>>,
}

impl Idleness {
    /// Whether the tier has been quiet for `minutes` at `now`.
    fn due(&self, now: DateTime<Utc>) -> bool {
        self.quiet_since
            .is_some_and(|q| now - q >= Duration::minutes(i64::from(self.minutes)))
    }
}

/// What the invocation asked for, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Start,
    Stop,
    Reconcile,
    /// The idle alarm says the ALB served no request for `idle_minutes`.
    Idle,
}

/// Inputs of one decision.
#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    pub intent: Intent,
    pub trigger: Trigger,
    pub force: bool,
    pub now: DateTime<Utc>,
    pub window: Option<&'a Window>,
    pub overrides: &'a OverrideTags,
    pub hold: Option<&'a Hold>,
    /// How long a manual start outside the window holds the tier up when the payload says nothing.
    pub default_hold: Duration,
    /// From the payload: how long to hold the result of a manual start or stop.
    pub hold_request: Option<HoldRequest>,
    /// No window: asleep unless woken (`wake.on_demand`).
    pub on_demand: bool,
    /// Idle stop, when `wake.idle_minutes` is set.
    pub idle: Option<Idleness>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What to converge to; `None`: change nothing.
    pub desired: Option<Desired>,
    /// One sentence: why.
    pub reason: String,
    /// Things worth knowing (expired override ignored, force used...).
    pub notes: Vec<String>,
    /// The hold to store after acting: `Some(None)` clears it, `None` leaves it.
    #[serde(skip)]
    pub new_hold: Option<Option<Hold>>,
}

impl Decision {
    fn skip(reason: String, notes: Vec<String>) -> Decision {
        Decision {
            desired: None,
            reason,
            notes,
            new_hold: None,
        }
    }
}

/// Decides. See the module documentation for the precedence.
pub fn decide(input: &DecisionInput) -> Decision {
    let now = input.now;
    let mut notes = Vec::new();
    let overriding = match input.overrides {
        OverrideTags::None => None,
        OverrideTags::Active(o) => Some(o),
        OverrideTags::Expired(o) => {
            notes.push(format!(
                "override {} expired at {} and is ignored",
                mode_name(o.mode),
                o.until.map(|u| u.to_rfc3339()).unwrap_or_default()
            ));
            None
        }
        OverrideTags::Malformed { problem } => {
            if input.force && input.trigger == Trigger::Manual && input.intent != Intent::Reconcile
            {
                notes.push(format!(
                    "malformed override ignored because force is set: {problem}"
                ));
                None
            } else {
                return Decision::skip(
                    format!("no change: malformed override tag ({problem})"),
                    notes,
                );
            }
        }
    };
    let hold = input.hold.filter(|h| h.until > now);
    if let Some(h) = input.hold.filter(|h| h.until <= now) {
        notes.push(format!(
            "hold {} ended at {}",
            desired_name(h.desired),
            h.until.to_rfc3339()
        ));
    }

    let asked = match input.intent {
        Intent::Start => Some(Desired::Running),
        Intent::Stop => Some(Desired::Stopped),
        Intent::Reconcile | Intent::Idle => None,
    };

    if input.intent == Intent::Idle {
        return decide_idle(input, overriding, hold, notes);
    }

    match (input.trigger, asked) {
        // A person asked for something (directly or from the wake page): overrides win unless
        // forced; holds are replaced.
        (Trigger::Manual | Trigger::Wake, Some(want)) => {
            let kind = if input.trigger == Trigger::Wake {
                HoldKind::Wake
            } else {
                HoldKind::Manual
            };
            if let Some(o) = overriding.filter(|o| o.mode != want) {
                if !input.force {
                    return Decision::skip(
                        format!(
                            "skipped: override {} is in force{}",
                            mode_name(o.mode),
                            until_text(o.until)
                        ),
                        notes,
                    );
                }
                notes.push(format!(
                    "override {} bypassed with force",
                    mode_name(o.mode)
                ));
            }
            // A person's stop holds against visitors: only a person (or the hold's end) wakes it.
            if let Some(h) = hold.filter(|h| {
                kind == HoldKind::Wake
                    && h.desired == Desired::Stopped
                    && h.kind == HoldKind::Manual
            }) {
                return Decision::skip(
                    format!(
                        "skipped: held stopped until {} ({})",
                        h.until.to_rfc3339(),
                        h.set_by
                    ),
                    notes,
                );
            }
            // Without a window (on demand) the tier is always "outside" it.
            let open = input
                .window
                .map(|w| w.is_open(now))
                .or(input.on_demand.then_some(false));
            let explicit = input.hold_request.map(|h| h.until(now));
            // Repeating a manual action keeps the hold it already left: a repeat is a no-op.
            let same = hold
                .filter(|h| h.desired == want && h.kind == kind)
                .cloned();
            let new_hold = match (want, open, explicit) {
                (_, _, Some(until)) => Some(Hold::new(want, until, kind)),
                (_, _, None) if same.is_some() => same,
                (Desired::Running, Some(false), None) => Some(Hold::new(
                    want,
                    // DEFAULT_HOLD is bounded at cold start, so this always fits.
                    crate::time::after(now, input.default_hold).unwrap_or(now),
                    kind,
                )),
                (Desired::Stopped, Some(true), None) => input
                    .window
                    .and_then(|w| w.next_open(now))
                    .map(|until| Hold::new(want, until, kind)),
                _ => None,
            };
            let reason = match &new_hold {
                Some(h) => format!("manual {}; held until {}", verb(want), h.until.to_rfc3339()),
                None => format!("manual {}", verb(want)),
            };
            Decision {
                desired: Some(want),
                reason,
                notes,
                new_hold: Some(new_hold),
            }
        }
        // Scheduled edges and reconcile: override, then hold, then the window.
        (_, asked) => {
            if let Some(o) = overriding {
                if asked.is_some_and(|a| a != o.mode) {
                    return Decision::skip(
                        format!(
                            "skipped: override {} is in force{}",
                            mode_name(o.mode),
                            until_text(o.until)
                        ),
                        notes,
                    );
                }
                return Decision {
                    desired: Some(o.mode),
                    reason: format!("override {}{}", mode_name(o.mode), until_text(o.until)),
                    notes,
                    new_hold: None,
                };
            }
            let idle_due = asked.is_none() && input.idle.is_some_and(|i| i.due(now));
            if let Some(h) = hold {
                if idle_due && h.desired == Desired::Running && h.kind == HoldKind::Wake {
                    return idle_stop(input, notes);
                }
                if asked.is_some_and(|a| a != h.desired) {
                    return Decision::skip(
                        format!(
                            "skipped: held {} until {} ({})",
                            desired_name(h.desired),
                            h.until.to_rfc3339(),
                            h.set_by
                        ),
                        notes,
                    );
                }
                return Decision {
                    desired: Some(h.desired),
                    reason: format!(
                        "held {} until {}",
                        desired_name(h.desired),
                        h.until.to_rfc3339()
                    ),
                    notes,
                    new_hold: None,
                };
            }
            let clear = input.hold.is_some().then_some(None);
            match (asked, input.window) {
                (Some(Desired::Running), Some(w)) if w.is_skip_date(now) => Decision::skip(
                    format!("skipped: {} is a skip date", w.local_date(now)),
                    notes,
                ),
                (Some(want), _) => Decision {
                    desired: Some(want),
                    reason: format!("scheduled {}", verb(want)),
                    notes,
                    new_hold: clear,
                },
                (None, None) if input.on_demand => Decision {
                    desired: Some(Desired::Stopped),
                    reason: "on demand: asleep unless woken".into(),
                    notes,
                    new_hold: clear,
                },
                (None, None) => Decision::skip(
                    "no change: the spec has no schedule to reconcile against".into(),
                    notes,
                ),
                (None, Some(w)) if w.is_open(now) && idle_due => idle_stop(input, notes),
                (None, Some(w)) => {
                    let want = if w.is_open(now) {
                        Desired::Running
                    } else {
                        Desired::Stopped
                    };
                    let why = if w.is_open(now) {
                        "inside the window".to_string()
                    } else if w.is_skip_date(now) {
                        format!("outside the window ({} is a skip date)", w.local_date(now))
                    } else {
                        "outside the window".to_string()
                    };
                    Decision {
                        desired: Some(want),
                        reason: why,
                        notes,
                        new_hold: clear,
                    }
                }
            }
        }
    }
}

/// The idle alarm's word: stop unless an override or a person's hold keeps the tier running.
fn decide_idle(
    input: &DecisionInput,
    overriding: Option<&Override>,
    hold: Option<&Hold>,
    notes: Vec<String>,
) -> Decision {
    let Some(idle) = input.idle else {
        return Decision::skip(
            "no change: idle stop is off (the spec has no wake.idle_minutes)".into(),
            notes,
        );
    };
    if let Some(o) = overriding {
        return match o.mode {
            Desired::Running => Decision::skip(
                format!(
                    "idle, but override keep-running is in force{}",
                    until_text(o.until)
                ),
                notes,
            ),
            Desired::Stopped => Decision {
                desired: Some(Desired::Stopped),
                reason: format!("override keep-stopped{}", until_text(o.until)),
                notes,
                new_hold: None,
            },
        };
    }
    if let Some(h) = hold.filter(|h| h.desired == Desired::Running && h.kind != HoldKind::Wake) {
        return Decision::skip(
            format!(
                "idle, but held running until {} ({})",
                h.until.to_rfc3339(),
                h.set_by
            ),
            notes,
        );
    }
    let Some(quiet) = idle.quiet_since else {
        return Decision::skip("no change: the tier is not running".into(), notes);
    };
    if !idle.due(input.now) {
        let due = quiet + Duration::minutes(i64::from(idle.minutes));
        return Decision::skip(
            format!(
                "no change: quiet only since {} (it started since the alarm); reconcile stops it from {} if it stays quiet",
                quiet.to_rfc3339(),
                due.to_rfc3339()
            ),
            notes,
        );
    }
    idle_stop(input, notes)
}

/// Stop for idleness: inside the window, held asleep until it closes (or someone wakes it);
/// outside it, nothing holds the tier asleep but the schedule itself.
fn idle_stop(input: &DecisionInput, notes: Vec<String>) -> Decision {
    let now = input.now;
    let quiet = input
        .idle
        .and_then(|i| i.quiet_since)
        .map(|q| format!(" since {}", q.to_rfc3339()))
        .unwrap_or_default();
    let minutes = input.idle.map_or(0, |i| i.minutes);
    let close = input.window.and_then(|w| w.close_of(now));
    let (new_hold, until) = match close {
        Some(close) => (
            Some(Hold::new(Desired::Stopped, close, HoldKind::Idle)),
            format!(
                "; asleep until the window closes at {} or a visitor wakes it",
                close.to_rfc3339()
            ),
        ),
        None => (None, "; asleep until a visitor wakes it".to_string()),
    };
    Decision {
        desired: Some(Desired::Stopped),
        reason: format!("idle: no request{quiet} (idle_minutes {minutes}){until}"),
        notes,
        new_hold: Some(new_hold),
    }
}

fn until_text(until: Option<DateTime<Utc>>) -> String {
    until
        .map(|u| format!(" until {}", u.to_rfc3339()))
        .unwrap_or_else(|| " with no expiry".into())
}

fn mode_name(d: Desired) -> &'static str {
    match d {
        Desired::Running => "keep-running",
        Desired::Stopped => "keep-stopped",
    }
}

fn desired_name(d: Desired) -> &'static str {
    match d {
        Desired::Running => "running",
        Desired::Stopped => "stopped",
    }
}

fn verb(d: Desired) -> &'static str {
    match d {
        Desired::Running => "start",
        Desired::Stopped => "stop",
    }
}

/// The next instant at which what the tier wants changes, and what it wants from then on: an
/// override or a hold ending, or an edge of the window, whichever comes first and changes
/// something. `status` shows this, so during a manual hold it names the hold's end.
pub fn next_change(
    window: Option<&Window>,
    on_demand: bool,
    overrides: &OverrideTags,
    hold: Option<&Hold>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Desired)> {
    let wanted_at = |t: DateTime<Utc>| {
        // Tags are re-read as of `t`, so an override whose expiry has passed counts as expired.
        let overrides = match overrides {
            OverrideTags::Active(o) | OverrideTags::Expired(o) => match o.until {
                Some(u) if u <= t => OverrideTags::Expired(o.clone()),
                _ => OverrideTags::Active(o.clone()),
            },
            other => other.clone(),
        };
        decide(&DecisionInput {
            intent: Intent::Reconcile,
            trigger: Trigger::Schedule,
            force: false,
            now: t,
            window,
            overrides: &overrides,
            hold,
            default_hold: Duration::zero(),
            hold_request: None,
            on_demand,
            idle: None,
        })
        .desired
    };
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    if let OverrideTags::Active(Override { until: Some(u), .. }) = overrides {
        candidates.push(*u);
    }
    if let Some(h) = hold {
        candidates.push(h.until);
    }
    if let Some(w) = window {
        let today = w.local_date(now);
        for offset in -1..=15 {
            if let Some((open, close)) = today
                .checked_add_signed(Duration::days(offset))
                .and_then(|d| w.opening_on(d))
            {
                candidates.extend([open, close]);
            }
        }
    }
    candidates.retain(|t| *t > now);
    candidates.sort();
    candidates.dedup();
    let current = wanted_at(now);
    candidates.into_iter().find_map(|t| {
        let then = wanted_at(t)?;
        (Some(then) != current).then_some((t, then))
    })
}
