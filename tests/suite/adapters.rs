//! The real adapters over the wire against moto: create/describe/delete round trips, the error
//! kinds "already done" is decided on (one AWS call per mutating method; the decision is above the
//! adapters, with `AlreadyDone`), and S3 conditional writes.

use crate::support;

use runtime_scheduler::aws::{AlreadyDone, Clients, ErrorKind, Precondition, PutError};
use runtime_scheduler::model::{
    AliasTarget, NatState, RecordChange, RouteTarget, ScalingBounds, ServiceStatus, Tags,
};
use runtime_scheduler::ownership::{is_owned, ownership_tags};
use runtime_scheduler::spec::{RecordType, TargetTracking};
use support::fixture::{decoys, demo_environment, DemoEnv};
use support::Moto;

const ENV: &str = "demo";

async fn setup() -> (Moto, aws_config::SdkConfig, DemoEnv, Clients) {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let demo = demo_environment(&sdk, ENV).await;
    let clients = Clients::from_sdk_config(&sdk, &demo.bucket, true, Default::default());
    (moto, sdk, demo, clients)
}

fn tags_with(extra: &[(&str, &str)]) -> Tags {
    let mut tags = ownership_tags(ENV);
    tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    tags
}

// ---------------------------------------------------------------- network

#[tokio::test]
async fn nat_gateway_and_elastic_ip_round_trip() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let net = &clients.network;
    let subnet = &demo.public_subnet_ids[0];
    let tags = tags_with(&[("runtime-scheduler:nat", "a")]);

    let eip = net.allocate_address(&tags).await.unwrap();
    assert!(eip.allocation_id.starts_with("eipalloc-"));
    let listed = net.describe_addresses().await.unwrap();
    let seen = listed
        .iter()
        .find(|a| a.allocation_id == eip.allocation_id)
        .expect("allocated address is listed");
    assert_eq!(seen.tags, tags, "tags are applied at allocation");
    assert_eq!(seen.association_id, None);

    let nat = net
        .create_nat_gateway(subnet, &eip.allocation_id, &tags, "token-1")
        .await
        .unwrap();
    assert_eq!(nat.subnet_id, *subnet);
    assert_eq!(nat.allocation_ids, vec![eip.allocation_id.clone()]);
    assert_eq!(nat.tags, tags);

    let in_subnet = net
        .describe_nat_gateways(std::slice::from_ref(subnet))
        .await
        .unwrap();
    assert_eq!(in_subnet.len(), 1);
    assert_eq!(in_subnet[0].id, nat.id);
    assert_eq!(in_subnet[0].tags, tags);
    assert!(in_subnet[0].state.is_live());
    let held = net.describe_addresses().await.unwrap();
    assert!(held
        .iter()
        .any(|a| a.allocation_id == eip.allocation_id && a.association_id.is_some()));

    net.delete_nat_gateway(&nat.id).await.unwrap();
    assert!(
        net.describe_nat_gateways(std::slice::from_ref(subnet))
            .await
            .unwrap()
            .is_empty(),
        "deleted ones are excluded"
    );
    let by_id = net
        .describe_nat_gateways_by_id(std::slice::from_ref(&nat.id))
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1, "a deleted gateway is still known by id");
    assert_eq!(by_id[0].state, NatState::Deleted);
    net.delete_nat_gateway(&nat.id)
        .await
        .gone_is_done()
        .expect("deleting a deleted gateway is already done");

    net.release_address(&eip.allocation_id).await.unwrap();
    assert!(net
        .describe_addresses()
        .await
        .unwrap()
        .iter()
        .all(|a| a.allocation_id != eip.allocation_id));
    let again = net.release_address(&eip.allocation_id).await;
    assert_eq!(
        again.as_ref().map_err(|e| e.kind),
        Err(ErrorKind::NotFound),
        "{again:?}"
    );
    again
        .gone_is_done()
        .expect("releasing a released address is already done");
}

