//! What the tier cost and what sleeping avoided, measured from what the scheduler recorded.
//!
//! Every transition records what exists from then on (a [`TierUsage`]: NAT gateways, public
//! IPv4 addresses, ALBs, and the vCPUs and memory of the tasks the services run). Between two
//! transitions that usage holds, so resource-hours are the sum of usage × time over intervals.
//! The state document keeps per-day totals of the last [`DAYS_KEPT`] days (so `status` answers
//! without reading the history); `report` integrates the history records over any period. Both
//! use [`accumulate`].
//!
//! Cost avoided is measured against the same tier running all the time (the running tier as the
//! spec describes it, with the task counts recorded at the last stop). Known approximations,
//! stated in every answer: Fargate hours assume the desired count recorded at a transition held
//! until the next one (auto scaling in between is not seen); the ALB's LCUs are the spec's
//! estimate per running hour; data processing and transfer are not counted (they do not depend
//! on sleeping).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::spec::{ElasticIpMode, Prices, Spec};
use crate::state::State;

/// How many days of totals the state document keeps.
pub const DAYS_KEPT: i64 = 35;

/// What exists of the tier from a transition on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TierUsage {
    pub nat_gateways: u32,
    /// Public IPv4 addresses of ours (kept Elastic IPs cost this asleep too).
    pub public_ipv4: u32,
    pub load_balancers: u32,
    /// vCPUs of the running tasks.
    pub vcpu: f64,
    /// GB of memory of the running tasks.
    pub memory_gb: f64,
}

/// Resource-hours over some time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Hours covered.
    pub hours: f64,
    /// Hours with the tier running (an ALB or a task of ours up).
    pub running_hours: f64,
    pub nat_gateway_hours: f64,
    pub public_ipv4_hours: f64,
    pub load_balancer_hours: f64,
    pub vcpu_hours: f64,
    pub memory_gb_hours: f64,
}

impl Totals {
    fn add_usage(&mut self, usage: &TierUsage, hours: f64) {
        self.hours += hours;
        if usage.load_balancers > 0 || usage.vcpu > 0.0 {
            self.running_hours += hours;
        }
        self.nat_gateway_hours += f64::from(usage.nat_gateways) * hours;
        self.public_ipv4_hours += f64::from(usage.public_ipv4) * hours;
        self.load_balancer_hours += f64::from(usage.load_balancers) * hours;
        self.vcpu_hours += usage.vcpu * hours;
        self.memory_gb_hours += usage.memory_gb * hours;
    }

    fn merge(&mut self, other: &Totals) {
        self.hours += other.hours;
        self.running_hours += other.running_hours;
        self.nat_gateway_hours += other.nat_gateway_hours;
        self.public_ipv4_hours += other.public_ipv4_hours;
        self.load_balancer_hours += other.load_balancer_hours;
        self.vcpu_hours += other.vcpu_hours;
        self.memory_gb_hours += other.memory_gb_hours;
    }

    /// What these hours cost at `prices`, by resource class.
    pub fn cost(&self, prices: &Prices) -> Costs {
        let nat = self.nat_gateway_hours * prices.nat_gateway_hour;
        let ipv4 = self.public_ipv4_hours * prices.public_ipv4_hour;
        let alb = self.load_balancer_hours
            * (prices.load_balancer_hour + prices.lcus_per_hour * prices.lcu_hour);
        let fargate = self.vcpu_hours * prices.fargate_vcpu_hour
            + self.memory_gb_hours * prices.fargate_gb_hour;
        Costs {
            nat_gateways: cents(nat),
            public_ipv4: cents(ipv4),
            load_balancer: cents(alb),
            fargate: cents(fargate),
            total: cents(nat + ipv4 + alb + fargate),
        }
    }
}

/// Money by resource class, rounded to the cent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    pub nat_gateways: f64,
    pub public_ipv4: f64,
    pub load_balancer: f64,
    pub fargate: f64,
    pub total: f64,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Adds `usage` held from `from` to `to` into per-day (UTC) totals.
pub fn accumulate(
    days: &mut BTreeMap<NaiveDate, Totals>,
    usage: &TierUsage,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    let mut t = from;
    while t < to {
        let day = t.date_naive();
        let next_midnight = day
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or(to);
        let end = next_midnight.min(to);
        let hours = (end - t).num_milliseconds() as f64 / 3_600_000.0;
        days.entry(day).or_default().add_usage(usage, hours);
        t = end;
    }
}

