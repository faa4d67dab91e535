//! Table-driven tests of the pure decision function: window edges, midnight and week wrap, both
//! DST transitions in America/New_York and Europe/London, skip dates, every override value and
//! expiry, holds, force. The instant is always injected.

use chrono::{DateTime, Duration, Utc};
use runtime_scheduler::command::{HoldRequest, Trigger};
use runtime_scheduler::model::Tags;
use runtime_scheduler::ownership::{TAG_OVERRIDE, TAG_OVERRIDE_UNTIL};
use runtime_scheduler::schedule::{
    decide, next_change, DecisionInput, Desired, Hold, HoldKind, Idleness, Intent, OverrideTags,
    Window,
};
use runtime_scheduler::spec::ScheduleSpec;
use runtime_scheduler::time::{parse_span, MAX_HOLD};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn window(tz: &str, start: &str, stop: &str, days: &[&str], skip: &[&str]) -> Window {
    let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
        "timezone": tz, "start": start, "stop": stop, "days": days, "skip_dates": skip,
    }))
    .expect("a valid schedule");
    Window::from_spec(&spec)
}

const WEEKDAYS: &[&str] = &["MON", "TUE", "WED", "THU", "FRI"];
const EVERY_DAY: &[&str] = &["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// New York business hours, 08:00 to 20:00 on weekdays, closed on Christmas Eve.
fn new_york() -> Window {
    window(
        "America/New_York",
        "08:00",
        "20:00",
        WEEKDAYS,
        &["2026-12-24"],
    )
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, Tags)> {
    vec![(
        "demo".into(),
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )]
}

/// One decision scenario.
struct Case {
    intent: Intent,
    trigger: Trigger,
    force: bool,
    now: DateTime<Utc>,
    window: Option<Window>,
    cluster_tags: Vec<(String, Tags)>,
    hold: Option<Hold>,
    hold_request: Option<HoldRequest>,
    on_demand: bool,
    idle: Option<Idleness>,
}

impl Case {
    fn new(intent: Intent, trigger: Trigger, now: &str) -> Case {
        Case {
            intent,
            trigger,
            force: false,
            now: utc(now),
            window: Some(new_york()),
            cluster_tags: tags(&[]),
            hold: None,
            hold_request: None,
            on_demand: false,
            idle: None,
        }
    }
    fn wake(now: &str) -> Case {
        Case::new(Intent::Start, Trigger::Wake, now)
    }
    fn alarm(now: &str) -> Case {
        Case::new(Intent::Idle, Trigger::Alarm, now)
    }
    /// Idle stop after 30 minutes; quiet since `since` (`None`: not running, or busy).
    fn quiet_since(mut self, since: Option<&str>) -> Case {
        self.idle = Some(Idleness {
            minutes: 30,
            quiet_since: since.map(utc),
        });
        self
    }
    fn on_demand(mut self) -> Case {
        self.window = None;
        self.on_demand = true;
        self
    }
    fn held(mut self, desired: Desired, until: &str, kind: HoldKind) -> Case {
        self.hold = Some(Hold {
            desired,
            until: utc(until),
            reason: "test".into(),
            set_by: format!("{kind:?} test"),
            kind,
        });
        self
    }
    fn reconcile(now: &str) -> Case {
        Case::new(Intent::Reconcile, Trigger::Schedule, now)
    }
    fn scheduled(intent: Intent, now: &str) -> Case {
        Case::new(intent, Trigger::Schedule, now)
    }
    fn manual(intent: Intent, now: &str) -> Case {
        Case::new(intent, Trigger::Manual, now)
    }
    fn window(mut self, w: Window) -> Case {
        self.window = Some(w);
        self
    }
    fn no_schedule(mut self) -> Case {
        self.window = None;
        self
    }
    fn tags(mut self, pairs: &[(&str, &str)]) -> Case {
        self.cluster_tags = tags(pairs);
        self
    }
    fn force(mut self) -> Case {
        self.force = true;
        self
    }
    fn hold(mut self, desired: Desired, until: &str) -> Case {
        self.hold = Some(Hold {
            desired,
            until: utc(until),
            reason: "test".into(),
            set_by: "manual start test".into(),
            kind: HoldKind::Manual,
        });
        self
    }
    fn hold_for(mut self, d: &str) -> Case {
        self.hold_request = Some(HoldRequest::For(parse_span(d, MAX_HOLD).unwrap()));
        self
    }
    fn hold_until(mut self, t: &str) -> Case {
        self.hold_request = Some(HoldRequest::Until(utc(t)));
        self
    }
}

/// (name, case, expected desired, a phrase the reason or notes must contain, expected new hold end)
type Row = (
    &'static str,
    Case,
    Option<Desired>,
    &'static str,
    Option<Option<&'static str>>,
);

use Desired::{Running, Stopped};
use Intent::{Start, Stop};

fn rows() -> Vec<Row> {
    vec![
        // Window edges (New York, EST = UTC-5 in December).
        (
            "reconcile at the start instant is inside (start inclusive)",
            Case::reconcile("2026-12-01T13:00:00Z"),
            Some(Running),
            "inside the window",
            None,
        ),
        (
            "reconcile one second before the start is outside",
            Case::reconcile("2026-12-01T12:59:59Z"),
            Some(Stopped),
            "outside the window",
            None,
        ),
        (
            "reconcile at the stop instant is outside (stop exclusive)",
            Case::reconcile("2026-12-02T01:00:00Z"),
            Some(Stopped),
            "outside the window",
            None,
        ),
        (
            "reconcile one second before the stop is inside",
            Case::reconcile("2026-12-02T00:59:59Z"),
            Some(Running),
            "inside the window",
            None,
        ),
        (
            "reconcile uses the local date, not the UTC date, near the stop",
            Case::reconcile("2026-12-02T00:30:00Z"),
            Some(Running),
            "inside",
            None,
        ),
        // Summer time (EDT = UTC-4).
        (
            "reconcile in summer uses the summer offset",
            Case::reconcile("2026-07-01T12:00:00Z"),
            Some(Running),
            "inside",
            None,
        ),
        (
            "reconcile in summer before 08:00 EDT is outside",
            Case::reconcile("2026-07-01T11:59:00Z"),
            Some(Stopped),
            "outside",
            None,
        ),
        // Week wrap.
        (
            "saturday noon is outside a weekday window",
            Case::reconcile("2026-11-28T17:00:00Z"),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "sunday evening is outside a weekday window",
            Case::reconcile("2026-11-29T23:00:00Z"),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "monday 08:00 opens after the weekend",
            Case::reconcile("2026-11-30T13:00:00Z"),
            Some(Running),
            "inside",
            None,
        ),
        // Windows that cross midnight: 22:00 to 06:00, opening on weekdays.
        (
            "overnight window is open after midnight of an opening day",
            Case::reconcile("2026-12-02T08:00:00Z").window(window(
                "America/New_York",
                "22:00",
                "06:00",
                WEEKDAYS,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        (
            "overnight window opened friday runs into saturday morning",
            Case::reconcile("2026-11-28T10:00:00Z").window(window(
                "America/New_York",
                "22:00",
                "06:00",
                WEEKDAYS,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        (
            "overnight window does not open on saturday night",
            Case::reconcile("2026-11-29T04:00:00Z").window(window(
                "America/New_York",
                "22:00",
                "06:00",
                WEEKDAYS,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "overnight window closes at 06:00 local",
            Case::reconcile("2026-12-02T11:00:00Z").window(window(
                "America/New_York",
                "22:00",
                "06:00",
                WEEKDAYS,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        // DST in New York: spring forward 2026-03-08 02:00 -> 03:00, fall back 2026-11-01 02:00 -> 01:00.
        (
            "spring forward: 08:00 EDT is 12:00 UTC on the monday after",
            Case::reconcile("2026-03-09T12:00:00Z"),
            Some(Running),
            "inside",
            None,
        ),
        (
            "spring forward: 12:30 UTC on the friday before is still 07:30 EST",
            Case::reconcile("2026-03-06T12:30:00Z"),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "spring forward: a stop at the missing 02:30 happens at 03:00 EDT",
            Case::reconcile("2026-03-08T07:00:00Z").window(window(
                "America/New_York",
                "01:30",
                "02:30",
                EVERY_DAY,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "spring forward: just before the gap the window is still open",
            Case::reconcile("2026-03-08T06:59:00Z").window(window(
                "America/New_York",
                "01:30",
                "02:30",
                EVERY_DAY,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        (
            "fall back: a stop at the twice-occurring 01:30 happens at the first one",
            Case::reconcile("2026-11-01T05:30:00Z").window(window(
                "America/New_York",
                "00:00",
                "01:30",
                EVERY_DAY,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "fall back: the second 01:15 is still after the stop",
            Case::reconcile("2026-11-01T06:15:00Z").window(window(
                "America/New_York",
                "00:00",
                "01:30",
                EVERY_DAY,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "fall back: before the first 01:30 the window is open",
            Case::reconcile("2026-11-01T05:29:00Z").window(window(
                "America/New_York",
                "00:00",
                "01:30",
                EVERY_DAY,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        (
            "fall back: 08:00 EST is 13:00 UTC on the monday after",
            Case::reconcile("2026-11-02T12:30:00Z"),
            Some(Stopped),
            "outside",
            None,
        ),
        // DST in London: spring forward 2026-03-29 01:00 -> 02:00, fall back 2026-10-25 02:00 -> 01:00.
        (
            "london spring forward: a stop at the missing 01:30 happens at 02:00 BST",
            Case::reconcile("2026-03-29T01:00:00Z").window(window(
                "Europe/London",
                "00:30",
                "01:30",
                EVERY_DAY,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "london spring forward: before the gap the window is open",
            Case::reconcile("2026-03-29T00:59:00Z").window(window(
                "Europe/London",
                "00:30",
                "01:30",
                EVERY_DAY,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        (
            "london fall back: the first 01:30 (BST) is the stop",
            Case::reconcile("2026-10-25T00:30:00Z").window(window(
                "Europe/London",
                "00:00",
                "01:30",
                EVERY_DAY,
                &[],
            )),
            Some(Stopped),
            "outside",
            None,
        ),
        (
            "london fall back: 08:00 GMT on monday is 08:00 UTC",
            Case::reconcile("2026-10-26T08:00:00Z").window(window(
                "Europe/London",
                "08:00",
                "18:00",
                WEEKDAYS,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        (
            "london summer: 08:00 BST is 07:00 UTC",
            Case::reconcile("2026-10-23T07:00:00Z").window(window(
                "Europe/London",
                "08:00",
                "18:00",
                WEEKDAYS,
                &[],
            )),
            Some(Running),
            "inside",
            None,
        ),
        // Skip dates are local calendar dates.
        (
            "skip date: closed all day in local time",
            Case::reconcile("2026-12-24T15:00:00Z"),
            Some(Stopped),
            "2026-12-24 is a skip date",
            None,
        ),
        (
            "skip date: 19:30 EST on the 24th is the 25th in UTC and still skipped",
            Case::reconcile("2026-12-25T00:30:00Z"),
            Some(Stopped),
            "skip date",
            None,
        ),
        (
            "skip date: the day after opens normally",
            Case::reconcile("2026-12-25T14:00:00Z"),
            Some(Running),
            "inside",
            None,
        ),
        (
            "scheduled start on a skip date is skipped",
            Case::scheduled(Start, "2026-12-24T13:00:00Z"),
            None,
            "skip date",
            None,
        ),
        (
            "scheduled stop on a skip date still stops",
            Case::scheduled(Stop, "2026-12-25T01:00:00Z"),
            Some(Stopped),
            "scheduled stop",
            None,
        ),
        // Override tags: every value, with future, past, missing and malformed expiry.
        (
            "keep-running without expiry keeps the tier up outside the window",
            Case::reconcile("2026-12-02T03:00:00Z").tags(&[(TAG_OVERRIDE, "keep-running")]),
            Some(Running),
            "override keep-running with no expiry",
            None,
        ),
        (
            "keep-running with a future expiry keeps the tier up",
            Case::reconcile("2026-12-02T03:00:00Z").tags(&[
                (TAG_OVERRIDE, "keep-running"),
                (TAG_OVERRIDE_UNTIL, "2026-12-02T05:00:00Z"),
            ]),
            Some(Running),
            "until",
            None,
        ),
        (
            "keep-running with a past expiry is ignored and says so",
            Case::reconcile("2026-12-02T03:00:00Z").tags(&[
                (TAG_OVERRIDE, "keep-running"),
                (TAG_OVERRIDE_UNTIL, "2026-12-02T02:00:00Z"),
            ]),
            Some(Stopped),
            "expired",
            None,
        ),
        (
            "keep-running with a malformed expiry freezes the tier",
            Case::reconcile("2026-12-02T03:00:00Z").tags(&[
                (TAG_OVERRIDE, "keep-running"),
                (TAG_OVERRIDE_UNTIL, "tomorrow"),
            ]),
            None,
            "not an RFC 3339 timestamp",
            None,
        ),
        (
            "keep-stopped inside the window keeps the tier down",
            Case::reconcile("2026-12-01T15:00:00Z").tags(&[(TAG_OVERRIDE, "keep-stopped")]),
            Some(Stopped),
            "keep-stopped",
            None,
        ),
        (
            "keep-stopped expired inside the window lets it run",
            Case::reconcile("2026-12-01T15:00:00Z").tags(&[
                (TAG_OVERRIDE, "keep-stopped"),
                (TAG_OVERRIDE_UNTIL, "2026-12-01T14:00:00-00:00"),
            ]),
            Some(Running),
            "expired",
            None,
        ),
        (
            "an unknown override value freezes the tier",
            Case::reconcile("2026-12-02T03:00:00Z").tags(&[(TAG_OVERRIDE, "keep-runing")]),
            None,
            "expected keep-running or keep-stopped",
            None,
        ),
        (
            "an expiry without an override is malformed",
            Case::reconcile("2026-12-02T03:00:00Z")
                .tags(&[(TAG_OVERRIDE_UNTIL, "2026-12-03T00:00:00Z")]),
            None,
            "without",
            None,
        ),
        (
            "scheduled stop respects keep-running",
            Case::scheduled(Stop, "2026-12-02T01:00:00Z").tags(&[(TAG_OVERRIDE, "keep-running")]),
            None,
            "override keep-running is in force",
            None,
        ),
        (
            "scheduled start respects keep-stopped",
            Case::scheduled(Start, "2026-12-01T13:00:00Z").tags(&[(TAG_OVERRIDE, "keep-stopped")]),
            None,
            "keep-stopped",
            None,
        ),
        (
            "scheduled stop with a malformed override is skipped",
            Case::scheduled(Stop, "2026-12-02T01:00:00Z").tags(&[(TAG_OVERRIDE, "yes")]),
            None,
            "malformed override",
            None,
        ),
        (
            "manual stop respects keep-running",
            Case::manual(Stop, "2026-12-01T15:00:00Z").tags(&[(TAG_OVERRIDE, "keep-running")]),
            None,
            "keep-running is in force",
            None,
        ),
        (
            "manual stop with force bypasses keep-running and says so",
            Case::manual(Stop, "2026-12-01T15:00:00Z")
                .tags(&[(TAG_OVERRIDE, "keep-running")])
                .force(),
            Some(Stopped),
            "bypassed with force",
            Some(Some("2026-12-02T13:00:00Z")),
        ),
        (
            "manual start with force ignores a malformed override",
            Case::manual(Start, "2026-12-01T15:00:00Z")
                .tags(&[(TAG_OVERRIDE, "nope")])
                .force(),
            Some(Running),
            "malformed override ignored because force",
            Some(None),
        ),
        (
            "reconcile never uses force on a malformed override",
            Case::reconcile("2026-12-01T15:00:00Z")
                .tags(&[(TAG_OVERRIDE, "nope")])
                .force(),
            None,
            "malformed",
            None,
        ),
        (
            "the override beats a hold",
            Case::reconcile("2026-12-02T03:00:00Z")
                .hold(Running, "2026-12-02T05:00:00Z")
                .tags(&[(TAG_OVERRIDE, "keep-stopped")]),
            Some(Stopped),
            "keep-stopped",
            None,
        ),
        // Holds left by manual actions.
        (
            "manual start outside the window holds for the default two hours",
            Case::manual(Start, "2026-12-02T03:00:00Z"),
            Some(Running),
            "held until",
            Some(Some("2026-12-02T05:00:00Z")),
        ),
        (
            "manual start outside the window with hold_for",
            Case::manual(Start, "2026-12-02T03:00:00Z").hold_for("3h"),
            Some(Running),
            "held until",
            Some(Some("2026-12-02T06:00:00Z")),
        ),
        (
            "manual start with hold_until",
            Case::manual(Start, "2026-12-02T03:00:00Z").hold_until("2026-12-02T04:30:00Z"),
            Some(Running),
            "held until",
            Some(Some("2026-12-02T04:30:00Z")),
        ),
        (
            "manual start inside the window leaves no hold",
            Case::manual(Start, "2026-12-01T15:00:00Z"),
            Some(Running),
            "manual start",
            Some(None),
        ),
        (
            "manual stop inside the window holds until the next window start",
            Case::manual(Stop, "2026-12-01T15:00:00Z"),
            Some(Stopped),
            "held until",
            Some(Some("2026-12-02T13:00:00Z")),
        ),
        (
            "manual stop on friday holds until monday 08:00",
            Case::manual(Stop, "2026-11-27T15:00:00Z"),
            Some(Stopped),
            "held until",
            Some(Some("2026-11-30T13:00:00Z")),
        ),
        (
            "manual stop outside the window leaves no hold",
            Case::manual(Stop, "2026-12-02T03:00:00Z"),
            Some(Stopped),
            "manual stop",
            Some(None),
        ),
        (
            "a repeated manual start keeps the hold it left",
            Case::manual(Start, "2026-12-02T04:00:00Z").hold(Running, "2026-12-02T05:00:00Z"),
            Some(Running),
            "held until 2026-12-02T05:00:00",
            Some(Some("2026-12-02T05:00:00Z")),
        ),
        (
            "reconcile respects a running hold outside the window",
            Case::reconcile("2026-12-02T04:00:00Z").hold(Running, "2026-12-02T05:00:00Z"),
            Some(Running),
            "held running",
            None,
        ),
        (
            "reconcile after a running hold ended outside the window stops",
            Case::reconcile("2026-12-02T05:15:00Z").hold(Running, "2026-12-02T05:00:00Z"),
            Some(Stopped),
            "hold running ended",
            Some(None),
        ),
        (
            "a stopped hold that ends at the window start lets reconcile start",
            Case::reconcile("2026-12-02T13:15:00Z").hold(Stopped, "2026-12-02T13:00:00Z"),
            Some(Running),
            "inside the window",
            Some(None),
        ),
        (
            "reconcile respects a stopped hold inside the window",
            Case::reconcile("2026-12-01T16:00:00Z").hold(Stopped, "2026-12-02T13:00:00Z"),
            Some(Stopped),
            "held stopped",
            None,
        ),
        (
            "scheduled stop is skipped while a running hold lasts",
            Case::scheduled(Stop, "2026-12-02T01:00:00Z").hold(Running, "2026-12-02T02:00:00Z"),
            None,
            "held running until",
            None,
        ),
        (
            "a manual stop replaces a running hold",
            Case::manual(Stop, "2026-12-02T03:30:00Z").hold(Running, "2026-12-02T05:00:00Z"),
            Some(Stopped),
            "manual stop",
            Some(None),
        ),
        // Without a schedule.
        (
            "reconcile without a schedule changes nothing",
            Case::reconcile("2026-12-01T15:00:00Z").no_schedule(),
            None,
            "no schedule",
            None,
        ),
        (
            "a scheduled start without a schedule still starts",
            Case::scheduled(Start, "2026-12-01T15:00:00Z").no_schedule(),
            Some(Running),
            "scheduled start",
            None,
        ),
        // Idle stop (30 minutes) and wake on request. Tuesday 2026-12-01, 10:00 New York is
        // 15:00Z; the window closes at 20:00 New York (01:00Z the next day).
        (
            "idle inside the window stops until the window closes",
            Case::alarm("2026-12-01T15:00:00Z").quiet_since(Some("2026-12-01T14:25:00Z")),
            Some(Stopped),
            "idle: no request since 2026-12-01T14:25:00+00:00",
            Some(Some("2026-12-02T01:00:00Z")),
        ),
        (
            "idle with a person's hold keeps running",
            Case::alarm("2026-12-01T15:00:00Z")
                .quiet_since(Some("2026-12-01T14:00:00Z"))
                .hold(Running, "2026-12-01T18:00:00Z"),
            None,
            "idle, but held running until 2026-12-01T18:00:00+00:00",
            None,
        ),
        (
            "idle ends a wake's hold early",
            Case::alarm("2026-12-01T15:00:00Z")
                .quiet_since(Some("2026-12-01T14:00:00Z"))
                .held(Running, "2026-12-01T18:00:00Z", HoldKind::Wake),
            Some(Stopped),
            "idle: no request",
            Some(Some("2026-12-02T01:00:00Z")),
        ),
        (
            "idle outside the window ends a wake's hold; nothing holds it asleep",
            Case::alarm("2026-12-02T03:00:00Z")
                .quiet_since(Some("2026-12-02T02:00:00Z"))
                .held(Running, "2026-12-02T05:00:00Z", HoldKind::Wake),
            Some(Stopped),
            "asleep until a visitor wakes it",
            Some(None),
        ),
        (
            "idle with keep-running override keeps running",
            Case::alarm("2026-12-01T15:00:00Z")
                .quiet_since(Some("2026-12-01T14:00:00Z"))
                .tags(&[(TAG_OVERRIDE, "keep-running")]),
            None,
            "idle, but override keep-running is in force",
            None,
        ),
        (
            "idle with keep-stopped override converges to stopped",
            Case::alarm("2026-12-01T15:00:00Z")
                .quiet_since(Some("2026-12-01T14:00:00Z"))
                .tags(&[(TAG_OVERRIDE, "keep-stopped")]),
            Some(Stopped),
            "override keep-stopped",
            None,
        ),
        (
            "idle but started since the alarm: not quiet long enough yet",
            Case::alarm("2026-12-01T15:00:00Z").quiet_since(Some("2026-12-01T14:50:00Z")),
            None,
            "reconcile stops it from 2026-12-01T15:20:00+00:00",
            None,
        ),
        (
            "idle while not running changes nothing",
            Case::alarm("2026-12-01T15:00:00Z").quiet_since(None),
            None,
            "the tier is not running",
            None,
        ),
        (
            "an idle signal without idle stop configured changes nothing",
            Case::alarm("2026-12-01T15:00:00Z"),
            None,
            "idle stop is off",
            None,
        ),
        (
            "reconcile inside the window stops a tier quiet for idle_minutes",
            Case::reconcile("2026-12-01T15:00:00Z").quiet_since(Some("2026-12-01T14:20:00Z")),
            Some(Stopped),
            "idle: no request",
            Some(Some("2026-12-02T01:00:00Z")),
        ),
        (
            "reconcile inside the window keeps a tier quiet for less",
            Case::reconcile("2026-12-01T15:00:00Z").quiet_since(Some("2026-12-01T14:40:00Z")),
            Some(Running),
            "inside the window",
            None,
        ),
        (
            "reconcile ends a quiet wake outside the window",
            Case::reconcile("2026-12-02T03:00:00Z")
                .quiet_since(Some("2026-12-02T02:00:00Z"))
                .held(Running, "2026-12-02T05:00:00Z", HoldKind::Wake),
            Some(Stopped),
            "idle",
            Some(None),
        ),
        (
            "reconcile keeps a person's hold however quiet",
            Case::reconcile("2026-12-02T03:00:00Z")
                .quiet_since(Some("2026-12-02T02:00:00Z"))
                .hold(Running, "2026-12-02T05:00:00Z"),
            Some(Running),
            "held running",
            None,
        ),
        (
            "the idle hold keeps the window from restarting the tier",
            Case::reconcile("2026-12-01T16:00:00Z").held(
                Stopped,
                "2026-12-02T01:00:00Z",
                HoldKind::Idle,
            ),
            Some(Stopped),
            "held stopped until 2026-12-02T01:00:00+00:00",
            None,
        ),
        (
            "a scheduled start at the window's opening ignores last night's quiet",
            Case::scheduled(Start, "2026-12-01T13:00:00Z")
                .quiet_since(Some("2026-11-30T20:00:00Z")),
            Some(Running),
            "scheduled start",
            None,
        ),
        (
            "a wake inside an idle hold starts and holds for what it asked",
            Case::wake("2026-12-01T16:00:00Z")
                .held(Stopped, "2026-12-02T01:00:00Z", HoldKind::Idle)
                .hold_for("2h"),
            Some(Running),
            "manual start; held until 2026-12-01T18:00:00+00:00",
            Some(Some("2026-12-01T18:00:00Z")),
        ),
        (
            "a wake respects a person's stop hold",
            Case::wake("2026-12-01T16:00:00Z")
                .hold(Stopped, "2026-12-02T13:00:00Z")
                .hold_for("2h"),
            None,
            "skipped: held stopped until 2026-12-02T13:00:00+00:00",
            None,
        ),
        (
            "a wake respects keep-stopped",
            Case::wake("2026-12-01T16:00:00Z")
                .tags(&[(TAG_OVERRIDE, "keep-stopped")])
                .hold_for("2h"),
            None,
            "skipped: override keep-stopped is in force",
            None,
        ),
        (
            "on demand, reconcile wants the tier asleep",
            Case::reconcile("2026-12-01T15:00:00Z").on_demand(),
            Some(Stopped),
            "on demand: asleep unless woken",
            None,
        ),
        (
            "on demand, a manual start without a hold gets the default hold",
            Case::manual(Start, "2026-12-01T15:00:00Z").on_demand(),
            Some(Running),
            "held until 2026-12-01T17:00:00+00:00",
            Some(Some("2026-12-01T17:00:00Z")),
        ),
        (
            "on demand, a wake's hold is kept while it runs",
            Case::reconcile("2026-12-01T15:00:00Z").on_demand().held(
                Running,
                "2026-12-01T17:00:00Z",
                HoldKind::Wake,
            ),
            Some(Running),
            "held running until 2026-12-01T17:00:00+00:00",
            None,
        ),
    ]
}

#[test]
fn a_wake_hold_carries_its_kind() {
    let case = Case::wake("2026-12-01T16:00:00Z").hold_for("3h");
    let overrides = OverrideTags::read(&case.cluster_tags, case.now);
    let decision = decide(&DecisionInput {
        intent: case.intent,
        trigger: case.trigger,
        force: false,
        now: case.now,
        window: case.window.as_ref(),
        overrides: &overrides,
        hold: None,
        default_hold: Duration::hours(2),
        hold_request: case.hold_request,
        on_demand: false,
        idle: None,
    });
    let hold = decision.new_hold.flatten().expect("a hold");
    assert_eq!(hold.kind, HoldKind::Wake);
    assert_eq!(hold.until, utc("2026-12-01T19:00:00Z"));
}

#[test]
fn decisions_follow_the_window_overrides_and_holds() {
    let rows = rows();
    assert!(rows.len() >= 40, "at least 40 cases");
    for (name, case, desired, phrase, new_hold) in rows {
        let overrides = OverrideTags::read(&case.cluster_tags, case.now);
        let decision = decide(&DecisionInput {
            intent: case.intent,
            trigger: case.trigger,
            force: case.force,
            now: case.now,
            window: case.window.as_ref(),
            overrides: &overrides,
            hold: case.hold.as_ref(),
            default_hold: Duration::hours(2),
            hold_request: case.hold_request,
            on_demand: case.on_demand,
            idle: case.idle,
        });
        assert_eq!(decision.desired, desired, "case '{name}': {decision:#?}");
        let text = format!("{} | {}", decision.reason, decision.notes.join(" | "));
        assert!(
            text.contains(phrase),
            "case '{name}': expected '{phrase}' in '{text}'"
        );
        if let Some(expected) = new_hold {
            let got = decision.new_hold.clone().map(|h| h.map(|h| h.until));
            assert_eq!(got, Some(expected.map(utc)), "case '{name}': new hold");
        }
    }
}

#[test]
fn next_transition_is_reported_in_local_time_across_the_weekend() {
    let w = new_york();
    let (at, desired) = w.next_transition(utc("2026-11-27T18:00:00Z")).unwrap();
    assert_eq!(
        (at, desired),
        (utc("2026-11-28T01:00:00Z"), Stopped),
        "friday 20:00 EST"
    );
    let (at, desired) = w.next_transition(utc("2026-11-28T01:00:00Z")).unwrap();
    assert_eq!(
        (at, desired),
        (utc("2026-11-30T13:00:00Z"), Running),
        "monday 08:00 EST"
    );
    assert_eq!(
        at.with_timezone(&w.tz).to_rfc3339(),
        "2026-11-30T08:00:00-05:00"
    );
}

#[test]
fn next_transition_skips_a_skip_date() {
    let (at, desired) = new_york()
        .next_transition(utc("2026-12-24T02:00:00Z"))
        .unwrap();
    assert_eq!((at, desired), (utc("2026-12-25T13:00:00Z"), Running));
}

#[test]
fn durations_parse_like_people_write_them() {
    assert_eq!(parse_span("3h", MAX_HOLD), Ok(Duration::hours(3)));
    assert_eq!(parse_span("1h30m", MAX_HOLD), Ok(Duration::minutes(90)));
    assert_eq!(parse_span("2d", MAX_HOLD), Ok(Duration::days(2)));
    for bad in ["", "3", "h", "3x", "-1h", "0m", "40d"] {
        assert!(parse_span(bad, MAX_HOLD).is_err(), "{bad:?}");
    }
}

#[test]
fn during_a_manual_hold_the_next_transition_is_the_hold_ending() {
    // 21:00 in New York on a Wednesday, outside the window: a manual start held until 23:00.
    let now = utc("2026-12-03T02:00:00Z");
    let hold = Hold {
        desired: Running,
        until: utc("2026-12-03T04:00:00Z"),
        reason: "demo".into(),
        set_by: "manual start".into(),
        kind: HoldKind::Manual,
    };
    let w = new_york();
    let next = next_change(Some(&w), false, &OverrideTags::None, Some(&hold), now);
    assert_eq!(next, Some((utc("2026-12-03T04:00:00Z"), Stopped)));
    // Without the hold, the next change is the window opening at 08:00.
    let next = next_change(Some(&w), false, &OverrideTags::None, None, now);
    assert_eq!(next, Some((utc("2026-12-03T13:00:00Z"), Running)));
}

#[test]
fn an_override_until_an_instant_is_the_next_transition_when_it_changes_something() {
    // Inside the window on a Wednesday, keep-stopped until 15:00 New York.
    let now = utc("2026-12-02T15:00:00Z");
    let tags = tags(&[
        (TAG_OVERRIDE, "keep-stopped"),
        (TAG_OVERRIDE_UNTIL, "2026-12-02T20:00:00Z"),
    ]);
    let overrides = OverrideTags::read(&tags, now);
    let next = next_change(Some(&new_york()), false, &overrides, None, now);
    assert_eq!(next, Some((utc("2026-12-02T20:00:00Z"), Running)));
}
