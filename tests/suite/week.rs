//! Wake on request on the simulator's virtual clock (AWS-like delays, see `sim::SimConfig`):
//!
//! 1. the time from the wake button to the first healthy answer of the ALB, against the critical
//!    path of a start plus the DNS TTL;
//! 2. a week of three developers (sporadic sessions, a quiet Friday, an empty weekend) replayed
//!    under three policies: always on, the 60-hour weekday window, and the window with idle stop
//!    and wake on request. Tier-hours and dollars come from sampling the simulated account every
//!    minute (what exists, as AWS would bill it), not from the scheduler's own accounting; every
//!    request is classified by what the simulated DNS and ALB would have answered.
//!
//! One test runs both, writes the tables into `docs/performance.md` (between the
//! `wake-measurements` markers), and then asserts: at least 85% below always-on for the trace,
//! and every request either served or shown the wake page and served within the measured wake
//! time.

use crate::reliability::{block_on_paused, example_spec, Env, ENV, LAMBDA_TIMEOUT};
use crate::sim::{World, API_GATEWAY_ZONE_ID};

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use runtime_scheduler::front::{TierStatus, View};
use runtime_scheduler::handler::Invocation;
use runtime_scheduler::model::NatState;
use runtime_scheduler::ownership::is_owned;
use runtime_scheduler::schedule::Window;
use runtime_scheduler::spec::{Prices, Spec};
use serde_json::{json, Value};
use tokio::time::Instant;

/// The front's regional domain (what the names point at while asleep).
const FRONT: &str = "d-wake000001.execute-api.us-east-1.amazonaws.com";
const IDLE_MINUTES: u32 = 30;
const IDLE_ALARM: &str = "demo-idle";
/// TTL a resolver keeps the front's answer (API Gateway and ALB alias answers: 60 s).
const TTL: Duration = Duration::from_secs(60);
/// CloudWatch publishes a minute's RequestCount and evaluates the alarm about this much later.
const ALARM_DELAY_MINUTES: usize = 2;
/// Reconcile runs every 15 minutes (terraform-runtime's default).
const RECONCILE_EVERY: usize = 15;
/// Hours a visitor asks for on the page (the default).
const WAKE_HOURS: u32 = 2;

/// Monday 2026-11-30 00:00 in New York (the example spec's zone).
fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 5, 0, 0).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    AlwaysOn,
    Window,
    WindowIdleWake,
    /// The same with the NAT gateway's address kept while asleep (`elastic_ip.mode = keep`).
    WindowIdleWakeKeptAddress,
}

impl Policy {
    fn label(self) -> &'static str {
        match self {
            Policy::AlwaysOn => "24/7",
            Policy::Window => "60-hour window (weekdays 08:00-20:00)",
            Policy::WindowIdleWake => "window + idle stop (30 min) + wake on request",
            Policy::WindowIdleWakeKeptAddress => "the same, keeping the NAT's address asleep",
        }
    }

    fn wakes(self) -> bool {
        matches!(
            self,
            Policy::WindowIdleWake | Policy::WindowIdleWakeKeptAddress
        )
    }
}

/// The example spec with task sizes (for Fargate's price) and the address released at stop
/// (the default mode), and per policy its schedule and wake.
fn spec_for(policy: Policy) -> Value {
    let mut s = example_spec();
    for service in s["services"].as_array_mut().unwrap() {
        service["size"] = json!({"cpu": 512, "memory": 1024});
    }
    let mode = if policy == Policy::WindowIdleWakeKeptAddress {
        "keep"
    } else {
        "release"
    };
    s["nat_gateways"][0]["elastic_ip"] = json!({"mode": mode});
    match policy {
        Policy::AlwaysOn => {
            s.as_object_mut().unwrap().remove("schedule");
        }
        Policy::Window => {}
        Policy::WindowIdleWake | Policy::WindowIdleWakeKeptAddress => {
            let name = s["dns_records"][0]["name"].clone();
            s["wake"] = json!({
                "title": "Acme shop, demo",
                "front": [{"name": name, "dns_name": FRONT, "hosted_zone_id": API_GATEWAY_ZONE_ID}],
                "default_hours": WAKE_HOURS,
                "max_hours": 8,
                "idle_minutes": IDLE_MINUTES,
                "idle_alarm_name": IDLE_ALARM,
            });
        }
    }
    s
}

/// One developer's session: weekday (0 = Monday), local start, minutes.
type Session = (usize, &'static str, &'static str, u32);