/// Totals of the days within `[from, to)`, whole days only (the per-day totals are by UTC day).
pub fn sum_days(days: &BTreeMap<NaiveDate, Totals>, from: NaiveDate, to: NaiveDate) -> Totals {
    let mut total = Totals::default();
    for (_, t) in days.range(from..to) {
        total.merge(t);
    }
    total
}

/// What the state keeps to answer "what did it cost" without reading the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageLedger {
    /// What exists now, and since when it does.
    pub current: TierUsage,
    pub since: Option<DateTime<Utc>>,
    /// Totals per UTC day, the last [`DAYS_KEPT`] days.
    #[serde(default)]
    pub days: BTreeMap<NaiveDate, Totals>,
}

impl UsageLedger {
    /// Closes the interval of the current usage at `now` and starts `next`.
    pub fn transition(&mut self, next: TierUsage, now: DateTime<Utc>) {
        if let Some(since) = self.since.filter(|s| *s < now) {
            accumulate(&mut self.days, &self.current, since, now);
        }
        self.current = next;
        self.since = Some(now);
        let oldest = now.date_naive() - Duration::days(DAYS_KEPT);
        self.days.retain(|d, _| *d >= oldest);
    }

    /// The per-day totals with the open interval counted up to `now`.
    pub fn days_until(&self, now: DateTime<Utc>) -> BTreeMap<NaiveDate, Totals> {
        let mut days = self.days.clone();
        if let Some(since) = self.since.filter(|s| *s < now) {
            accumulate(&mut days, &self.current, since, now);
        }
        days
    }
}

/// The tier as it exists after a transition, from the state: NAT gateways and addresses by its
/// ids, the ALB if one is recorded, and the tasks of the running services (the counts recorded
/// for them, or the spec's) when the phase says running.
pub fn usage_of(spec: &Spec, state: &State, running_tasks: bool) -> TierUsage {
    let nats = &state.resources.nat_gateways;
    let external: Vec<&str> = spec
        .nat_gateways
        .iter()
        .filter(|n| n.elastic_ip.mode == ElasticIpMode::External)
        .map(|n| n.name.as_str())
        .collect();
    let mut usage = TierUsage {
        nat_gateways: nats.values().filter(|r| r.nat_gateway_id.is_some()).count() as u32,
        // Addresses lent by Terraform cost the same asleep or not: not the tier's.
        public_ipv4: nats
            .iter()
            .filter(|(name, r)| r.allocation_id.is_some() && !external.contains(&name.as_str()))
            .count() as u32,
        load_balancers: u32::from(state.resources.load_balancer.is_some()),
        vcpu: 0.0,
        memory_gb: 0.0,
    };
    if running_tasks {
        let (vcpu, gb) = tasks_of(spec, state);
        usage.vcpu = vcpu;
        usage.memory_gb = gb;
    }
    usage
}

/// vCPUs and GB of the services' tasks at their recorded (or the spec's) counts.
fn tasks_of(spec: &Spec, state: &State) -> (f64, f64) {
    spec.services
        .iter()
        .filter_map(|s| {
            let size = s.size?;
            let count = state
                .recorded
                .get(&s.key())
                .map_or(s.desired_count, |r| r.desired_count);
            Some((
                f64::from(count) * size.vcpu(),
                f64::from(count) * size.memory_gb(),
            ))
        })
        .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d))
}

/// The tier running, as the spec describes it: the baseline of "always on".
pub fn always_on(spec: &Spec, state: &State) -> TierUsage {
    let (vcpu, memory_gb) = tasks_of(spec, state);
    TierUsage {
        nat_gateways: spec.nat_gateways.len() as u32,
        public_ipv4: spec
            .nat_gateways
            .iter()
            .filter(|n| n.elastic_ip.mode != ElasticIpMode::External)
            .count() as u32,
        load_balancers: u32::from(spec.load_balancer.is_some()),
        vcpu,
        memory_gb,
    }
}

/// What the tier cost over a period, and what it would have cost always on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Savings {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub hours: f64,
    pub hours_running: f64,
    pub hours_asleep: f64,
    /// Resource-hours by class.
    pub resource_hours: Totals,
    pub currency: String,
    pub cost: Costs,
    pub cost_always_on: Costs,
    pub avoided: f64,
    /// Avoided, in percent of always on.
    pub avoided_percent: f64,
    pub notes: Vec<String>,
}

