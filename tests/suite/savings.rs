//! The savings arithmetic, to the cent, on a synthetic week: five weekdays running 12 hours
//! (13:00 to 01:00 UTC), the rest asleep with the kept Elastic IP, at the default prices. The
//! same week through the state document's per-day ledger gives the same numbers.

use chrono::{DateTime, Duration, Utc};
use runtime_scheduler::report::{
    always_on, from_history, savings, sum_days, Recorded, TierUsage, UsageLedger,
};
use runtime_scheduler::spec::Spec;
use runtime_scheduler::state::State;
use serde_json::json;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The example spec with sizes: backend 3 × (0.5 vCPU, 1 GB), frontend 2 × (0.25 vCPU, 0.5 GB):
/// 2 vCPU and 4 GB running.
fn spec() -> Spec {
    let mut v: serde_json::Value =
        serde_json::from_slice(include_bytes!("../../docs/runtime-spec.example.json")).unwrap();
    v["services"][0]["desired_count"] = json!(3);
    v["services"][0]["size"] = json!({"cpu": 512, "memory": 1024});
    v["services"][1]["desired_count"] = json!(2);
    v["services"][1]["size"] = json!({"cpu": 256, "memory": 512});
    Spec::from_json(v.to_string().as_bytes(), "demo").expect("valid")
}

const RUNNING: TierUsage = TierUsage {
    nat_gateways: 1,
    public_ipv4: 1,
    load_balancers: 1,
    vcpu: 2.0,
    memory_gb: 4.0,
};
const ASLEEP: TierUsage = TierUsage {
    nat_gateways: 0,
    public_ipv4: 1,
    load_balancers: 0,
    vcpu: 0.0,
    memory_gb: 0.0,
};

/// Monday 30 November 2026, 00:00 UTC, to the next Monday.
fn week() -> Vec<Recorded> {
    let monday = at("2026-11-30T00:00:00Z");
    let mut records = vec![Recorded {
        at: monday - Duration::hours(12),
        usage: ASLEEP,
    }];
    for day in 0..5 {
        let d = monday + Duration::days(day);
        records.push(Recorded {
            at: d + Duration::hours(13),
            usage: RUNNING,
        });
        records.push(Recorded {
            at: d + Duration::hours(25),
            usage: ASLEEP,
        });
    }
    records
}

#[test]
fn a_sixty_hour_week_costs_and_saves_what_the_price_list_says_to_the_cent() {
    let spec = spec();
    let state = State::new("demo");
    let from = at("2026-11-30T00:00:00Z");
    let to = at("2026-12-07T00:00:00Z");
    let totals = from_history(&week(), from, to);
    assert_eq!(totals.hours, 168.0);
    assert_eq!(totals.running_hours, 60.0);
    let baseline = always_on(&spec, &state);
    assert_eq!(
        baseline, RUNNING,
        "always on is the running tier of the spec"
    );
    let s = savings(&totals, &baseline, &spec.prices, from, to, &spec);

    // NAT 60 h × 0.045 = 2.70; IPv4 168 h × 0.005 = 0.84; ALB 60 h × (0.0225 + 1 LCU × 0.008)
    // = 1.83; Fargate 120 vCPU-h × 0.04048 + 240 GB-h × 0.004445 = 4.8576 + 1.0668 = 5.9244.
    assert_eq!(s.cost.nat_gateways, 2.70);
    assert_eq!(s.cost.public_ipv4, 0.84);
    assert_eq!(s.cost.load_balancer, 1.83);
    assert_eq!(s.cost.fargate, 5.92);
    assert_eq!(s.cost.total, 11.29);
    // Always on, 168 h: NAT 7.56; IPv4 0.84; ALB 5.124; Fargate 13.60128 + 2.98704 = 16.58832.
    assert_eq!(s.cost_always_on.nat_gateways, 7.56);
    assert_eq!(s.cost_always_on.load_balancer, 5.12);
    assert_eq!(s.cost_always_on.fargate, 16.59);
    assert_eq!(s.cost_always_on.total, 30.11);
    assert_eq!(s.avoided, 18.82);
    assert_eq!(s.avoided_percent, 62.5);
    assert_eq!((s.hours_running, s.hours_asleep), (60.0, 108.0));
    // 108 of 168 tier-hours asleep is 64.3 %; the kept address bills all week, so the money
    // avoided is a little less.
    assert_eq!(
        ((168.0 - totals.running_hours) / 168.0 * 1000.0_f64).round() / 10.0,
        64.3
    );
}

#[test]
fn the_state_documents_day_ledger_agrees_with_the_history() {
    let mut ledger = UsageLedger::default();
    for r in week() {
        ledger.transition(r.usage, r.at);
    }
    let end = at("2026-12-07T00:00:00Z");
    let days = ledger.days_until(end);
    let from = at("2026-11-30T00:00:00Z");
    let by_days = sum_days(&days, from.date_naive(), end.date_naive());
    let by_history = from_history(&week(), from, end);
    assert_eq!(by_days, by_history);
}