#[tokio::test]
async fn describe_nat_gateways_returns_only_the_asked_subnets() {
    let (_moto, sdk, demo, clients) = setup().await;
    let decoys = decoys(&sdk, &demo).await;
    let other_subnet = &demo.public_subnet_ids[1];

    assert!(
        clients
            .network
            .describe_nat_gateways(&[])
            .await
            .unwrap()
            .is_empty(),
        "no subnets means none, not all"
    );
    assert!(clients
        .network
        .describe_nat_gateways(std::slice::from_ref(other_subnet))
        .await
        .unwrap()
        .is_empty());
    let unowned = clients
        .network
        .describe_nat_gateways(&demo.public_subnet_ids[..1])
        .await
        .unwrap();
    assert_eq!(
        unowned.len(),
        1,
        "unowned gateways are observed too (ownership is the caller's call)"
    );
    assert_eq!(unowned[0].id, decoys.nat_gateway_id);
    assert!(!is_owned(&unowned[0].tags, ENV));
    assert!(
        clients
            .network
            .describe_nat_gateways_by_id(&["nat-0123456789abcdef0".to_string()])
            .await
            .unwrap()
            .is_empty(),
        "an id nobody knows is absent, not an error"
    );
}

#[tokio::test]
async fn default_route_is_created_replaced_and_deleted_idempotently() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let net = &clients.network;
    let tables = &demo.private_route_table_ids;
    let tags = tags_with(&[]);
    let eip_a = net.allocate_address(&tags).await.unwrap();
    let eip_b = net.allocate_address(&tags).await.unwrap();
    let nat_a = net
        .create_nat_gateway(&demo.public_subnet_ids[0], &eip_a.allocation_id, &tags, "a")
        .await
        .unwrap();
    let nat_b = net
        .create_nat_gateway(&demo.public_subnet_ids[1], &eip_b.allocation_id, &tags, "b")
        .await
        .unwrap();

    let before = net.describe_route_tables(tables).await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|t| t.default_route.is_none()));
    assert!(
        net.describe_route_tables(&[]).await.unwrap().is_empty(),
        "no ids means none, not all"
    );

    net.create_default_route(&tables[0], &nat_a.id)
        .await
        .unwrap();
    // A second create is refused as "already exists", whichever gateway it names: whether that
    // is already done (the same gateway, or an old one of ours) is the executor's call.
    for nat in [&nat_a.id, &nat_b.id] {
        let err = net
            .create_default_route(&tables[0], nat)
            .await
            .expect_err("the route exists");
        assert_eq!(err.code.as_deref(), Some("RouteAlreadyExists"));
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
    }

    let via_a = &net.describe_route_tables(&tables[..1]).await.unwrap()[0];
    let route = via_a.default_route.as_ref().expect("default route");
    assert_eq!(route.target, RouteTarget::NatGateway(nat_a.id.clone()));
    assert!(route.active);

    net.replace_default_route(&tables[0], &nat_b.id)
        .await
        .unwrap();
    let via_b = &net.describe_route_tables(&tables[..1]).await.unwrap()[0];
    assert_eq!(
        via_b.default_route.as_ref().unwrap().target,
        RouteTarget::NatGateway(nat_b.id.clone())
    );

    net.delete_default_route(&tables[0]).await.unwrap();
    assert!(net.describe_route_tables(&tables[..1]).await.unwrap()[0]
        .default_route
        .is_none());
    net.delete_default_route(&tables[0])
        .await
        .gone_is_done()
        .expect("deleting an absent route is already done");
}

#[tokio::test]
async fn a_default_route_through_an_internet_gateway_is_reported_as_other() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let tables = clients
        .network
        .describe_route_tables(std::slice::from_ref(&demo.public_route_table_id))
        .await
        .unwrap();
    let route = tables[0]
        .default_route
        .as_ref()
        .expect("the public table routes through the IGW");
    assert!(
        matches!(&route.target, RouteTarget::Other(id) if id.starts_with("igw-")),
        "{route:?}"
    );
}

// ---------------------------------------------------------------- load balancing

