//! Table-driven tests of the pure planner: per resource, present, absent, pending and
//! foreign-owned, for start and stop. The spec is docs/runtime-spec.example.json.

use chrono::{TimeZone, Utc};
use runtime_scheduler::model::*;
use runtime_scheduler::observe::{Observed, ObservedLoadBalancer, ObservedName, ObservedService};
use runtime_scheduler::ownership::{
    owner_record_value, ownership_tags, OWNER_RECORD_PREFIX, TAG_EIP_MODE, TAG_NAT,
};
use runtime_scheduler::plan::{plan_start, plan_stop, NetworkStep, Plan, ServiceStep, StepKind};
use runtime_scheduler::schedule::Desired;
use runtime_scheduler::spec::Spec;
use runtime_scheduler::state::{RecordedService, State};

const ENV: &str = "demo";
const PUBLIC_SUBNET: &str = "subnet-0a1b2c3d4e5f60001";
const RT1: &str = "rtb-0a1b2c3d4e5f60011";
const RT2: &str = "rtb-0a1b2c3d4e5f60012";
const PRIVATE_SUBNET_1: &str = "subnet-0a1b2c3d4e5f60003";
const PRIVATE_SUBNET_2: &str = "subnet-0a1b2c3d4e5f60004";
const ZONE: &str = "Z0123456789ABCDEFGHIJ";
const NAME: &str = "demo.example.com.";
const LB_ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/demo-web/50dc6c495c0c9188";
const LB_DNS: &str = "demo-web-1234567890.us-east-1.elb.amazonaws.com";

fn spec() -> Spec {
    Spec::from_json(include_bytes!("../../docs/runtime-spec.example.json"), ENV)
        .expect("the example spec is valid")
}

fn owned(extra: &[(&str, &str)]) -> Tags {
    let mut t = ownership_tags(ENV);
    for (k, v) in extra {
        t.insert(k.to_string(), v.to_string());
    }
    t
}

fn foreign() -> Tags {
    Tags::from([
        ("Environment".to_string(), ENV.to_string()),
        ("Team".to_string(), "someone-else".to_string()),
    ])
}

/// A scenario: what the planner sees.
#[derive(Clone)]
struct Tier {
    spec: Spec,
    observed: Observed,
    state: State,
}

impl Tier {
    /// Stopped by the scheduler: services at 0 with bounds 0..0, the kept address free, no
    /// NAT, no routes, no ALB, no alias (the ownership TXT stays), counts recorded.
    fn stopped() -> Tier {
        let mut t = Tier::running();
        t.observed.nat_gateways.clear();
        for a in &mut t.observed.addresses {
            a.association_id = None;
        }
        for rt in &mut t.observed.route_tables {
            rt.default_route = None;
        }
        t.observed.load_balancer = ObservedLoadBalancer::default();
        t.observed.route_target_owned.clear();
        for n in &mut t.observed.names {
            n.records.clear();
        }
        for s in &mut t.observed.services {
            s.service.desired_count = 0;
            s.service.running_count = 0;
            if s.bounds.is_some() {
                s.bounds = Some(ScalingBounds { min: 0, max: 0 });
            }
        }
        t.state.recorded.insert(
            "demo/backend".into(),
            RecordedService {
                desired_count: 3,
                scaling: Some(ScalingBounds { min: 2, max: 6 }),
                task_definition: None,
                recorded_at: now(),
            },
        );
        t.state.recorded.insert(
            "demo/frontend".into(),
            RecordedService {
                desired_count: 2,
                scaling: None,
                task_definition: None,
                recorded_at: now(),
            },
        );
        t
    }

    /// Never started: nothing of ours at all, not even services.
    fn never_started() -> Tier {
        let mut t = Tier::stopped();
        t.observed.addresses.clear();
        t.observed.services.clear();
        for n in &mut t.observed.names {
            n.owner_records.clear();
        }
        t.state.recorded.clear();
        t
    }

