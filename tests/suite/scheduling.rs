//! Schedules, overrides, holds and exclusions against moto over the wire, with the current time
//! injected. Outcomes are verified by describing the resources.
//!
//! The demo spec's window is 08:00 to 20:00 America/New_York on weekdays (EST = UTC-5 here).

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use runtime_scheduler::aws::Clients;
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, Invocation, Outcome, Response};
use serde_json::{json, Value};
use support::fixture::{demo_environment, DemoEnv};
use support::Moto;

const ENV: &str = "demo";
/// Tuesday 2026-12-01 10:00 EST: inside the window.
const TUESDAY_MORNING: &str = "2026-12-01T15:00:00Z";
/// Tuesday 2026-12-01 22:00 EST: outside.
const TUESDAY_NIGHT: &str = "2026-12-02T03:00:00Z";
/// Saturday 2026-12-05 12:00 EST.
const SATURDAY: &str = "2026-12-05T17:00:00Z";
/// Monday 2026-12-07 08:30 EST.
const MONDAY_MORNING: &str = "2026-12-07T13:30:00Z";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn setup() -> (Moto, SdkConfig, DemoEnv, Handler) {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let vars = BTreeMap::from([
        ("STATE_BUCKET", env.bucket.clone()),
        ("ENVIRONMENT", ENV.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let mut handler = Handler::new(
        config,
        Clients::from_sdk_config(&sdk, &env.bucket, true, Default::default()),
    );
    handler.tune = |o| {
        o.fast_poll = Duration::from_millis(100);
        o.base_backoff = Duration::from_millis(10);
    };
    (moto, sdk, env, handler)
}

async fn invoke_at(handler: &Handler, payload: Value, now: &str) -> Response {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = format!(
        "sched-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    handler
        .handle(
            payload.to_string().as_bytes(),
            Invocation {
                id,
                now: at(now),
                deadline: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("invocation failed: {e}"))
}

/// (live owned NAT gateways, ALB exists, desired count per service).
async fn tier(sdk: &SdkConfig, env: &DemoEnv) -> (usize, bool, BTreeMap<String, i32>) {
    let nats = aws_sdk_ec2::Client::new(sdk)
        .describe_nat_gateways()
        .send()
        .await
        .unwrap();
    let live = nats
        .nat_gateways()
        .iter()
        .filter(|n| {
            n.tags()
                .iter()
                .any(|t| t.key() == Some("ManagedBy") && t.value() == Some("runtime-scheduler"))
        })
        .filter(|n| matches!(n.state().map(|s| s.as_str()), Some("pending" | "available")))
        .count();
    let lb = aws_sdk_elasticloadbalancingv2::Client::new(sdk)
        .describe_load_balancers()
        .names(&env.spec.load_balancer.as_ref().unwrap().name)
        .send()
        .await
        .is_ok_and(|o| !o.load_balancers().is_empty());
    let services = aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(&env.cluster)
        .services("backend")
        .services("frontend")
        .send()
        .await
        .unwrap();
    let desired = services
        .services()
        .iter()
        .map(|s| (s.service_name().unwrap().to_string(), s.desired_count()))
        .collect();
    (live, lb, desired)
}

async fn cluster_tags(sdk: &SdkConfig, env: &DemoEnv) -> BTreeMap<String, String> {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let arn = ecs
        .describe_clusters()
        .clusters(&env.cluster)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .cluster_arn()
        .unwrap()
        .to_string();
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    tags.tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_catches_up_a_missed_stop_and_the_next_start() {
    let (moto, sdk, env, h) = setup().await;
    let r = invoke_at(
        &h,
        json!({"action": "start", "trigger": "schedule"}),
        TUESDAY_MORNING,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied);
    assert_eq!(tier(&sdk, &env).await.0, 1);

    // The Friday stop never arrived; Saturday's reconcile puts the tier to sleep.
    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
        SATURDAY,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert_eq!(r.decision.as_ref().unwrap().reason, "outside the window");
    let (nats, lb, desired) = tier(&sdk, &env).await;
    assert_eq!((nats, lb), (0, false));
    assert!(desired.values().all(|d| *d == 0));

    moto.start_recording();
    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
        SATURDAY,
    )
    .await;
    moto.stop_recording();
    assert_eq!(
        r.outcome,
        Outcome::NoOp,
        "a second reconcile has nothing to do"
    );
    assert_eq!(
        moto.mutating_calls(),
        vec![],
        "a quiet reconcile makes no mutating call at all"
    );
    let reads = moto.recorded_calls().len();
    assert!(
        reads <= 20,
        "a quiet reconcile costs a few reads, not {reads}"
    );

    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
        MONDAY_MORNING,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied);
    let (nats, lb, desired) = tier(&sdk, &env).await;
    assert_eq!((nats, lb), (1, true));
    assert!(desired.values().all(|d| *d == 1), "{desired:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_keeps_the_tier_up_until_it_expires() {
    let (_moto, sdk, env, h) = setup().await;
    invoke_at(&h, json!({"action": "start"}), TUESDAY_MORNING).await;

    let r = invoke_at(
        &h,
        json!({"action": "override", "mode": "keep-running", "until": "2026-12-01T23:00:00-05:00", "reason": "release testing"}),
        TUESDAY_MORNING,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let tags = cluster_tags(&sdk, &env).await;
    assert_eq!(
        tags.get("runtime-scheduler:override").map(String::as_str),
        Some("keep-running")
    );
    assert_eq!(
        tags.get("runtime-scheduler:override-until")
            .map(String::as_str),
        Some("2026-12-02T04:00:00+00:00")
    );

    // The scheduled stop at 20:00 is skipped because of the override.
    let r = invoke_at(
        &h,
        json!({"action": "stop", "trigger": "schedule"}),
        "2026-12-02T01:00:00Z",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Skipped, "{r:#?}");
    assert!(r
        .decision
        .as_ref()
        .unwrap()
        .reason
        .contains("override keep-running"));
    assert_eq!(tier(&sdk, &env).await.0, 1, "still running");

    // Past 23:00 the override has expired: the next reconcile stops the tier and says why.
    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
        "2026-12-02T04:15:00Z",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("expired")),
        "{:?}",
        r.warnings
    );
    assert_eq!(tier(&sdk, &env).await.0, 0);

    let r = invoke_at(
        &h,
        json!({"action": "override", "mode": "clear"}),
        "2026-12-02T04:20:00Z",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied);
    let tags = cluster_tags(&sdk, &env).await;
    assert!(
        !tags.contains_key("runtime-scheduler:override")
            && !tags.contains_key("runtime-scheduler:override-until"),
        "{tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_start_at_night_is_held_then_put_back_to_sleep() {
    let (_moto, sdk, env, h) = setup().await;
    let r = invoke_at(
        &h,
        json!({"action": "start", "reason": "hotfix", "hold_for": "1h"}),
        TUESDAY_NIGHT,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied);
    assert_eq!(
        r.hold.as_ref().map(|h| h.until),
        Some(at("2026-12-02T04:00:00Z"))
    );

    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
        "2026-12-02T03:45:00Z",
    )
    .await;
    assert_eq!(r.outcome, Outcome::NoOp, "the hold keeps it up: {r:#?}");
    assert_eq!(tier(&sdk, &env).await.0, 1);

    let status = invoke_at(&h, json!({"action": "status"}), "2026-12-02T03:50:00Z").await;
    assert!(status.hold.is_some());
    // The hold puts the tier to sleep before the window opens: that is the next transition,
    // in the schedule's zone, to the second.
    let next = status.next_transition.as_ref().unwrap();
    assert_eq!(next.at_local, "2026-12-01T23:00:00-05:00");
    assert_eq!(next.desired, runtime_scheduler::schedule::Desired::Stopped);

    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "trigger": "schedule"}),
        "2026-12-02T04:05:00Z",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert_eq!(tier(&sdk, &env).await.0, 0, "back to sleep after the hold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_service_keeps_running_with_what_it_needs() {
    let (_moto, sdk, env, h) = setup().await;
    invoke_at(&h, json!({"action": "start"}), TUESDAY_MORNING).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let arn = ecs
        .describe_services()
        .cluster(&env.cluster)
        .services("backend")
        .send()
        .await
        .unwrap()
        .services()[0]
        .service_arn()
        .unwrap()
        .to_string();
    ecs.tag_resource()
        .resource_arn(arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("runtime-scheduler:exclude")
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let r = invoke_at(
        &h,
        json!({"action": "stop", "trigger": "schedule"}),
        "2026-12-02T01:00:00Z",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert!(r.kept.iter().any(|k| k.contains("nat/a")), "{:?}", r.kept);
    let (nats, lb, desired) = tier(&sdk, &env).await;
    assert_eq!(
        (nats, lb),
        (1, true),
        "the NAT and the ALB stay for the backend"
    );
    assert_eq!(
        desired["backend"], 1,
        "the excluded service keeps its tasks"
    );
    assert_eq!(desired["frontend"], 0, "the other service is stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_override_skips_the_stop_and_names_the_tag() {
    let (moto, sdk, env, h) = setup().await;
    invoke_at(&h, json!({"action": "start"}), TUESDAY_MORNING).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let arn = ecs
        .describe_clusters()
        .clusters(&env.cluster)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .cluster_arn()
        .unwrap()
        .to_string();
    ecs.tag_resource()
        .resource_arn(arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("runtime-scheduler:override")
                .value("keep-runing")
                .build(),
        )
        .send()
        .await
        .unwrap();

    moto.start_recording();
    let r = invoke_at(
        &h,
        json!({"action": "stop", "trigger": "schedule"}),
        "2026-12-02T01:00:00Z",
    )
    .await;
    moto.stop_recording();
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(
        r.decision.as_ref().unwrap().reason.contains("keep-runing"),
        "{:?}",
        r.decision
    );
    let mutating: Vec<String> = moto.mutating_calls().iter().map(|c| c.action()).collect();
    assert_eq!(
        mutating,
        vec!["s3:PutObject".to_string()],
        "only the history record"
    );
    assert_eq!(tier(&sdk, &env).await.0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_at_an_instant_answers_what_would_be_decided_then() {
    let (moto, _sdk, _env, h) = setup().await;
    moto.start_recording();
    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "dry_run": true, "at": "2026-12-07T08:30:00-05:00"}),
        SATURDAY,
    )
    .await;
    assert_eq!(r.outcome, Outcome::DryRun);
    assert_eq!(
        r.decision.as_ref().unwrap().desired,
        Some(runtime_scheduler::schedule::Desired::Running)
    );
    assert!(r.steps.iter().any(|s| s.action == "create-nat-gateway"));
    let r = invoke_at(
        &h,
        json!({"action": "reconcile", "dry_run": true, "at": "2026-12-05T12:00:00-05:00"}),
        SATURDAY,
    )
    .await;
    assert_eq!(
        r.decision.as_ref().unwrap().desired,
        Some(runtime_scheduler::schedule::Desired::Stopped)
    );
    assert!(r.steps.is_empty());
    assert_eq!(moto.mutating_calls(), vec![]);
}
