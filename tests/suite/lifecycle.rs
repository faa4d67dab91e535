//! Full stop, start, stop cycles against a moto server over the wire, with the real SDK clients.
//! Every outcome is verified by describing the resources with plain SDK clients, never by
//! trusting the scheduler's own response.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use runtime_scheduler::aws::Clients;
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, HandlerError, Invocation, Outcome, Response};
use serde_json::{json, Value};
use support::fixture::{decoys, demo_environment, DemoEnv};
use support::{s3_client, Moto};

pub(crate) const ENV: &str = "demo";

pub(crate) fn config(env: &DemoEnv, moto: &Moto) -> Config {
    let vars = BTreeMap::from([
        ("STATE_BUCKET", env.bucket.clone()),
        ("ENVIRONMENT", env.environment.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]);
    Config::from_lookup(|k| vars.get(k).cloned()).expect("valid test configuration")
}

pub(crate) fn handler(sdk: &SdkConfig, env: &DemoEnv, moto: &Moto) -> Handler {
    let config = config(env, moto);
    let clients = Clients::from_sdk_config(sdk, &config.state_bucket, true, Default::default());
    let mut handler = Handler::new(config, clients);
    handler.tune = |o| {
        o.fast_poll = Duration::from_millis(100);
        o.base_backoff = Duration::from_millis(10);
    };
    handler
}

pub(crate) async fn invoke(handler: &Handler, payload: Value) -> Response {
    try_invoke(handler, payload)
        .await
        .unwrap_or_else(|e| panic!("invocation failed: {e}"))
}

pub(crate) async fn try_invoke(
    handler: &Handler,
    payload: Value,
) -> Result<Response, HandlerError> {
    try_invoke_raw(handler, &payload.to_string()).await
}

/// The payload exactly as written (a `Value` would merge a field given twice).
pub(crate) async fn try_invoke_raw(
    handler: &Handler,
    payload: &str,
) -> Result<Response, HandlerError> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = format!(
        "test-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    handler
        .handle(
            payload.as_bytes(),
            Invocation {
                id,
                now: chrono::Utc::now(),
                deadline: None,
            },
        )
        .await
}

/// What exists, described independently of the scheduler.
#[derive(Debug, PartialEq)]
pub(crate) struct Described {
    /// Owned NAT gateways that are pending or available.
    pub(crate) live_nats: Vec<String>,
    /// Allocation ids of owned Elastic IPs.
    pub(crate) owned_addresses: Vec<String>,
    /// Private route table id -> NAT id of its 0.0.0.0/0 route.
    pub(crate) default_routes: BTreeMap<String, Option<String>>,
    /// The ALB (by the spec's name) and its listener ports.
    pub(crate) load_balancer: Option<(String, String)>,
    pub(crate) listener_ports: Vec<i32>,
    pub(crate) api_rule: bool,
    /// Alias DNS name of the A record.
    pub(crate) alias: Option<String>,
    pub(crate) desired: BTreeMap<String, i32>,
    pub(crate) backend_bounds: Option<(i32, i32)>,
}

pub(crate) async fn describe(sdk: &SdkConfig, env: &DemoEnv) -> Described {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let r53 = aws_sdk_route53::Client::new(sdk);
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let scaling = aws_sdk_applicationautoscaling::Client::new(sdk);
    let owned = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("ManagedBy") && t.value() == Some("runtime-scheduler"))
            && tags
                .iter()
                .any(|t| t.key() == Some("Environment") && t.value() == Some(ENV))
    };

    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    let live_nats = nats
        .nat_gateways()
        .iter()
        .filter(|n| owned(n.tags()))
        .filter(|n| matches!(n.state().map(|s| s.as_str()), Some("pending" | "available")))
        .map(|n| n.nat_gateway_id().unwrap().to_string())
        .collect();
    let addresses = ec2.describe_addresses().send().await.unwrap();
    let owned_addresses = addresses
        .addresses()
        .iter()
        .filter(|a| owned(a.tags()))
        .map(|a| a.allocation_id().unwrap().to_string())
        .collect();
    let tables = ec2
        .describe_route_tables()
        .set_route_table_ids(Some(env.private_route_table_ids.clone()))
        .send()
        .await
        .unwrap();
    let default_routes = tables
        .route_tables()
        .iter()
        .map(|t| {
            let nat = t
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .map(|r| {
                    r.nat_gateway_id()
                        .or(r.gateway_id())
                        .unwrap_or("?")
                        .to_string()
                });
            (t.route_table_id().unwrap().to_string(), nat)
        })
        .collect();

    let lb_name = env.spec.load_balancer.as_ref().unwrap().name.clone();
    let lb = elb
        .describe_load_balancers()
        .names(&lb_name)
        .send()
        .await
        .ok()
        .and_then(|o| o.load_balancers().first().cloned());
    let (load_balancer, listener_ports, api_rule) = match &lb {
        None => (None, vec![], false),
        Some(lb) => {
            let arn = lb.load_balancer_arn().unwrap().to_string();
            let listeners = elb
                .describe_listeners()
                .load_balancer_arn(&arn)
                .send()
                .await
                .unwrap();
            let mut ports: Vec<i32> = listeners
                .listeners()
                .iter()
                .filter_map(|l| l.port())
                .collect();
            ports.sort();
            let mut api_rule = false;
            for l in listeners.listeners() {
                let rules = elb
                    .describe_rules()
                    .listener_arn(l.listener_arn().unwrap())
                    .send()
                    .await
                    .unwrap();
                api_rule |= rules.rules().iter().any(|r| {
                    r.conditions().iter().any(|c| {
                        c.values().iter().any(|v| v == "/api/*")
                            || c.path_pattern_config()
                                .is_some_and(|p| p.values().iter().any(|v| v == "/api/*"))
                    })
                });
            }
            (
                Some((arn, lb.dns_name().unwrap().to_string())),
                ports,
                api_rule,
            )
        }
    };

    let record_name = format!("{}.", env.spec.dns_records[0].name.trim_end_matches('.'));
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&env.zone_id)
        .send()
        .await
        .unwrap();
    let alias = sets
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == record_name && r.r#type().as_str() == "A")
        .and_then(|r| r.alias_target().map(|a| a.dns_name().to_string()));

    let names: Vec<String> = env.spec.services.iter().map(|s| s.name.clone()).collect();
    let services = ecs
        .describe_services()
        .cluster(&env.cluster)
        .set_services(Some(names))
        .send()
        .await
        .unwrap();
    let desired = services
        .services()
        .iter()
        .filter(|s| s.status() == Some("ACTIVE"))
        .map(|s| (s.service_name().unwrap().to_string(), s.desired_count()))
        .collect();
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(format!("service/{}/backend", env.cluster))
        .send()
        .await
        .unwrap();
    let backend_bounds = targets
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()));

    Described {
        live_nats,
        owned_addresses,
        default_routes,
        load_balancer,
        listener_ports,
        api_rule,
        alias,
        desired,
        backend_bounds,
    }
}