    /// Everything up and ours.
    fn running() -> Tier {
        let spec = spec();
        let nat = NatGateway {
            id: "nat-0000000000000000a".into(),
            subnet_id: PUBLIC_SUBNET.into(),
            state: NatState::Available,
            allocation_ids: vec!["eipalloc-0000000000000000a".into()],
            tags: owned(&[(TAG_NAT, "a")]),
        };
        let address = ElasticIp {
            allocation_id: "eipalloc-0000000000000000a".into(),
            public_ip: "203.0.113.10".into(),
            association_id: Some("eipassoc-1".into()),
            instance_id: None,
            tags: owned(&[(TAG_NAT, "a"), (TAG_EIP_MODE, "keep")]),
        };
        let nat_id = nat.id.clone();
        let route = |id: &str, subnet: &str| RouteTable {
            id: id.into(),
            default_route: Some(DefaultRoute {
                target: RouteTarget::NatGateway(nat_id.clone()),
                active: true,
            }),
            subnet_ids: vec![subnet.into()],
        };
        let lb = LoadBalancer {
            arn: LB_ARN.into(),
            name: "demo-web".into(),
            dns_name: LB_DNS.into(),
            canonical_hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            state: LoadBalancerState::Active,
            tags: owned(&[]),
        };
        let listeners = vec![
            Listener {
                arn: format!("{LB_ARN}/l80"),
                port: 80,
                protocol: "HTTP".into(),
                rule_priorities: vec![],
            },
            Listener {
                arn: format!("{LB_ARN}/l443"),
                port: 443,
                protocol: "HTTPS".into(),
                rule_priorities: vec![10],
            },
        ];
        let alias = RecordSet {
            name: NAME.into(),
            record_type: "A".into(),
            alias: Some(AliasTarget {
                dns_name: format!("dualstack.{LB_DNS}."),
                hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                evaluate_target_health: true,
            }),
            ttl: None,
            values: vec![],
        };
        let owner = RecordSet {
            name: format!("{OWNER_RECORD_PREFIX}{NAME}"),
            record_type: "TXT".into(),
            alias: None,
            ttl: Some(300),
            values: vec![owner_record_value(ENV)],
        };
        let service = |name: &str, desired: u32, bounds: Option<ScalingBounds>| ObservedService {
            service: Service {
                cluster: "demo".into(),
                name: name.into(),
                arn: format!("arn:aws:ecs:us-east-1:123456789012:service/demo/{name}"),
                status: ServiceStatus::Active,
                desired_count: desired,
                running_count: desired,
                pending_count: 0,
                deployments: 1,
                task_definition: Some(format!(
                    "arn:aws:ecs:us-east-1:123456789012:task-definition/demo-{name}:7"
                )),
                tags: owned(&[]),
            },
            bounds,
            has_policy: bounds.is_some(),
        };
        let observed = Observed {
            route_tables: vec![route(RT1, PRIVATE_SUBNET_1), route(RT2, PRIVATE_SUBNET_2)],
            route_target_owned: [(nat.id.clone(), true)].into(),
            nat_gateways: vec![nat],
            addresses: vec![address],
            load_balancer: ObservedLoadBalancer {
                load_balancer: Some(lb),
                listeners,
                attributes: Some(
                    spec.load_balancer
                        .as_ref()
                        .unwrap()
                        .attributes
                        .wanted()
                        .into_iter()
                        .collect(),
                ),
                web_acl_arn: None,
            },
            names: vec![ObservedName {
                zone_id: ZONE.into(),
                name: NAME.into(),
                records: vec![alias],
                owner_records: vec![owner],
            }],
            services: vec![
                service("backend", 3, Some(ScalingBounds { min: 2, max: 6 })),
                service("frontend", 2, None),
            ],
        };
        Tier {
            spec,
            observed,
            state: State::new(ENV),
        }
    }

    fn nat_state(mut self, state: NatState) -> Tier {
        self.observed.nat_gateways[0].state = state;
        self
    }

    fn with_deleting_nat(mut self) -> Tier {
        let mut nat = Tier::running().observed.nat_gateways[0].clone();
        nat.state = NatState::Deleting;
        self.observed.nat_gateways.push(nat);
        self
    }