#[tokio::test]
async fn load_balancer_listeners_and_rules_round_trip() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let lbs = &clients.load_balancing;
    let spec = demo.spec.load_balancer.clone().unwrap();
    let tags = tags_with(&[("Project", "acme-shop")]);

    assert_eq!(lbs.find_load_balancer(&spec.name).await.unwrap(), None);
    let lb = lbs.create_load_balancer(&spec, &tags).await.unwrap();
    assert_eq!(lb.name, spec.name);
    assert!(!lb.dns_name.is_empty() && !lb.canonical_hosted_zone_id.is_empty());
    let found = lbs
        .find_load_balancer(&spec.name)
        .await
        .unwrap()
        .expect("found by name");
    assert_eq!(found.arn, lb.arn);
    assert_eq!(found.tags, tags, "tags are applied at creation");

    assert!(!spec
        .attributes
        .satisfied_by(&lbs.attributes(&lb.arn).await.unwrap()));
    lbs.set_attributes(&lb.arn, &spec.attributes.wanted())
        .await
        .unwrap();
    let actual = lbs.attributes(&lb.arn).await.unwrap();
    assert!(spec.attributes.satisfied_by(&actual));
    let mut other = spec.attributes.clone();
    other.idle_timeout_seconds = 120;
    assert!(!other.satisfied_by(&actual));

    let mut created = Vec::new();
    for listener in &spec.listeners {
        let l = lbs.create_listener(&lb.arn, listener, &tags).await.unwrap();
        assert_eq!(l.port, listener.port);
        assert_eq!(l.protocol, listener.protocol.as_str());
        for rule in &listener.rules {
            lbs.create_rule(&l.arn, rule, &tags).await.unwrap();
            lbs.create_rule(&l.arn, rule, &tags)
                .await
                .existing_is_done()
                .expect("a rule at a taken priority is already done");
        }
        created.push(l);
    }
    let listeners = lbs.describe_listeners(&lb.arn).await.unwrap();
    let mut summary: Vec<(u16, &str, Vec<u32>)> = Vec::new();
    for l in &listeners {
        let priorities = lbs.rule_priorities(&l.arn).await.unwrap();
        summary.push((l.port, l.protocol.as_str(), priorities));
    }
    assert_eq!(
        summary,
        vec![(80, "HTTP", vec![]), (443, "HTTPS", vec![10])],
        "the default rule is not listed"
    );

    for l in &created {
        lbs.delete_listener(&l.arn).await.unwrap();
        lbs.delete_listener(&l.arn)
            .await
            .gone_is_done()
            .expect("deleting a deleted listener is already done");
    }
    assert!(lbs.describe_listeners(&lb.arn).await.unwrap().is_empty());

    lbs.delete_load_balancer(&lb.arn).await.unwrap();
    assert_eq!(lbs.find_load_balancer(&spec.name).await.unwrap(), None);
    lbs.delete_load_balancer(&lb.arn)
        .await
        .gone_is_done()
        .expect("deleting a deleted load balancer is already done");
    assert_eq!(
        lbs.describe_load_balancer(&lb.arn).await.unwrap(),
        None,
        "described by ARN: gone"
    );
}

#[tokio::test]
async fn web_acl_association_round_trip() {
    let (_moto, sdk, demo, clients) = setup().await;
    let lbs = &clients.load_balancing;
    let lb = lbs
        .create_load_balancer(demo.spec.load_balancer.as_ref().unwrap(), &tags_with(&[]))
        .await
        .unwrap();
    let waf = aws_sdk_wafv2::Client::new(&sdk);
    let acl = waf
        .create_web_acl()
        .name("demo-web")
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .default_action(
            aws_sdk_wafv2::types::DefaultAction::builder()
                .allow(aws_sdk_wafv2::types::AllowAction::builder().build())
                .build(),
        )
        .visibility_config(
            aws_sdk_wafv2::types::VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false)
                .metric_name("demo-web")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateWebACL");
    let acl_arn = acl.summary().and_then(|s| s.arn()).unwrap().to_string();

    assert_eq!(lbs.web_acl_for(&lb.arn).await.unwrap(), None);
    lbs.disassociate_web_acl(&lb.arn)
        .await
        .gone_is_done()
        .expect("nothing associated is already done");
    lbs.associate_web_acl(&lb.arn, &acl_arn).await.unwrap();
    assert_eq!(lbs.web_acl_for(&lb.arn).await.unwrap(), Some(acl_arn));
    lbs.disassociate_web_acl(&lb.arn).await.unwrap();
    assert_eq!(lbs.web_acl_for(&lb.arn).await.unwrap(), None);
}

#[tokio::test]
async fn target_health_counts_registered_targets() {
    let (_moto, sdk, demo, clients) = setup().await;
    let tg = &demo.backend_target_group_arn;
    assert_eq!(
        clients.load_balancing.target_health(tg).await.unwrap(),
        (0, 0)
    );
    aws_sdk_elasticloadbalancingv2::Client::new(&sdk)
        .register_targets()
        .target_group_arn(tg)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id("10.0.10.5")
                .port(8000)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTargets");
    let (healthy, registered) = clients.load_balancing.target_health(tg).await.unwrap();
    assert_eq!(registered, 1);
    assert!(healthy <= registered);
}