/// Three developers, sporadic sessions; Friday is quiet, the weekend empty. Two sessions fall
/// outside the window (Tuesday evening, Thursday early morning).
const TRACE: &[Session] = &[
    (0, "ana", "09:10", 70),
    (0, "ben", "11:00", 40),
    (0, "caro", "14:30", 80),
    (0, "ana", "16:40", 30),
    (1, "ben", "09:30", 45),
    (1, "ana", "13:00", 70),
    (1, "caro", "21:00", 30),
    (2, "ana", "10:00", 30),
    (2, "ben", "10:20", 70),
    (2, "caro", "15:00", 60),
    (3, "caro", "07:40", 30),
    (3, "ana", "11:00", 60),
    (3, "ben", "16:30", 45),
    (4, "ana", "10:00", 20),
];

/// Minutes since Monday 00:00 local at which each developer sends a request (one a minute while
/// a session lasts).
fn requests() -> Vec<(usize, &'static str)> {
    let mut v: Vec<(usize, &str)> = TRACE
        .iter()
        .flat_map(|(day, who, at, minutes)| {
            let (h, m) = at.split_once(':').unwrap();
            let start = day * 1440 + h.parse::<usize>().unwrap() * 60 + m.parse::<usize>().unwrap();
            (0..*minutes as usize).map(move |i| (start + i, *who))
        })
        .collect();
    v.sort();
    v
}

/// What the simulated account bills and answers at one instant.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    nat_gateways: f64,
    addresses: f64,
    load_balancers: f64,
    vcpu: f64,
    memory_gb: f64,
    /// An owned ALB is active, has listeners, and every service behind it runs a task.
    alb_healthy: bool,
    /// The app name's alias points at that ALB.
    alias_at_alb: bool,
}

fn sample(w: &World, spec: &Spec, now: Instant) -> Sample {
    let mut s = Sample::default();
    s.nat_gateways = w
        .nats
        .values()
        .filter(|n| is_owned(&n.tags, ENV) && w.nat_state(n, now) != NatState::Deleted)
        .count() as f64;
    s.addresses = w
        .addresses
        .values()
        .filter(|a| is_owned(&a.tags, ENV))
        .count() as f64;
    let lb = w.load_balancers.values().find(|lb| is_owned(&lb.tags, ENV));
    s.load_balancers = f64::from(u8::from(lb.is_some()));
    for svc in &spec.services {
        if let (Some(o), Some(size)) = (
            w.services.get(&(svc.cluster.clone(), svc.name.clone())),
            svc.size,
        ) {
            let running = f64::from(w.running_count(o, now));
            s.vcpu += running * size.vcpu();
            s.memory_gb += running * size.memory_gb();
        }
    }
    if let Some(lb) = lb {
        let listeners = w.listeners.values().any(|l| l.load_balancer_arn == lb.arn);
        let tasks = spec
            .services
            .iter()
            .filter(|s| s.load_balancer.is_some())
            .all(|svc| {
                w.services
                    .get(&(svc.cluster.clone(), svc.name.clone()))
                    .is_some_and(|o| w.running_count(o, now) > 0)
            });
        s.alb_healthy = w.lb_active(lb, now) && listeners && tasks;
        let name = runtime_scheduler::spec::normalize_dns_name(&spec.dns_records[0].name);
        s.alias_at_alb = w
            .zones
            .get(&spec.dns_records[0].zone_id)
            .and_then(|z| z.get(&(name, "A".to_string())))
            .and_then(|r| r.alias.as_ref())
            .is_some_and(|(target, _, _)| target.contains(&lb.dns_name.to_ascii_lowercase()));
    }
    s
}

/// Resource-hours over the week, and what they cost at the spec's prices.
#[derive(Debug, Default, Clone, Copy)]
struct Bill {
    tier_hours: f64,
    nat_gateway_hours: f64,
    address_hours: f64,
    load_balancer_hours: f64,
    vcpu_hours: f64,
    memory_gb_hours: f64,
}

impl Bill {
    fn add(&mut self, s: &Sample, hours: f64) {
        if s.load_balancers > 0.0 || s.nat_gateways > 0.0 {
            self.tier_hours += hours;
        }
        self.nat_gateway_hours += s.nat_gateways * hours;
        self.address_hours += s.addresses * hours;
        self.load_balancer_hours += s.load_balancers * hours;
        self.vcpu_hours += s.vcpu * hours;
        self.memory_gb_hours += s.memory_gb * hours;
    }