    fn surplus_address(mut self) -> Tier {
        let mut extra = self.observed.addresses[0].clone();
        extra.allocation_id = "eipalloc-00000000000000000".into(); // sorts first: the record must win
        extra.public_ip = "203.0.113.99".into();
        extra.association_id = None;
        self.observed.addresses.push(extra);
        self.state.resources.nat_gateways.insert(
            "a".into(),
            runtime_scheduler::state::NatRecord {
                nat_gateway_id: None,
                allocation_id: Some("eipalloc-0000000000000000a".into()),
                public_ip: Some("203.0.113.10".into()),
            },
        );
        self
    }

    fn stale_address_association(mut self) -> Tier {
        self.observed.addresses[0].association_id = Some("eipassoc-stale".into());
        self
    }

    fn foreign_nat_only(mut self) -> Tier {
        for n in &mut self.observed.nat_gateways {
            n.tags = foreign();
        }
        self.observed
            .route_target_owned
            .values_mut()
            .for_each(|v| *v = false);
        self
    }

    fn route_to(mut self, table: &str, target: RouteTarget, active: bool) -> Tier {
        let rt = self
            .observed
            .route_tables
            .iter_mut()
            .find(|r| r.id == table)
            .unwrap();
        rt.default_route = Some(DefaultRoute { target, active });
        self
    }

    fn route_owned(mut self, nat_id: &str, owned: bool) -> Tier {
        self.observed
            .route_target_owned
            .insert(nat_id.into(), owned);
        self
    }

    fn lb_state(mut self, state: LoadBalancerState) -> Tier {
        self.observed
            .load_balancer
            .load_balancer
            .as_mut()
            .unwrap()
            .state = state;
        self
    }

    fn foreign_lb(mut self) -> Tier {
        self.observed.load_balancer = ObservedLoadBalancer {
            load_balancer: Some(LoadBalancer {
                tags: foreign(),
                ..Tier::running()
                    .observed
                    .load_balancer
                    .load_balancer
                    .unwrap()
            }),
            ..Default::default()
        };
        self
    }

    fn without_listener(mut self, port: u16) -> Tier {
        self.observed
            .load_balancer
            .listeners
            .retain(|l| l.port != port);
        self
    }

    fn without_rules(mut self) -> Tier {
        self.observed
            .load_balancer
            .listeners
            .iter_mut()
            .for_each(|l| l.rule_priorities.clear());
        self
    }

    fn attributes_drifted(mut self) -> Tier {
        self.observed.load_balancer.attributes = Some(Default::default());
        self
    }

    fn foreign_record(mut self) -> Tier {
        self.observed.names[0].owner_records.clear();
        self
    }

    fn record_points_elsewhere(mut self) -> Tier {
        self.observed.names[0].records[0]
            .alias
            .as_mut()
            .unwrap()
            .dns_name = "old-alb-1.us-east-1.elb.amazonaws.com.".into();
        self
    }

    fn without_records(mut self) -> Tier {
        self.observed.names[0].records.clear();
        self
    }

    fn service(mut self, name: &str, f: impl FnOnce(&mut ObservedService)) -> Tier {
        let s = self
            .observed
            .services
            .iter_mut()
            .find(|s| s.service.name == name)
            .unwrap();
        f(s);
        self
    }

    fn without_service(mut self, name: &str) -> Tier {
        self.observed.services.retain(|s| s.service.name != name);
        self
    }

    fn plan(&self, desired: Desired) -> Plan {
        match desired {
            Desired::Running => plan_start(&self.spec, &self.observed, &self.state),
            Desired::Stopped => plan_stop(&self.spec, &self.observed, &self.state, now()),
        }
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 20, 0, 0).unwrap()
}

/// `action target` per step, in plan order.
fn steps(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| format!("{} {}", s.kind.name(), s.target))
        .collect()
}