#[tokio::test]
async fn a_load_balancer_that_is_gone_reads_as_gone() {
    // A restored or stale state document may name an ALB that no longer exists: reading it is
    // not a failure, it is the answer "gone" (AWS and moto both answer LoadBalancerNotFound).
    let (_moto, _sdk, _demo, clients) = setup().await;
    let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nope/0123456789abcdef";
    let lb = clients.load_balancing.describe_load_balancer(arn).await;
    assert!(matches!(lb, Ok(None)), "{lb:?}");
    let listeners = clients.load_balancing.describe_listeners(arn).await;
    assert!(matches!(&listeners, Ok(l) if l.is_empty()), "{listeners:?}");
}

// ---------------------------------------------------------------- dns

#[tokio::test]
async fn alias_and_txt_records_round_trip() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let dns = &clients.dns;
    let zone = &demo.zone_id;
    let name = "app.example.test";
    let target = AliasTarget {
        dns_name: "demo-web-123.us-east-1.elb.amazonaws.com".into(),
        hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        evaluate_target_health: true,
    };

    assert!(dns.records(zone, name, &[]).await.unwrap().is_empty());
    let change = dns
        .change_records(
            zone,
            &[
                RecordChange::UpsertAlias {
                    name: name.into(),
                    record_type: RecordType::A,
                    target: target.clone(),
                },
                RecordChange::UpsertTxt {
                    name: name.into(),
                    ttl: 60,
                    values: vec!["owner=runtime-scheduler".into()],
                },
                // Neighbours that must not show up at `name`.
                RecordChange::UpsertTxt {
                    name: "x.app.example.test".into(),
                    ttl: 60,
                    values: vec!["other".into()],
                },
                RecordChange::UpsertTxt {
                    name: "app2.example.test".into(),
                    ttl: 60,
                    values: vec!["other".into()],
                },
            ],
        )
        .await
        .unwrap();

    assert!(
        dns.change_in_sync(&change).await.unwrap(),
        "moto syncs at once"
    );
    let mut records = dns.records(zone, "App.Example.Test", &[]).await.unwrap();
    records.sort_by(|a, b| a.record_type.cmp(&b.record_type));
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].name, "app.example.test.");
    assert_eq!(records[0].record_type, "A");
    let alias = records[0].alias.as_ref().expect("alias");
    assert_eq!(alias.dns_name.trim_end_matches('.'), target.dns_name);
    assert_eq!(alias.hosted_zone_id, target.hosted_zone_id);
    assert_eq!(records[1].record_type, "TXT");
    assert_eq!(
        records[1].values,
        vec!["\"owner=runtime-scheduler\"".to_string()]
    );
    assert_eq!(records[1].ttl, Some(60));

    let a_record = records[0].clone();
    dns.change_records(
        zone,
        &[RecordChange::Delete {
            record: a_record.clone(),
        }],
    )
    .await
    .unwrap();
    let left = dns.records(zone, name, &[]).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|r| r.record_type.as_str())
            .collect::<Vec<_>>(),
        vec!["TXT"]
    );
    // moto accepts deleting a missing record (Route53 refuses the batch: the executor re-reads
    // and drops that delete, see the simulator suites).
    dns.change_records(zone, &[RecordChange::Delete { record: a_record }])
        .await
        .unwrap();
}

#[tokio::test]
async fn one_listing_reads_a_name_and_its_ownership_record() {
    let (moto, _sdk, demo, clients) = setup().await;
    let dns = &clients.dns;
    let zone = &demo.zone_id;
    let owner = "_runtime-scheduler.app.example.test".to_string();
    dns.change_records(
        zone,
        &[
            RecordChange::UpsertTxt {
                name: "app.example.test".into(),
                ttl: 60,
                values: vec!["at the name".into()],
            },
            RecordChange::UpsertTxt {
                name: owner.clone(),
                ttl: 60,
                values: vec!["owner".into()],
            },
            RecordChange::UpsertTxt {
                name: "b.app.example.test".into(),
                ttl: 60,
                values: vec!["a neighbour under the name".into()],
            },
        ],
    )
    .await
    .unwrap();
    moto.start_recording();
    let found = dns
        .records(zone, "app.example.test", std::slice::from_ref(&owner))
        .await
        .unwrap();
    let mut names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        vec!["_runtime-scheduler.app.example.test.", "app.example.test."]
    );
    let calls = moto.recorded_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
}