    fn dollars(&self, p: &Prices) -> f64 {
        self.nat_gateway_hours * p.nat_gateway_hour
            + self.address_hours * p.public_ipv4_hour
            + self.load_balancer_hours * (p.load_balancer_hour + p.lcu_hour * p.lcus_per_hour)
            + self.vcpu_hours * p.fargate_vcpu_hour
            + self.memory_gb_hours * p.fargate_gb_hour
    }
}

/// What a week under one policy came to.
#[derive(Debug, Default)]
struct Week {
    bill: Bill,
    dollars: f64,
    requests: usize,
    served: usize,
    /// Shown the wake page, then served: how long each waited.
    waited: Vec<Duration>,
    /// Answered by nothing (the name deleted while asleep), or never served.
    unanswered: usize,
    wakes: usize,
    idle_stops: usize,
    invocations: usize,
}

fn invocation(env: &Env, tag: &str) -> Invocation {
    Invocation {
        id: tag.to_string(),
        now: env.now(),
        deadline: Some(Instant::now() + LAMBDA_TIMEOUT),
    }
}

/// Runs `payload` in the background, as Lambda would, counting it.
fn spawn(env: &Env, tag: String, payload: Value, week: &mut Week) {
    let handler = env.handler(&tag);
    let inv = invocation(env, &tag);
    week.invocations += 1;
    tokio::spawn(async move {
        let _ = handler.handle(payload.to_string().as_bytes(), inv).await;
    });
}

fn alarm_event(value: &str, at: DateTime<Utc>) -> Value {
    json!({
        "version": "0", "id": format!("alarm-{}", at.timestamp()),
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{IDLE_ALARM}")],
        "detail": {"alarmName": IDLE_ALARM, "state": {"value": value, "timestamp": at.to_rfc3339()}},
    })
}