pub(crate) fn assert_running(d: &Described) {
    assert_eq!(
        d.live_nats.len(),
        1,
        "exactly one NAT gateway of ours: {d:#?}"
    );
    for (table, nat) in &d.default_routes {
        assert_eq!(
            nat.as_deref(),
            Some(d.live_nats[0].as_str()),
            "route table {table} must point at the current NAT: {d:#?}"
        );
    }
    let (_, dns) = d.load_balancer.as_ref().expect("the ALB exists");
    assert_eq!(d.listener_ports, vec![80, 443]);
    assert!(d.api_rule, "the /api/* rule exists");
    let alias = d
        .alias
        .as_deref()
        .expect("the A alias exists")
        .trim_end_matches('.')
        .to_lowercase();
    assert!(
        alias.ends_with(&dns.to_lowercase()),
        "the alias {alias} points at the ALB {dns}"
    );
}

pub(crate) fn assert_stopped(d: &Described) {
    assert!(d.live_nats.is_empty(), "no NAT gateway of ours: {d:#?}");
    assert!(
        d.default_routes.values().all(Option::is_none),
        "no default routes: {d:#?}"
    );
    assert!(d.load_balancer.is_none(), "no ALB: {d:#?}");
    assert!(d.alias.is_none(), "no alias record: {d:#?}");
    assert!(
        d.desired.values().all(|c| *c == 0),
        "every service at 0: {d:#?}"
    );
    if let Some(bounds) = d.backend_bounds {
        assert_eq!(bounds, (0, 0), "backend auto-scaling suspended");
    }
}