// ---------------------------------------------------------------- containers

#[tokio::test]
async fn service_scaling_and_policy_round_trip() {
    let (_moto, sdk, demo, clients) = setup().await;
    let ecs = &clients.containers;
    let spec = demo
        .spec
        .services
        .iter()
        .find(|s| s.name == "backend")
        .unwrap()
        .clone();
    let tags = tags_with(&[("Project", "acme-shop")]);
    let names = vec![spec.name.clone(), "never-created".to_string()];

    assert!(ecs
        .describe_services(&spec.cluster, &names)
        .await
        .unwrap()
        .is_empty());
    let created = ecs
        .create_service(&spec, &spec.task_definition, 0, &tags)
        .await
        .unwrap();
    assert_eq!(
        (created.cluster.as_str(), created.name.as_str()),
        (spec.cluster.as_str(), spec.name.as_str())
    );
    assert_eq!(created.status, ServiceStatus::Active);

    let described = ecs.describe_services(&spec.cluster, &names).await.unwrap();
    assert_eq!(described.len(), 1, "missing services are omitted");
    assert_eq!(described[0].desired_count, 0);
    assert_eq!(described[0].tags, tags, "tags are applied at creation");

    ecs.update_service(&spec.cluster, &spec.name, Some(2), None, None)
        .await
        .unwrap();
    assert_eq!(
        ecs.describe_services(&spec.cluster, &names).await.unwrap()[0].desired_count,
        2
    );

    let one = std::slice::from_ref(&spec.name);
    assert!(ecs
        .scaling_bounds(&spec.cluster, one)
        .await
        .unwrap()
        .is_empty());
    ecs.set_scaling_bounds(&spec.cluster, &spec.name, ScalingBounds { min: 1, max: 4 })
        .await
        .unwrap();
    assert_eq!(
        ecs.scaling_bounds(&spec.cluster, one)
            .await
            .unwrap()
            .get(&spec.name),
        Some(&ScalingBounds { min: 1, max: 4 })
    );
    ecs.set_scaling_bounds(&spec.cluster, &spec.name, ScalingBounds { min: 0, max: 0 })
        .await
        .unwrap();
    assert_eq!(
        ecs.scaling_bounds(&spec.cluster, one)
            .await
            .unwrap()
            .get(&spec.name),
        Some(&ScalingBounds { min: 0, max: 0 })
    );

    assert!(ecs
        .services_with_policy(&spec.cluster, one)
        .await
        .unwrap()
        .is_empty());
    let policy = TargetTracking {
        metric: "ECSServiceAverageCPUUtilization".into(),
        target_value: 60.0,
    };
    ecs.put_scaling_policy(&spec.cluster, &spec.name, &policy, None)
        .await
        .unwrap();
    assert!(ecs
        .services_with_policy(&spec.cluster, one)
        .await
        .unwrap()
        .contains(&spec.name));
    ecs.put_scaling_policy(&spec.cluster, &spec.name, &policy, None)
        .await
        .expect("putting it again updates it");

    let revision = ecs
        .describe_task_definition(&spec.task_definition)
        .await
        .unwrap()
        .expect("the family's latest ACTIVE revision");
    assert!(revision.active && revision.revision >= 1, "{revision:?}");
    assert_eq!(
        ecs.describe_task_definition("no-such-family:3")
            .await
            .unwrap(),
        None
    );
    // A deploy carries the spec's deployment settings, its alarms included.
    let mut deployment = spec.deployment.clone();
    deployment.alarm_names = vec!["acme-shop-demo-backend-target-5xx".into()];
    ecs.update_service(
        &spec.cluster,
        &spec.name,
        None,
        Some(&revision.arn),
        Some(&deployment),
    )
    .await
    .unwrap();
    let described = ecs.describe_services(&spec.cluster, one).await.unwrap();
    assert_eq!(
        described[0].task_definition.as_deref(),
        Some(revision.arn.as_str())
    );
    let raw = aws_sdk_ecs::Client::new(&sdk)
        .describe_services()
        .cluster(&spec.cluster)
        .services(&spec.name)
        .send()
        .await
        .unwrap();
    let alarms = raw.services()[0]
        .deployment_configuration()
        .and_then(|d| d.alarms())
        .map(|a| (a.alarm_names().to_vec(), a.enable(), a.rollback()));
    assert_eq!(
        alarms,
        Some((
            vec!["acme-shop-demo-backend-target-5xx".to_string()],
            true,
            true
        )),
        "the deployment alarms as ECS describes them"
    );

    ecs.deregister_scaling(&spec.cluster, &spec.name)
        .await
        .unwrap();
    assert!(ecs
        .scaling_bounds(&spec.cluster, one)
        .await
        .unwrap()
        .is_empty());
    ecs.delete_service(&spec.cluster, &spec.name).await.unwrap();
    let after = ecs.describe_services(&spec.cluster, one).await.unwrap();
    assert!(
        after.iter().all(|s| s.status != ServiceStatus::Active),
        "{after:?}"
    );
}