/// Replays the trace under `policy`, minute by minute.
async fn replay(policy: Policy) -> Week {
    let mut env = Env::with(spec_for(policy), Default::default());
    let spec = env.spec.clone();
    let window = spec.schedule.as_ref().map(Window::from_spec);
    let mut week = Week::default();
    // The week starts with the tier as the policy leaves it on Sunday night: running for 24/7,
    // asleep otherwise (a start, then a stop, so the waits are learned as on any other day).
    env.t0 = Instant::now();
    env.utc0 = monday() - chrono::Duration::hours(2);
    assert!(env
        .converge("setup-start", "start", 3)
        .await
        .last()
        .is_some_and(|o| o == "Applied"));
    env.settle().await;
    if policy != Policy::AlwaysOn {
        assert!(env
            .converge("setup-stop", "stop", 3)
            .await
            .last()
            .is_some_and(|o| o == "Applied"));
    }
    let week_start = env.t0 + Duration::from_secs(2 * 3600);
    tokio::time::sleep_until(week_start).await;

    let trace = requests();
    let mut next_request = 0;
    // Minutes (since Monday 00:00) in which the ALB served a request: the idle alarm's data.
    let mut served_minutes: VecDeque<usize> = VecDeque::new();
    let mut alarm: Option<bool> = None;
    let mut waiting: Vec<Instant> = Vec::new();
    let mut alias_at_alb_since: Option<Instant> = None;
    let minutes = 7 * 24 * 60;
    for minute in 0..minutes {
        tokio::time::sleep_until(week_start + Duration::from_secs(60 * minute as u64)).await;
        let now = Instant::now();
        let at = env.now();
        if let Some(w) = &window {
            if policy != Policy::AlwaysOn {
                let open = w.is_open(at);
                let was = w.is_open(at - chrono::Duration::minutes(1));
                if open != was {
                    let action = if open { "start" } else { "stop" };
                    spawn(
                        &env,
                        format!("edge-{minute}"),
                        json!({"action": action, "trigger": "schedule"}),
                        &mut week,
                    );
                }
            }
        }
        if policy != Policy::AlwaysOn && minute % RECONCILE_EVERY == 7 {
            spawn(
                &env,
                format!("reconcile-{minute}"),
                json!({"action": "reconcile", "trigger": "schedule"}),
                &mut week,
            );
        }

        let s = sample(&env.sim.world(), &spec, now);
        week.bill.add(&s, 1.0 / 60.0);
        // A resolver sees the switch once Route53 is in sync, and drops the front's answer at
        // most one TTL later.
        alias_at_alb_since = match (s.alias_at_alb, alias_at_alb_since) {
            (true, None) => Some(now),
            (true, since) => since,
            (false, _) => None,
        };
        let dns = env.sim.world().cfg.dns_propagation;
        let serving = s.alb_healthy && alias_at_alb_since.is_some_and(|t| now >= t + dns + TTL);
        if serving {
            week.waited.extend(waiting.drain(..).map(|t| now - t));
        }

        let mut served_now = false;
        while next_request < trace.len() && trace[next_request].0 == minute {
            week.requests += 1;
            next_request += 1;
            if serving {
                week.served += 1;
                served_now = true;
                continue;
            }
            match policy {
                p if p.wakes() => {
                    waiting.push(now);
                    // The page shows the button only while asleep; pressing it sends one start.
                    let state = env.sim.world().state(ENV);
                    let view = View::of(state.as_ref(), ENV, at);
                    if view.status == TierStatus::Asleep {
                        week.wakes += 1;
                        let reason = format!(
                            "woken from {} by 198.51.100.{}",
                            spec.dns_records[0].name,
                            minute % 250
                        );
                        spawn(
                            &env,
                            format!("wake-{minute}"),
                            json!({"action": "start", "trigger": "wake", "hold_for": format!("{WAKE_HOURS}h"), "reason": reason}),
                            &mut week,
                        );
                    }
                }
                _ => week.unanswered += 1,
            }
        }
        if served_now {
            served_minutes.push_back(minute);
        }

        // The idle alarm: RequestCount below 1 in each of the last IDLE_MINUTES minutes (missing
        // data, a sleeping tier, counts as idle), evaluated ALARM_DELAY_MINUTES late.
        if policy.wakes() && minute >= IDLE_MINUTES as usize + ALARM_DELAY_MINUTES {
            let seen_to = minute - ALARM_DELAY_MINUTES;
            while served_minutes
                .front()
                .is_some_and(|m| *m + (IDLE_MINUTES as usize) <= seen_to)
            {
                served_minutes.pop_front();
            }
            let idle = !served_minutes.iter().any(|m| *m <= seen_to);
            if alarm != Some(idle) {
                alarm = Some(idle);
                if idle {
                    week.idle_stops += 1;
                }
                let value = if idle { "ALARM" } else { "OK" };
                spawn(
                    &env,
                    format!("alarm-{minute}"),
                    alarm_event(value, at),
                    &mut week,
                );
            }
        }
    }
    week.unanswered += waiting.len();
    week.dollars = week.bill.dollars(&spec.prices);
    week
}

/// The wake button on an ordinary day: pressed while asleep, until a visitor's request is
/// answered by a healthy ALB. Returns (to ALB healthy, to the name switched, to the first
/// healthy answer a visitor can get, the start's critical path).
async fn wake_timing() -> (Duration, Duration, Duration, Duration) {
    let mut env = Env::with(spec_for(Policy::WindowIdleWake), Default::default());
    env.t0 = Instant::now();
    // Tuesday 20:00 in New York: the window has closed, so only the wake keeps it up.
    env.utc0 = Utc.with_ymd_and_hms(2026, 12, 2, 1, 0, 0).unwrap();
    for (i, action) in ["start", "stop", "start", "stop"].iter().enumerate() {
        let out = env.converge(&format!("setup-{i}"), action, 3).await;
        assert!(
            out.last().is_some_and(|o| o == "Applied"),
            "{action}: {out:?}"
        );
        env.settle().await;
    }
    let spec = env.spec.clone();
    let mut week = Week::default();
    let pressed = Instant::now();
    spawn(
        &env,
        "wake".into(),
        json!({"action": "start", "trigger": "wake", "hold_for": "2h", "reason": "woken from demo.example.com by 198.51.100.7"}),
        &mut week,
    );
    let (mut healthy, mut switched) = (None, None);
    while healthy.is_none() || switched.is_none() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Instant::now();
        let s = sample(&env.sim.world(), &spec, now);
        if s.alb_healthy && healthy.is_none() {
            healthy = Some(now - pressed);
        }
        if s.alias_at_alb && switched.is_none() {
            switched = Some(now - pressed);
        }
        assert!(
            now - pressed < Duration::from_secs(900),
            "the wake did not finish"
        );
    }
    let (healthy, switched) = (healthy.unwrap(), switched.unwrap());
    let cfg = env.sim.world().cfg.clone();
    let critical = cfg.alb_provisioning + cfg.task_start + cfg.latency * 16;
    let first_answer = healthy.max(switched + cfg.dns_propagation);
    (
        healthy,
        switched + cfg.dns_propagation,
        first_answer,
        critical,
    )
}