fn assert_steps(name: &str, plan: &Plan, expected: &[&str]) {
    let got = steps(plan);
    let mut sorted_got = got.clone();
    sorted_got.sort();
    let mut sorted_expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    sorted_expected.sort();
    assert_eq!(
        sorted_got, sorted_expected,
        "case '{name}': steps were {got:#?}"
    );
}

const FULL_START: &[&str] = &[
    "create-nat-gateway nat/a",
    "wait-nat-available nat/a",
    "create-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
    "create-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
    "create-load-balancer load-balancer/demo-web",
    "wait-load-balancer-active load-balancer/demo-web",
    "set-load-balancer-attributes load-balancer/demo-web",
    "create-listener listener/80",
    "create-listener listener/443",
    "create-rule listener/443/rule/10",
    "upsert-records record/demo.example.com.",
    "scale-service service/demo/backend",
    "restore-scaling service/demo/backend",
    "put-scaling-policy service/demo/backend",
    "scale-service service/demo/frontend",
    "wait-services-stable services",
];

const FULL_STOP: &[&str] = &[
    "suspend-scaling service/demo/backend",
    "scale-service service/demo/backend",
    "scale-service service/demo/frontend",
    "delete-records record/demo.example.com.",
    "delete-load-balancer load-balancer",
    "delete-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
    "delete-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
    "delete-nat-gateway nat/a",
    "wait-nat-deleted nat/a",
];

