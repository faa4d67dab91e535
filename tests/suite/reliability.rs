//! Reliability suites on the AWS simulator (`tests/suite/sim/`), all on tokio's virtual clock:
//! crash at every step, transient and permanent faults on every operation, concurrent
//! invocations, Lambda deadlines, ownership decoys and bad input.
//!
//! One test, `reliability_suite`, runs every scenario (each in its own paused runtime, several
//! at once), writes the table to `docs/reliability.md`, and only then asserts, so one run both
//! documents and checks. `RELIABILITY_FILTER=<substring>` runs only matching scenarios (and
//! leaves the document alone).

use crate::sim;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, HandlerError, Invocation, Outcome, Response};
use runtime_scheduler::model::{ScalingBounds, Tags};
use runtime_scheduler::ownership::{
    is_owned, owner_record_value, ownership_tags, MANAGED_BY_VALUE, OWNER_RECORD_PREFIX,
    TAG_EIP_MODE, TAG_ENVIRONMENT, TAG_MANAGED_BY, TAG_NAT,
};
use runtime_scheduler::spec::{Action as SpecAction, Spec};
use runtime_scheduler::state::Phase;
use serde_json::{json, Value};
use sim::{
    spec_counts, Decoy, ExpectedServices, FaultKind, Sim, SimConfig, SimRecord, SimRoute, SimTarget,
};
use tokio::time::Instant;

pub(crate) const ENV: &str = "demo";
const BUCKET: &str = "acme-scheduler";
/// The function's timeout (terraform-runtime's default and AWS's maximum).
pub(crate) const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);
const FOREIGN_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/demo-legacy/00aa00aa00aa00aa";
const WEB_ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/demo-web/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

// =============================================================================================
// Specs.

pub(crate) fn example_spec() -> Value {
    serde_json::from_slice(include_bytes!("../../docs/runtime-spec.example.json"))
        .expect("example spec parses")
}

/// The example plus a second NAT gateway whose address is released at stop, a WAF web ACL, and
/// A + AAAA aliases on a dualstack ALB: every kind of step appears in its plans.
fn full_spec() -> Value {
    let mut s = example_spec();
    s["nat_gateways"].as_array_mut().unwrap().push(json!({
        "name": "b",
        "subnet_id": "subnet-0a1b2c3d4e5f60002",
        "route_table_ids": ["rtb-0a1b2c3d4e5f60013"],
        "elastic_ip": { "mode": "release" }
    }));
    s["load_balancer"]["ip_address_type"] = json!("dualstack");
    s["load_balancer"]["web_acl_arn"] = json!(WEB_ACL);
    s["dns_records"][0]["types"] = json!(["A", "AAAA"]);
    s
}

// =============================================================================================
// One simulated account with the Terraform-owned base of `demo`, its spec, and decoys.

pub(crate) struct Env {
    pub(crate) sim: Sim,
    pub(crate) spec: Spec,
    pub(crate) config: Config,
    decoys: Vec<Decoy>,
    pub(crate) t0: Instant,
    pub(crate) utc0: DateTime<Utc>,
}

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("STATE_BUCKET", BUCKET),
        ("ENVIRONMENT", ENV),
        ("AWS_REGION", "us-east-1"),
    ]
    .into();
    Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).expect("valid configuration")
}

fn foreign_tags(extra: &[(&str, &str)]) -> Tags {
    let mut t = Tags::from([
        (TAG_ENVIRONMENT.to_string(), ENV.to_string()),
        ("Team".to_string(), "legacy".to_string()),
    ]);
    for (k, v) in extra {
        t.insert(k.to_string(), v.to_string());
    }
    t
}

impl Env {
    pub(crate) fn new(spec_json: Value) -> Env {
        Env::with(spec_json, SimConfig::default())
    }