/// Savings over `[from, to)` from these totals.
pub fn savings(
    totals: &Totals,
    baseline: &TierUsage,
    prices: &Prices,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    spec: &Spec,
) -> Savings {
    let mut always = Totals::default();
    always.add_usage(baseline, totals.hours);
    let cost = totals.cost(prices);
    let cost_always_on = always.cost(prices);
    let avoided = cents(cost_always_on.total - cost.total);
    let mut notes = vec![
        "Fargate hours assume the desired count recorded at a transition held until the next one".to_string(),
        format!(
            "the ALB's LCUs are estimated at {} per running hour; data processing and transfer are not counted",
            prices.lcus_per_hour
        ),
    ];
    let without_size: Vec<String> = spec
        .services
        .iter()
        .filter(|s| s.size.is_none())
        .map(|s| s.key())
        .collect();
    if !without_size.is_empty() {
        notes.push(format!(
            "no task size in the spec for {}: their Fargate cost is not counted",
            without_size.join(", ")
        ));
    }
    Savings {
        from,
        to,
        hours: round1(totals.hours),
        hours_running: round1(totals.running_hours),
        hours_asleep: round1(totals.hours - totals.running_hours),
        resource_hours: totals.rounded(),
        currency: prices.currency.clone(),
        cost,
        cost_always_on,
        avoided,
        avoided_percent: if cost_always_on.total > 0.0 {
            round1(avoided / cost_always_on.total * 100.0)
        } else {
            0.0
        },
        notes,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl Totals {
    fn rounded(&self) -> Totals {
        Totals {
            hours: round1(self.hours),
            running_hours: round1(self.running_hours),
            nat_gateway_hours: round1(self.nat_gateway_hours),
            public_ipv4_hours: round1(self.public_ipv4_hours),
            load_balancer_hours: round1(self.load_balancer_hours),
            vcpu_hours: round1(self.vcpu_hours),
            memory_gb_hours: round1(self.memory_gb_hours),
        }
    }
}

/// One history record's usage, as `report` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub at: DateTime<Utc>,
    pub usage: TierUsage,
}

/// Resource-hours over `[from, to)` from history records (each one's usage holds until the
/// next). Time before the first record is not covered.
pub fn from_history(records: &[Recorded], from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
    let mut sorted: Vec<&Recorded> = records.iter().collect();
    sorted.sort_by_key(|r| r.at);
    let mut days = BTreeMap::new();
    for (i, r) in sorted.iter().enumerate() {
        let start = r.at.max(from);
        let end = sorted.get(i + 1).map_or(to, |n| n.at).min(to);
        if start < end {
            accumulate(&mut days, &r.usage, start, end);
        }
    }
    let mut total = Totals::default();
    for t in days.values() {
        total.merge(t);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_interval_is_split_at_utc_midnight() {
        let mut days = BTreeMap::new();
        let usage = TierUsage {
            nat_gateways: 2,
            ..TierUsage::default()
        };
        accumulate(
            &mut days,
            &usage,
            at("2026-12-01T22:00:00Z"),
            at("2026-12-02T03:30:00Z"),
        );
        let d1 = days[&NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()];
        let d2 = days[&NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()];
        assert_eq!((d1.hours, d1.nat_gateway_hours), (2.0, 4.0));
        assert_eq!((d2.hours, d2.nat_gateway_hours), (3.5, 7.0));
    }

    #[test]
    fn the_ledger_closes_each_interval_at_the_next_transition() {
        let mut ledger = UsageLedger::default();
        let up = TierUsage {
            nat_gateways: 1,
            public_ipv4: 1,
            load_balancers: 1,
            vcpu: 1.0,
            memory_gb: 2.0,
        };
        let asleep = TierUsage {
            public_ipv4: 1,
            ..TierUsage::default()
        };
        ledger.transition(up, at("2026-12-01T13:00:00Z"));
        ledger.transition(asleep, at("2026-12-02T01:00:00Z"));
        let days = ledger.days_until(at("2026-12-02T13:00:00Z"));
        let total = sum_days(
            &days,
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        );
        assert_eq!(total.hours, 24.0);
        assert_eq!(total.running_hours, 12.0);
        assert_eq!(total.public_ipv4_hours, 24.0);
        assert_eq!(total.vcpu_hours, 12.0);
    }
}