#[test]
fn start_plans_per_resource_state() {
    let cases: Vec<(&str, Tier, Vec<&str>, usize)> = vec![
        ("running tier: nothing to do", Tier::running(), vec![], 0),
        (
            "stopped tier: everything, reusing the kept address",
            Tier::stopped(),
            FULL_START.to_vec(),
            0,
        ),
        (
            "never started: allocate an address and create the services",
            Tier::never_started(),
            [
                "allocate-address elastic-ip/a",
                "sweep-addresses elastic-ip/a",
                "create-nat-gateway nat/a",
                "wait-nat-available nat/a",
                "create-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
                "create-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
                "create-load-balancer load-balancer/demo-web",
                "wait-load-balancer-active load-balancer/demo-web",
                "set-load-balancer-attributes load-balancer/demo-web",
                "create-listener listener/80",
                "create-listener listener/443",
                "create-rule listener/443/rule/10",
                "upsert-records record/demo.example.com.",
                "create-service service/demo/backend",
                "restore-scaling service/demo/backend",
                "put-scaling-policy service/demo/backend",
                "create-service service/demo/frontend",
                "wait-services-stable services",
            ]
            .to_vec(),
            0,
        ),
        (
            "kept address still shows a deleted gateway's association: cleared, then reused",
            Tier::stopped().stale_address_association(),
            FULL_START
                .iter()
                .copied()
                .chain(["disassociate-address elastic-ip/a"])
                .collect(),
            0,
        ),
        (
            "NAT pending: wait, nothing created",
            Tier::running().nat_state(NatState::Pending),
            vec!["wait-nat-available nat/a"],
            0,
        ),
        (
            "NAT deleting: its kept address is reused once free, routes replaced",
            Tier::running().nat_state(NatState::Deleting),
            vec![
                "wait-nat-deleted nat/a",
                "create-nat-gateway nat/a",
                "wait-nat-available nat/a",
                "replace-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
                "replace-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
            ],
            0,
        ),
        (
            "only a foreign NAT in the subnet: ours is created, foreign routes left alone",
            Tier::running().foreign_nat_only(),
            vec![
                "allocate-address elastic-ip/a",
                "sweep-addresses elastic-ip/a",
                "create-nat-gateway nat/a",
                "wait-nat-available nat/a",
            ],
            2,
        ),
        (
            "blackhole route to our old NAT is replaced",
            Tier::running()
                .route_to(
                    RT2,
                    RouteTarget::NatGateway("nat-0000000000000000old".into()),
                    false,
                )
                .route_owned("nat-0000000000000000old", true),
            vec!["replace-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0"],
            0,
        ),
        (
            "route to an internet gateway is not ours",
            Tier::running().route_to(RT1, RouteTarget::Other("igw-0123".into()), true),
            vec![],
            1,
        ),
        (
            "ALB provisioning: wait only",
            Tier::running().lb_state(LoadBalancerState::Provisioning),
            vec!["wait-load-balancer-active load-balancer/demo-web"],
            0,
        ),
        (
            "foreign ALB with our name: ALB branch skipped",
            Tier::stopped().foreign_lb(),
            vec![
                "create-nat-gateway nat/a",
                "wait-nat-available nat/a",
                "create-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
                "create-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
                "scale-service service/demo/backend",
                "restore-scaling service/demo/backend",
                "put-scaling-policy service/demo/backend",
                "scale-service service/demo/frontend",
                "wait-services-stable services",
            ],
            1,
        ),
        (
            "missing HTTPS listener: listener and its rule",
            Tier::running().without_listener(443),
            vec![
                "create-listener listener/443",
                "create-rule listener/443/rule/10",
            ],
            0,
        ),
        (
            "missing rule only",
            Tier::running().without_rules(),
            vec!["create-rule listener/443/rule/10"],
            0,
        ),
        (
            "drifted attributes are set",
            Tier::running().attributes_drifted(),
            vec!["set-load-balancer-attributes load-balancer/demo-web"],
            0,
        ),
        (
            "missing alias record is upserted",
            Tier::running().without_records(),
            vec!["upsert-records record/demo.example.com."],
            0,
        ),
        (
            "alias pointing at an old ALB of ours is upserted",
            Tier::running().record_points_elsewhere(),
            vec!["upsert-records record/demo.example.com."],
            0,
        ),
        (
            "foreign record at our name is left alone",
            Tier::running().record_points_elsewhere().foreign_record(),
            vec![],
            1,
        ),
        (
            "missing service is created with its scaling",
            Tier::running().without_service("backend"),
            vec![
                "create-service service/demo/backend",
                "restore-scaling service/demo/backend",
                "put-scaling-policy service/demo/backend",
                "wait-services-stable services",
            ],
            0,
        ),
        (
            "inactive service is created again",
            Tier::running().service("frontend", |s| s.service.status = ServiceStatus::Inactive),
            vec![
                "create-service service/demo/frontend",
                "wait-services-stable services",
            ],
            0,
        ),
        (
            "draining service waits for the next run",
            Tier::running().service("frontend", |s| s.service.status = ServiceStatus::Draining),
            vec![],
            1,
        ),
        (
            "foreign service with our name is left alone",
            Tier::stopped()
                .service("frontend", |s| s.service.tags = foreign())
                .without_service("backend")
                .foreign_lb(),
            vec![
                "create-nat-gateway nat/a",
                "wait-nat-available nat/a",
                "create-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
                "create-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
                "create-service service/demo/backend",
                "restore-scaling service/demo/backend",
                "put-scaling-policy service/demo/backend",
                "wait-services-stable services",
            ],
            2,
        ),
        (
            "running service scaled by someone is not fought",
            Tier::running().service("backend", |s| s.service.desired_count = 5),
            vec![],
            0,
        ),
        (
            "missing scaling policy is put back",
            Tier::running().service("backend", |s| s.has_policy = false),
            vec!["put-scaling-policy service/demo/backend"],
            0,
        ),
    ];
    for (name, tier, expected, warnings) in cases {
        let plan = tier.plan(Desired::Running);
        assert_steps(name, &plan, &expected);
        assert_eq!(
            plan.warnings.len(),
            warnings,
            "case '{name}': warnings {:#?}",
            plan.warnings
        );
    }
}