    /// The base Terraform owns (route tables, target groups, zone, cluster), the spec in S3,
    /// and the standard decoys.
    pub(crate) fn with(spec_json: Value, cfg: SimConfig) -> Env {
        let spec = Spec::from_json(&serde_json::to_vec(&spec_json).unwrap(), ENV)
            .expect("scenario spec is valid");
        let sim = Sim::new(cfg);
        {
            let mut w = sim.world();
            let now = Instant::now();
            // The tasks' private subnets are associated, one each, with the first route tables;
            // those tables carry the services' egress.
            let mut task_subnets: Vec<String> = spec
                .services
                .iter()
                .flat_map(|s| s.subnet_ids.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for nat in &spec.nat_gateways {
                for rt in &nat.route_table_ids {
                    w.route_tables.insert(rt.clone(), None);
                    if !task_subnets.is_empty() {
                        w.route_table_subnets
                            .insert(rt.clone(), vec![task_subnets.remove(0)]);
                        w.private_route_tables.push(rt.clone());
                    }
                }
            }
            if let Some(lb) = &spec.load_balancer {
                for l in &lb.listeners {
                    for a in
                        std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action))
                    {
                        if let SpecAction::Forward { target_group_arn } = a {
                            w.target_groups.insert(target_group_arn.clone());
                        }
                    }
                }
            }
            for s in &spec.services {
                if let Some(l) = &s.load_balancer {
                    w.target_groups.insert(l.target_group_arn.clone());
                }
                w.clusters.insert(
                    s.cluster.clone(),
                    Tags::from([(TAG_ENVIRONMENT.to_string(), ENV.to_string())]),
                );
            }
            for r in &spec.dns_records {
                w.zones.entry(r.zone_id.clone()).or_default();
            }
            w.objects.insert(
                format!("{ENV}/spec.json"),
                (
                    serde_json::to_vec_pretty(&spec_json).unwrap(),
                    "\"spec\"".into(),
                ),
            );
            let _ = now;
        }
        let mut env = Env {
            sim,
            spec,
            config: config(),
            decoys: vec![],
            t0: Instant::now(),
            utc0: Utc.with_ymd_and_hms(2026, 11, 26, 13, 0, 0).unwrap(),
        };
        env.plant_standard_decoys();
        env
    }

    /// Unowned look-alikes around every scenario: a NAT gateway (with its address) in our public
    /// subnet tagged like ours but without `ManagedBy`, another environment's Elastic IP of the
    /// scheduler, an ALB named like ours with a listener, a route table routed through the foreign
    /// NAT, records at other names of our zone, and a legacy service in our cluster.
    fn plant_standard_decoys(&mut self) {
        let subnet = self
            .spec
            .nat_gateways
            .first()
            .map(|n| n.subnet_id.clone())
            .unwrap_or_else(|| "subnet-0a1b2c3d4e5f60001".into());
        let zone = self.spec.dns_records.first().map(|r| r.zone_id.clone());
        let cluster = self.spec.services.first().map(|s| s.cluster.clone());
        let mut planted = Vec::new();
        {
            let mut w = self.sim.world();
            let now = Instant::now();
            let eip = w.add_address(
                foreign_tags(&[(TAG_NAT, "a"), ("Name", "demo-nat-a")]),
                now,
                None,
            );
            planted.push((
                "foreign Elastic IP tagged nat=a".to_string(),
                eip.allocation_id.clone(),
                eip.allocation_id.clone(),
            ));
            let nat = w.add_nat(
                &subnet,
                &eip.allocation_id,
                foreign_tags(&[(TAG_NAT, "a"), ("Name", "demo-nat-a")]),
                now - Duration::from_secs(3600),
            );
            planted.push((
                "foreign NAT gateway in our public subnet".to_string(),
                nat.clone(),
                nat.clone(),
            ));
            let other_env = Tags::from([
                (TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
                (TAG_ENVIRONMENT.to_string(), "staging".to_string()),
                (TAG_NAT.to_string(), "a".to_string()),
                (TAG_EIP_MODE.to_string(), "release".to_string()),
            ]);
            let staging = w.add_address(other_env, now, None);
            planted.push((
                "Elastic IP of the scheduler in environment staging".to_string(),
                staging.allocation_id.clone(),
                staging.allocation_id.clone(),
            ));
            w.route_tables.insert(
                "rtb-0d0d0d0d0d0d0d0d0".into(),
                Some(SimRoute {
                    target: SimTarget::Nat(nat.clone()),
                    set_at: now,
                }),
            );
            planted.push((
                "route table routed via the foreign NAT".to_string(),
                "rtb-0d0d0d0d0d0d0d0d0".into(),
                "rtb-0d0d0d0d0d0d0d0d0".into(),
            ));
            w.target_groups.insert(FOREIGN_TG.into());
            let lb = w.add_load_balancer(
                "demo-web-legacy",
                foreign_tags(&[]),
                now - Duration::from_secs(86400),
                None,
            );
            w.add_listener(
                &lb,
                443,
                "HTTPS",
                Some(FOREIGN_TG.into()),
                Tags::new(),
                now - Duration::from_secs(86400),
            );
            planted.push((
                "foreign ALB demo-web-legacy with a listener".to_string(),
                lb.clone(),
                "demo-web-legacy".into(),
            ));
            if let Some(zone) = zone {
                w.add_record(
                    &zone,
                    SimRecord {
                        name: "legacy.example.com.".into(),
                        record_type: "A".into(),
                        alias: None,
                        ttl: Some(300),
                        values: vec!["203.0.113.7".into()],
                    },
                );
                planted.push((
                    "foreign A record legacy.example.com".to_string(),
                    format!("{zone}:legacy.example.com.:A"),
                    "legacy.example.com.".into(),
                ));
                w.add_record(
                    &zone,
                    SimRecord {
                        name: "www.demo.example.com.".into(),
                        record_type: "CNAME".into(),
                        alias: None,
                        ttl: Some(300),
                        values: vec!["demo.example.com".into()],
                    },
                );
                planted.push((
                    "foreign CNAME www.demo.example.com".to_string(),
                    format!("{zone}:www.demo.example.com.:CNAME"),
                    "www.demo.example.com.".into(),
                ));
                w.add_record(
                    &zone,
                    SimRecord {
                        name: "staging.example.com.".into(),
                        record_type: "A".into(),
                        alias: Some((
                            "dualstack.staging-web-1.us-east-1.elb.amazonaws.com.".into(),
                            sim::ELB_ZONE_ID.into(),
                            true,
                        )),
                        ttl: None,
                        values: vec![],
                    },
                );
                w.add_record(
                    &zone,
                    SimRecord {
                        name: format!("{OWNER_RECORD_PREFIX}staging.example.com."),
                        record_type: "TXT".into(),
                        alias: None,
                        ttl: Some(300),
                        values: vec![owner_record_value("staging")],
                    },
                );
                planted.push((
                    "staging's alias staging.example.com".to_string(),
                    format!("{zone}:staging.example.com.:A"),
                    "staging.example.com.".into(),
                ));
            }
            if let Some(cluster) = cluster {
                w.add_service(
                    &cluster,
                    "demo-legacy",
                    2,
                    Some(FOREIGN_TG.into()),
                    foreign_tags(&[]),
                    now - Duration::from_secs(86400),
                );
                planted.push((
                    "foreign service demo-legacy in our cluster".to_string(),
                    format!("{cluster}/demo-legacy"),
                    "demo-legacy".into(),
                ));
            }
        }
        for (what, id, needle) in planted {
            let fingerprint = self.sim.fingerprint(&id);
            self.decoys.push(Decoy {
                what,
                id,
                needle,
                fingerprint,
            });
        }
    }

    /// Adds a decoy planted by a scenario (after it has been put into the world).
    fn watch(&mut self, what: &str, id: &str, needle: &str) {
        let fingerprint = self.sim.fingerprint(id);
        assert_ne!(fingerprint, "gone", "decoy {id} exists");
        self.decoys.push(Decoy {
            what: what.into(),
            id: id.into(),
            needle: needle.into(),
            fingerprint,
        });
    }

    /// Wall-clock time of the simulated world (virtual).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.utc0 + chrono::Duration::from_std(Instant::now() - self.t0).unwrap()
    }

    pub(crate) fn handler(&self, tag: &str) -> Handler {
        Handler::new(self.config.clone(), self.sim.clients(tag))
    }

    /// One invocation as Lambda makes it: the deadline is the function timeout from now.
    pub(crate) async fn invoke(&self, tag: &str, payload: Value) -> Result<Response, HandlerError> {
        self.invoke_with_deadline(tag, payload, Some(Instant::now() + LAMBDA_TIMEOUT))
            .await
    }

    async fn invoke_with_deadline(
        &self,
        tag: &str,
        payload: Value,
        deadline: Option<Instant>,
    ) -> Result<Response, HandlerError> {
        let handler = self.handler(tag);
        handler
            .handle(
                payload.to_string().as_bytes(),
                Invocation {
                    id: tag.into(),
                    now: self.now(),
                    deadline,
                },
            )
            .await
    }

    /// Sleeps (virtually) until the lease in state, if any, has expired.
    async fn outlive_lease(&self) {
        let lease = self.sim.world().state(ENV).and_then(|s| s.lease);
        if let Some(l) = lease {
            let left = (l.expires_at - self.now()).to_std().unwrap_or_default();
            tokio::time::sleep(left + Duration::from_secs(1)).await;
        }
    }

    /// True when state holds a lease that has not expired.
    fn lease_live(&self) -> bool {
        self.sim
            .world()
            .state(ENV)
            .and_then(|s| s.lease)
            .is_some_and(|l| l.expires_at > self.now())
    }

    /// Invokes `action` until it answers applied or no-op (waiting out leases in between), at most
    /// `max` times. Returns the outcomes (errors as text).
    pub(crate) async fn converge(&self, tag: &str, action: &str, max: usize) -> Vec<String> {
        let mut outcomes = Vec::new();
        for i in 0..max {
            let r = self
                .invoke(&format!("{tag}-{i}"), json!({"action": action}))
                .await;
            let o = match &r {
                Ok(resp) => format!("{:?}", resp.outcome),
                Err(e) => format!("error: {}", first_line(&e.to_string())),
            };
            outcomes.push(o);
            match r {
                Ok(resp) if matches!(resp.outcome, Outcome::Applied | Outcome::NoOp) => break,
                Ok(resp) if resp.outcome == Outcome::Busy => self.outlive_lease().await,
                _ => tokio::time::sleep(Duration::from_secs(60)).await,
            }
        }
        outcomes
    }

    /// Lets asynchronous AWS work settle (tasks starting, gateways finishing deletion).
    pub(crate) async fn settle(&self) {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }

    pub(crate) fn running_problems(&self, expected: &ExpectedServices) -> Vec<String> {
        let mut v = self.sim.world().running_violations(&self.spec, expected);
        v.extend(self.sim.world().state_violations(ENV, Phase::Running));
        v.extend(self.sim.decoy_violations(&self.decoys));
        v
    }

    pub(crate) fn stopped_problems(&self) -> Vec<String> {
        let mut v = self.sim.world().stopped_violations(&self.spec);
        v.extend(self.sim.world().state_violations(ENV, Phase::Stopped));
        v.extend(self.sim.decoy_violations(&self.decoys));
        v
    }

    /// Starts the tier cleanly and lets it settle (set-up for stop scenarios).
    pub(crate) async fn started(self) -> Env {
        let out = self.converge("setup-start", "start", 3).await;
        assert!(
            out.last().is_some_and(|o| o == "Applied"),
            "set-up start: {out:?}"
        );
        self.settle().await;
        let p = self.running_problems(&spec_counts(&self.spec));
        assert!(p.is_empty(), "set-up start did not converge: {p:?}");
        self
    }

    fn report(&self, problems: Vec<String>, numbers: String) -> Report {
        let calls = self.sim.calls();
        Report {
            problems,
            calls: calls.len(),
            mutations: calls.iter().filter(|c| c.applied).count(),
            retries: retries(&calls),
            virtual_secs: self.sim.elapsed().as_secs_f64(),
            numbers,
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Every repetition of a failed request must come after a backoff (more than the request's own
/// latency), and a request failing more often than the SDK's three attempts must have waited at
/// least the executor's first backoff (0.5 s) before its fourth attempt.
fn backoff_problems(calls: &[sim::Call]) -> Vec<String> {
    let latency = SimConfig::default().latency;
    let mut last_failure: BTreeMap<(String, &str, String), (Duration, usize)> = BTreeMap::new();
    let mut v = Vec::new();
    for c in calls {
        let key = (c.client.clone(), c.operation, c.args.clone());
        if let Some((at, failures)) = last_failure.get(&key) {
            let gap = c.at - *at;
            if gap <= latency {
                v.push(format!(
                    "{} repeated {gap:?} after failing: no backoff",
                    c.operation
                ));
            }
            if *failures == 3 && gap < Duration::from_millis(500) {
                v.push(format!(
                    "{} repeated {gap:?} after its {failures}th failure",
                    c.operation
                ));
            }
        }
        if c.error.is_some() && c.injected {
            let n = last_failure.get(&key).map_or(0, |(_, n)| *n) + 1;
            last_failure.insert(key, (c.at, n));
        } else {
            last_failure.remove(&key);
        }
    }
    v
}

/// Requests that repeat a failed request (same client, operation and arguments): SDK retries
/// and the executor's retries alike.
fn retries(calls: &[sim::Call]) -> usize {
    let mut failed: BTreeSet<(String, &str, String)> = BTreeSet::new();
    let mut n = 0;
    for c in calls {
        let key = (c.client.clone(), c.operation, c.args.clone());
        if failed.contains(&key) {
            n += 1;
        }
        // A not-found answer (a state document that does not exist yet) is an answer, not a
        // failure; asking again later is not a retry.
        let not_found = c.error.as_deref().is_some_and(|e| {
            runtime_scheduler::aws::classify(c.operation, Some(e))
                == runtime_scheduler::aws::ErrorKind::NotFound
        });
        if c.error.is_some() && !not_found {
            failed.insert(key);
        } else {
            failed.remove(&key);
        }
    }
    n
}

// =============================================================================================
// Scenario plumbing.

#[derive(Debug, Default)]
struct Report {
    problems: Vec<String>,
    calls: usize,
    mutations: usize,
    retries: usize,
    virtual_secs: f64,
    /// Scenario-specific numbers for the table.
    numbers: String,
}

type Run = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Report>>> + Send>;

struct Scenario {
    group: &'static str,
    name: String,
    expect: String,
    run: Run,
}

fn scenario<F, Fut>(
    group: &'static str,
    name: impl Into<String>,
    expect: impl Into<String>,
    f: F,
) -> Scenario
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Report> + 'static,
{
    Scenario {
        group,
        name: name.into(),
        expect: expect.into(),
        run: Box::new(move || Box::pin(f())),
    }
}

/// Runs a future on a fresh current-thread runtime with a paused clock.
pub(crate) fn block_on_paused<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(f)
}

struct Row {
    group: &'static str,
    name: String,
    expect: String,
    report: Report,
    wall: Duration,
}

fn run_all(scenarios: Vec<Scenario>) -> Vec<Row> {
    let total = scenarios.len();
    let queue = Arc::new(Mutex::new(
        scenarios.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let rows = Arc::new(Mutex::new(Vec::new()));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let queue = queue.clone();
            let rows = rows.clone();
            std::thread::spawn(move || loop {
                let next = queue.lock().unwrap().pop();
                let Some((i, s)) = next else { break };
                let started = std::time::Instant::now();
                let run = s.run;
                let report = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    block_on_paused(run())
                })) {
                    Ok(r) => r,
                    Err(p) => {
                        let msg = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        Report {
                            problems: vec![format!("panicked: {}", first_line(&msg))],
                            ..Default::default()
                        }
                    }
                };
                rows.lock().unwrap().push((
                    i,
                    Row {
                        group: s.group,
                        name: s.name,
                        expect: s.expect,
                        report,
                        wall: started.elapsed(),
                    },
                ));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    let mut rows = Arc::try_unwrap(rows)
        .ok()
        .expect("workers done")
        .into_inner()
        .unwrap();
    assert_eq!(rows.len(), total);
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, r)| r).collect()
}

// =============================================================================================
// Assertion helpers that collect instead of panicking.

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
    fn extend(&mut self, context: &str, more: Vec<String>) {
        self.0
            .extend(more.into_iter().map(|m| format!("{context}: {m}")));
    }
}

fn outcome_of(r: &Result<Response, HandlerError>) -> String {
    match r {
        Ok(resp) => format!("{:?}", resp.outcome),
        Err(e) => format!("error: {}", first_line(&e.to_string())),
    }
}

/// Applied mutating requests made by one client, other than S3 writes.
fn aws_mutations(sim: &Sim, tag: &str) -> Vec<sim::Call> {
    sim.mutations(Some(tag))
        .into_iter()
        .filter(|c| c.operation != "PutObject")
        .collect()
}