#[tokio::test]
async fn cluster_override_tags_are_set_and_removed() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let ecs = &clients.containers;
    let key = "runtime-scheduler:override".to_string();
    let cluster = || async {
        ecs.describe_clusters(std::slice::from_ref(&demo.cluster))
            .await
            .unwrap()
            .remove(0)
    };
    let c = cluster().await;
    assert!(c.arn.starts_with("arn:aws:ecs:"), "{c:?}");
    assert!(!c.tags.contains_key(&key));
    ecs.tag_cluster(&c.arn, &Tags::from([(key.clone(), "keep-running".into())]))
        .await
        .unwrap();
    assert_eq!(
        cluster().await.tags.get(&key).map(String::as_str),
        Some("keep-running")
    );
    ecs.untag_cluster(&c.arn, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(!cluster().await.tags.contains_key(&key));
    ecs.untag_cluster(&c.arn, std::slice::from_ref(&key))
        .await
        .expect("removing an absent tag is a no-op");

    assert!(
        ecs.describe_clusters(&["no-such-cluster".to_string()])
            .await
            .unwrap()
            .is_empty(),
        "a missing cluster is absent"
    );
}

// ---------------------------------------------------------------- store

#[tokio::test]
async fn conditional_writes_refuse_a_stale_or_duplicate_writer() {
    let (moto, _sdk, _demo, clients) = setup().await;
    let store = &clients.store;
    let key = "demo/state.json";

    assert_eq!(
        store.get(key).await.unwrap(),
        None,
        "a missing key is None, not an error"
    );
    moto.start_recording();
    let first = store
        .put(key, b"{\"v\":1}".to_vec(), Some(Precondition::Absent))
        .await
        .unwrap();
    let (body, etag) = store.get(key).await.unwrap().expect("written");
    assert_eq!(body, b"{\"v\":1}");
    assert_eq!(etag, first);
    moto.stop_recording();
    let calls: Vec<String> = moto.recorded_calls().iter().map(|c| c.action()).collect();
    assert_eq!(calls, vec!["s3:PutObject", "s3:GetObject"]);
    assert_eq!(
        moto.mutating_calls()
            .iter()
            .map(|c| c.action())
            .collect::<Vec<_>>(),
        vec!["s3:PutObject"]
    );

    let again = store
        .put(key, b"{\"v\":2}".to_vec(), Some(Precondition::Absent))
        .await;
    assert!(
        matches!(again, Err(PutError::PreconditionFailed)),
        "second Absent put: {again:?}"
    );

    let second = store
        .put(
            key,
            b"{\"v\":2}".to_vec(),
            Some(Precondition::Matches(first.clone())),
        )
        .await
        .unwrap();
    assert_ne!(second, first);
    let stale = store
        .put(
            key,
            b"{\"v\":3}".to_vec(),
            Some(Precondition::Matches(first)),
        )
        .await;
    assert!(
        matches!(stale, Err(PutError::PreconditionFailed)),
        "stale Matches put: {stale:?}"
    );
    assert_eq!(store.get(key).await.unwrap().unwrap().0, b"{\"v\":2}");

    store
        .put(key, b"{\"v\":4}".to_vec(), None)
        .await
        .expect("an unconditional put overwrites");
    assert_eq!(store.get(key).await.unwrap().unwrap().0, b"{\"v\":4}");
}

#[tokio::test]
async fn the_fixture_spec_is_readable_through_the_store() {
    let (_moto, _sdk, demo, clients) = setup().await;
    let (body, _) = clients
        .store
        .get(&demo.spec_key)
        .await
        .unwrap()
        .expect("spec.json is written");
    let spec = runtime_scheduler::spec::Spec::from_json(&body, ENV).expect("valid spec");
    assert_eq!(spec, demo.spec);
}