#[test]
fn stop_plans_per_resource_state() {
    let cases: Vec<(&str, Tier, Vec<&str>, usize)> = vec![
        ("stopped tier: nothing to do", Tier::stopped(), vec![], 0),
        (
            "never started: nothing to do",
            Tier::never_started(),
            vec![],
            0,
        ),
        (
            "running tier: everything, the kept address stays",
            Tier::running(),
            FULL_STOP.to_vec(),
            0,
        ),
        (
            "NAT pending is deleted too",
            Tier::running().nat_state(NatState::Pending),
            FULL_STOP.to_vec(),
            0,
        ),
        (
            "NAT already deleting: only wait",
            Tier::stopped().with_deleting_nat(),
            vec!["wait-nat-deleted nat/a"],
            0,
        ),
        (
            "foreign NAT and its routes are left alone",
            Tier::running().foreign_nat_only(),
            vec![
                "suspend-scaling service/demo/backend",
                "scale-service service/demo/backend",
                "scale-service service/demo/frontend",
                "delete-records record/demo.example.com.",
                "delete-load-balancer load-balancer",
            ],
            2,
        ),
        (
            "foreign ALB with our name is left alone",
            Tier::running().foreign_lb(),
            vec![
                "suspend-scaling service/demo/backend",
                "scale-service service/demo/backend",
                "scale-service service/demo/frontend",
                "delete-records record/demo.example.com.",
                "delete-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
                "delete-route route/rtb-0a1b2c3d4e5f60012/0.0.0.0/0",
                "delete-nat-gateway nat/a",
                "wait-nat-deleted nat/a",
            ],
            1,
        ),
        (
            "foreign record is left alone",
            Tier::running().foreign_record(),
            FULL_STOP
                .iter()
                .copied()
                .filter(|s| !s.starts_with("delete-records"))
                .collect(),
            1,
        ),
        (
            "foreign service is left alone",
            Tier::running().service("frontend", |s| s.service.tags = foreign()),
            FULL_STOP
                .iter()
                .copied()
                .filter(|s| *s != "scale-service service/demo/frontend")
                .collect(),
            1,
        ),
        (
            "half-finished stop: services already at 0",
            Tier::running()
                .service("backend", |s| {
                    s.service.desired_count = 0;
                    s.bounds = Some(ScalingBounds { min: 0, max: 0 });
                })
                .service("frontend", |s| s.service.desired_count = 0),
            FULL_STOP
                .iter()
                .copied()
                .filter(|s| !s.contains("service/"))
                .collect(),
            0,
        ),
    ];
    for (name, tier, expected, warnings) in cases {
        let plan = tier.plan(Desired::Stopped);
        assert_steps(name, &plan, &expected);
        assert_eq!(
            plan.warnings.len(),
            warnings,
            "case '{name}': warnings {:#?}",
            plan.warnings
        );
    }
}

#[test]
fn stop_records_counts_and_bounds_before_scaling_down() {
    let plan = Tier::running().plan(Desired::Stopped);
    let backend = &plan.record["demo/backend"];
    assert_eq!(backend.desired_count, 3);
    assert_eq!(backend.scaling, Some(ScalingBounds { min: 2, max: 6 }));
    assert_eq!(plan.record["demo/frontend"].desired_count, 2);
}

#[test]
fn a_repeated_stop_keeps_the_counts_recorded_by_the_first() {
    let mut tier = Tier::running().service("frontend", |s| s.service.desired_count = 0);
    tier.state.recorded.insert(
        "demo/frontend".into(),
        RecordedService {
            desired_count: 4,
            scaling: None,
            task_definition: None,
            recorded_at: now(),
        },
    );
    let plan = tier.plan(Desired::Stopped);
    assert!(
        !plan.record.contains_key("demo/frontend"),
        "a service already at 0 must not overwrite its record"
    );
}

#[test]
fn the_recorded_kept_address_is_reused_and_the_surplus_released() {
    let plan = Tier::stopped().surplus_address().plan(Desired::Running);
    let create = plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::Network(NetworkStep::CreateNatGateway { allocation_id, .. }) => {
            Some(allocation_id.clone())
        }
        _ => None,
    });
    assert_eq!(create, Some(Some("eipalloc-0000000000000000a".to_string())));
    assert!(plan.steps.iter().any(|s| s.kind
        == StepKind::Network(NetworkStep::ReleaseAddress {
            nat: "a".into(),
            allocation_id: "eipalloc-00000000000000000".into()
        })));
}