#[test]
fn reliability_suite() {
    let filter = std::env::var("RELIABILITY_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    let started = std::time::Instant::now();
    let mut scenarios = suites::all();
    if let Some(f) = &filter {
        scenarios.retain(|s| s.name.contains(f.as_str()) || s.group.contains(f.as_str()));
    }
    let rows = run_all(scenarios);
    let wall = started.elapsed();
    if filter.is_none() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reliability.md");
        std::fs::write(path, suites::document(&rows)).expect("write docs/reliability.md");
    }
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.report.problems.is_empty())
        .collect();
    eprintln!(
        "{} scenarios in {:.1} s wall, {} failed",
        rows.len(),
        wall.as_secs_f64(),
        failed.len()
    );
    for r in &rows {
        if r.wall > Duration::from_secs(2) {
            eprintln!("slow: {} ({:.1} s)", r.name, r.wall.as_secs_f64());
        }
    }
    let mut message = String::new();
    for r in &failed {
        message.push_str(&format!("\n[{}] {}\n", r.group, r.name));
        for p in r.report.problems.iter().take(8) {
            message.push_str(&format!("    - {p}\n"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scenarios failed:{message}",
        failed.len(),
        rows.len()
    );
}

/// Silences "unused" for helpers only some suites use.
#[allow(dead_code)]
fn _unused() -> (Option<ScalingBounds>, Tags) {
    (None, ownership_tags(ENV))
}

// =============================================================================================
// The suites.

mod suites {
    use super::*;

    pub fn all() -> Vec<Scenario> {
        let mut v = Vec::new();
        v.extend(baseline());
        v.extend(performance());
        v.extend(crash());
        v.extend(transient());
        v.extend(lost_responses());
        v.extend(permanent());
        v.extend(concurrency());
        v.extend(deadline());
        v.extend(decoys());
        v.extend(bad_input());
        v.extend(overrides());
        v
    }

    fn payload(action: &str) -> Value {
        json!({ "action": action })
    }

    fn applied(r: &Result<Response, HandlerError>) -> bool {
        matches!(r, Ok(x) if x.outcome == Outcome::Applied)
    }

    fn converged(outcomes: &[String]) -> bool {
        outcomes
            .last()
            .is_some_and(|o| o == "Applied" || o == "NoOp")
    }

    // -----------------------------------------------------------------------------------------
    // Baseline behaviour, so that the fault suites have something to compare with.

    fn baseline() -> Vec<Scenario> {
        let mut v = Vec::new();
        v.push(scenario(
            "baseline",
            "start from nothing converges (full spec: 2 NATs, WAF, A+AAAA)",
            "applied; world as the spec says; state running with matching ids; wall time near the slowest branch, not the sum",
            || async {
                let env = Env::new(full_spec());
                let t = Instant::now();
                let r = env.invoke("run", payload("start")).await;
                let took = t.elapsed();
                let mut p = Problems::default();
                p.check(applied(&r), || format!("outcome {}", outcome_of(&r)));
                p.extend("right after the run", env.running_problems(&spec_counts(&env.spec)));
                let c = SimConfig::default();
                let serial = c.nat_pending + c.alb_provisioning + c.dns_propagation + c.task_start;
                p.check(took < serial, || format!("start took {took:?}, no better than running the branches one after another ({serial:?})"));
                env.report(p.0, format!("start {:.0} s (serial sum {:.0} s)", took.as_secs_f64(), serial.as_secs_f64()))
            },
        ));
        v.push(scenario(
            "baseline",
            "stop from running converges (full spec)",
            "applied; no NAT/ALB/alias of ours; kept address kept, released one released; services at 0; state stopped",
            || async {
                let env = Env::new(full_spec()).started().await;
                let t = Instant::now();
                let r = env.invoke("run", payload("stop")).await;
                let took = t.elapsed();
                let mut p = Problems::default();
                p.check(applied(&r), || format!("outcome {}", outcome_of(&r)));
                env.settle().await;
                p.extend("world", env.stopped_problems());
                env.report(p.0, format!("stop {:.0} s", took.as_secs_f64()))
            },
        ));
        for action in ["start", "stop"] {
            v.push(scenario(
                "baseline",
                format!("a repeated {action} is a no-op"),
                "no-op; zero mutating AWS requests",
                move || async move {
                    let env = Env::new(full_spec()).started().await;
                    if action == "stop" {
                        assert!(converged(&env.converge("first-stop", "stop", 2).await));
                        env.settle().await;
                    }
                    let r = env.invoke("again", payload(action)).await;
                    let mut p = Problems::default();
                    p.check(matches!(&r, Ok(x) if x.outcome == Outcome::NoOp), || {
                        format!("outcome {}", outcome_of(&r))
                    });
                    let m = aws_mutations(&env.sim, "again");
                    p.check(m.is_empty(), || {
                        format!(
                            "mutating requests: {:?}",
                            m.iter().map(|c| c.operation).collect::<Vec<_>>()
                        )
                    });
                    env.report(p.0, String::new())
                },
            ));
        }
        v.push(scenario(
            "baseline",
            "a full cycle restores the recorded counts and bounds and keeps the egress IP",
            "after stop and start: backend 3 tasks within 2..6 (set by someone while running), frontend 1; the kept Elastic IP is the same",
            || async {
                let env = Env::new(full_spec()).started().await;
                let kept = {
                    let mut w = env.sim.world();
                    let now = Instant::now();
                    let key = ("demo".to_string(), "backend".to_string());
                    w.scalable_targets.insert(key.clone(), ScalingBounds { min: 2, max: 6 });
                    w.set_desired(&key, 3, now);
                    w.addresses.values().find(|a| a.tags.get(TAG_NAT).map(String::as_str) == Some("a") && is_owned(&a.tags, ENV)).map(|a| a.public_ip.clone())
                };
                env.settle().await;
                let mut p = Problems::default();
                let o = env.converge("stop", "stop", 2).await;
                p.check(converged(&o), || format!("stop: {o:?}"));
                env.settle().await;
                p.extend("stopped", env.stopped_problems());
                let o = env.converge("start", "start", 2).await;
                p.check(converged(&o), || format!("start: {o:?}"));
                env.settle().await;
                let mut expected = spec_counts(&env.spec);
                expected.insert("demo/backend".into(), (3, Some(ScalingBounds { min: 2, max: 6 })));
                p.extend("running again", env.running_problems(&expected));
                let again = env
                    .sim
                    .world()
                    .addresses
                    .values()
                    .find(|a| a.tags.get(TAG_NAT).map(String::as_str) == Some("a") && is_owned(&a.tags, ENV))
                    .map(|a| a.public_ip.clone());
                p.check(kept.is_some() && kept == again, || format!("egress IP was {kept:?}, is {again:?}"));
                env.report(p.0, format!("egress IP {}", kept.unwrap_or_default()))
            },
        ));
        v.push(scenario(
            "baseline",
            "a dry run plans and changes nothing",
            "dry-run with steps; zero mutating requests, S3 included",
            || async {
                let env = Env::new(full_spec());
                let r = env
                    .invoke("dry", json!({"action": "start", "dry_run": true}))
                    .await;
                let mut p = Problems::default();
                let steps = r.as_ref().map(|x| x.steps.len()).unwrap_or(0);
                p.check(
                    matches!(&r, Ok(x) if x.outcome == Outcome::DryRun) && steps > 0,
                    || format!("outcome {} with {steps} steps", outcome_of(&r)),
                );
                p.check(env.sim.mutating_requests(None).is_empty(), || {
                    "a dry run sent mutating requests".into()
                });
                env.report(p.0, format!("{steps} steps planned"))
            },
        ));
        v.push(scenario("baseline", "status reports and changes nothing", "reported; zero mutating requests", || async {
            let env = Env::new(full_spec()).started().await;
            let before = env.sim.mutating_requests(None).len();
            let r = env.invoke("status", payload("status")).await;
            let mut p = Problems::default();
            p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Reported && x.phase == Phase::Running), || format!("outcome {}", outcome_of(&r)));
            p.check(env.sim.mutating_requests(None).len() == before, || "status sent mutating requests".into());
            env.report(p.0, String::new())
        }));
        v.push(scenario(
            "baseline",
            "stop of a never-started tier is a no-op",
            "no-op; zero mutating AWS requests; state says stopped",
            || async {
                let env = Env::new(full_spec());
                let r = env.invoke("stop", payload("stop")).await;
                let mut p = Problems::default();
                p.check(matches!(&r, Ok(x) if x.outcome == Outcome::NoOp), || {
                    format!("outcome {}", outcome_of(&r))
                });
                p.check(aws_mutations(&env.sim, "stop").is_empty(), || {
                    "mutating AWS requests".into()
                });
                p.extend("world", env.stopped_problems());
                env.report(p.0, String::new())
            },
        ));
        v.push(scenario(
            "baseline",
            "eventual consistency: new resources invisible to describes for 5 s",
            "start and stop converge with no duplicate",
            || async {
                let cfg = SimConfig {
                    consistency_lag: Duration::from_secs(5),
                    ..SimConfig::default()
                };
                let env = Env::with(full_spec(), cfg);
                let mut p = Problems::default();
                let o = env.converge("start", "start", 3).await;
                p.check(converged(&o), || format!("start: {o:?}"));
                env.settle().await;
                p.extend("running", env.running_problems(&spec_counts(&env.spec)));
                let o = env.converge("stop", "stop", 3).await;
                p.check(converged(&o), || format!("stop: {o:?}"));
                env.settle().await;
                p.extend("stopped", env.stopped_problems());
                env.report(p.0, String::new())
            },
        ));
        v
    }

    // -----------------------------------------------------------------------------------------
    // Performance with AWS-like delays: calls per start and wall time against the critical path.

    /// What no scheduler can beat: the ALB's provisioning, then the tasks' start, plus the
    /// requests that must follow one another (read spec and state, clusters, observe, lease,
    /// create the ALB, poll, listener, rule, scale, check the services, check the targets, write
    /// state and history: 16 round trips).
    fn critical_path() -> Duration {
        let c = SimConfig::default();
        c.alb_provisioning + c.task_start + c.latency * 16
    }

    /// The run's AWS requests (SDK attempts included).
    fn requests_of(sim: &Sim, client: &str) -> usize {
        sim.calls().iter().filter(|c| c.client == client).count()
    }

    fn performance() -> Vec<Scenario> {
        let mut v = Vec::new();
        v.push(scenario(
            "performance",
            "the first start of all, with the spec's expected durations (full spec)",
            "applied; at most 80 AWS requests (waits poll from the spec's expected durations); within 5% of the critical path",
            || async {
                let env = Env::new(full_spec());
                let t = Instant::now();
                let r = env.invoke("run", payload("start")).await;
                let took = t.elapsed();
                let calls = requests_of(&env.sim, "run");
                let ratio = took.as_secs_f64() / critical_path().as_secs_f64();
                let mut p = Problems::default();
                p.check(applied(&r), || format!("outcome {}", outcome_of(&r)));
                p.check(calls <= 80, || { let ops: Vec<String> = env.sim.calls().iter().filter(|c| c.client == "run").map(|c| format!("{}@{:.0}", c.operation, c.at.as_secs_f64())).collect(); format!("{calls} AWS requests: {ops:?}") });
                p.check(ratio <= 1.05, || format!("took {took:?}: {ratio:.3} x the critical path"));
                env.report(
                    p.0,
                    format!(
                        "{calls} requests; {:.1} s against a critical path of {:.1} s: {ratio:.3}",
                        took.as_secs_f64(),
                        critical_path().as_secs_f64()
                    ),
                )
            },
        ));
        v.push(scenario(
            "performance",
            "a start on an ordinary day polls where AWS was last time (full spec)",
            "after two cycles: applied; at most 45 AWS requests; at most 1.01 x the critical path (ALB + tasks)",
            || async {
                let env = Env::new(full_spec()).started().await;
                let mut p = Problems::default();
                for cycle in 0..2 {
                    let o = env.converge(&format!("stop-{cycle}"), "stop", 2).await;
                    p.check(converged(&o), || format!("stop: {o:?}"));
                    env.settle().await;
                    if cycle == 0 {
                        let o = env.converge("start-0", "start", 2).await;
                        p.check(converged(&o), || format!("start: {o:?}"));
                        env.settle().await;
                    }
                }
                let t = Instant::now();
                let r = env.invoke("run", payload("start")).await;
                let took = t.elapsed();
                let calls = requests_of(&env.sim, "run");
                let ratio = took.as_secs_f64() / critical_path().as_secs_f64();
                p.check(applied(&r), || format!("outcome {}", outcome_of(&r)));
                p.check(calls <= 45, || {
                    let ops: Vec<String> = env
                        .sim
                        .calls()
                        .iter()
                        .filter(|c| c.client == "run")
                        .map(|c| format!("{}@{:.2} {}", c.operation, c.at.as_secs_f64(), c.args))
                        .collect();
                    format!("{calls} AWS requests: {ops:?}")
                });
                p.check(ratio <= 1.01, || { let ops: Vec<String> = env.sim.calls().iter().filter(|c| c.client == "run").map(|c| format!("{}@{:.2}", c.operation, c.at.as_secs_f64())).collect(); format!("took {took:?}: {ratio:.4} x the critical path {ops:?}") });
                env.settle().await;
                p.extend("running", env.running_problems(&spec_counts(&env.spec)));
                env.report(
                    p.0,
                    format!(
                        "{calls} requests; {:.1} s against a critical path of {:.1} s: {ratio:.4}",
                        took.as_secs_f64(),
                        critical_path().as_secs_f64()
                    ),
                )
            },
        ));
        v.push(scenario(
            "performance",
            "a stop from running (full spec)",
            "applied; at most 40 AWS requests",
            || async {
                let env = Env::new(full_spec()).started().await;
                let t = Instant::now();
                let r = env.invoke("run", payload("stop")).await;
                let took = t.elapsed();
                let calls = requests_of(&env.sim, "run");
                let mut p = Problems::default();
                p.check(applied(&r), || format!("outcome {}", outcome_of(&r)));
                p.check(calls <= 40, || {
                    let ops: Vec<String> = env
                        .sim
                        .calls()
                        .iter()
                        .filter(|c| c.client == "run")
                        .map(|c| format!("{}@{:.0}", c.operation, c.at.as_secs_f64()))
                        .collect();
                    format!("{calls} AWS requests: {ops:?}")
                });
                env.report(
                    p.0,
                    format!("{calls} requests; {:.1} s", took.as_secs_f64()),
                )
            },
        ));
        v
    }

    // -----------------------------------------------------------------------------------------
    // Crash at every step.

    /// The applied mutating requests of one clean run (the operations, in order).
    fn clean_run(spec: fn() -> Value, action: &'static str) -> Vec<sim::Call> {
        block_on_paused(async move {
            let env = Env::new(spec());
            let env = if action == "stop" {
                env.started().await
            } else {
                env
            };
            let r = env.invoke("run", payload(action)).await;
            assert!(applied(&r), "clean {action}: {}", outcome_of(&r));
            env.sim.mutations(Some("run"))
        })
    }

    fn crash() -> Vec<Scenario> {
        let mut v = Vec::new();
        for (action, then) in [("start", "start"), ("stop", "stop"), ("start", "stop")] {
            let calls = clean_run(full_spec, action);
            let n = calls.len();
            for (i, call) in calls.iter().enumerate() {
                let k = i + 1;
                let op = call.operation;
                let what = if op == "PutObject" {
                    format!(
                        "PutObject {}",
                        if call.args.contains("history") {
                            "history"
                        } else {
                            "state"
                        }
                    )
                } else {
                    op.to_string()
                };
                let name = if action == then {
                    format!("{action}: crash after mutating request {k}/{n} ({what})")
                } else {
                    format!("{action}, then {then}: crash after mutating request {k}/{n} ({what})")
                };
                v.push(scenario(
                    "crash",
                    name,
                    format!("busy while the lease lives; after it expires, {then} converges; nothing leaked or duplicated; state consistent"),
                    move || async move {
                        let env = Env::new(full_spec());
                        let env = if action == "stop" { env.started().await } else { env };
                        let mut p = Problems::default();
                        env.sim.crash_after(k);
                        let invoked_at = env.now();
                        let finished = tokio::select! {
                            r = env.invoke("crashed", payload(action)) => Some(outcome_of(&r)),
                            _ = env.sim.crashed() => None,
                        };
                        env.sim.recover();
                        p.check(finished.is_none(), || format!("the run finished ({finished:?}) before mutating request {k}"));
                        let lease = env.sim.world().state(ENV).and_then(|s| s.lease);
                        if let Some(l) = &lease {
                            p.check(l.expires_at <= invoked_at + chrono::Duration::from_std(LAMBDA_TIMEOUT).unwrap(), || {
                                format!("the lease outlives the function timeout: {}", l.expires_at)
                            });
                        }
                        let mut busy = "no lease left";
                        if env.lease_live() {
                            let r = env.invoke("early", payload(then)).await;
                            p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Busy), || format!("before the lease expired: {}", outcome_of(&r)));
                            p.check(env.sim.mutating_requests(Some("early")).is_empty(), || "the busy invocation sent mutating requests".into());
                            busy = "busy before expiry";
                            env.outlive_lease().await;
                        }
                        let o = env.converge("takeover", then, 3).await;
                        p.check(converged(&o), || format!("takeover: {o:?}"));
                        env.settle().await;
                        if then == "start" {
                            p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                        } else {
                            p.extend("world", env.stopped_problems());
                        }
                        env.report(p.0, format!("{busy}; then {}", o.join(", ")))
                    },
                ));
            }
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // Transient faults.

    /// Every operation of a clean start (from nothing) and a clean stop, reads included.
    /// With how many requests each appears.
    fn operations(action: &'static str) -> Vec<(&'static str, usize)> {
        let ops: BTreeMap<&'static str, usize> = block_on_paused(async move {
            let env = Env::new(full_spec());
            let env = if action == "stop" {
                env.started().await
            } else {
                env
            };
            let r = env.invoke("run", payload(action)).await;
            assert!(applied(&r), "clean {action}: {}", outcome_of(&r));
            let mut m = BTreeMap::new();
            for c in env.sim.calls().iter().filter(|c| c.client == "run") {
                *m.entry(c.operation).or_default() += 1;
            }
            m
        });
        ops.into_iter().collect()
    }

    const TRANSIENT: [FaultKind; 4] = [
        FaultKind::Throttling,
        FaultKind::InternalError,
        FaultKind::ServiceUnavailable,
        FaultKind::Timeout,
    ];
    /// More than the SDK's 3 attempts, so the executor's own retry is exercised too.
    const BURST: u32 = 4;

    fn transient() -> Vec<Scenario> {
        let mut v = Vec::new();
        for action in ["start", "stop"] {
            for (op, clean) in operations(action) {
                v.push(scenario(
                    "transient",
                    format!("{action}: {BURST} consecutive transient faults on {op}"),
                    format!("for each of throttling, 500, 503, timeout: converges within 2 invocations; retries bounded (requests of the operation at most twice a clean run's plus the faults); every retry backed off, >= 0.5 s before a 4th attempt"),
                    move || async move {
                        let mut p = Problems::default();
                        let mut total = Report::default();
                        let mut notes = Vec::new();
                        for kind in TRANSIENT {
                            let env = Env::new(full_spec());
                            let env = if action == "stop" { env.started().await } else { env };
                            let start_log = env.sim.log_len();
                            let t0 = Instant::now();
                            env.sim.fail(op, kind, BURST);
                            let o = env.converge("run", action, 3).await;
                            let took = t0.elapsed();
                            p.check(converged(&o) && o.len() <= 2, || format!("{}: {o:?}", kind.label()));
                            env.settle().await;
                            if action == "start" {
                                p.extend(kind.label(), env.running_problems(&spec_counts(&env.spec)));
                            } else {
                                p.extend(kind.label(), env.stopped_problems());
                            }
                            let calls: Vec<sim::Call> = env.sim.calls().into_iter().skip(start_log).collect();
                            let faulted = calls.iter().filter(|c| c.operation == op && c.injected).count();
                            p.check(faulted as u32 <= BURST && faulted > 0, || format!("{}: {faulted} injected faults hit, {BURST} armed", kind.label()));
                            p.extend(kind.label(), backoff_problems(&calls));
                            let op_calls = calls.iter().filter(|c| c.operation == op).count();
                            p.check(op_calls <= 2 * clean + BURST as usize, || {
                                format!("{}: {op_calls} requests of {op}, a clean run makes {clean}", kind.label())
                            });
                            let r = env.report(vec![], String::new());
                            total.calls += r.calls;
                            total.mutations += r.mutations;
                            total.retries += retries(&calls);
                            total.virtual_secs += took.as_secs_f64();
                            notes.push(format!("{}: {} inv, {op_calls} {op} (clean {clean})", kind.label(), o.len()));
                        }
                        Report { problems: p.0, numbers: notes.join("; "), ..total }
                    },
                ));
            }
        }
        v.push(scenario(
            "transient",
            "chaos: every request throttled or 5xx with probability 0.25 (seeded), start then stop",
            "each converges within 6 invocations; nothing leaked or duplicated",
            || async {
                let env = Env::new(full_spec());
                env.sim.fail_randomly("*", FaultKind::Throttling, 0.15);
                env.sim
                    .fail_randomly("*", FaultKind::ServiceUnavailable, 0.1);
                let mut p = Problems::default();
                let a = env.converge("start", "start", 6).await;
                p.check(converged(&a), || format!("start: {a:?}"));
                env.settle().await;
                env.sim.clear_faults();
                p.extend("running", env.running_problems(&spec_counts(&env.spec)));
                env.sim.fail_randomly("*", FaultKind::Throttling, 0.15);
                env.sim
                    .fail_randomly("*", FaultKind::ServiceUnavailable, 0.1);
                let b = env.converge("stop", "stop", 6).await;
                p.check(converged(&b), || format!("stop: {b:?}"));
                env.settle().await;
                env.sim.clear_faults();
                p.extend("stopped", env.stopped_problems());
                env.report(p.0, format!("start {} inv, stop {} inv", a.len(), b.len()))
            },
        ));
        v
    }

    // -----------------------------------------------------------------------------------------
    // Timeouts after the request was applied: only idempotent requests survive them.

    fn lost_responses() -> Vec<Scenario> {
        let mut v = Vec::new();
        for action in ["start", "stop"] {
            let ops: BTreeSet<&'static str> = clean_run(full_spec, action)
                .iter()
                .map(|c| c.operation)
                .collect();
            for op in ops {
                v.push(scenario(
                    "lost-response",
                    format!("{action}: the first {op} is applied but its response is lost"),
                    "the SDK retries it; converges within 2 invocations and without waiting out a lease; nothing duplicated",
                    move || async move {
                        let env = Env::new(full_spec());
                        let env = if action == "stop" { env.started().await } else { env };
                        env.sim.fail(op, FaultKind::LostResponse, 1);
                        let t0 = Instant::now();
                        let o = env.converge("run", action, 3).await;
                        let took = t0.elapsed();
                        let mut p = Problems::default();
                        p.check(converged(&o) && o.len() <= 2, || format!("{o:?}"));
                        p.check(took < LAMBDA_TIMEOUT, || format!("took {:.0} s: the tier waited out its own lease", took.as_secs_f64()));
                        env.settle().await;
                        if action == "start" {
                            p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                        } else {
                            p.extend("world", env.stopped_problems());
                        }
                        env.report(p.0, format!("{} in {:.0} s", o.join(", "), took.as_secs_f64()))
                    },
                ));
            }
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // Permanent faults.

    fn permanent() -> Vec<Scenario> {
        let mut v = Vec::new();
        for action in ["start", "stop"] {
            let ops: BTreeSet<&'static str> = clean_run(full_spec, action)
                .iter()
                .map(|c| c.operation)
                .collect();
            for op in ops {
                v.push(scenario(
                    "permanent",
                    format!("{action}: {op} denied, then invalid parameter"),
                    if op == "PutObject" {
                        "the lease cannot be written: a clear error and zero AWS mutations; once fixed, converges".to_string()
                    } else {
                        "failed at that step with the AWS code and the step; its dependents not started; state phase failed, no lease; once fixed, resumes and converges".to_string()
                    },
                    move || async move {
                        let mut p = Problems::default();
                        let mut notes = Vec::new();
                        let mut total = Report::default();
                        for kind in [FaultKind::AccessDenied, FaultKind::InvalidParameter] {
                            let label = kind.label();
                            let env = Env::new(full_spec());
                            let env = if action == "stop" { env.started().await } else { env };
                            env.sim.fail_always(op, kind);
                            let code = sim::fault_error(op, kind).code.unwrap_or_default();
                            let r = env.invoke("run", payload(action)).await;
                            if op == "PutObject" {
                                p.check(r.as_ref().is_err_and(|e| e.to_string().contains(&code)), || format!("{label}: {}", outcome_of(&r)));
                                p.check(aws_mutations(&env.sim, "run").is_empty(), || format!("{label}: AWS mutations without a lease"));
                                notes.push(format!("{label}: {}", outcome_of(&r)));
                            } else {
                                match &r {
                                    Ok(resp) => {
                                        p.check(resp.outcome == Outcome::Failed && resp.phase == Phase::Failed, || {
                                            format!("{label}: outcome {:?} phase {:?}", resp.outcome, resp.phase)
                                        });
                                        let err = resp.error.clone().unwrap_or(runtime_scheduler::state::FailureRecord { step: None, operation: None, code: None, message: String::new() });
                                        p.check(err.code.as_deref() == Some(code.as_str()), || format!("{label}: error code {:?}, expected {code}", err.code));
                                        p.check(err.step.is_some(), || format!("{label}: the error names no step"));
                                        let failed: BTreeSet<usize> = resp.steps.iter().filter(|s| s.status == "failed").map(|s| s.id).collect();
                                        p.check(!failed.is_empty(), || format!("{label}: no step is marked failed"));
                                        // Every step downstream of a failed one must not have started.
                                        let mut blocked = failed.clone();
                                        loop {
                                            let more: Vec<usize> = resp.steps.iter().filter(|s| !blocked.contains(&s.id) && s.after.iter().any(|a| blocked.contains(a))).map(|s| s.id).collect();
                                            if more.is_empty() {
                                                break;
                                            }
                                            blocked.extend(more);
                                        }
                                        for s in resp.steps.iter().filter(|s| blocked.contains(&s.id) && !failed.contains(&s.id)) {
                                            p.check(s.status == "not-started", || format!("{label}: dependent step {} {} is {}", s.action, s.target, s.status));
                                        }
                                        let state = env.sim.world().state(ENV);
                                        p.check(state.as_ref().is_some_and(|s| s.phase == Phase::Failed && s.lease.is_none()), || {
                                            format!("{label}: state phase {:?}, lease {:?}", state.as_ref().map(|s| s.phase), state.as_ref().map(|s| s.lease.is_some()))
                                        });
                                        notes.push(format!("{label}: failed at {} ({}), {} blocked", err.step.unwrap_or_default(), code, blocked.len() - failed.len()));
                                    }
                                    Err(e) => p.0.push(format!("{label}: handler error {e}")),
                                }
                            }
                            env.sim.clear_faults();
                            let o = env.converge("resume", action, 2).await;
                            p.check(converged(&o), || format!("{label}: after the fix: {o:?}"));
                            env.settle().await;
                            if action == "start" {
                                p.extend(label, env.running_problems(&spec_counts(&env.spec)));
                            } else {
                                p.extend(label, env.stopped_problems());
                            }
                            let r = env.report(vec![], String::new());
                            total.calls += r.calls;
                            total.mutations += r.mutations;
                            total.retries += r.retries;
                            total.virtual_secs += r.virtual_secs;
                        }
                        Report { problems: p.0, numbers: notes.join("; "), ..total }
                    },
                ));
            }
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // Concurrency.

    /// Runs `actions` at once (spawned tasks, one client each, the same `now`).
    async fn at_once(
        env: &Env,
        actions: &[&'static str],
    ) -> Vec<(String, Result<Response, HandlerError>)> {
        let local = tokio::task::LocalSet::new();
        let now = env.now();
        local
            .run_until(async {
                let handles: Vec<_> = actions
                    .iter()
                    .enumerate()
                    .map(|(i, action)| {
                        let tag = format!("inv-{i}");
                        let handler = env.handler(&tag);
                        let invocation = Invocation {
                            id: tag.clone(),
                            now,
                            deadline: Some(Instant::now() + LAMBDA_TIMEOUT),
                        };
                        let action = *action;
                        tokio::task::spawn_local(async move {
                            (
                                tag,
                                handler
                                    .handle(payload(action).to_string().as_bytes(), invocation)
                                    .await,
                            )
                        })
                    })
                    .collect();
                let mut out = Vec::new();
                for h in handles {
                    out.push(h.await.expect("task"));
                }
                out
            })
            .await
    }

    fn concurrency() -> Vec<Scenario> {
        let mut v = Vec::new();
        for (name, setup_started, actions, then) in [
            (
                "8 simultaneous starts of a never-started tier",
                false,
                ["start"; 8],
                "start",
            ),
            (
                "8 simultaneous stops of a running tier",
                true,
                ["stop"; 8],
                "stop",
            ),
            (
                "4 starts and 4 stops at once on a running tier",
                true,
                [
                    "start", "stop", "start", "stop", "start", "stop", "start", "stop",
                ],
                "stop",
            ),
        ] {
            v.push(scenario(
                "concurrency",
                name,
                "exactly one applies; the others answer busy (or no-op) and changed nothing (a no-op writes only its history record), no AWS mutating request at all",
                move || async move {
                    let env = Env::new(full_spec());
                    let env = if setup_started { env.started().await } else { env };
                    let results = at_once(&env, &actions).await;
                    let mut p = Problems::default();
                    let acted: Vec<&String> = results.iter().filter(|(_, r)| applied(r)).map(|(t, _)| t).collect();
                    p.check(acted.len() == 1, || format!("{} invocations applied: {:?}", acted.len(), results.iter().map(|(t, r)| format!("{t}={}", outcome_of(r))).collect::<Vec<_>>()));
                    let mut busy = 0;
                    let mut conflicts = 0;
                    for (tag, r) in &results {
                        if applied(r) {
                            continue;
                        }
                        p.check(matches!(r, Ok(x) if matches!(x.outcome, Outcome::Busy | Outcome::NoOp)), || format!("{tag}: {}", outcome_of(r)));
                        busy += usize::from(matches!(r, Ok(x) if x.outcome == Outcome::Busy));
                        let writes: Vec<_> = env.sim.mutations(Some(tag)).into_iter().filter(|c| !c.args.contains("/history/")).collect();
                        p.check(writes.is_empty(), || format!("{tag} applied {}", writes.iter().map(|c| format!("{} {}", c.operation, c.args)).collect::<Vec<_>>().join(", ")));
                        let aws: Vec<_> = env.sim.mutating_requests(Some(tag)).into_iter().filter(|c| c.operation != "PutObject").collect();
                        p.check(aws.is_empty(), || format!("{tag} sent {}", aws.iter().map(|c| c.operation).collect::<Vec<_>>().join(", ")));
                        conflicts += env.sim.mutating_requests(Some(tag)).iter().filter(|c| c.error.as_deref() == Some("PreconditionFailed")).count();
                    }
                    env.settle().await;
                    if then == "start" {
                        p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                    } else {
                        p.extend("world", env.stopped_problems());
                    }
                    env.report(p.0, format!("1 applied, {busy} busy, {conflicts} lost the conditional write"))
                },
            ));
        }
        v.push(scenario(
            "concurrency",
            "the lease of a crashed run ends at the Lambda deadline and is then taken over",
            "lease expiry equals the invocation's deadline (900 s); busy 1 s before, taken over 1 s after, converges",
            || async {
                let env = Env::new(full_spec());
                let mut p = Problems::default();
                // Reads take time before the lease is taken (here: two throttled describes).
                env.sim.fail("DescribeAddresses", FaultKind::Throttling, 2);
                env.sim.crash_after(3);
                let invoked_at = env.now();
                tokio::select! {
                    _ = env.invoke("crashed", payload("start")) => p.0.push("no crash".into()),
                    _ = env.sim.crashed() => {}
                }
                env.sim.recover();
                let deadline = invoked_at + chrono::Duration::from_std(LAMBDA_TIMEOUT).unwrap();
                let lease = env.sim.world().state(ENV).and_then(|s| s.lease);
                p.check(lease.as_ref().is_some_and(|l| l.expires_at == deadline), || {
                    format!("lease expires at {:?}, the deadline is {deadline} ({:?} early)", lease.as_ref().map(|l| l.expires_at), lease.as_ref().map(|l| deadline - l.expires_at))
                });
                let until = lease.map(|l| l.expires_at).unwrap_or(deadline);
                tokio::time::sleep((until - env.now() - chrono::Duration::seconds(1)).to_std().unwrap_or_default()).await;
                let r = env.invoke("early", payload("start")).await;
                p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Busy), || format!("1 s before expiry: {}", outcome_of(&r)));
                tokio::time::sleep(Duration::from_secs(2)).await;
                let r = env.invoke("takeover", payload("start")).await;
                p.check(applied(&r), || format!("1 s after expiry: {}", outcome_of(&r)));
                env.settle().await;
                p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                env.report(p.0, String::new())
            },
        ));
        v
    }

    // -----------------------------------------------------------------------------------------
    // Deadlines.

    fn deadline() -> Vec<Scenario> {
        let mut v = Vec::new();
        for (action, left) in [
            ("start", 20u64),
            ("start", 120),
            ("start", 200),
            ("stop", 50),
            ("stop", 75),
            ("stop", 150),
        ] {
            v.push(scenario(
                "deadline",
                format!("{action} with {left} s left before the Lambda timeout"),
                "in-progress (or applied if it fits), never failed; returned before the deadline; state keeps the intermediate phase, no lease; the next invocation continues and converges",
                move || async move {
                    let env = Env::new(full_spec());
                    let env = if action == "stop" { env.started().await } else { env };
                    let deadline = Instant::now() + Duration::from_secs(left);
                    let r = env.invoke_with_deadline("short", payload(action), Some(deadline)).await;
                    let returned = Instant::now();
                    let mut p = Problems::default();
                    let finished = matches!(&r, Ok(x) if x.outcome == Outcome::Applied);
                    p.check(finished || matches!(&r, Ok(x) if x.outcome == Outcome::InProgress), || {
                        format!("outcome {} ({})", outcome_of(&r), r.as_ref().ok().and_then(|x| x.error.as_ref()).map(|e| e.message.clone()).unwrap_or_default())
                    });
                    p.check(returned < deadline, || format!("returned {:?} after the deadline", returned - deadline));
                    let state = env.sim.world().state(ENV);
                    let want = match (action, finished) {
                        ("start", false) => Phase::Starting,
                        ("start", true) => Phase::Running,
                        (_, false) => Phase::Stopping,
                        (_, true) => Phase::Stopped,
                    };
                    p.check(state.as_ref().is_some_and(|s| s.phase == want && s.lease.is_none()), || {
                        format!("state phase {:?} lease {:?}", state.as_ref().map(|s| s.phase), state.as_ref().map(|s| s.lease.is_some()))
                    });
                    let o = env.converge("next", action, 3).await;
                    p.check(converged(&o), || format!("next: {o:?}"));
                    env.settle().await;
                    if action == "start" {
                        p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                    } else {
                        p.extend("world", env.stopped_problems());
                    }
                    let done = r.as_ref().map(|x| x.steps.iter().filter(|s| s.status == "done").count()).unwrap_or(0);
                    env.report(p.0, format!("{done} steps done, returned {:.0} s before the deadline", (deadline.saturating_duration_since(returned)).as_secs_f64()))
                },
            ));
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // Ownership decoys beyond the standard ones planted in every scenario.

    fn decoys() -> Vec<Scenario> {
        type Plant = fn(&mut Env);
        let cases: [(&str, bool, Plant); 5] = [
            ("a foreign ALB with our exact name", true, |env| {
                let arn = {
                    let mut w = env.sim.world();
                    let now = Instant::now() - Duration::from_secs(86400);
                    let arn = w.add_load_balancer("demo-web", foreign_tags(&[]), now, None);
                    w.add_listener(
                        &arn,
                        443,
                        "HTTPS",
                        Some(FOREIGN_TG.into()),
                        Tags::new(),
                        now,
                    );
                    arn
                };
                env.watch("foreign ALB named demo-web", &arn, &arn);
            }),
            (
                "a foreign alias at our record name (no ownership TXT)",
                true,
                |env| {
                    let zone = env.spec.dns_records[0].zone_id.clone();
                    env.sim.world().add_record(
                        &zone,
                        SimRecord {
                            name: "demo.example.com.".into(),
                            record_type: "A".into(),
                            alias: Some((
                                "dualstack.legacy-web-9.us-east-1.elb.amazonaws.com.".into(),
                                sim::ELB_ZONE_ID.into(),
                                true,
                            )),
                            ttl: None,
                            values: vec![],
                        },
                    );
                    env.watch(
                        "foreign alias demo.example.com A",
                        &format!("{zone}:demo.example.com.:A"),
                        "legacy-web-9",
                    );
                },
            ),
            ("a foreign service with our service's name", true, |env| {
                env.sim.world().add_service(
                    "demo",
                    "frontend",
                    2,
                    None,
                    foreign_tags(&[]),
                    Instant::now(),
                );
                env.watch(
                    "foreign service demo/frontend",
                    "demo/frontend",
                    "name=frontend",
                );
            }),
            (
                "a foreign default route in one of our route tables",
                true,
                |env| {
                    env.sim.world().route_tables.insert(
                        "rtb-0a1b2c3d4e5f60012".into(),
                        Some(SimRoute {
                            target: SimTarget::Other("tgw-0123456789abcdef0".into()),
                            set_at: Instant::now(),
                        }),
                    );
                    env.watch(
                        "transit gateway route in rtb-0a1b2c3d4e5f60012",
                        "rtb-0a1b2c3d4e5f60012",
                        "table=rtb-0a1b2c3d4e5f60012",
                    );
                },
            ),
            (
                "a scheduler-owned NAT gateway of another environment in our subnet",
                false,
                |env| {
                    let id = {
                        let mut w = env.sim.world();
                        let now = Instant::now() - Duration::from_secs(3600);
                        let t = Tags::from([
                            (TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
                            (TAG_ENVIRONMENT.to_string(), "staging".to_string()),
                            (TAG_NAT.to_string(), "a".to_string()),
                        ]);
                        let a = w.add_address(t.clone(), now, None);
                        w.add_nat("subnet-0a1b2c3d4e5f60001", &a.allocation_id, t, now)
                    };
                    env.watch("staging's NAT gateway", &id, &id);
                },
            ),
        ];
        let mut v = Vec::new();
        for (name, warns, plant) in cases {
            v.push(scenario(
                "decoys",
                format!("{name} survives start and stop"),
                if warns {
                    "never named by a mutating request, unchanged; a warning says it was left alone"
                } else {
                    "never named by a mutating request, unchanged"
                },
                move || async move {
                    let mut env = Env::new(full_spec());
                    plant(&mut env);
                    let mut p = Problems::default();
                    let mut warnings = Vec::new();
                    for (i, action) in ["start", "stop", "start", "stop"].iter().enumerate() {
                        let r = env.invoke(&format!("{action}-{i}"), payload(action)).await;
                        if let Ok(resp) = &r {
                            warnings.extend(
                                resp.warnings
                                    .iter()
                                    .filter(|w| w.contains("not ours"))
                                    .cloned(),
                            );
                        }
                        env.outlive_lease().await;
                        env.settle().await;
                    }
                    p.extend("decoys", env.sim.decoy_violations(&env.decoys));
                    p.extend("invariants", env.sim.world().invariant_violations(ENV));
                    p.check(!warns || !warnings.is_empty(), || {
                        "no warning said anything was left alone".into()
                    });
                    env.report(p.0, warnings.first().cloned().unwrap_or_default())
                },
            ));
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // Bad input.

    enum Input {
        Payload(Value),
        Spec(Vec<u8>),
        NoSpec,
        State(Vec<u8>),
        Config(Vec<(&'static str, &'static str)>),
    }

    fn edited(edit: fn(&mut Value)) -> Vec<u8> {
        let mut s = full_spec();
        edit(&mut s);
        serde_json::to_vec(&s).unwrap()
    }

    fn scheduled_event(detail_type: &str, resources: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": detail_type, "source": "aws.events", "account": "123456789012",
               "time": "2026-11-26T13:00:00Z", "region": "us-east-1", "resources": resources, "detail": {}})
    }

    fn bad_input() -> Vec<Scenario> {
        let rule = |name: &str| format!("arn:aws:events:us-east-1:123456789012:rule/{name}");
        let cases: Vec<(&str, Input, &str)> = vec![
            (
                "payload: a JSON string",
                Input::Payload(json!("start")),
                "must be a JSON object",
            ),
            (
                "payload: an array",
                Input::Payload(json!(["start"])),
                "must be a JSON object",
            ),
            (
                "payload: null",
                Input::Payload(Value::Null),
                "must be a JSON object",
            ),
            (
                "payload: a number",
                Input::Payload(json!(42)),
                "must be a JSON object",
            ),
            (
                "payload: empty object",
                Input::Payload(json!({})),
                "missing 'action'",
            ),
            (
                "payload: unknown action",
                Input::Payload(json!({"action": "restart"})),
                "'action' is 'restart'",
            ),
            (
                "payload: action in capitals",
                Input::Payload(json!({"action": "START"})),
                "'action' is 'START'",
            ),
            (
                "payload: action is a number",
                Input::Payload(json!({"action": 1})),
                "'action' must be a string",
            ),
            (
                "payload: dry_run is a string",
                Input::Payload(json!({"action": "stop", "dry_run": "yes"})),
                "'dry_run' must be true or false",
            ),
            (
                "payload: reason of 600 characters",
                Input::Payload(json!({"action": "stop", "reason": "x".repeat(600)})),
                "at most 512",
            ),
            (
                "payload: reason with a control character",
                Input::Payload(json!({"action": "stop", "reason": "a\u{7}b"})),
                "control characters",
            ),
            (
                "payload: reason is a number",
                Input::Payload(json!({"action": "stop", "reason": 5})),
                "'reason' must be a string",
            ),
            (
                "payload: unknown trigger",
                Input::Payload(json!({"action": "start", "trigger": "cron"})),
                "'trigger' is 'cron'; expected one of manual, schedule",
            ),
            (
                "payload: environment is a number",
                Input::Payload(json!({"action": "start", "environment": 5})),
                "'environment' must be a string",
            ),
            (
                "payload: unknown field",
                Input::Payload(json!({"action": "start", "colour": "blue"})),
                "unknown field 'colour'",
            ),
            (
                "payload: several problems at once",
                Input::Payload(json!({"action": "restart", "dry_run": 1, "colour": 2})),
                "'dry_run' must be true or false",
            ),
            (
                "event: unsupported detail-type",
                Input::Payload(scheduled_event(
                    "Object Created",
                    json!([rule("demo-runtime-start")]),
                )),
                "is not supported",
            ),
            (
                "event: no rule in resources",
                Input::Payload(scheduled_event("Scheduled Event", json!([]))),
                "exactly one rule",
            ),
            (
                "event: two rules in resources",
                Input::Payload(scheduled_event(
                    "Scheduled Event",
                    json!([rule("a-start"), rule("b-stop")]),
                )),
                "exactly one rule",
            ),
            (
                "event: rule name without an action",
                Input::Payload(scheduled_event("Scheduled Event", json!([rule("nightly")]))),
                "its name must end in -start, -stop",
            ),
            (
                "event: aws.events source without detail-type",
                Input::Payload(json!({"source": "aws.events", "action": "start"})),
                "is not supported",
            ),
            (
                "payload: override without mode",
                Input::Payload(json!({"action": "override"})),
                "missing 'mode' (one of keep-running, keep-stopped, clear)",
            ),
            (
                "payload: override with an unknown mode",
                Input::Payload(json!({"action": "override", "mode": "forever"})),
                "'mode' is 'forever'",
            ),
            (
                "payload: override until that is not RFC 3339",
                Input::Payload(
                    json!({"action": "override", "mode": "keep-stopped", "until": "tomorrow"}),
                ),
                "'until': 'tomorrow' is not an RFC 3339 timestamp",
            ),
            (
                "payload: override until in the past",
                Input::Payload(
                    json!({"action": "override", "mode": "keep-stopped", "until": "2020-01-01T00:00:00Z"}),
                ),
                "'until': 2020-01-01T00:00:00+00:00 is in the past",
            ),
            (
                "payload: override clear with until",
                Input::Payload(
                    json!({"action": "override", "mode": "clear", "until": "2027-01-01T00:00:00Z"}),
                ),
                "'until' and 'for' make no sense with mode clear",
            ),
            (
                "payload: mode on a start",
                Input::Payload(json!({"action": "start", "mode": "keep-running"})),
                "'mode' does not apply to start",
            ),
            (
                "payload: force is a string",
                Input::Payload(json!({"action": "start", "force": "yes"})),
                "'force' must be true or false",
            ),
            (
                "payload: force on a scheduled start",
                Input::Payload(json!({"action": "start", "trigger": "schedule", "force": true})),
                "apply only to a manual start or stop",
            ),
            (
                "payload: hold_for that is not a duration",
                Input::Payload(json!({"action": "start", "hold_for": "forever"})),
                "'hold_for': 'forever' is not a duration",
            ),
            (
                "payload: hold_for and hold_until together",
                Input::Payload(
                    json!({"action": "stop", "hold_for": "3h", "hold_until": "2026-11-27T08:00:00Z"}),
                ),
                "not both",
            ),
            (
                "payload: at without dry_run",
                Input::Payload(json!({"action": "start", "at": "2026-11-27T08:00:00Z"})),
                "'at' needs \"dry_run\": true",
            ),
            (
                "spec: missing",
                Input::NoSpec,
                "does not exist; terraform-runtime writes it",
            ),
            (
                "spec: not JSON",
                Input::Spec(b"version: 1\nenvironment: demo\n".to_vec()),
                "not valid JSON",
            ),
            (
                "spec: a JSON array",
                Input::Spec(b"[]".to_vec()),
                "must be a JSON object",
            ),
            (
                "spec: empty object",
                Input::Spec(b"{}".to_vec()),
                "$.version: missing required field",
            ),
            (
                "spec: version 2",
                Input::Spec(edited(|s| s["version"] = json!(2))),
                "$.version: unsupported spec version 2",
            ),
            (
                "spec: another environment",
                Input::Spec(edited(|s| s["environment"] = json!("prod"))),
                "$.environment: spec is for environment 'prod'",
            ),
            (
                "spec: unknown top-level field",
                Input::Spec(edited(|s| s["nat_gateway"] = json!([]))),
                "$.nat_gateway: unknown field",
            ),
            (
                "spec: NAT name with a space",
                Input::Spec(edited(|s| s["nat_gateways"][0]["name"] = json!("a b"))),
                "$.nat_gateways[0].name",
            ),
            (
                "spec: duplicate NAT names",
                Input::Spec(edited(|s| s["nat_gateways"][1]["name"] = json!("a"))),
                "duplicate NAT name 'a'",
            ),
            (
                "spec: malformed subnet id",
                Input::Spec(edited(|s| {
                    s["nat_gateways"][0]["subnet_id"] = json!("subnet-xyz")
                })),
                "$.nat_gateways[0].subnet_id",
            ),
            (
                "spec: route table served by two NATs",
                Input::Spec(edited(|s| {
                    s["nat_gateways"][1]["route_table_ids"] = json!(["rtb-0a1b2c3d4e5f60011"])
                })),
                "is already served by",
            ),
            (
                "spec: external address without allocation id",
                Input::Spec(edited(|s| {
                    s["nat_gateways"][0]["elastic_ip"] = json!({"mode": "external"})
                })),
                "$.nat_gateways[0].elastic_ip.allocation_id: required",
            ),
            (
                "spec: unknown Elastic IP mode",
                Input::Spec(edited(|s| {
                    s["nat_gateways"][0]["elastic_ip"] = json!({"mode": "sticky"})
                })),
                "$.nat_gateways[0].elastic_ip.mode",
            ),
            (
                "spec: ALB name of 40 characters",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["name"] = json!("demo-web-0123456789-0123456789-0123456")
                })),
                "$.load_balancer.name",
            ),
            (
                "spec: ALB in one subnet",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["subnet_ids"] = json!(["subnet-0a1b2c3d4e5f60001"])
                })),
                "$.load_balancer.subnet_ids",
            ),
            (
                "spec: HTTPS listener without certificate",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["listeners"][1]
                        .as_object_mut()
                        .unwrap()
                        .remove("certificate_arn");
                })),
                "certificate_arn: required for HTTPS",
            ),
            (
                "spec: two listeners on port 443",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["listeners"][0]["port"] = json!(443)
                })),
                "port 443 has two listeners",
            ),
            (
                "spec: listener port as a string",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["listeners"][1]["port"] = json!("443")
                })),
                "$.load_balancer.listeners[1].port",
            ),
            (
                "spec: rule priority 0",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["listeners"][1]["rules"][0]["priority"] = json!(0)
                })),
                "rules[0].priority",
            ),
            (
                "spec: desired count outside the scaling bounds",
                Input::Spec(edited(|s| s["services"][0]["desired_count"] = json!(9))),
                "outside the auto-scaling bounds",
            ),
            (
                "spec: service target group no listener forwards to",
                Input::Spec(edited(|s| {
                    s["services"][1]["load_balancer"]["target_group_arn"] = json!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orphan/0000000000000001")
                })),
                "no listener or rule forwards to this target group",
            ),
            (
                "spec: AAAA alias on an ipv4 ALB",
                Input::Spec(edited(|s| {
                    s["load_balancer"]["ip_address_type"] = json!("ipv4")
                })),
                "needs load_balancer.ip_address_type = dualstack",
            ),
            (
                "spec: hosted zone id that is a domain",
                Input::Spec(edited(|s| {
                    s["dns_records"][0]["zone_id"] = json!("example.com")
                })),
                "is not a hosted zone id",
            ),
            (
                "spec: tags overriding ManagedBy",
                Input::Spec(edited(|s| s["tags"]["ManagedBy"] = json!("me"))),
                "$.tags.ManagedBy",
            ),
            (
                "spec: unknown time zone",
                Input::Spec(edited(|s| {
                    s["schedule"]["timezone"] = json!("Mars/Olympus_Mons")
                })),
                "not an IANA time zone",
            ),
            (
                "spec: unknown scaling metric",
                Input::Spec(edited(|s| {
                    s["services"][0]["auto_scaling"]["target_tracking"]["metric"] = json!("CPU")
                })),
                "target_tracking.metric",
            ),
            (
                "spec: several problems at once",
                Input::Spec(edited(|s| {
                    s["version"] = json!(3);
                    s["load_balancer"]["subnet_ids"] = json!([]);
                })),
                "$.load_balancer.subnet_ids",
            ),
            (
                "state: not JSON",
                Input::State(b"{\"version\": 1, \"phase\": ".to_vec()),
                "state document s3://acme-scheduler/demo/state.json is unreadable",
            ),
            (
                "state: unknown phase",
                Input::State(
                    br#"{"version":1,"environment":"demo","phase":"hibernating"}"#.to_vec(),
                ),
                "is unreadable",
            ),
            (
                "config: nothing set",
                Input::Config(vec![]),
                "STATE_BUCKET is not set",
            ),
            (
                "config: invalid bucket name",
                Input::Config(vec![
                    ("STATE_BUCKET", "Acme_Bucket"),
                    ("ENVIRONMENT", "demo"),
                    ("AWS_REGION", "us-east-1"),
                ]),
                "STATE_BUCKET 'Acme_Bucket'",
            ),
            (
                "config: invalid environment",
                Input::Config(vec![
                    ("STATE_BUCKET", BUCKET),
                    ("ENVIRONMENT", "Demo!"),
                    ("AWS_REGION", "us-east-1"),
                ]),
                "ENVIRONMENT 'Demo!'",
            ),
            (
                "config: no region",
                Input::Config(vec![("STATE_BUCKET", BUCKET), ("ENVIRONMENT", "demo")]),
                "AWS_REGION is not set",
            ),
            (
                "config: lease of 5 s",
                Input::Config(vec![
                    ("STATE_BUCKET", BUCKET),
                    ("ENVIRONMENT", "demo"),
                    ("AWS_REGION", "us-east-1"),
                    ("LEASE_SECONDS", "5"),
                ]),
                "LEASE_SECONDS '5'",
            ),
            (
                "config: lease not a number",
                Input::Config(vec![
                    ("STATE_BUCKET", BUCKET),
                    ("ENVIRONMENT", "demo"),
                    ("AWS_REGION", "us-east-1"),
                    ("LEASE_SECONDS", "ten"),
                ]),
                "LEASE_SECONDS 'ten'",
            ),
            (
                "config: endpoint without scheme",
                Input::Config(vec![
                    ("STATE_BUCKET", BUCKET),
                    ("ENVIRONMENT", "demo"),
                    ("AWS_REGION", "us-east-1"),
                    ("AWS_ENDPOINT_URL", "localhost:4566"),
                ]),
                "AWS_ENDPOINT_URL 'localhost:4566'",
            ),
            (
                "config: spec key with a leading slash",
                Input::Config(vec![
                    ("STATE_BUCKET", BUCKET),
                    ("ENVIRONMENT", "demo"),
                    ("AWS_REGION", "us-east-1"),
                    ("SPEC_KEY", "/demo/spec.json"),
                ]),
                "SPEC_KEY '/demo/spec.json'",
            ),
        ];
        let mut v = Vec::new();
        for (name, input, needle) in cases {
            v.push(scenario(
                "bad-input",
                name,
                format!("an error naming the problem (\"{needle}\"); zero mutating requests"),
                move || async move {
                    let env = Env::new(full_spec());
                    let mut p = Problems::default();
                    let result = match input {
                        Input::Config(vars) => {
                            let map: BTreeMap<&str, &str> = vars.into_iter().collect();
                            match Config::from_lookup(|k| map.get(k).map(|v| v.to_string())) {
                                Ok(_) => Err("the configuration was accepted".to_string()),
                                Err(e) => Ok(e.to_string()),
                            }
                        }
                        other => {
                            let payload = match other {
                                Input::Payload(p) => p,
                                Input::Spec(body) => {
                                    env.sim.world().objects.insert(
                                        format!("{ENV}/spec.json"),
                                        (body, "\"bad\"".into()),
                                    );
                                    payload("start")
                                }
                                Input::NoSpec => {
                                    env.sim.world().objects.remove(&format!("{ENV}/spec.json"));
                                    payload("start")
                                }
                                Input::State(body) => {
                                    env.sim.world().objects.insert(
                                        format!("{ENV}/state.json"),
                                        (body, "\"bad\"".into()),
                                    );
                                    payload("start")
                                }
                                Input::Config(_) => unreachable!(),
                            };
                            match env.invoke("bad", payload).await {
                                Ok(r) => Err(format!("accepted: outcome {:?}", r.outcome)),
                                Err(e) => Ok(e.to_string()),
                            }
                        }
                    };
                    match &result {
                        Ok(message) => p.check(message.contains(needle), || {
                            format!("the error does not say \"{needle}\": {message}")
                        }),
                        Err(e) => p.0.push(e.clone()),
                    }
                    p.check(env.sim.mutating_requests(None).is_empty(), || {
                        "mutating requests were sent".into()
                    });
                    let msg = result.unwrap_or_default();
                    let shown = msg
                        .lines()
                        .find(|l| l.contains(needle))
                        .unwrap_or_else(|| msg.lines().next().unwrap_or_default())
                        .trim()
                        .to_string();
                    env.report(p.0, shown)
                },
            ));
        }
        v.push(scenario("bad-input", "payload: for another environment", "skipped with a warning naming it; zero requests of any kind", || async {
            let env = Env::new(full_spec());
            let r = env.invoke("other", json!({"action": "stop", "environment": "prod"})).await;
            let mut p = Problems::default();
            p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Skipped && x.warnings.iter().any(|w| w.contains("'prod'"))), || outcome_of(&r));
            p.check(env.sim.calls().is_empty(), || "requests were sent".into());
            env.report(p.0, r.map(|x| x.warnings.join(" ")).unwrap_or_default())
        }));
        v
    }

    // -----------------------------------------------------------------------------------------
    // Override tags on the ECS cluster.

    /// The warnings and the decision's reason: what the response says about why.
    fn explanations(r: &Response) -> Vec<String> {
        let mut v = r.warnings.clone();
        v.extend(r.decision.as_ref().map(|d| d.reason.clone()));
        v
    }

    fn overrides() -> Vec<Scenario> {
        use runtime_scheduler::ownership::{TAG_OVERRIDE, TAG_OVERRIDE_UNTIL};
        let mut v = Vec::new();
        let malformed: [(&str, &[(&str, &str)], &str); 6] = [
            (
                "override tag with a typo",
                &[(TAG_OVERRIDE, "keep-runing")],
                "'keep-runing'",
            ),
            (
                "override tag in capitals",
                &[(TAG_OVERRIDE, "KEEP-RUNNING")],
                "'KEEP-RUNNING'",
            ),
            ("override tag empty", &[(TAG_OVERRIDE, "")], TAG_OVERRIDE),
            (
                "override-until that is not a timestamp",
                &[
                    (TAG_OVERRIDE, "keep-stopped"),
                    (TAG_OVERRIDE_UNTIL, "tomorrow"),
                ],
                "'tomorrow'",
            ),
            (
                "override-until without a zone",
                &[
                    (TAG_OVERRIDE, "keep-stopped"),
                    (TAG_OVERRIDE_UNTIL, "2026-11-27 08:00"),
                ],
                "'2026-11-27 08:00'",
            ),
            (
                "override-until without override",
                &[(TAG_OVERRIDE_UNTIL, "2026-11-27T08:00:00Z")],
                "is set without",
            ),
        ];
        for (name, tags, needle) in malformed {
            for action in ["start", "stop"] {
                v.push(scenario(
                    "overrides",
                    format!("{name}: manual {action}"),
                    format!("the tier is frozen: skipped, the response names the problem (\"{needle}\"), zero AWS mutations"),
                    move || async move {
                        let env = Env::new(full_spec());
                        let env = if action == "stop" { env.started().await } else { env };
                        {
                            let mut w = env.sim.world();
                            let cluster = w.clusters.get_mut("demo").expect("cluster");
                            for (k, val) in tags {
                                cluster.insert(k.to_string(), val.to_string());
                            }
                        }
                        let r = env.invoke("run", payload(action)).await;
                        let mut p = Problems::default();
                        let warning = r.as_ref().ok().and_then(|x| explanations(x).into_iter().find(|w| w.contains(needle)));
                        p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Skipped), || format!("outcome {}", outcome_of(&r)));
                        p.check(warning.is_some(), || format!("nothing in the response says \"{needle}\": {:?}", r.as_ref().map(explanations).ok()));
                        let m = aws_mutations(&env.sim, "run");
                        p.check(m.is_empty(), || format!("mutating requests: {:?}", m.iter().map(|c| c.operation).collect::<Vec<_>>()));
                        env.report(p.0, warning.unwrap_or_default())
                    },
                ));
            }
        }
        let honoured: [(&str, &str, Option<&str>, Value, bool); 5] = [
            (
                "keep-stopped blocks a manual start",
                "keep-stopped",
                None,
                json!({"action": "start"}),
                false,
            ),
            (
                "keep-stopped yields to a forced manual start",
                "keep-stopped",
                None,
                json!({"action": "start", "force": true}),
                true,
            ),
            (
                "keep-stopped blocks a scheduled start",
                "keep-stopped",
                None,
                json!({"action": "start", "trigger": "schedule"}),
                false,
            ),
            (
                "an expired keep-stopped is ignored",
                "keep-stopped",
                Some("2026-11-26T12:00:00Z"),
                json!({"action": "start"}),
                true,
            ),
            (
                "keep-running starts the tier on reconcile",
                "keep-running",
                Some("2026-11-27T12:00:00Z"),
                json!({"action": "reconcile"}),
                true,
            ),
        ];
        for (name, mode, until, request, acts) in honoured {
            v.push(scenario(
                "overrides",
                name,
                if acts {
                    "the tier starts and converges"
                } else {
                    "skipped, the response names the override, zero AWS mutations"
                },
                move || async move {
                    let env = Env::new(full_spec());
                    {
                        let mut w = env.sim.world();
                        let cluster = w.clusters.get_mut("demo").expect("cluster");
                        cluster.insert(TAG_OVERRIDE.into(), mode.into());
                        if let Some(u) = until {
                            cluster.insert(TAG_OVERRIDE_UNTIL.into(), u.into());
                        }
                    }
                    let r = env.invoke("run", request).await;
                    let mut p = Problems::default();
                    if acts {
                        p.check(applied(&r), || format!("outcome {}", outcome_of(&r)));
                        env.settle().await;
                        p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                    } else {
                        p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Skipped), || {
                            format!("outcome {}", outcome_of(&r))
                        });
                        p.check(
                            r.as_ref().is_ok_and(|x| {
                                explanations(x).iter().any(|w| w.contains("override"))
                            }),
                            || "nothing in the response names the override".into(),
                        );
                        p.check(aws_mutations(&env.sim, "run").is_empty(), || {
                            "mutating AWS requests".into()
                        });
                    }
                    env.report(
                        p.0,
                        r.map(|x| explanations(&x).join(" ")).unwrap_or_default(),
                    )
                },
            ));
        }
        v.push(scenario(
            "overrides",
            "the override action tags the cluster, a scheduled start respects it, clear removes it",
            "override: only TagResource/UntagResource on the cluster; the scheduled start is skipped while it holds and applies after clear",
            || async {
                let env = Env::new(full_spec());
                let mut p = Problems::default();
                let r = env.invoke("set", json!({"action": "override", "mode": "keep-stopped", "until": "2026-11-27T12:00:00Z", "reason": "audit"})).await;
                p.check(r.is_ok(), || format!("override: {}", outcome_of(&r)));
                let ops: BTreeSet<&str> = aws_mutations(&env.sim, "set").iter().map(|c| c.operation).collect();
                p.check(ops.iter().all(|o| *o == "TagResource"), || format!("override sent {ops:?}"));
                let tags = env.sim.world().clusters.get("demo").cloned().unwrap_or_default();
                p.check(tags.get(TAG_OVERRIDE).map(String::as_str) == Some("keep-stopped"), || format!("cluster tags {tags:?}"));
                let r = env.invoke("scheduled", json!({"action": "start", "trigger": "schedule"})).await;
                p.check(matches!(&r, Ok(x) if x.outcome == Outcome::Skipped), || format!("scheduled start under keep-stopped: {}", outcome_of(&r)));
                p.check(aws_mutations(&env.sim, "scheduled").is_empty(), || "the skipped start mutated".into());
                let r = env.invoke("clear", json!({"action": "override", "mode": "clear"})).await;
                p.check(r.is_ok(), || format!("clear: {}", outcome_of(&r)));
                let tags = env.sim.world().clusters.get("demo").cloned().unwrap_or_default();
                p.check(!tags.contains_key(TAG_OVERRIDE) && !tags.contains_key(TAG_OVERRIDE_UNTIL), || format!("after clear {tags:?}"));
                let r = env.invoke("again", json!({"action": "start", "trigger": "schedule"})).await;
                p.check(applied(&r), || format!("scheduled start after clear: {}", outcome_of(&r)));
                env.settle().await;
                p.extend("world", env.running_problems(&spec_counts(&env.spec)));
                env.report(p.0, String::new())
            },
        ));
        v
    }

    // -----------------------------------------------------------------------------------------
    // The document.

    const GROUPS: [(&str, &str); 11] = [
        ("baseline", "Clean runs, for comparison: what converged looks like, and the numbers of a run without faults."),
        ("performance", "AWS requests and wall time with AWS-like delays (NAT gateway 90 s, ALB 150 s, tasks 45 s, Route53 30 s, 40 ms per request), against the critical path no scheduler can beat: the ALB's provisioning, then the tasks' start, plus the 16 round trips that must follow one another. The first start of all polls from the spec's expected durations; later starts poll where the previous run found AWS (the last poll that saw the resource not ready yet, kept in the state document)."),
        ("crash", "The invocation dies right after its k-th mutating request (S3 writes included), for every k of a clean run: its future is dropped, so no final state write happens and the lease stays. The next invocation must answer busy while the lease lives, then take over and converge. `start, then stop` crashes a start and sends a stop after it."),
        ("transient", "Four consecutive transient faults on one operation (more than the SDK's three attempts, so the executor's own retry runs too), for each of throttling, HTTP 500, HTTP 503 and a timeout; then a seeded chaos run. Numbers are summed over the four fault kinds."),
        ("lost-response", "The request is applied but its response is lost (a timeout after AWS acted); the SDK sends it again. Only idempotent requests survive this."),
        ("permanent", "The operation is denied (access denied), then in a fresh account refused as invalid; the run must stop at that step and say so, and resume once the cause is gone. Numbers are summed over both."),
        ("concurrency", "Simultaneous invocations against one state document, each with its own client, so every request is attributed."),
        ("deadline", "The Lambda deadline comes before the work is done."),
        ("decoys", "Resources that look like ours but are not (on top of the standard decoys present in every scenario: a foreign NAT gateway and Elastic IP tagged `runtime-scheduler:nat=a`, another environment's Elastic IP, an ALB `demo-web-legacy`, a route table through the foreign NAT, three foreign records and a service `demo-legacy`). Each must be unchanged and never named by a mutating request."),
        ("bad-input", "Malformed payloads, specs, state documents and configurations: each must get an error that names the problem, before any mutating request."),
        ("overrides", "Tier-wide override tags on the ECS cluster."),
    ];

    pub fn document(rows: &[Row]) -> String {
        let passed = rows.iter().filter(|r| r.report.problems.is_empty()).count();
        let mut out = String::new();
        out.push_str("# Reliability: scenarios and results\n\n");
        out.push_str("Generated by `cargo test --test suite reliability::` (the scenarios in `tests/suite/reliability.rs`, run on the AWS simulator in `tests/suite/sim/`). Do not edit by hand: the next run overwrites it.\n\n");
        out.push_str("The simulator implements the scheduler's adapter traits the way real AWS answers (NAT gateways pending then available, deleting then deleted; Elastic IPs that cannot be released while a gateway holds them; blackholed routes; ALBs provisioning before listeners are accepted; Route53 refusing a DELETE that does not match; ECS refusing a target group without a load balancer, and tasks that start only with a working NAT route; S3 conditional writes) on tokio's virtual clock, with the SDK's three-attempt retry below the adapters. Every scenario also checks the standard decoys and, where it ends converged, the world itself (never the response): no leaked or duplicated NAT gateway, Elastic IP, ALB, listener, route, record or service; owned resources tagged; the state document's phase, ids and lease consistent with what exists.\n\n");
        out.push_str(&format!(
            "**{} scenarios, {passed} passed, {} failed.**\n\n",
            rows.len(),
            rows.len() - passed
        ));
        out.push_str("Columns: *Requests* is every AWS request the scenario made (S3 included, every SDK attempt counted), *Mutations* those that changed something, *Retries* requests repeating a failed one, *Virtual s* the simulated time the scenario covered.\n");
        for (group, about) in GROUPS {
            let in_group: Vec<&Row> = rows.iter().filter(|r| r.group == group).collect();
            if in_group.is_empty() {
                continue;
            }
            out.push_str(&format!("\n## {group}\n\n{about}\n\n"));
            out.push_str("| Scenario | Expectation | Result | Requests | Mutations | Retries | Virtual s | Notes |\n|---|---|---|---:|---:|---:|---:|---|\n");
            let mut last_expect = String::new();
            for r in in_group {
                let expect = if r.expect == last_expect {
                    "″".to_string()
                } else {
                    r.expect.clone()
                };
                last_expect = r.expect.clone();
                let result = if r.report.problems.is_empty() {
                    "pass".to_string()
                } else {
                    format!(
                        "**FAIL**: {}",
                        r.report
                            .problems
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {:.0} | {} |\n",
                    cell(&r.name),
                    cell(&expect),
                    cell(&result),
                    r.report.calls,
                    r.report.mutations,
                    r.report.retries,
                    r.report.virtual_secs,
                    cell(&r.report.numbers)
                ));
            }
        }
        out
    }

    fn cell(s: &str) -> String {
        let s = s.replace('|', "\\|").replace('\n', " ");
        if s.chars().count() > 400 {
            format!("{}…", s.chars().take(400).collect::<String>())
        } else {
            s
        }
    }
}