// ---------------------------------------------------------------- harness

/// Runs every adapter method against moto with the recorder on, then checks each recorded call
/// against the IAM policy: the wire-level twin of the source scan in `aws::permissions`.
#[tokio::test]
async fn every_call_the_adapters_make_is_in_the_iam_policy() {
    let (moto, _sdk, demo, c) = setup().await;
    let tags = tags_with(&[]);
    let lb_spec = demo.spec.load_balancer.clone().unwrap();
    let service = demo.spec.services[0].clone();
    let one = std::slice::from_ref(&service.name);
    moto.start_recording();

    let eip = c.network.allocate_address(&tags).await.unwrap();
    let nat = c
        .network
        .create_nat_gateway(&demo.public_subnet_ids[0], &eip.allocation_id, &tags, "t")
        .await
        .unwrap();
    c.network
        .describe_nat_gateways(&demo.public_subnet_ids)
        .await
        .unwrap();
    c.network
        .describe_nat_gateways_by_id(std::slice::from_ref(&nat.id))
        .await
        .unwrap();
    c.network.describe_addresses().await.unwrap();
    c.network
        .describe_route_tables(&demo.private_route_table_ids)
        .await
        .unwrap();
    c.network
        .create_default_route(&demo.private_route_table_ids[0], &nat.id)
        .await
        .unwrap();
    c.network
        .replace_default_route(&demo.private_route_table_ids[0], &nat.id)
        .await
        .unwrap();
    c.network
        .delete_default_route(&demo.private_route_table_ids[0])
        .await
        .unwrap();
    c.network.delete_nat_gateway(&nat.id).await.unwrap();
    // moto keeps a deleted gateway's association; clearing it is what a start does.
    if let Some(assoc) = c
        .network
        .describe_addresses()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.allocation_id == eip.allocation_id)
        .and_then(|a| a.association_id)
    {
        c.network
            .disassociate_address(&assoc)
            .await
            .gone_is_done()
            .unwrap();
    }
    c.network.release_address(&eip.allocation_id).await.unwrap();

    let lb = c
        .load_balancing
        .create_load_balancer(&lb_spec, &tags)
        .await
        .unwrap();
    c.load_balancing
        .find_load_balancer(&lb_spec.name)
        .await
        .unwrap();
    c.load_balancing
        .describe_load_balancer(&lb.arn)
        .await
        .unwrap();
    c.load_balancing.attributes(&lb.arn).await.unwrap();
    c.load_balancing
        .set_attributes(&lb.arn, &lb_spec.attributes.wanted())
        .await
        .unwrap();
    let https = &lb_spec.listeners[1];
    let listener = c
        .load_balancing
        .create_listener(&lb.arn, https, &tags)
        .await
        .unwrap();
    c.load_balancing
        .create_rule(&listener.arn, &https.rules[0], &tags)
        .await
        .unwrap();
    c.load_balancing.describe_listeners(&lb.arn).await.unwrap();
    c.load_balancing
        .rule_priorities(&listener.arn)
        .await
        .unwrap();
    c.load_balancing.web_acl_for(&lb.arn).await.unwrap();
    c.load_balancing
        .disassociate_web_acl(&lb.arn)
        .await
        .gone_is_done()
        .unwrap();
    c.load_balancing
        .target_health(&demo.backend_target_group_arn)
        .await
        .unwrap();
    c.load_balancing
        .delete_listener(&listener.arn)
        .await
        .unwrap();
    c.load_balancing
        .delete_load_balancer(&lb.arn)
        .await
        .unwrap();

    let name = "demo.example.test";
    let target = AliasTarget {
        dns_name: lb.dns_name.clone(),
        hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
        evaluate_target_health: true,
    };
    let change = c
        .dns
        .change_records(
            &demo.zone_id,
            &[RecordChange::UpsertAlias {
                name: name.into(),
                record_type: RecordType::A,
                target,
            }],
        )
        .await
        .unwrap();
    c.dns.change_in_sync(&change).await.unwrap();
    c.dns.records(&demo.zone_id, name, &[]).await.unwrap();

    c.containers
        .describe_task_definition(&service.task_definition)
        .await
        .unwrap();
    c.containers
        .create_service(&service, &service.task_definition, 0, &tags)
        .await
        .unwrap();
    c.containers
        .describe_services(&service.cluster, one)
        .await
        .unwrap();
    c.containers
        .update_service(&service.cluster, &service.name, Some(1), None, None)
        .await
        .unwrap();
    c.containers
        .set_scaling_bounds(
            &service.cluster,
            &service.name,
            ScalingBounds { min: 1, max: 4 },
        )
        .await
        .unwrap();
    c.containers
        .scaling_bounds(&service.cluster, one)
        .await
        .unwrap();
    let policy = TargetTracking {
        metric: "ECSServiceAverageCPUUtilization".into(),
        target_value: 60.0,
    };
    c.containers
        .put_scaling_policy(&service.cluster, &service.name, &policy, None)
        .await
        .unwrap();
    c.containers
        .services_with_policy(&service.cluster, one)
        .await
        .unwrap();
    let cluster = c
        .containers
        .describe_clusters(std::slice::from_ref(&service.cluster))
        .await
        .unwrap()
        .remove(0);
    c.containers
        .tag_cluster(
            &cluster.arn,
            &Tags::from([("k".to_string(), "v".to_string())]),
        )
        .await
        .unwrap();
    c.containers
        .untag_cluster(&cluster.arn, &["k".to_string()])
        .await
        .unwrap();
    c.containers
        .deregister_scaling(&service.cluster, &service.name)
        .await
        .unwrap();
    c.containers
        .delete_service(&service.cluster, &service.name)
        .await
        .unwrap();

    c.store
        .put("demo/x.json", b"{}".to_vec(), Some(Precondition::Absent))
        .await
        .unwrap();
    c.store.get("demo/x.json").await.unwrap();
    c.store.list("demo/", "", 10).await.unwrap();
    moto.stop_recording();

    let granted = runtime_scheduler::aws::permissions::required_actions();
    let recorded: std::collections::BTreeSet<String> =
        moto.recorded_calls().iter().map(|c| c.action()).collect();
    let missing: Vec<&String> = recorded.iter().filter(|a| !granted.contains(a)).collect();
    assert!(missing.is_empty(), "recorded but not granted: {missing:?}");
    for expected in [
        "ec2:CreateNatGateway",
        "elasticloadbalancing:DescribeRules",
        "wafv2:GetWebACLForResource",
        "route53:GetChange",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        "ecs:TagResource",
        "ecs:DeleteService",
        "ecs:DescribeTaskDefinition",
        "ec2:DisassociateAddress",
        "s3:PutObject",
        "s3:ListBucket",
    ] {
        assert!(
            recorded.contains(expected),
            "{expected} was not recorded: {recorded:?}"
        );
    }
    let mutating: Vec<String> = moto.mutating_calls().iter().map(|c| c.action()).collect();
    assert!(mutating
        .iter()
        .all(|a| !a.contains(":Describe") && !a.contains(":List") && !a.contains(":Get")));
    assert!(mutating.contains(&"s3:PutObject".to_string()));
}

