//! The wake front with API Gateway HTTP API event fixtures (tests/fixtures/wake-front), its real
//! adapters talking to moto: the state document from S3, the scheduler invoked through Lambda.
//! What it sent is read from moto's request recorder, not from the front's own answer.

use crate::support;

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Duration, Utc};
use runtime_scheduler::aws::store::S3Store;
use runtime_scheduler::front::{token, AwsBackend, Front, Settings};
use runtime_scheduler::state::{Lease, Phase, Progress, State, Transition};
use serde_json::{json, Value};
use support::{s3_client, Moto};

const BUCKET: &str = "wake-front-test-state";
const FUNCTION: &str = "acme-shop-demo-runtime-scheduler";
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const HOST: &str = "demo.example.com";
const VISITOR: &str = "203.0.113.9";

struct Env {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    front: Front,
}

/// moto with the state bucket and the scheduler function, and a front over them.
async fn env(wake: Value) -> Env {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s3 = s3_client(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let role = moto.prepare_lambda();
    // The smallest valid zip: an empty archive (moto never runs it).
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.extend([0u8; 18]);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    lambda
        .create_function()
        .function_name(FUNCTION)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(empty_zip))
                .build(),
        )
        .send()
        .await
        .expect("CreateFunction");
    let mut spec = json!({"title": "Acme shop <demo>", "default_hours": 2, "max_hours": 8});
    for (k, v) in wake.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let front = Front {
        settings: Settings {
            environment: "demo".into(),
            wake: serde_json::from_value(spec).unwrap(),
            key: KEY.to_vec(),
        },
        backend: Arc::new(AwsBackend {
            store: Arc::new(S3Store::new(s3, BUCKET)),
            state_key: "demo/state.json".into(),
            lambda,
            function: FUNCTION.into(),
        }),
    };
    front.settings.check().expect("valid settings");
    Env { moto, sdk, front }
}