fn percent_below(x: f64, base: f64) -> f64 {
    (1.0 - x / base) * 100.0
}

#[test]
fn wake_on_request_measurements() {
    let (healthy, switched, first, critical) = block_on_paused(wake_timing());
    let weeks: Vec<(Policy, Week)> = [
        Policy::AlwaysOn,
        Policy::Window,
        Policy::WindowIdleWake,
        Policy::WindowIdleWakeKeptAddress,
    ]
    .into_iter()
    .map(|p| (p, block_on_paused(replay(p))))
    .collect();
    let base = &weeks[0].1;

    let cfg = crate::sim::SimConfig::default();
    let mut doc = String::new();
    doc.push_str(&format!(
        "Generated by `cargo test --test suite week::` on the simulator (AWS-like delays: ALB \
         {} s, tasks {} s, NAT gateway {} s, Route53 in sync {} s, {} ms a request).\n\n",
        cfg.alb_provisioning.as_secs(),
        cfg.task_start.as_secs(),
        cfg.nat_pending.as_secs(),
        cfg.dns_propagation.as_secs(),
        cfg.latency.as_millis()
    ));
    doc.push_str("### From the wake button to the first healthy answer\n\n");
    doc.push_str("| Measure | Virtual time |\n|---|---:|\n");
    doc.push_str(&format!(
        "| ALB active, listening, tasks running | {:.0} s |\n",
        healthy.as_secs_f64()
    ));
    doc.push_str(&format!(
        "| the name points at the ALB (Route53 in sync) | {:.0} s |\n",
        switched.as_secs_f64()
    ));
    doc.push_str(&format!(
        "| first healthy answer a resolver can get | {:.0} s |\n",
        first.as_secs_f64()
    ));
    doc.push_str(&format!(
        "| the same, worst case with the front's answer cached for its TTL ({} s) | {:.0} s |\n",
        TTL.as_secs(),
        (first + TTL).as_secs_f64()
    ));
    doc.push_str(&format!(
        "| critical path of a start (ALB provisioning, then tasks, 16 round trips) + TTL | {:.0} s + {} s = {:.0} s |\n\n",
        critical.as_secs_f64(),
        TTL.as_secs(),
        (critical + TTL).as_secs_f64()
    ));
    doc.push_str(&format!(
        "The first healthy answer comes {:.3} x the critical path after the press; a visitor \
         whose resolver still holds the front's answer waits at most one TTL more.\n\n",
        first.as_secs_f64() / critical.as_secs_f64()
    ));
    doc.push_str("### A week, three policies (and the address kept)\n\n");
    doc.push_str(&format!(
        "Three developers, {} sessions of 20 to 80 minutes (one request a minute while a session \
         lasts: {} requests), two of them outside the window, a quiet Friday, an empty weekend. \
         The tier is sampled every minute; prices are the spec's defaults (us-east-1); two \
         services of 0.5 vCPU and 1 GB each, one NAT gateway with its address (released while asleep, \
         except in the last row), one ALB. Idle \
         stop uses the alarm as CloudWatch evaluates it ({IDLE_MINUTES} one-minute periods, {} \
         minutes late); reconcile runs every {RECONCILE_EVERY} minutes.\n\n",
        TRACE.len(),
        base.requests,
        ALARM_DELAY_MINUTES
    ));
    doc.push_str("| Policy | Tier-hours | NAT-h | ALB-h | vCPU-h | Dollars / week | Below 24/7 | Requests served | Shown the wake page, then served (longest wait) | Unanswered | Wakes | Idle stops |\n");
    doc.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (p, w) in &weeks {
        let longest = w.waited.iter().max().copied().unwrap_or_default();
        doc.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | ${:.2} | {:.1}% | {} | {} ({}) | {} | {} | {} |\n",
            p.label(),
            w.bill.tier_hours,
            w.bill.nat_gateway_hours,
            w.bill.load_balancer_hours,
            w.bill.vcpu_hours,
            w.dollars,
            percent_below(w.dollars, base.dollars),
            w.served,
            w.waited.len(),
            if w.waited.is_empty() { "-".to_string() } else { format!("{} s", longest.as_secs()) },
            w.unanswered,
            w.wakes,
            if p.wakes() { w.idle_stops.to_string() } else { "-".into() },
        ));
    }
    doc.push_str(&front_cost());
    write_section(&doc);

    // Assertions, after the document is written.
    let (_, smart) = &weeks[2];
    assert!(
        percent_below(smart.dollars, base.dollars) >= 85.0,
        "window + idle + wake: ${:.2} against ${:.2} 24/7",
        smart.dollars,
        base.dollars
    );
    assert!(percent_below(smart.bill.tier_hours, base.bill.tier_hours) >= 85.0);
    assert_eq!(
        smart.unanswered, 0,
        "every request served or shown the page"
    );
    assert_eq!(smart.served + smart.waited.len(), smart.requests);
    let bound = first + TTL + Duration::from_secs(60);
    for w in &smart.waited {
        assert!(
            *w <= bound,
            "a visitor waited {w:?}, more than the wake time {bound:?}"
        );
    }
    assert_eq!(base.served, base.requests, "24/7 serves everything");
    assert!(
        weeks[1].1.unanswered > 0,
        "the window alone leaves the evening visitors nothing"
    );
    assert!(
        first.as_secs_f64() / critical.as_secs_f64() <= 1.25,
        "{first:?} against {critical:?}"
    );
}

