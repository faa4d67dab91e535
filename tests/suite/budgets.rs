//! AWS call budgets on moto for the demo environment (one NAT gateway, an ALB with two listeners
//! and a rule, one alias record, two services, one of them auto-scaled), counted by moto's
//! recorder: a regression in the number of calls fails `make test`. The budgets with AWS-like
//! delays (where waits cost polls) are asserted on the simulator, in the reliability suite.
//!
//! The handler runs with production knobs (one-second fast polls); the fixture's spec expects
//! every wait to be over at once, as moto makes it.

use crate::support;

use runtime_scheduler::aws::Clients;
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, Invocation, Outcome, Response};
use serde_json::{json, Value};
use support::fixture::demo_environment;
use support::Moto;

const ENV: &str = "demo";

/// The budgets, in AWS calls (S3 included), from the lean-core issue.
const START_FROM_STOPPED: usize = 32;
const STOP_FROM_RUNNING: usize = 24;
const QUIET: usize = 8;

async fn invoke(h: &Handler, payload: Value) -> Response {
    h.handle(
        payload.to_string().as_bytes(),
        Invocation {
            id: format!("budget-{}", rand::random::<u32>()),
            now: chrono::Utc::now(),
            deadline: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{payload}: {e}"))
}

/// Runs `payload` with the recorder on; returns the response and the calls made.
async fn measured(moto: &Moto, h: &Handler, payload: Value) -> (Response, Vec<String>) {
    moto.start_recording();
    let r = invoke(h, payload).await;
    moto.stop_recording();
    let calls = moto.recorded_calls().iter().map(|c| c.action()).collect();
    (r, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_stays_within_its_call_budget() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let config = Config::from_lookup(|k| match k {
        "STATE_BUCKET" => Some(env.bucket.clone()),
        "ENVIRONMENT" => Some(ENV.into()),
        "AWS_REGION" => Some("us-east-1".into()),
        _ => None,
    })
    .unwrap();
    let h = Handler::new(
        config,
        Clients::from_sdk_config(&sdk, &env.bucket, true, Default::default()),
    );

    // The first start of all creates the services; then a stop makes the tier "stopped".
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    assert_eq!(
        invoke(&h, json!({"action": "stop"})).await.outcome,
        Outcome::Applied
    );

    let mut report = Vec::new();
    let mut check =
        |what: &str, r: &Response, calls: &[String], budget: usize, outcome: Outcome| {
            report.push(format!("{what}: {} calls (budget {budget})", calls.len()));
            assert_eq!(r.outcome, outcome, "{what}: {r:#?}");
            assert!(
                calls.len() <= budget,
                "{what} made {} AWS calls, over its budget of {budget}: {calls:#?}",
                calls.len()
            );
        };

    let (r, calls) = measured(&moto, &h, json!({"action": "start"})).await;
    check(
        "start from stopped",
        &r,
        &calls,
        START_FROM_STOPPED,
        Outcome::Applied,
    );
    let (r, calls) = measured(&moto, &h, json!({"action": "start", "trigger": "schedule"})).await;
    check("repeated scheduled start", &r, &calls, QUIET, Outcome::NoOp);
    assert!(
        calls.iter().all(|c| !c.ends_with(":PutObject")),
        "a scheduled repeat writes nothing: {calls:?}"
    );
    let (r, calls) = measured(&moto, &h, json!({"action": "status"})).await;
    check("status", &r, &calls, QUIET, Outcome::Reported);
    let (r, calls) = measured(&moto, &h, json!({"action": "stop"})).await;
    check(
        "stop from running",
        &r,
        &calls,
        STOP_FROM_RUNNING,
        Outcome::Applied,
    );
    let (r, calls) = measured(&moto, &h, json!({"action": "stop", "trigger": "schedule"})).await;
    check("repeated scheduled stop", &r, &calls, QUIET, Outcome::NoOp);

    // A reconcile that finds the tier as the schedule wants it: bring it there first.
    let first = invoke(&h, json!({"action": "reconcile", "trigger": "schedule"})).await;
    assert!(
        matches!(first.outcome, Outcome::Applied | Outcome::NoOp),
        "{first:#?}"
    );
    let (r, calls) = measured(
        &moto,
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
    )
    .await;
    check("quiet reconcile", &r, &calls, QUIET, Outcome::NoOp);
    assert!(
        calls.iter().all(|c| !c.ends_with(":PutObject")),
        "a quiet reconcile writes nothing: {calls:?}"
    );
    println!("{}", report.join("\n"));
}