fn fixture(name: &str) -> ApiGatewayV2httpRequest {
    let path = format!(
        "{}/tests/fixtures/wake-front/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The POST fixture with this form body (base64, as API Gateway sends a form).
fn post(body: &str) -> ApiGatewayV2httpRequest {
    let mut event = fixture("post-wake.json");
    event.body = Some(aws_smithy_types::base64::encode(body));
    event
}

fn text(r: &ApiGatewayV2httpResponse) -> String {
    match &r.body {
        Some(Body::Text(t)) => t.clone(),
        Some(Body::Binary(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

fn header<'a>(r: &'a ApiGatewayV2httpResponse, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The token the page carries in its form.
fn page_token(html: &str) -> String {
    let at = html
        .find("name=\"token\" value=\"")
        .expect("a token in the form")
        + 20;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

fn transition(reason: &str, at: DateTime<Utc>) -> Transition {
    Transition {
        invocation_id: "test".into(),
        action: "stop".into(),
        trigger: "schedule".into(),
        reason: reason.into(),
        outcome: "applied".into(),
        started_at: at,
        finished_at: at,
        steps: Vec::new(),
        error: None,
    }
}

async fn put_state(e: &Env, state: &State) {
    s3_client(&e.sdk)
        .put_object()
        .bucket(BUCKET)
        .key("demo/state.json")
        .body(serde_json::to_vec(state).unwrap().into())
        .send()
        .await
        .unwrap();
}

/// Asleep since an hour ago, woken on its own tomorrow, with a hostile reason on record.
fn asleep(now: DateTime<Utc>) -> State {
    let mut s = State::new("demo");
    s.phase = Phase::Stopped;
    s.since = Some(now - Duration::hours(1));
    s.last_transition = Some(transition(
        "<script>alert(1)</script> by \"x\" & 'y'",
        now - Duration::hours(1),
    ));
    s.next_start = Some(now + Duration::hours(14));
    s.timezone = Some("Europe/London".into());
    s.start_seconds = vec![200, 260, 240];
    s
}

/// A start three minutes in, 9 of 21 steps done.
fn waking(now: DateTime<Utc>) -> State {
    let mut s = asleep(now);
    s.phase = Phase::Starting;
    s.lease = Some(Lease {
        owner: "req-1".into(),
        action: "start".into(),
        acquired_at: now - Duration::minutes(3),
        expires_at: now + Duration::minutes(12),
    });
    s.progress = Some(Progress {
        done: 9,
        total: 21,
        running: vec!["wait-load-balancer-active load-balancer/demo-web".into()],
        updated_at: now - Duration::seconds(4),
    });
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_renders_the_page_escaped_and_wakes_nothing() {
    let e = env(json!({"idle_minutes": 30, "idle_alarm_name": "a"})).await;
    let now = Utc::now();
    put_state(&e, &asleep(now)).await;
    e.moto.start_recording();
    let page = e.front.handle_event(&fixture("get-page.json"), now).await;
    e.moto.stop_recording();
    assert_eq!(page.status_code, 503, "the application is not here");
    let html = text(&page);
    assert!(html.contains("<h1>Acme shop &lt;demo&gt;</h1>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; by &quot;x&quot; &amp; &#39;y&#39;")
    );
    assert!(
        !html.contains("<script>alert"),
        "nothing from the state runs"
    );
    assert!(html.contains("action=\"/.wake\""));
    assert!(html.contains("<option value=\"2\" selected>"));
    assert!(html.contains("goes back to sleep after 30 minutes"));
    assert!(html.contains("the median of the last 3 wakes"), "{html}");
    assert!(
        html.contains("GMT"),
        "times in the environment's zone: {html}"
    );
    let token = page_token(&html);
    let ip = VISITOR.parse().unwrap();
    assert_eq!(token::verify(KEY, "demo", HOST, ip, &token, now), Ok(()));
    let csp = header(&page, "content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(header(&page, "retry-after").is_some());
    assert_eq!(header(&page, "cache-control"), Some("no-store"));
    assert!(
        e.moto.recorded_invocations().is_empty(),
        "a GET never wakes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_the_pages_token_sends_exactly_one_asynchronous_start() {
    let e = env(json!({})).await;
    let now = Utc::now();
    put_state(&e, &asleep(now)).await;
    let page = e.front.handle_event(&fixture("get-page.json"), now).await;
    let token = page_token(&text(&page));

    e.moto.start_recording();
    let pressed = e
        .front
        .handle_event(
            &post(&format!("token={token}&hours=3")),
            now + Duration::seconds(5),
        )
        .await;
    assert_eq!(pressed.status_code, 303, "{}", text(&pressed));
    assert_eq!(header(&pressed, "location"), Some("/"));
    // Pressed again while the start runs: the page sees it waking and sends nothing more.
    put_state(&e, &waking(now)).await;
    let again = e
        .front
        .handle_event(
            &post(&format!("token={token}&hours=3")),
            now + Duration::seconds(9),
        )
        .await;
    e.moto.stop_recording();
    assert_eq!(again.status_code, 303);

    let sent = e.moto.recorded_invocations();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].function, FUNCTION);
    assert_eq!(sent[0].invocation_type, "Event", "asynchronous");
    let payload: Value = serde_json::from_slice(&sent[0].payload).unwrap();
    assert_eq!(
        payload,
        json!({
            "action": "start", "trigger": "wake", "environment": "demo", "hold_for": "3h",
            "reason": format!("woken from {HOST} by {VISITOR}"),
        })
    );
    // What the front sends is a payload the scheduler accepts.
    runtime_scheduler::command::Request::parse(&sent[0].payload, now).expect("a valid start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_wakes_invoke_nothing() {
    let secret = "correct horse battery staple";
    let e = env(json!({
        "api_secret_sha256": runtime_scheduler::secret::sha256_hex(secret.as_bytes()),
        "allowed_cidrs": ["203.0.113.0/24", "2001:db8::/32"],
    }))
    .await;
    let now = Utc::now();
    put_state(&e, &asleep(now)).await;
    let ip = VISITOR.parse().unwrap();
    let valid = token::issue(KEY, "demo", HOST, ip, now);
    let stale = token::issue(KEY, "demo", HOST, ip, now - Duration::minutes(20));
    let elsewhere = token::issue(KEY, "demo", HOST, "198.51.100.1".parse().unwrap(), now);
    let other_name = token::issue(KEY, "demo", "api.example.com", ip, now);

    let mut cross_origin = post(&format!("token={valid}"));
    cross_origin
        .headers
        .insert("origin", "https://evil.example".parse().unwrap());
    let mut outside = post(&format!("token={valid}"));
    outside.request_context.http.source_ip = Some("198.51.100.1".into());
    let mut wrong_secret = fixture("get-api.json");
    wrong_secret.request_context.http.method = aws_lambda_events::http::Method::POST;
    wrong_secret.raw_path = Some("/.wake".into());
    wrong_secret
        .headers
        .insert("x-wake-secret", "not it".parse().unwrap());

    let cases: Vec<(&str, ApiGatewayV2httpRequest, i64, &str)> = vec![
        ("no token", post("hours=2"), 403, "token is missing"),
        (
            "a stale token",
            post(&format!("token={stale}")),
            403,
            "token is expired",
        ),
        (
            "another address's token",
            post(&format!("token={elsewhere}")),
            403,
            "not valid",
        ),
        (
            "another name's token",
            post(&format!("token={other_name}")),
            403,
            "not valid",
        ),
        (
            "a forged token",
            post("token=v1.1.abcdef"),
            403,
            "not valid",
        ),
        ("another site's form", cross_origin, 403, "own page"),
        (
            "an address outside allowed_cidrs",
            outside,
            403,
            "not allowed from your address",
        ),
        ("a wrong secret", wrong_secret, 403, "secret is wrong"),
        (
            "hours above max_hours",
            post(&format!("token={valid}&hours=99")),
            400,
            "1 to 8",
        ),
    ];
    e.moto.start_recording();
    for (name, event, status, says) in cases {
        let r = e.front.handle_event(&event, now).await;
        assert_eq!(r.status_code, status, "{name}: {}", text(&r));
        assert!(text(&r).contains(says), "{name}: {}", text(&r));
    }
    assert!(
        e.moto.recorded_invocations().is_empty(),
        "a refused wake sends nothing"
    );

    // The right secret, from an allowed address: one start, answered 202 for the API client.
    let mut api = fixture("get-api.json");
    api.request_context.http.method = aws_lambda_events::http::Method::POST;
    api.raw_path = Some("/.wake".into());
    api.raw_query_string = Some("hours=1".into());
    api.headers.insert("x-wake-secret", secret.parse().unwrap());
    let r = e.front.handle_event(&api, now).await;
    e.moto.stop_recording();
    assert_eq!(r.status_code, 202, "{}", text(&r));
    assert!(header(&r, "retry-after").is_some());
    let sent = e.moto.recorded_invocations();
    assert_eq!(sent.len(), 1);
    let payload: Value = serde_json::from_slice(&sent[0].payload).unwrap();
    assert_eq!(payload["hold_for"], "1h");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_s_stop_hold_keeps_visitors_from_waking_it() {
    let e = env(json!({})).await;
    let now = Utc::now();
    let mut held = asleep(now);
    held.hold = Some(runtime_scheduler::schedule::Hold {
        desired: runtime_scheduler::schedule::Desired::Stopped,
        until: now + Duration::hours(3),
        reason: "database migration <b>do not wake</b>".into(),
        set_by: "manual stop req-9".into(),
        kind: runtime_scheduler::schedule::HoldKind::Manual,
    });
    put_state(&e, &held).await;
    let page = e.front.handle_event(&fixture("get-page.json"), now).await;
    let html = text(&page);
    assert!(html.contains("Someone put it to sleep until"), "{html}");
    assert!(html.contains("database migration &lt;b&gt;do not wake&lt;/b&gt;"));
    assert!(!html.contains("action=\"/.wake\""), "no button");
    let ip = VISITOR.parse().unwrap();
    let token = token::issue(KEY, "demo", HOST, ip, now);
    e.moto.start_recording();
    let r = e
        .front
        .handle_event(&post(&format!("token={token}")), now)
        .await;
    e.moto.stop_recording();
    assert_eq!(r.status_code, 409, "{}", text(&r));
    assert!(e.moto.recorded_invocations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_clients_get_503_with_retry_after_and_the_page_follows_the_wake() {
    let e = env(json!({})).await;
    let now = Utc::now();
    put_state(&e, &waking(now)).await;

    let api = e.front.handle_event(&fixture("get-api.json"), now).await;
    assert_eq!(api.status_code, 503);
    assert_eq!(header(&api, "content-type"), Some("application/json"));
    // Median of 200, 240, 260 is 240 s; three minutes in, about a minute is left.
    assert_eq!(header(&api, "retry-after"), Some("60"));
    let body: Value = serde_json::from_str(&text(&api)).unwrap();
    assert_eq!(body["status"], "waking");

    let page = e.front.handle_event(&fixture("get-page.json"), now).await;
    let html = text(&page);
    assert!(
        html.contains("Waking up") && html.contains("Step 9 of 21 done."),
        "{html}"
    );
    assert!(html.contains("<progress id=\"bar\" max=\"21\" value=\"9\">"));
    assert!(html.contains("wait-load-balancer-active load-balancer/demo-web"));
    assert!(
        !html.contains("action=\"/.wake\""),
        "no button while it wakes"
    );

    let mut status = fixture("get-api.json");
    status.raw_path = Some("/.wake/status".into());
    let s = e.front.handle_event(&status, now).await;
    assert_eq!(s.status_code, 200);
    let view: Value = serde_json::from_str(&text(&s)).unwrap();
    assert_eq!(
        (view["steps_done"].as_u64(), view["steps_total"].as_u64()),
        (Some(9), Some(21))
    );
    assert_eq!(view["expected_seconds"], 240);
    assert_eq!(view["elapsed_seconds"], 180);

    let mut running = asleep(now);
    running.phase = Phase::Running;
    put_state(&e, &running).await;
    let page = e.front.handle_event(&fixture("get-page.json"), now).await;
    let html = text(&page);
    assert!(
        html.contains("Awake") && html.contains("Reload this page"),
        "{html}"
    );
}
