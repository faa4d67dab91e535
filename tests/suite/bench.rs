//! Benchmarks against moto over the wire (not timed tests: nothing here asserts a duration).
//! `make bench` runs them and writes docs/performance.md's measured table.
//!
//! Measured: wall time of start, stop, a no-op reconcile and status through the real SDK clients
//! and the handler, and how many AWS calls each makes (moto's recorder), which is what a
//! reconcile every 15 minutes costs.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runtime_scheduler::aws::Clients;
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, Invocation, Outcome};
use serde_json::json;
use support::fixture::demo_environment;
use support::Moto;

const ROUNDS: usize = 10;

struct Row {
    what: &'static str,
    samples: Vec<Duration>,
    calls: usize,
    mutating: usize,
}

impl Row {
    fn line(&self) -> String {
        let mut s = self.samples.clone();
        s.sort();
        let median = s[s.len() / 2];
        let p90 = s[(s.len() * 9 / 10).min(s.len() - 1)];
        format!(
            "| {} | {} | {:.0} ms | {:.0} ms | {} | {} |",
            self.what,
            s.len(),
            median.as_secs_f64() * 1000.0,
            p90.as_secs_f64() * 1000.0,
            self.calls,
            self.mutating
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with `make bench`"]
async fn bench_invocations_against_moto() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, "demo").await;
    let vars = BTreeMap::from([
        ("STATE_BUCKET", env.bucket.clone()),
        ("ENVIRONMENT", "demo".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let mut h = Handler::new(
        config,
        Clients::from_sdk_config(&sdk, &env.bucket, true, Default::default()),
    );
    h.tune = |o| o.fast_poll = Duration::from_millis(50);
    let mut n = 0;
    let mut run = |payload: serde_json::Value| {
        n += 1;
        let id = format!("bench-{n}");
        let h = &h;
        async move {
            let t = Instant::now();
            let r = h
                .handle(
                    payload.to_string().as_bytes(),
                    Invocation {
                        id,
                        now: chrono::Utc::now(),
                        deadline: None,
                    },
                )
                .await
                .unwrap();
            (t.elapsed(), r.outcome)
        }
    };
    let mut rows = Vec::new();
    for (what, payload, expected) in [
        (
            "start (stopped → running)",
            json!({"action": "start"}),
            Outcome::Applied,
        ),
        (
            "stop (running → stopped)",
            json!({"action": "stop"}),
            Outcome::Applied,
        ),
    ] {
        let mut row = Row {
            what,
            samples: vec![],
            calls: 0,
            mutating: 0,
        };
        for i in 0..ROUNDS {
            if what.starts_with("stop") {
                run(json!({"action": "start"})).await;
            } else if i > 0 {
                run(json!({"action": "stop"})).await;
            }
            moto.start_recording();
            let (took, outcome) = run(payload.clone()).await;
            moto.stop_recording();
            assert_eq!(outcome, expected);
            row.samples.push(took);
            row.calls = moto.recorded_calls().len();
            row.mutating = moto.mutating_calls().len();
        }
        if what.starts_with("stop") {
            run(json!({"action": "start"})).await;
        }
        rows.push(row);
    }
    for (what, payload, expected) in [
        (
            "repeated scheduled start (no-op)",
            json!({"action": "start", "trigger": "schedule"}),
            Outcome::NoOp,
        ),
        ("status", json!({"action": "status"}), Outcome::Reported),
        (
            "dry-run stop",
            json!({"action": "stop", "dry_run": true}),
            Outcome::DryRun,
        ),
    ] {
        let mut row = Row {
            what,
            samples: vec![],
            calls: 0,
            mutating: 0,
        };
        for _ in 0..ROUNDS * 2 {
            moto.start_recording();
            let (took, outcome) = run(payload.clone()).await;
            moto.stop_recording();
            assert_eq!(outcome, expected, "{what}");
            row.samples.push(took);
            row.calls = moto.recorded_calls().len();
            row.mutating = moto.mutating_calls().len();
        }
        rows.push(row);
    }
    let table = std::iter::once(
        "| invocation (moto, debug build) | runs | median | p90 | AWS calls | mutating |"
            .to_string(),
    )
    .chain(std::iter::once("|---|---|---|---|---|---|".to_string()))
    .chain(rows.iter().map(Row::line))
    .collect::<Vec<_>>()
    .join("\n");
    println!("{table}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(path, table + "\n").unwrap();
    }
}