pub(crate) async fn state_json(sdk: &SdkConfig, env: &DemoEnv) -> Value {
    let body = s3_client(sdk)
        .get_object()
        .bucket(&env.bucket)
        .key(format!("{ENV}/state.json"))
        .send()
        .await
        .unwrap()
        .body;
    serde_json::from_slice(&body.collect().await.unwrap().into_bytes()).unwrap()
}

async fn history_count(sdk: &SdkConfig, env: &DemoEnv) -> usize {
    let out = s3_client(sdk)
        .list_objects_v2()
        .bucket(&env.bucket)
        .prefix(format!("{ENV}/history/"))
        .send()
        .await
        .unwrap();
    out.contents().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_start_stop_cycle_rebuilds_the_tier_and_restores_counts() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let decoys = decoys(&sdk, &env).await;
    let h = handler(&sdk, &env, &moto);

    // First start builds everything from the spec.
    let r = invoke(&h, json!({"action": "start", "reason": "first start"})).await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let first = describe(&sdk, &env).await;
    assert_running(&first);
    assert_eq!(
        first.desired,
        BTreeMap::from([("backend".into(), 1), ("frontend".into(), 1)]),
        "the spec's counts"
    );
    assert_eq!(first.owned_addresses.len(), 1);

    // People scale the services while the tier runs; stop must record that.
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    ecs.update_service()
        .cluster(&env.cluster)
        .service("backend")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    ecs.update_service()
        .cluster(&env.cluster)
        .service("frontend")
        .desired_count(2)
        .send()
        .await
        .unwrap();
    aws_sdk_applicationautoscaling::Client::new(&sdk)
        .register_scalable_target()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .scalable_dimension(
            aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
        )
        .resource_id(format!("service/{}/backend", env.cluster))
        .min_capacity(2)
        .max_capacity(5)
        .send()
        .await
        .unwrap();

    let r = invoke(&h, json!({"action": "stop", "reason": "evening"})).await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let stopped = describe(&sdk, &env).await;
    assert_stopped(&stopped);
    assert_eq!(
        stopped.owned_addresses, first.owned_addresses,
        "the kept Elastic IP survives the stop"
    );
    let state = state_json(&sdk, &env).await;
    assert_eq!(state["phase"], "stopped");
    assert_eq!(state["recorded"]["demo/backend"]["desired_count"], 3);
    assert_eq!(
        state["recorded"]["demo/backend"]["scaling"],
        json!({"min": 2, "max": 5})
    );
    assert!(state["lease"].is_null(), "the lease is released");

    let r = invoke(&h, json!({"action": "start", "reason": "morning"})).await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let second = describe(&sdk, &env).await;
    assert_running(&second);
    assert_ne!(second.live_nats, first.live_nats, "a new NAT gateway");
    assert_ne!(
        second.load_balancer.as_ref().unwrap().0,
        first.load_balancer.as_ref().unwrap().0,
        "a new ALB"
    );
    assert_eq!(
        second.owned_addresses, first.owned_addresses,
        "the same kept Elastic IP"
    );
    assert_eq!(
        second.desired,
        BTreeMap::from([("backend".into(), 3), ("frontend".into(), 2)]),
        "recorded counts restored"
    );
    assert_eq!(
        second.backend_bounds,
        Some((2, 5)),
        "recorded bounds restored"
    );

    let r = invoke(&h, json!({"action": "stop", "reason": "evening again"})).await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert_stopped(&describe(&sdk, &env).await);

    decoys.assert_intact(&sdk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_start_or_stop_writes_nothing_at_all() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);

    for (action, phase) in [("start", "running"), ("stop", "stopped")] {
        let r = invoke(&h, json!({ "action": action })).await;
        assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
        let before = describe(&sdk, &env).await;
        let state_before = state_json(&sdk, &env).await;
        let history_before = history_count(&sdk, &env).await;

        moto.start_recording();
        let r = invoke(&h, json!({ "action": action, "reason": "again" })).await;
        moto.stop_recording();

        assert_eq!(r.outcome, Outcome::NoOp, "{r:#?}");
        let mutating: Vec<String> = moto.mutating_calls().iter().map(|c| c.action()).collect();
        assert_eq!(
            mutating,
            Vec::<String>::new(),
            "nothing changed, so nothing is written (not even history: no transition happened)"
        );
        assert_eq!(describe(&sdk, &env).await, before, "nothing changed");
        let state_after = state_json(&sdk, &env).await;
        assert_eq!(state_after, state_before, "the state document is untouched");
        assert_eq!(state_after["phase"], phase);
        assert_eq!(history_count(&sdk, &env).await, history_before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_returns_the_plan_and_changes_nothing() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    let before = describe(&sdk, &env).await;

    moto.start_recording();
    let r = invoke(&h, json!({"action": "start", "dry_run": true})).await;
    moto.stop_recording();

    assert_eq!(r.outcome, Outcome::DryRun);
    let planned: Vec<String> = r.steps.iter().map(|s| s.action.clone()).collect();
    for expected in [
        "allocate-address",
        "create-nat-gateway",
        "create-load-balancer",
        "create-listener",
        "create-rule",
        "upsert-records",
        "create-service",
    ] {
        assert!(
            planned.iter().any(|p| p == expected),
            "{expected} missing from {planned:?}"
        );
    }
    assert!(r.steps.iter().all(|s| s.status == "planned"));
    assert_eq!(
        moto.mutating_calls(),
        vec![],
        "a dry run makes zero mutating calls"
    );
    assert_eq!(describe(&sdk, &env).await, before);

    // The plan is the one the real run executes.
    let applied = invoke(&h, json!({"action": "start"})).await;
    let ran: Vec<(String, String)> = applied
        .steps
        .iter()
        .map(|s| (s.action.clone(), s.target.clone()))
        .collect();
    let plan: Vec<(String, String)> = r
        .steps
        .iter()
        .map(|s| (s.action.clone(), s.target.clone()))
        .collect();
    assert_eq!(ran, plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_phase_resources_and_transitions_without_writing() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    invoke(&h, json!({"action": "start", "reason": "morning"})).await;

    moto.start_recording();
    let r = invoke(&h, json!({"action": "status"})).await;
    moto.stop_recording();

    assert_eq!(r.outcome, Outcome::Reported);
    assert_eq!(serde_json::to_value(r.phase).unwrap(), "running");
    assert!(r.since.is_some());
    let d = describe(&sdk, &env).await;
    assert_eq!(
        r.resources.nat_gateways["a"].nat_gateway_id.as_deref(),
        Some(d.live_nats[0].as_str())
    );
    assert_eq!(
        r.resources.load_balancer.as_ref().map(|l| l.arn.clone()),
        d.load_balancer.map(|l| l.0)
    );
    assert_eq!(
        r.recent_transitions.last().map(|t| t.reason.as_str()),
        Some("morning")
    );
    assert_eq!(moto.mutating_calls(), vec![], "status never writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_and_specs_get_a_clear_error_and_no_mutating_call() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    let s3 = s3_client(&sdk);
    let good_spec = serde_json::to_value(&env.spec).unwrap();

    let payloads: Vec<(Value, &str)> = vec![
        (json!("start"), "must be a JSON object"),
        (json!({}), "missing 'action'"),
        (json!({"action": "restart"}), "'action' is 'restart'"),
        (
            json!({"action": "start", "dry_run": "no"}),
            "'dry_run' must be true or false",
        ),
        (
            json!({"action": "stop", "force": "yes"}),
            "'force' must be true or false",
        ),
        (
            json!({"action": "start", "at": "2026-12-01T08:00:00Z"}),
            "'at' needs \"dry_run\": true",
        ),
        (
            json!({"action": "override", "mode": "keep-running", "until": "tomorrow"}),
            "'until': 'tomorrow'",
        ),
        // A null is not an absent field: each of these once acted as if the field were absent.
        (
            json!({"action": "start", "dry_run": null}),
            "'dry_run' is null",
        ),
        (
            json!({"action": "stop", "environment": null}),
            "'environment' is null",
        ),
        (
            json!({"action": "start", "trigger": null}),
            "'trigger' is null",
        ),
        (
            json!({"action": "override", "mode": null}),
            "'mode' is null",
        ),
        (
            json!({"action": "start", "hold_for": "9999999999d"}),
            "'hold_for'",
        ),
        (
            json!({"action": "teardown"}),
            "teardown needs 'environment'",
        ),
        (
            json!({"action": "status", "force": true}),
            "'force' does not apply to status",
        ),
        (
            json!({"action": "stop", "colour": "blue"}),
            "unknown field 'colour'",
        ),
        (
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "resources": ["arn:aws:events:us-east-1:1:rule/nightly"]}),
            "must end in -start",
        ),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3"}),
            "only \"Scheduled Event\"",
        ),
    ];
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = good_spec.clone();
        f(&mut v);
        v
    };
    let specs: Vec<(Value, &str)> = vec![
        (edit(&|s| s["version"] = json!(7)), "$.version"),
        (
            edit(&|s| s["load_balancer"]["listeners"][1]["certificate_arn"] = json!(null)),
            "$.load_balancer.listeners[1].certificate_arn",
        ),
        (
            edit(&|s| s["services"][0]["subnet_ids"] = json!(["subnet-zz"])),
            "$.services[0].subnet_ids[0]",
        ),
        (edit(&|s| s["environment"] = json!("prod")), "$.environment"),
    ];

    moto.start_recording();
    for (payload, expected) in payloads {
        let err = try_invoke(&h, payload.clone())
            .await
            .expect_err("a bad payload is an error");
        assert!(
            err.to_string().contains(expected),
            "payload {payload}: {err}"
        );
    }
    for (payload, expected) in [
        (
            r#"{"action":"start","action":"stop"}"#,
            "'action' is given more than once",
        ),
        (
            r#"{"action":"stop","dry_run":true,"dry_run":false}"#,
            "'dry_run' is given more than once",
        ),
    ] {
        let err = try_invoke_raw(&h, payload)
            .await
            .expect_err("a field given twice is an error");
        assert!(
            err.to_string().contains(expected),
            "payload {payload}: {err}"
        );
    }
    assert_eq!(
        moto.recorded_calls(),
        vec![],
        "a bad payload makes no AWS call at all"
    );
    for (spec, path) in specs {
        s3.put_object()
            .bucket(&env.bucket)
            .key(&env.spec_key)
            .body(serde_json::to_vec(&spec).unwrap().into())
            .send()
            .await
            .unwrap();
        moto.start_recording();
        for action in ["start", "stop"] {
            let err = try_invoke(&h, json!({ "action": action }))
                .await
                .expect_err("a bad spec is an error");
            assert!(err.to_string().contains(path), "{path} missing from: {err}");
        }
        assert_eq!(
            moto.mutating_calls(),
            vec![],
            "a bad spec makes no mutating call ({path})"
        );
    }
    s3.put_object()
        .bucket(&env.bucket)
        .key(&env.spec_key)
        .body(b"{not json".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = try_invoke(&h, json!({"action": "start"}))
        .await
        .expect_err("garbage spec");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_for_another_environment_is_skipped_without_aws_calls() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    moto.start_recording();
    let r = invoke(&h, json!({"action": "stop", "environment": "prod"})).await;
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(moto.recorded_calls(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_invocation_holding_the_lease_makes_the_other_busy() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    invoke(&h, json!({"action": "status"})).await;
    // Someone else's live lease, written as the other invocation would.
    let mut state = runtime_scheduler::state::State::new(ENV);
    state.lease = Some(runtime_scheduler::state::Lease {
        owner: "other-invocation".into(),
        action: "start".into(),
        acquired_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
    });
    s3_client(&sdk)
        .put_object()
        .bucket(&env.bucket)
        .key(format!("{ENV}/state.json"))
        .body(serde_json::to_vec(&state).unwrap().into())
        .send()
        .await
        .unwrap();

    moto.start_recording();
    let r = invoke(&h, json!({"action": "start"})).await;
    moto.stop_recording();
    assert_eq!(r.outcome, Outcome::Busy, "{r:#?}");
    assert_eq!(moto.mutating_calls(), vec![]);
    assert!(describe(&sdk, &env).await.live_nats.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_history_and_errors_never_contain_credentials() {
    const ACCESS_KEY: &str = "AKIARUNTIMESCHEDTEST";
    const SECRET: &str = "s3cr3t-never-to-be-written-anywhere";
    let moto = Moto::start();
    let base = moto.sdk_config().await;
    let env = demo_environment(&base, ENV).await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY,
            SECRET,
            Some("session-token-xyz".into()),
            None,
            "test",
        ))
        .load()
        .await;
    let h = handler(&sdk, &env, &moto);

    let mut texts = Vec::new();
    for payload in [
        json!({"action": "start"}),
        json!({"action": "stop"}),
        json!({"action": "status"}),
    ] {
        texts.push(serde_json::to_string(&invoke(&h, payload).await).unwrap());
    }
    // Failures too: a bad payload, and a bad spec.
    texts.push(
        try_invoke(&h, json!({"action": "nope"}))
            .await
            .unwrap_err()
            .to_string(),
    );
    let s3 = s3_client(&sdk);
    s3.put_object()
        .bucket(&env.bucket)
        .key(&env.spec_key)
        .body(b"{\"version\": 9}".to_vec().into())
        .send()
        .await
        .unwrap();
    texts.push(
        try_invoke(&h, json!({"action": "start"}))
            .await
            .unwrap_err()
            .to_string(),
    );

    let objects = s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .prefix(format!("{ENV}/"))
        .send()
        .await
        .unwrap();
    assert!(
        objects.contents().len() >= 3,
        "state and history were written"
    );
    for o in objects.contents() {
        let body = s3
            .get_object()
            .bucket(&env.bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap()
            .body;
        texts.push(
            String::from_utf8_lossy(&body.collect().await.unwrap().into_bytes()).into_owned(),
        );
    }
    for text in &texts {
        for secret in [ACCESS_KEY, SECRET, "session-token-xyz"] {
            assert!(
                !text.contains(secret),
                "a credential leaked into: {}",
                &text[..text.len().min(300)]
            );
        }
    }
}

/// The task definition a service points at, described with a plain SDK client.
async fn service_revision(sdk: &SdkConfig, env: &DemoEnv, name: &str) -> (String, i32) {
    let out = aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(&env.cluster)
        .services(name)
        .send()
        .await
        .unwrap();
    let s = &out.services()[0];
    (
        s.task_definition().unwrap_or_default().to_string(),
        s.desired_count(),
    )
}

/// Registers another revision of a family (what a deploy pipeline does), returning its ARN.
async fn register_revision(sdk: &SdkConfig, family: &str, image: &str) -> String {
    aws_sdk_ecs::Client::new(sdk)
        .register_task_definition()
        .family(family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("backend")
                .image(image)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_rolls_a_running_service_and_parks_a_sleeping_one_until_the_next_start() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    let family = format!("{ENV}-backend");
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );

    // Running: the service rolls to the new revision; its count stays.
    let v2 = register_revision(&sdk, &family, "example/backend:v2").await;
    let (_, count_before) = service_revision(&sdk, &env, "backend").await;
    let r = invoke(
        &h,
        json!({"action": "deploy", "service": "backend", "task_definition": v2, "reason": "release v2"}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let deployed = r.deploy.as_ref().unwrap();
    assert_eq!(serde_json::to_value(deployed.mode).unwrap(), "rolling");
    assert_eq!(
        service_revision(&sdk, &env, "backend").await,
        (v2.clone(), count_before)
    );
    assert_eq!(
        r.phase,
        runtime_scheduler::state::Phase::Running,
        "a deploy keeps the phase"
    );

    // Asleep: pointed at the revision, nothing wakes.
    assert_eq!(
        invoke(&h, json!({"action": "stop"})).await.outcome,
        Outcome::Applied
    );
    let v3 = register_revision(&sdk, &family, "example/backend:v3").await;
    let r = invoke(
        &h,
        json!({"action": "deploy", "service": "demo/backend", "task_definition": v3, "reason": "release v3"}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    let deployed = r.deploy.as_ref().unwrap();
    assert_eq!(serde_json::to_value(deployed.mode).unwrap(), "parked");
    assert_eq!(deployed.from.as_deref(), Some(v2.as_str()));
    assert_eq!(
        service_revision(&sdk, &env, "backend").await,
        (v3.clone(), 0)
    );
    assert_stopped(&describe(&sdk, &env).await);
    let state = state_json(&sdk, &env).await;
    assert_eq!(
        state["recorded"]["demo/backend"]["task_definition"],
        v3.as_str()
    );
    let status = invoke(&h, json!({"action": "status"})).await;
    let backend = status
        .services
        .iter()
        .find(|s| s.service == "demo/backend")
        .unwrap();
    assert_eq!(
        backend.next_start_task_definition.as_deref(),
        Some(v3.as_str())
    );

    // The next start runs it, with the counts it had.
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    assert_eq!(
        service_revision(&sdk, &env, "backend").await,
        (v3.clone(), count_before)
    );

    // The same revision again is a no-op; another family's or a missing one is refused.
    let r = invoke(
        &h,
        json!({"action": "deploy", "service": "backend", "task_definition": v3}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::NoOp);
    let frontend = format!("{ENV}-frontend:1");
    for (td, why) in [
        (frontend.as_str(), "family"),
        ("demo-backend:99", "does not exist"),
    ] {
        let err = try_invoke(
            &h,
            json!({"action": "deploy", "service": "backend", "task_definition": td}),
        )
        .await
        .expect_err("refused");
        assert!(err.to_string().contains(why), "{td}: {err}");
        assert_eq!(err.error_type(), "Refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_removes_everything_the_scheduler_owns_and_nothing_else() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let decoys = decoys(&sdk, &env).await;
    let h = handler(&sdk, &env, &moto);
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );

    let r = invoke(&h, json!({"action": "teardown", "environment": ENV})).await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert_eq!(r.phase, runtime_scheduler::state::Phase::TornDown);
    let d = describe(&sdk, &env).await;
    assert_stopped(&d);
    // Services deleted, kept address released, the ownership claim gone.
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let services = ecs
        .describe_services()
        .cluster(&env.cluster)
        .services("backend")
        .services("frontend")
        .send()
        .await
        .unwrap();
    assert!(
        services
            .services()
            .iter()
            .all(|s| s.status() != Some("ACTIVE")),
        "{:?}",
        services.services()
    );
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ours: Vec<String> = ec2
        .describe_addresses()
        .send()
        .await
        .unwrap()
        .addresses()
        .iter()
        .filter(|a| {
            a.tags()
                .iter()
                .any(|t| t.value() == Some("runtime-scheduler"))
        })
        .filter_map(|a| a.allocation_id().map(str::to_string))
        .collect();
    assert!(ours.is_empty(), "addresses of ours left: {ours:?}");
    let txt = aws_sdk_route53::Client::new(&sdk)
        .list_resource_record_sets()
        .hosted_zone_id(&env.zone_id)
        .send()
        .await
        .unwrap();
    assert!(
        !txt.resource_record_sets()
            .iter()
            .any(|r| r.name().starts_with("_runtime-scheduler.")),
        "the ownership TXT record is gone"
    );
    decoys.assert_intact(&sdk).await;
    // A history record says who tore it down.
    let state = state_json(&sdk, &env).await;
    assert_eq!(state["last_transition"]["action"], "teardown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terraform_owned_persistent_address_survives_stop_and_start() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    // terraform-base's persistent address: Terraform's tags, not the scheduler's.
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::ElasticIp)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("ManagedBy")
                        .value("terraform")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let allocation = eip.allocation_id().unwrap().to_string();
    let mut spec = serde_json::to_value(&env.spec).unwrap();
    spec["nat_gateways"][0]["elastic_ip"] =
        json!({"mode": "external", "allocation_id": allocation});
    s3_client(&sdk)
        .put_object()
        .bucket(&env.bucket)
        .key(&env.spec_key)
        .body(spec.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let h = handler(&sdk, &env, &moto);
    for action in ["start", "stop", "start", "stop"] {
        let r = invoke(&h, json!({"action": action})).await;
        assert_eq!(r.outcome, Outcome::Applied, "{action}: {r:#?}");
    }
    let left = ec2
        .describe_addresses()
        .allocation_ids(&allocation)
        .send()
        .await
        .unwrap();
    let address = &left.addresses()[0];
    assert_eq!(
        address
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect::<Vec<_>>(),
        vec![("ManagedBy", "terraform")],
        "never released, never retagged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_bucket_that_does_not_exist_is_named_as_such() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let vars = BTreeMap::from([
        ("STATE_BUCKET", "no-such-bucket-here".to_string()),
        ("ENVIRONMENT", ENV.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let h = Handler::new(
        config,
        Clients::from_sdk_config(&sdk, "no-such-bucket-here", true, Default::default()),
    );
    moto.start_recording();
    let err = try_invoke(&h, json!({"action": "start"}))
        .await
        .expect_err("no bucket");
    assert_eq!(err.error_type(), "StateBucketMissing", "{err}");
    assert!(err.to_string().contains("no-such-bucket-here"), "{err}");
    assert!(
        !err.to_string().contains("apply terraform-runtime"),
        "{err}"
    );
    assert!(moto.mutating_calls().is_empty());
    let _ = env;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_runs_through_the_executor_with_a_history_record_and_answers_the_phase() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    let before = history_count(&sdk, &env).await;
    let r = invoke(
        &h,
        json!({"action": "override", "mode": "keep-running", "for": "2h", "reason": "release"}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Applied, "{r:#?}");
    assert_eq!(r.phase, runtime_scheduler::state::Phase::Running);
    assert_eq!(r.steps.len(), 1);
    assert_eq!(r.steps[0].action, "set-override-tags");
    assert_eq!(history_count(&sdk, &env).await, before + 1);
    let tags = aws_sdk_ecs::Client::new(&sdk)
        .describe_clusters()
        .clusters(&env.cluster)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(tags["runtime-scheduler:override"], "keep-running");
    assert!(tags.contains_key("runtime-scheduler:override-until"));
    // The same override again changes nothing.
    let again = invoke(&h, json!({"action": "override", "mode": "keep-running", "until": tags["runtime-scheduler:override-until"]})).await;
    assert_eq!(again.outcome, Outcome::NoOp, "{again:#?}");
    let cleared = invoke(&h, json!({"action": "override", "mode": "clear"})).await;
    assert_eq!(cleared.outcome, Outcome::Applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_report_say_what_the_tier_cost_and_saved() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, ENV).await;
    let h = handler(&sdk, &env, &moto);
    assert_eq!(
        invoke(&h, json!({"action": "start"})).await.outcome,
        Outcome::Applied
    );
    // Three hours of running, without waiting them: the start is backdated in both places the
    // figures come from, the state's open interval and the start's history record.
    let three_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let s3 = s3_client(&sdk);
    let mut state = state_json(&sdk, &env).await;
    state["usage"]["since"] = json!(three_hours_ago);
    put_json(&s3, &env.bucket, &format!("{ENV}/state.json"), &state).await;
    let listed = s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .prefix(format!("{ENV}/history/"))
        .send()
        .await
        .unwrap();
    for object in listed.contents() {
        let key = object.key().unwrap();
        let body = s3
            .get_object()
            .bucket(&env.bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body;
        let mut record: Value =
            serde_json::from_slice(&body.collect().await.unwrap().into_bytes()).unwrap();
        if record["action"] == "start" {
            record["finished_at"] = json!(three_hours_ago);
            put_json(&s3, &env.bucket, key, &record).await;
        }
    }
    assert_eq!(
        invoke(&h, json!({"action": "stop"})).await.outcome,
        Outcome::Applied
    );

    let status = invoke(&h, json!({"action": "status"})).await;
    let week = status
        .savings
        .as_ref()
        .and_then(|s| s.last_7_days.clone())
        .expect("status states the last 7 days");
    assert!((week.hours_running - 3.0).abs() < 0.15, "{week:#?}");
    assert!(week.cost.total > 0.0, "{week:#?}");
    assert!(week.cost_always_on.total >= week.cost.total);
    let report = invoke(&h, json!({"action": "report", "days": 7})).await;
    assert_eq!(report.outcome, Outcome::Reported);
    let period = report.savings.unwrap().period.unwrap();
    assert!((period.hours_running - 3.0).abs() < 0.15, "{period:#?}");
    assert!(
        (period.resource_hours.nat_gateway_hours - week.resource_hours.nat_gateway_hours).abs()
            < 0.05,
        "history and state agree: {period:#?} {week:#?}"
    );
}

pub(crate) async fn put_json(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, value: &Value) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(value.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
}