#[tokio::test]
async fn decoys_report_intact_until_touched() {
    let (_moto, sdk, demo, _clients) = setup().await;
    let decoys = decoys(&sdk, &demo).await;
    decoys.assert_intact(&sdk).await;

    aws_sdk_ecs::Client::new(&sdk)
        .update_service()
        .cluster(&decoys.cluster)
        .service(&decoys.service_name)
        .desired_count(0)
        .send()
        .await
        .unwrap();
    let verdict = tokio::spawn({
        let sdk = sdk.clone();
        async move { decoys.assert_intact(&sdk).await }
    })
    .await;
    let panic = verdict
        .expect_err("a touched decoy is reported")
        .into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("desired count: 1 -> 0"), "{message}");
}

#[tokio::test]
async fn reset_wipes_everything() {
    let (moto, sdk, demo, clients) = setup().await;
    moto.reset();
    assert_eq!(
        clients
            .load_balancing
            .find_load_balancer("anything")
            .await
            .unwrap(),
        None
    );
    let buckets = support::s3_client(&sdk)
        .list_buckets()
        .send()
        .await
        .unwrap();
    assert!(buckets
        .buckets()
        .iter()
        .all(|b| b.name() != Some(demo.bucket.as_str())));
}

#[tokio::test]
async fn services_of_a_cluster_that_does_not_exist_read_as_none() {
    let (_moto, _sdk, _demo, clients) = setup().await;
    let services = clients
        .containers
        .describe_services("no-such-cluster", &["backend".to_string()])
        .await;
    assert!(matches!(&services, Ok(s) if s.is_empty()), "{services:?}");
}
