//! Wake on request and idle stop, on moto with the real SDK clients: stop moves the alias
//! records to the wake front and start moves them back (described with Route53, not taken from
//! the scheduler's report), the idle alarm's events stop a quiet tier and nothing else, and a
//! wake's hold is bounded.

use crate::lifecycle::{
    assert_running, describe, handler, invoke, put_json, state_json, try_invoke, ENV,
};
use crate::support;

use aws_config::SdkConfig;
use runtime_scheduler::handler::{HandlerError, Outcome};
use serde_json::{json, Value};
use support::fixture::{decoys, demo_environment, DemoEnv};
use support::{s3_client, Moto};

/// The regional domain API Gateway gives a custom domain, and its zone (us-east-1).
const FRONT_DOMAIN: &str = "d-abcde12345.execute-api.us-east-1.amazonaws.com";
const FRONT_ZONE: &str = "Z1UJRXOUMOOFQ8";
const IDLE_ALARM: &str = "acme-shop-demo-idle";

/// The demo environment with `wake` in its spec (and `extra` merged into it), a window open
/// every day from 00:00 to 23:59 UTC so idle stop has a window to hold asleep.
async fn with_wake(sdk: &SdkConfig, extra: Value) -> DemoEnv {
    let mut env = demo_environment(sdk, ENV).await;
    let mut spec = serde_json::to_value(&env.spec).unwrap();
    let mut wake = json!({
        "title": "Acme shop <demo>",
        "front": env.spec.dns_records.iter().map(|r| json!({
            "name": r.name, "dns_name": FRONT_DOMAIN, "hosted_zone_id": FRONT_ZONE,
        })).collect::<Vec<_>>(),
        "default_hours": 2,
        "max_hours": 8,
    });
    for (k, v) in extra.as_object().unwrap() {
        wake[k] = v.clone();
    }
    spec["wake"] = wake;
    spec["schedule"] = json!({
        "timezone": "UTC", "start": "00:00", "stop": "23:59",
        "days": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"],
    });
    put_json(&s3_client(sdk), &env.bucket, &env.spec_key, &spec).await;
    env.spec = serde_json::from_value(spec).unwrap();
    env
}

/// The A record at the app name: (alias DNS name, evaluate target health).
async fn alias_of(sdk: &SdkConfig, env: &DemoEnv) -> Option<(String, bool)> {
    let name = format!("{}.", env.spec.dns_records[0].name.trim_end_matches('.'));
    let sets = aws_sdk_route53::Client::new(sdk)
        .list_resource_record_sets()
        .hosted_zone_id(&env.zone_id)
        .send()
        .await
        .unwrap();
    sets.resource_record_sets()
        .iter()
        .find(|r| r.name() == name && r.r#type().as_str() == "A")
        .and_then(|r| r.alias_target())
        .map(|a| {
            (
                a.dns_name().trim_end_matches('.').to_lowercase(),
                a.evaluate_target_health(),
            )
        })
}

/// The idle alarm's state change, as EventBridge delivers it.
fn alarm_event(value: &str, time: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{IDLE_ALARM}")],
        "detail": {
            "alarmName": IDLE_ALARM,
            "state": {"value": value, "reason": "Threshold Crossed", "timestamp": time.to_rfc3339()},
            "previousState": {"value": if value == "OK" { "ALARM" } else { "OK" }},
            "configuration": {"description": "no request for 30 minutes"},
        }
    })
}

