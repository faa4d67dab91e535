//! The runtime spec: the example is valid, the committed JSON Schema matches the Rust types, and
//! bad specs get every problem reported at once with its JSON path.

use runtime_scheduler::spec::{json_schema, Spec};
use serde_json::{json, Value};

fn example() -> Value {
    serde_json::from_slice(include_bytes!("../../docs/runtime-spec.example.json")).unwrap()
}

fn problems(spec: &Value) -> Vec<String> {
    match Spec::from_json(&serde_json::to_vec(spec).unwrap(), "demo") {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn the_documented_example_is_valid() {
    assert_eq!(problems(&example()), Vec::<String>::new());
}

#[test]
fn the_committed_schema_matches_the_rust_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runtime-spec.schema.json");
    let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/runtime-spec.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --test suite spec::` and commit it"
    );
}

/// Applies `edit` to the example and returns the problems.
fn with(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut spec = example();
    edit(&mut spec);
    problems(&spec)
}

#[test]
fn each_bad_spec_names_the_path_of_its_problem() {
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("wrong version", with(|s| s["version"] = json!(2)), "$.version: unsupported spec version 2"),
        ("other environment", with(|s| s["environment"] = json!("prod")), "$.environment: spec is for environment 'prod'"),
        ("unknown top-level field", with(|s| s["nat"] = json!([])), "$.nat: unknown field"),
        ("missing version", with(|s| { s.as_object_mut().unwrap().remove("version"); }), "$.version: missing required field"),
        ("NAT subnet is not an id", with(|s| s["nat_gateways"][0]["subnet_id"] = json!("public-a")), "$.nat_gateways[0].subnet_id: 'public-a' is not a subnet-... id"),
        ("NAT without route tables", with(|s| s["nat_gateways"][0]["route_table_ids"] = json!([])), "$.nat_gateways[0].route_table_ids: at least one"),
        ("NAT unknown field", with(|s| s["nat_gateways"][0]["eip"] = json!(true)), "$.nat_gateways[0].eip: unknown field `eip`"),
        ("external EIP without allocation", with(|s| s["nat_gateways"][0]["elastic_ip"] = json!({"mode": "external"})), "$.nat_gateways[0].elastic_ip.allocation_id: required when mode is 'external'"),
        ("EIP mode typo", with(|s| s["nat_gateways"][0]["elastic_ip"] = json!({"mode": "kept"})), "$.nat_gateways[0].elastic_ip.mode: unknown variant `kept`"),
        ("ALB name too long", with(|s| s["load_balancer"]["name"] = json!("a-very-long-load-balancer-name-that-aws-refuses")), "$.load_balancer.name:"),
        ("ALB in one subnet", with(|s| s["load_balancer"]["subnet_ids"] = json!(["subnet-0a1b2c3d4e5f60001"])), "$.load_balancer.subnet_ids: an ALB needs at least two subnets"),
        ("HTTPS without certificate", with(|s| { s["load_balancer"]["listeners"][1].as_object_mut().unwrap().remove("certificate_arn"); }), "$.load_balancer.listeners[1].certificate_arn: required for HTTPS"),
        ("two listeners on a port", with(|s| s["load_balancer"]["listeners"][1]["port"] = json!(80)), "$.load_balancer.listeners[1].port: port 80 has two listeners"),
        ("listener protocol typo", with(|s| s["load_balancer"]["listeners"][0]["protocol"] = json!("http")), "$.load_balancer.listeners[0].protocol: unknown variant `http`"),
        ("rule priority out of range", with(|s| s["load_balancer"]["listeners"][1]["rules"][0]["priority"] = json!(0)), "$.load_balancer.listeners[1].rules[0].priority: 1 to 50000"),
        ("rule without condition", with(|s| s["load_balancer"]["listeners"][1]["rules"][0]["path_patterns"] = json!([])), "$.load_balancer.listeners[1].rules[0]: a rule needs path_patterns or host_headers"),
        ("forward to a non-ARN", with(|s| s["load_balancer"]["listeners"][1]["default_action"]["target_group_arn"] = json!("frontend")), "$.load_balancer.listeners[1].default_action.target_group_arn: 'frontend' is not an elasticloadbalancing ARN"),
        ("redirect status typo", with(|s| s["load_balancer"]["listeners"][0]["default_action"]["status_code"] = json!("301")), "$.load_balancer.listeners[0].default_action.status_code: HTTP_301 or HTTP_302"),
        ("action type typo", with(|s| s["load_balancer"]["listeners"][0]["default_action"]["type"] = json!("redirects")), "$.load_balancer.listeners[0].default_action.type: unknown variant `redirects`"),
        ("record zone is not a zone id", with(|s| s["dns_records"][0]["zone_id"] = json!("example.com")), "$.dns_records[0].zone_id: 'example.com' is not a hosted zone id"),
        ("AAAA on an ipv4 ALB", with(|s| s["dns_records"][0]["types"] = json!(["A", "AAAA"])), "$.dns_records[0].types: an AAAA alias needs load_balancer.ip_address_type = dualstack"),
        ("negative desired count", with(|s| s["services"][0]["desired_count"] = json!(-1)), "$.services[0].desired_count: invalid value: integer `-1`"),
        ("desired count outside bounds", with(|s| s["services"][0]["desired_count"] = json!(9)), "$.services[0].desired_count: 9 is outside the auto-scaling bounds 1..=4"),
        ("min above max", with(|s| s["services"][0]["auto_scaling"]["min_capacity"] = json!(5)), "$.services[0].auto_scaling.min_capacity: min_capacity 5 exceeds max_capacity 4"),
        ("unknown scaling metric", with(|s| s["services"][0]["auto_scaling"]["target_tracking"]["metric"] = json!("CPU")), "$.services[0].auto_scaling.target_tracking.metric: 'CPU' is not one of"),
        ("service target group not forwarded", with(|s| s["services"][0]["load_balancer"]["target_group_arn"] = json!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/1234")), "$.services[0].load_balancer.target_group_arn: no listener or rule forwards to this target group"),
        ("duplicate service", with(|s| s["services"][1]["name"] = json!("backend")), "$.services[1].name: duplicate service demo/backend"),
        ("security group is not an id", with(|s| s["services"][1]["security_group_ids"] = json!(["tasks"])), "$.services[1].security_group_ids[0]: 'tasks' is not a sg-... id"),
        ("schedule zone unknown", with(|s| s["schedule"]["timezone"] = json!("Eastern")), "$.schedule.timezone: 'Eastern' is not an IANA time zone"),
        ("schedule time malformed", with(|s| s["schedule"]["start"] = json!("8am")), "$.schedule.start: '8am' is not HH:MM"),
        ("schedule day unknown", with(|s| s["schedule"]["days"] = json!(["MON", "Funday"])), "$.schedule.days[1]: 'Funday' is not one of MON..SUN"),
        ("skip date malformed", with(|s| s["schedule"]["skip_dates"] = json!(["25/12/2026"])), "$.schedule.skip_dates[0]: '25/12/2026' is not a YYYY-MM-DD date"),
        ("ownership tag overridden", with(|s| s["tags"]["ManagedBy"] = json!("terraform")), "$.tags.ManagedBy: this tag is set by the scheduler itself"),
        ("timeouts unknown field", with(|s| s["timeouts"]["nat_seconds"] = json!(5)), "$.timeouts.nat_seconds: unknown field `nat_seconds`"),
    ];
    for (name, got, expected) in cases {
        assert!(
            got.iter().any(|p| p.starts_with(expected)),
            "case '{name}': expected a problem starting with {expected:?}, got {got:#?}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once_across_sections() {
    let got = with(|s| {
        s["nat_gateways"][0]["subnet_id"] = json!(42);
        s["load_balancer"]["listeners"][0]["port"] = json!("eighty");
        s["services"][1]["cluster"] = json!(null);
        s["dns_records"][0]["types"] = json!(["MX"]);
    });
    assert_eq!(got.len(), 4, "{got:#?}");
    for path in [
        "$.nat_gateways[0].subnet_id",
        "$.load_balancer.listeners[0].port",
        "$.services[1].cluster",
        "$.dns_records[0].types[0]",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(path)),
            "{path} missing from {got:#?}"
        );
    }
}

#[test]
fn not_json_and_not_an_object_are_rejected_plainly() {
    let err = Spec::from_json(b"{ nope", "demo").unwrap_err();
    assert!(err.to_string().contains("not valid JSON"));
    let err = Spec::from_json(b"[]", "demo").unwrap_err();
    assert!(err.to_string().contains("must be a JSON object"));
}