/// The sleeping front's own monthly cost at 1,000 page views, from the us-east-1 price list
/// (checked 2026-12-02): API Gateway HTTP API $1.00 per million requests; Lambda $0.20 per
/// million requests and $0.0000166667 per GB-second (x86); S3 GET $0.0004 per 1,000; CloudWatch
/// Logs ingestion $0.50 per GB; KMS $0.03 per 10,000 requests. Route53 does not charge alias
/// queries to API Gateway; the custom domain and its ACM certificate are free. Nothing is billed
/// while nobody visits.
fn front_cost() -> String {
    const VIEWS: f64 = 1000.0;
    // Per view: the page, and for a view that wakes the tier the press, the polls every 5 s
    // while it wakes (about 4 minutes) and a reload: counted for every view, the worst case.
    let requests = VIEWS * (1.0 + 1.0 + 48.0 + 1.0);
    let lambda_gb_seconds = requests * 0.128 * 0.05; // 128 MB for 50 ms (an S3 read)
    let log_gb = requests * 700.0 / 1e9; // function log line and API access log line
    let cold_starts = 200.0; // each reads the token key once (one KMS decrypt)
    let items = [
        ("API Gateway HTTP API", requests / 1e6 * 1.00),
        ("Lambda requests", requests / 1e6 * 0.20),
        ("Lambda duration", lambda_gb_seconds * 0.000_016_666_7),
        ("S3 reads of the state document", requests / 1000.0 * 0.0004),
        ("CloudWatch Logs", log_gb * 0.50),
        (
            "KMS (token key at cold start)",
            cold_starts / 10_000.0 * 0.03,
        ),
    ];
    let total: f64 = items.iter().map(|(_, c)| c).sum();
    let mut out = format!(
        "\n### The front's own cost\n\nAt 1,000 page views a month, each counted as a wake \
         (the page, the press, a poll every 5 s for 4 minutes, a reload: {requests:.0} \
         requests), from the us-east-1 price list:\n\n| Item | Dollars / month |\n|---|---:|\n"
    );
    for (what, cost) in items {
        out.push_str(&format!("| {what} | {cost:.4} |\n"));
    }
    out.push_str(&format!(
        "| total | {total:.2} |\n\nWhile nobody visits it costs nothing: no hourly charge \
         for the HTTP API, the function, the custom domain or its certificate.\n"
    ));
    assert!(total < 0.25, "the front stays cents a month: {total}");
    out
}

/// Replaces the generated part of docs/performance.md.
fn write_section(body: &str) {
    const BEGIN: &str = "<!-- BEGIN wake-measurements -->\n";
    const END: &str = "<!-- END wake-measurements -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/performance.md");
    let doc = std::fs::read_to_string(path).expect("docs/performance.md");
    let (Some(a), Some(b)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/performance.md lacks the wake-measurements markers");
    };
    let updated = format!("{}{BEGIN}{body}{}", &doc[..a], &doc[b..]);
    if updated != doc {
        std::fs::write(path, updated).expect("write docs/performance.md");
    }
}