#[test]
fn start_restores_recorded_counts_and_bounds_not_the_spec_values() {
    let plan = Tier::stopped().plan(Desired::Running);
    let kinds: Vec<&StepKind> = plan.steps.iter().map(|s| &s.kind).collect();
    assert!(
        kinds.contains(&&StepKind::Service(ServiceStep::ScaleService {
            cluster: "demo".into(),
            service: "backend".into(),
            desired_count: 3
        }))
    );
    assert!(
        kinds.contains(&&StepKind::Service(ServiceStep::ScaleService {
            cluster: "demo".into(),
            service: "frontend".into(),
            desired_count: 2
        }))
    );
    assert!(
        kinds.contains(&&StepKind::Service(ServiceStep::RestoreScaling {
            cluster: "demo".into(),
            service: "backend".into(),
            min: 2,
            max: 6
        }))
    );
}

#[test]
fn stop_releases_addresses_only_in_release_mode_after_the_gateway_is_deleted() {
    let mut tier = Tier::running();
    tier.spec.nat_gateways[0].elastic_ip.mode = runtime_scheduler::spec::ElasticIpMode::Release;
    let plan = tier.plan(Desired::Stopped);
    let release = plan
        .steps
        .iter()
        .find(|s| {
            matches!(
                s.kind,
                StepKind::Network(NetworkStep::ReleaseAddress { .. })
            )
        })
        .expect("a release step");
    let wait = plan
        .steps
        .iter()
        .find(|s| {
            matches!(
                s.kind,
                StepKind::Network(NetworkStep::WaitNatDeleted { .. })
            )
        })
        .unwrap();
    assert_eq!(
        release.after,
        vec![wait.id],
        "release must wait for the NAT gateway to be deleted"
    );
}

#[test]
fn start_branches_are_independent_and_services_wait_for_both() {
    let plan = Tier::stopped().plan(Desired::Running);
    let id = |name: &str| {
        plan.steps
            .iter()
            .find(|s| format!("{} {}", s.kind.name(), s.target) == name)
            .unwrap()
    };
    assert!(
        id("create-load-balancer load-balancer/demo-web")
            .after
            .is_empty(),
        "the ALB does not wait for the NAT"
    );
    assert!(
        id("create-nat-gateway nat/a").after.is_empty(),
        "the NAT does not wait for the ALB"
    );
    let scale = id("scale-service service/demo/frontend");
    for dep in [
        "create-route route/rtb-0a1b2c3d4e5f60011/0.0.0.0/0",
        "create-listener listener/443",
        "create-rule listener/443/rule/10",
    ] {
        assert!(scale.after.contains(&id(dep).id), "services wait for {dep}");
    }
    assert!(id("upsert-records record/demo.example.com.")
        .after
        .contains(&id("wait-load-balancer-active load-balancer/demo-web").id));
}

#[test]
fn stop_scales_services_down_before_removing_their_egress_and_ingress() {
    let plan = Tier::running().plan(Desired::Stopped);
    let scale_ids: Vec<usize> = plan
        .steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Service(ServiceStep::ScaleService { .. })))
        .map(|s| s.id)
        .collect();
    for s in plan.steps.iter().filter(|s| {
        matches!(
            s.kind,
            StepKind::Network(NetworkStep::DeleteRoute { .. })
                | StepKind::Dns(runtime_scheduler::plan::DnsStep::DeleteRecords { .. })
        )
    }) {
        for id in &scale_ids {
            assert!(
                s.after.contains(id),
                "{} must come after scaling down",
                s.target
            );
        }
    }
}

#[test]
fn every_dependency_points_backwards() {
    for tier in [Tier::running(), Tier::stopped(), Tier::never_started()] {
        for action in [Desired::Running, Desired::Stopped] {
            let plan = tier.plan(action);
            for s in &plan.steps {
                assert!(
                    s.after.iter().all(|d| *d < s.id),
                    "step {} depends on a later step",
                    s.id
                );
            }
        }
    }
}