/// Makes the running tier look as if it started `minutes` ago (the local AWS has no clock to
/// fast-forward; the state document's `since` is what idle stop measures from).
async fn started_minutes_ago(sdk: &SdkConfig, env: &DemoEnv, minutes: i64) {
    let mut state = state_json(sdk, env).await;
    state["since"] = json!((chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339());
    put_json(
        &s3_client(sdk),
        &env.bucket,
        &format!("{ENV}/state.json"),
        &state,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_points_the_names_at_the_front_and_start_points_them_back() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = with_wake(&sdk, json!({})).await;
    let decoys = decoys(&sdk, &env).await;
    let h = handler(&sdk, &env, &moto);

    // A first stop of a tier the scheduler never started claims the free name for the front.
    let first = invoke(&h, json!({"action": "stop"})).await;
    assert_eq!(first.outcome, Outcome::Applied, "{first:#?}");
    assert_eq!(
        alias_of(&sdk, &env).await,
        Some((FRONT_DOMAIN.to_string(), false))
    );

    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    let running = describe(&sdk, &env).await;
    assert_running(&running);
    let (first_arn, first_alb) = running.load_balancer.clone().unwrap();
    let first_alb = first_alb.to_lowercase();
    let (alias, evaluate) = alias_of(&sdk, &env).await.expect("an alias");
    assert!(
        alias.ends_with(&first_alb),
        "{alias} is the ALB {first_alb}"
    );
    assert!(evaluate, "the ALB alias evaluates target health");

    assert_eq!(
        invoke(&h, json!({"action": "stop"})).await.outcome,
        Outcome::Applied
    );
    let asleep = describe(&sdk, &env).await;
    assert!(
        asleep.live_nats.is_empty() && asleep.load_balancer.is_none(),
        "{asleep:#?}"
    );
    assert_eq!(
        alias_of(&sdk, &env).await,
        Some((FRONT_DOMAIN.to_string(), false)),
        "asleep, the name answers from the front"
    );
    let state = state_json(&sdk, &env).await;
    assert!(
        state["next_start"].is_string(),
        "the page can say when it wakes: {state}"
    );
    assert_eq!(state["timezone"], "UTC");

    // A scheduled repeat of the stop confirms from a few reads: the front is where it should be.
    moto.start_recording();
    let again = invoke(&h, json!({"action": "stop", "trigger": "schedule"})).await;
    moto.stop_recording();
    assert_eq!(again.outcome, Outcome::NoOp, "{again:#?}");
    assert!(
        moto.mutating_calls().is_empty(),
        "{:?}",
        moto.mutating_calls()
    );

    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    let again = describe(&sdk, &env).await;
    let (new_arn, new_alb) = again.load_balancer.clone().unwrap();
    let new_alb = new_alb.to_lowercase();
    assert_ne!(new_arn, first_arn, "a new ALB");
    let (alias, _) = alias_of(&sdk, &env).await.unwrap();
    assert!(
        alias.ends_with(&new_alb),
        "the alias follows the new ALB: {alias}"
    );
    decoys.assert_intact(&sdk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_starts_with_a_bounded_hold_that_idle_may_end() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = with_wake(
        &sdk,
        json!({"idle_minutes": 30, "idle_alarm_name": IDLE_ALARM}),
    )
    .await;
    let h = handler(&sdk, &env, &moto);
    // A scheduled stop leaves no hold (a person's stop would hold visitors off, see front.rs).
    invoke(&h, json!({"action": "stop", "trigger": "schedule"})).await;

    moto.start_recording();
    let too_long = try_invoke(
        &h,
        json!({"action": "start", "trigger": "wake", "hold_for": "9h", "reason": "woken from demo by 203.0.113.9"}),
    )
    .await;
    moto.stop_recording();
    assert!(
        matches!(&too_long, Err(HandlerError::Refused(m)) if m.contains("max_hours (8h)")),
        "{too_long:?}"
    );
    assert!(
        moto.mutating_calls().is_empty(),
        "a refused wake changes nothing"
    );

    let woken = invoke(
        &h,
        json!({"action": "start", "trigger": "wake", "hold_for": "3h", "reason": "woken from demo by 203.0.113.9"}),
    )
    .await;
    assert_eq!(woken.outcome, Outcome::Applied, "{woken:#?}");
    assert_running(&describe(&sdk, &env).await);
    let state = state_json(&sdk, &env).await;
    assert_eq!(state["hold"]["kind"], "wake");
    assert_eq!(state["hold"]["desired"], "running");
    assert_eq!(state["start_seconds"].as_array().map(Vec::len), Some(1));
    assert!(
        state.get("progress").is_none(),
        "progress is cleared once running: {state}"
    );
    assert_eq!(state["last_transition"]["trigger"], "wake");

    // Quiet for 31 minutes: the idle alarm ends the wake early.
    started_minutes_ago(&sdk, &env, 31).await;
    let idle = invoke(&h, alarm_event("ALARM", chrono::Utc::now())).await;
    assert_eq!(idle.outcome, Outcome::Applied, "{idle:#?}");
    let state = state_json(&sdk, &env).await;
    assert_eq!(state["phase"], "stopped");
    assert_eq!(
        state["hold"]["kind"], "idle",
        "asleep until the window closes: {state}"
    );
    assert!(describe(&sdk, &env).await.load_balancer.is_none());
    assert_eq!(
        alias_of(&sdk, &env).await.map(|a| a.0),
        Some(FRONT_DOMAIN.to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_alarm_events_stop_a_quiet_tier_and_nothing_else() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = with_wake(
        &sdk,
        json!({"idle_minutes": 30, "idle_alarm_name": IDLE_ALARM}),
    )
    .await;
    let decoys = decoys(&sdk, &env).await;
    let h = handler(&sdk, &env, &moto);
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );

    // Another alarm's events are refused, with nothing changed.
    let mut other = alarm_event("ALARM", chrono::Utc::now());
    other["detail"]["alarmName"] = json!("someone-elses-alarm");
    moto.start_recording();
    let refused = try_invoke(&h, other).await;
    moto.stop_recording();
    assert!(
        matches!(&refused, Err(HandlerError::Refused(m)) if m.contains("not this environment's idle alarm")),
        "{refused:?}"
    );
    assert!(moto.mutating_calls().is_empty());

    // Idle right after a start: quiet only since the start, so nothing yet.
    let early = invoke(&h, alarm_event("ALARM", chrono::Utc::now())).await;
    assert_eq!(early.outcome, Outcome::Skipped, "{early:#?}");
    assert!(early.decision.unwrap().reason.contains("quiet only since"));
    assert_running(&describe(&sdk, &env).await);
    let activity: Value = {
        let body = s3_client(&sdk)
            .get_object()
            .bucket(&env.bucket)
            .key(format!("{ENV}/activity.json"))
            .send()
            .await
            .unwrap()
            .body;
        serde_json::from_slice(&body.collect().await.unwrap().into_bytes()).unwrap()
    };
    assert_eq!(activity["idle"], true);
    assert_eq!(activity["alarm"], IDLE_ALARM);

    // Traffic resumed (OK), then an ALARM older than that arrives late: stale, ignored.
    let now = chrono::Utc::now();
    let busy = invoke(&h, alarm_event("OK", now)).await;
    assert_eq!(busy.outcome, Outcome::NoOp, "{busy:#?}");
    started_minutes_ago(&sdk, &env, 45).await;
    let late = invoke(&h, alarm_event("ALARM", now - chrono::Duration::minutes(1))).await;
    assert_eq!(late.outcome, Outcome::Skipped, "{late:#?}");
    assert!(late.decision.unwrap().reason.contains("stale"));
    assert_running(&describe(&sdk, &env).await);

    // A keep-running override wins over idleness.
    let kept = invoke(
        &h,
        json!({"action": "override", "mode": "keep-running", "for": "1h"}),
    )
    .await;
    assert_eq!(kept.outcome, Outcome::Applied);
    let held = invoke(&h, alarm_event("ALARM", chrono::Utc::now())).await;
    assert_eq!(held.outcome, Outcome::Skipped, "{held:#?}");
    assert!(held.decision.unwrap().reason.contains("keep-running"));
    assert_eq!(
        invoke(&h, json!({"action": "override", "mode": "clear"}))
            .await
            .outcome,
        Outcome::Applied
    );

    // Quiet since the alarm: the tier stops, and the history says why.
    started_minutes_ago(&sdk, &env, 45).await;
    let stopped = invoke(&h, alarm_event("ALARM", chrono::Utc::now())).await;
    assert_eq!(stopped.outcome, Outcome::Applied, "{stopped:#?}");
    let asleep = describe(&sdk, &env).await;
    assert!(
        asleep.live_nats.is_empty() && asleep.load_balancer.is_none(),
        "{asleep:#?}"
    );
    assert!(asleep.desired.values().all(|c| *c == 0));
    let state = state_json(&sdk, &env).await;
    assert_eq!(state["last_transition"]["trigger"], "alarm");
    assert_eq!(state["last_transition"]["action"], "idle");
    let decision = stopped.decision.unwrap().reason;
    assert!(decision.contains("idle: no request since"), "{decision}");

    // The window is open, but the idle hold keeps reconcile from starting it again.
    let reconciled = invoke(&h, json!({"action": "reconcile"})).await;
    assert_eq!(reconciled.outcome, Outcome::NoOp, "{reconciled:#?}");
    assert!(describe(&sdk, &env).await.load_balancer.is_none());
    decoys.assert_intact(&sdk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_without_a_front_is_deleted_while_asleep_and_insufficient_data_is_skipped() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    // Wake on, but no custom domain for the name (terraform-runtime's create_wake_domains off).
    let env = with_wake(
        &sdk,
        json!({"front": [], "idle_minutes": 30, "idle_alarm_name": IDLE_ALARM}),
    )
    .await;
    let h = handler(&sdk, &env, &moto);
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    assert!(alias_of(&sdk, &env).await.is_some());
    assert_eq!(
        invoke(&h, json!({"action": "stop"})).await.outcome,
        Outcome::Applied
    );
    assert_eq!(alias_of(&sdk, &env).await, None, "deleted, as without wake");

    moto.start_recording();
    let r = invoke(&h, alarm_event("INSUFFICIENT_DATA", chrono::Utc::now())).await;
    moto.stop_recording();
    assert_eq!(r.outcome, Outcome::Skipped, "{r:#?}");
    assert!(
        moto.mutating_calls().is_empty(),
        "nothing recorded, nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_teardown_only_a_person_rebuilds_the_tier() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = with_wake(&sdk, json!({})).await;
    let h = handler(&sdk, &env, &moto);
    invoke(&h, json!({"action": "start"})).await;
    let down = invoke(&h, json!({"action": "teardown", "environment": ENV})).await;
    assert_eq!(down.outcome, Outcome::Applied, "{down:#?}");
    // Inside the window (every day, all day): reconcile, a scheduled start and a wake skip.
    moto.start_recording();
    for payload in [
        json!({"action": "reconcile"}),
        json!({"action": "start", "trigger": "schedule"}),
        json!({"action": "start", "trigger": "wake", "hold_for": "1h"}),
    ] {
        let r = invoke(&h, payload.clone()).await;
        assert_eq!(r.outcome, Outcome::Skipped, "{payload}: {r:#?}");
        assert!(r.decision.unwrap().reason.contains("torn down"));
    }
    moto.stop_recording();
    let mutating: Vec<_> = moto
        .mutating_calls()
        .into_iter()
        .filter(|c| c.operation != "PutObject")
        .collect();
    assert!(mutating.is_empty(), "only history records: {mutating:?}");
    assert!(describe(&sdk, &env).await.load_balancer.is_none());
    let rebuilt = invoke(&h, json!({"action": "start"})).await;
    assert_eq!(rebuilt.outcome, Outcome::Applied, "{rebuilt:#?}");
    assert_running(&describe(&sdk, &env).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_without_wake_in_the_spec_is_refused() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    moto.start_recording();
    let r = try_invoke(
        &h,
        json!({"action": "start", "trigger": "wake", "hold_for": "1h"}),
    )
    .await;
    let idle = try_invoke(&h, alarm_event("ALARM", chrono::Utc::now())).await;
    moto.stop_recording();
    assert!(
        matches!(&r, Err(HandlerError::Refused(m)) if m.contains("no wake section")),
        "{r:?}"
    );
    assert!(
        matches!(&idle, Err(HandlerError::Refused(m)) if m.contains("idle stop is off")),
        "{idle:?}"
    );
    assert!(moto.mutating_calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stop_keeps_an_excluded_service_and_what_it_needs() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = with_wake(
        &sdk,
        json!({"idle_minutes": 30, "idle_alarm_name": IDLE_ALARM}),
    )
    .await;
    let h = handler(&sdk, &env, &moto);
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
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
                .key(runtime_scheduler::ownership::TAG_EXCLUDE)
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();

    started_minutes_ago(&sdk, &env, 45).await;
    let r = invoke(&h, alarm_event("ALARM", chrono::Utc::now())).await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let d = describe(&sdk, &env).await;
    assert_eq!(
        d.desired["backend"], 1,
        "the excluded service keeps its tasks: {d:#?}"
    );
    assert_eq!(d.desired["frontend"], 0, "the other service sleeps");
    assert_eq!(d.live_nats.len(), 1, "its egress stays");
    let (_, alb) = d.load_balancer.expect("its ingress stays");
    let (alias, _) = alias_of(&sdk, &env).await.unwrap();
    assert!(
        alias.ends_with(&alb.to_lowercase()),
        "the name still reaches it: {alias}"
    );
}
