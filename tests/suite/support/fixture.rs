//! What Terraform would own around the runtime tier, built with the SDK clients directly (never
//! through the scheduler's adapters), plus unowned look-alikes that the scheduler must not touch.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{DomainType, ResourceType, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum, TargetTypeEnum,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType,
};
use runtime_scheduler::spec::{
    Action, AutoScalingSpec, DeploymentSpec, DnsRecordSpec, ElasticIpMode, ElasticIpSpec,
    IpAddressType, ListenerProtocol, ListenerSpec, LoadBalancerAttributes, LoadBalancerSpec,
    NatGatewaySpec, RecordType, RuleSpec, ScheduleSpec, Scheme, ServiceLoadBalancer, ServiceSpec,
    Spec, TargetTracking, Timeouts, DEFAULT_SSL_POLICY,
};

use super::s3_client;

/// The public hosted zone every environment's records live in.
pub const ZONE_NAME: &str = "example.test";

/// The Terraform-owned base of one environment and the runtime spec Terraform would render.
#[derive(Debug, Clone)]
pub struct DemoEnv {
    pub environment: String,
    /// State bucket (versioned); the spec is at [`DemoEnv::spec_key`].
    pub bucket: String,
    pub spec_key: String,
    pub spec: Spec,
    pub vpc_id: String,
    pub zone_id: String,
    pub public_subnet_ids: Vec<String>,
    pub private_subnet_ids: Vec<String>,
    pub public_route_table_id: String,
    /// Private route tables, without a default route.
    pub private_route_table_ids: Vec<String>,
    pub alb_security_group_id: String,
    pub task_security_group_id: String,
    pub backend_target_group_arn: String,
    pub frontend_target_group_arn: String,
    pub certificate_arn: String,
    pub cluster: String,
}

fn ec2_tags(resource_type: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

/// Builds the base of environment `env` and writes its spec to `<env>/spec.json` in the bucket.
/// The spec mirrors `docs/runtime-spec.example.json`.
pub async fn demo_environment(sdk: &SdkConfig, env: &str) -> DemoEnv {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let route53 = aws_sdk_route53::Client::new(sdk);
    let s3 = s3_client(sdk);
    let base_tags = [("Environment", env), ("ManagedBy", "terraform")];

    let vpc_id = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(ec2_tags(ResourceType::Vpc, &base_tags))
        .send()
        .await
        .expect("CreateVpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();

    let subnet = |cidr: &'static str, az: &'static str| {
        let ec2 = ec2.clone();
        let vpc_id = vpc_id.clone();
        async move {
            ec2.create_subnet()
                .vpc_id(vpc_id)
                .cidr_block(cidr)
                .availability_zone(az)
                .send()
                .await
                .expect("CreateSubnet")
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_string()
        }
    };
    let public_subnet_ids = vec![
        subnet("10.0.0.0/24", "us-east-1a").await,
        subnet("10.0.1.0/24", "us-east-1b").await,
    ];
    let private_subnet_ids = vec![
        subnet("10.0.10.0/24", "us-east-1a").await,
        subnet("10.0.11.0/24", "us-east-1b").await,
    ];

    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .expect("CreateInternetGateway")
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .expect("igw id")
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc_id)
        .send()
        .await
        .expect("AttachInternetGateway");

    let route_table = |name: String| {
        let ec2 = ec2.clone();
        let vpc_id = vpc_id.clone();
        async move {
            ec2.create_route_table()
                .vpc_id(vpc_id)
                .tag_specifications(ec2_tags(ResourceType::RouteTable, &[("Name", &name)]))
                .send()
                .await
                .expect("CreateRouteTable")
                .route_table()
                .and_then(|t| t.route_table_id())
                .expect("route table id")
                .to_string()
        }
    };
    let public_route_table_id = route_table(format!("{env}-public")).await;
    ec2.create_route()
        .route_table_id(&public_route_table_id)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .expect("CreateRoute via the internet gateway");
    for s in &public_subnet_ids {
        ec2.associate_route_table()
            .route_table_id(&public_route_table_id)
            .subnet_id(s)
            .send()
            .await
            .expect("associate");
    }
    let mut private_route_table_ids = Vec::new();
    for (i, s) in private_subnet_ids.iter().enumerate() {
        let id = route_table(format!("{env}-private-{i}")).await;
        ec2.associate_route_table()
            .route_table_id(&id)
            .subnet_id(s)
            .send()
            .await
            .expect("associate");
        private_route_table_ids.push(id);
    }

    let security_group = |name: String| {
        let ec2 = ec2.clone();
        let vpc_id = vpc_id.clone();
        async move {
            ec2.create_security_group()
                .group_name(&name)
                .description(format!("{name} (test fixture)"))
                .vpc_id(vpc_id)
                .send()
                .await
                .expect("CreateSecurityGroup")
                .group_id()
                .expect("group id")
                .to_string()
        }
    };
    let alb_security_group_id = security_group(format!("{env}-alb")).await;
    let task_security_group_id = security_group(format!("{env}-tasks")).await;

    let target_group = |name: String, port: i32, health: &'static str| {
        let elb = elb.clone();
        let vpc_id = vpc_id.clone();
        async move {
            elb.create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Http)
                .port(port)
                .vpc_id(vpc_id)
                .target_type(TargetTypeEnum::Ip)
                .health_check_path(health)
                .send()
                .await
                .expect("CreateTargetGroup")
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .expect("target group arn")
                .to_string()
        }
    };
    let backend_target_group_arn = target_group(format!("{env}-backend"), 8000, "/health").await;
    let frontend_target_group_arn = target_group(format!("{env}-frontend"), 3000, "/").await;

    ecs.create_cluster()
        .cluster_name(env)
        .send()
        .await
        .expect("CreateCluster");
    for (name, port) in [("backend", 8000), ("frontend", 3000)] {
        ecs.register_task_definition()
            .family(format!("{env}-{name}"))
            .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
            .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name(name)
                    .image(format!("public.ecr.aws/example/{name}:latest"))
                    .essential(true)
                    .port_mappings(
                        aws_sdk_ecs::types::PortMapping::builder()
                            .container_port(port)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("RegisterTaskDefinition");
    }

    let zone_id = hosted_zone(&route53).await;
    let certificate_arn = request_certificate(sdk, &format!("*.{ZONE_NAME}"));

    let bucket = format!("{env}-runtime-state");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning");

    let mut demo = DemoEnv {
        environment: env.to_string(),
        bucket,
        spec_key: format!("{env}/spec.json"),
        spec: placeholder_spec(env),
        vpc_id,
        zone_id,
        public_subnet_ids,
        private_subnet_ids,
        public_route_table_id,
        private_route_table_ids,
        alb_security_group_id,
        task_security_group_id,
        backend_target_group_arn,
        frontend_target_group_arn,
        certificate_arn,
        cluster: env.to_string(),
    };
    demo.spec = demo_spec(&demo);
    let body = serde_json::to_vec_pretty(&demo.spec).expect("spec serialises");
    // Catch drift between this fixture and the spec's rules early, with the spec's own message.
    if let Err(e) = Spec::from_json(&body, env) {
        panic!("the fixture's spec is invalid: {e}");
    }
    s3.put_object()
        .bucket(&demo.bucket)
        .key(&demo.spec_key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .expect("PutObject spec.json");
    demo
}

fn placeholder_spec(env: &str) -> Spec {
    Spec {
        version: 1,
        environment: env.to_string(),
        tags: BTreeMap::new(),
        nat_gateways: Vec::new(),
        load_balancer: None,
        dns_records: Vec::new(),
        services: Vec::new(),
        schedule: None,
        timeouts: Timeouts::default(),
    }
}

/// The runtime spec of `docs/runtime-spec.example.json`, with this environment's ids.
fn demo_spec(d: &DemoEnv) -> Spec {
    let env = &d.environment;
    let service =
        |name: &str, tg: &str, port: u16, grace: u32, auto_scaling: Option<AutoScalingSpec>| {
            ServiceSpec {
                cluster: d.cluster.clone(),
                name: name.to_string(),
                task_definition: format!("{env}-{name}"),
                desired_count: 1,
                subnet_ids: d.private_subnet_ids.clone(),
                security_group_ids: vec![d.task_security_group_id.clone()],
                assign_public_ip: false,
                load_balancer: Some(ServiceLoadBalancer {
                    target_group_arn: tg.to_string(),
                    container_name: name.to_string(),
                    container_port: port,
                }),
                health_check_grace_period_seconds: grace,
                deployment: DeploymentSpec::default(),
                auto_scaling,
            }
        };
    Spec {
        version: 1,
        environment: env.clone(),
        tags: BTreeMap::from([
            ("Project".to_string(), "acme-shop".to_string()),
            ("ProductDomain".to_string(), "web".to_string()),
            ("CostCenter".to_string(), "platform".to_string()),
        ]),
        nat_gateways: vec![NatGatewaySpec {
            name: "a".into(),
            subnet_id: d.public_subnet_ids[0].clone(),
            route_table_ids: d.private_route_table_ids.clone(),
            elastic_ip: ElasticIpSpec {
                mode: ElasticIpMode::Keep,
                allocation_id: None,
            },
        }],
        load_balancer: Some(LoadBalancerSpec {
            name: format!("{env}-web"),
            scheme: Scheme::InternetFacing,
            ip_address_type: IpAddressType::Ipv4,
            subnet_ids: d.public_subnet_ids.clone(),
            security_group_ids: vec![d.alb_security_group_id.clone()],
            attributes: LoadBalancerAttributes::default(),
            listeners: vec![
                ListenerSpec {
                    port: 80,
                    protocol: ListenerProtocol::Http,
                    certificate_arn: None,
                    ssl_policy: None,
                    default_action: Action::Redirect {
                        protocol: "HTTPS".into(),
                        port: "443".into(),
                        status_code: "HTTP_301".into(),
                    },
                    rules: Vec::new(),
                },
                ListenerSpec {
                    port: 443,
                    protocol: ListenerProtocol::Https,
                    certificate_arn: Some(d.certificate_arn.clone()),
                    ssl_policy: Some(DEFAULT_SSL_POLICY.into()),
                    default_action: Action::Forward {
                        target_group_arn: d.frontend_target_group_arn.clone(),
                    },
                    rules: vec![RuleSpec {
                        priority: 10,
                        path_patterns: vec!["/api/*".into()],
                        host_headers: Vec::new(),
                        action: Action::Forward {
                            target_group_arn: d.backend_target_group_arn.clone(),
                        },
                    }],
                },
            ],
            web_acl_arn: None,
        }),
        dns_records: vec![DnsRecordSpec {
            zone_id: d.zone_id.clone(),
            name: format!("{env}.{ZONE_NAME}"),
            types: vec![RecordType::A],
        }],
        services: vec![
            service(
                "backend",
                &d.backend_target_group_arn,
                8000,
                60,
                Some(AutoScalingSpec {
                    min_capacity: 1,
                    max_capacity: 4,
                    target_tracking: TargetTracking {
                        metric: "ECSServiceAverageCPUUtilization".into(),
                        target_value: 60.0,
                    },
                }),
            ),
            service("frontend", &d.frontend_target_group_arn, 3000, 30, None),
        ],
        schedule: Some(
            serde_json::from_value::<ScheduleSpec>(serde_json::json!({
                "timezone": "America/New_York",
                "start": "08:00",
                "stop": "20:00",
                "days": ["MON", "TUE", "WED", "THU", "FRI"],
                "skip_dates": ["2026-12-25", "2027-01-01"],
            }))
            .expect("a valid schedule"),
        ),
        // moto makes everything ready at once: no wait needs to hold its first poll back.
        timeouts: Timeouts {
            services_stable_seconds: 1,
            expected: serde_json::from_value(serde_json::json!({
                "nat_available_seconds": 0,
                "nat_deleted_seconds": 0,
                "load_balancer_active_seconds": 0,
                "services_stable_seconds": 0,
                "dns_in_sync_seconds": 0,
            }))
            .expect("valid expected durations"),
            ..Timeouts::default()
        },
    }
}

/// The id (`Z...`) of the public zone [`ZONE_NAME`], created on first use and shared by every
/// environment of the same moto server.
async fn hosted_zone(route53: &aws_sdk_route53::Client) -> String {
    let existing = route53
        .list_hosted_zones_by_name()
        .dns_name(ZONE_NAME)
        .send()
        .await
        .expect("ListHostedZonesByName");
    if let Some(zone) = existing
        .hosted_zones()
        .iter()
        .find(|z| z.name() == format!("{ZONE_NAME}."))
    {
        return zone.id().trim_start_matches("/hostedzone/").to_string();
    }
    // Route53 ids start with `Z` (and the spec checks that); moto draws 22 random characters
    // from A-Z0-9 and takes no custom id at creation. Create until one looks real and delete
    // the others: about 36 cheap calls.
    for attempt in 0..1000 {
        let zone = route53
            .create_hosted_zone()
            .name(ZONE_NAME)
            .caller_reference(format!("fixture-{}-{attempt}", std::process::id()))
            .send()
            .await
            .expect("CreateHostedZone");
        let id = zone
            .hosted_zone()
            .expect("hosted zone")
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string();
        if id.starts_with('Z') {
            return id;
        }
        route53
            .delete_hosted_zone()
            .id(&id)
            .send()
            .await
            .expect("DeleteHostedZone");
    }
    panic!("moto never produced a hosted zone id starting with Z");
}

/// Requests a certificate from moto's ACM, which ELBv2 checks listener certificates against.
/// The crate has no ACM SDK, so this is one raw JSON call (moto does not verify signatures; it
/// only reads the service name from the credential scope).
fn request_certificate(sdk: &SdkConfig, domain: &str) -> String {
    let endpoint = sdk.endpoint_url().expect("the SDK config points at moto");
    let host_port = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = serde_json::json!({ "DomainName": domain, "ValidationMethod": "DNS" }).to_string();
    let (status, response) = super::http_request(
        host_port,
        "POST",
        "/",
        body.as_bytes(),
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "CertificateManager.RequestCertificate"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/acm/aws4_request, SignedHeaders=host, Signature=0",
            ),
        ],
    )
    .expect("ACM RequestCertificate");
    assert_eq!(
        status,
        200,
        "ACM RequestCertificate answered {status}: {}",
        String::from_utf8_lossy(&response)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&response).expect("ACM answers JSON");
    parsed["CertificateArn"]
        .as_str()
        .expect("CertificateArn")
        .to_string()
}

/// Unowned look-alikes placed beside the tier: same environment tag, no `ManagedBy`.
#[derive(Debug, Clone)]
pub struct Decoys {
    pub nat_gateway_id: String,
    pub nat_allocation_id: String,
    pub spare_allocation_id: String,
    pub load_balancer_name: String,
    pub load_balancer_arn: String,
    pub record_name: String,
    pub cluster: String,
    pub service_name: String,
    zone_id: String,
    baseline: BTreeMap<String, String>,
}

/// Places the decoys of [`Decoys`] in `demo`'s environment.
pub async fn decoys(sdk: &SdkConfig, demo: &DemoEnv) -> Decoys {
    let env = demo.environment.as_str();
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let route53 = aws_sdk_route53::Client::new(sdk);
    let lookalike = [("Environment", env), ("Name", "legacy")];

    let allocate = || async {
        ec2.allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(ec2_tags(ResourceType::ElasticIp, &lookalike))
            .send()
            .await
            .expect("AllocateAddress")
            .allocation_id()
            .expect("allocation id")
            .to_string()
    };
    let nat_allocation_id = allocate().await;
    let spare_allocation_id = allocate().await;
    let nat_gateway_id = ec2
        .create_nat_gateway()
        .subnet_id(&demo.public_subnet_ids[0])
        .allocation_id(&nat_allocation_id)
        .tag_specifications(ec2_tags(ResourceType::Natgateway, &lookalike))
        .send()
        .await
        .expect("CreateNatGateway")
        .nat_gateway()
        .and_then(|g| g.nat_gateway_id())
        .expect("nat id")
        .to_string();

    let load_balancer_name = format!("{env}-web-legacy");
    let created = elb
        .create_load_balancer()
        .name(&load_balancer_name)
        .set_subnets(Some(demo.public_subnet_ids.clone()))
        .security_groups(&demo.alb_security_group_id)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("Environment")
                .value(env)
                .build(),
        )
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = created.load_balancers().first().expect("load balancer");
    let load_balancer_arn = lb.load_balancer_arn().expect("arn").to_string();
    elb.create_listener()
        .load_balancer_arn(&load_balancer_arn)
        .port(80)
        .protocol(ProtocolEnum::Http)
        .default_actions(
            ElbAction::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("200")
                        .content_type("text/plain")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateListener");

    let record_name = format!("legacy.{ZONE_NAME}");
    route53
        .change_resource_record_sets()
        .hosted_zone_id(&demo.zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name(&record_name)
                                .r#type(RrType::A)
                                .alias_target(
                                    AliasTarget::builder()
                                        .dns_name(lb.dns_name().expect("dns name"))
                                        .hosted_zone_id(
                                            lb.canonical_hosted_zone_id().expect("zone id"),
                                        )
                                        .evaluate_target_health(true)
                                        .build()
                                        .expect("alias target"),
                                )
                                .build()
                                .expect("record set"),
                        )
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("change batch"),
        )
        .send()
        .await
        .expect("ChangeResourceRecordSets");

    let service_name = format!("{env}-legacy");
    ecs.create_service()
        .cluster(&demo.cluster)
        .service_name(&service_name)
        .task_definition(format!("{env}-frontend"))
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                        .set_subnets(Some(demo.private_subnet_ids.clone()))
                        // moto answers HTTP 500 without security groups.
                        .security_groups(&demo.task_security_group_id)
                        .build()
                        .expect("awsvpc"),
                )
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("Environment")
                .value(env)
                .build(),
        )
        .send()
        .await
        .expect("CreateService");

    let mut decoys = Decoys {
        nat_gateway_id,
        nat_allocation_id,
        spare_allocation_id,
        load_balancer_name,
        load_balancer_arn,
        record_name,
        cluster: demo.cluster.clone(),
        service_name,
        zone_id: demo.zone_id.clone(),
        baseline: BTreeMap::new(),
    };
    decoys.baseline = decoys.observe(sdk).await;
    decoys
}

impl Decoys {
    /// Describes every decoy again and panics naming whatever changed since they were placed.
    pub async fn assert_intact(&self, sdk: &SdkConfig) {
        let now = self.observe(sdk).await;
        let changes: Vec<String> = self
            .baseline
            .iter()
            .filter(|(k, v)| now.get(*k) != Some(*v))
            .map(|(k, v)| {
                format!(
                    "{k}: {v} -> {}",
                    now.get(k).map(String::as_str).unwrap_or("<absent>")
                )
            })
            .collect();
        assert!(
            changes.is_empty(),
            "unowned look-alikes were touched:\n  {}",
            changes.join("\n  ")
        );
    }

    /// A flat description of every decoy (`what: value`), compared before and after.
    async fn observe(&self, sdk: &SdkConfig) -> BTreeMap<String, String> {
        let ec2 = aws_sdk_ec2::Client::new(sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
        let ecs = aws_sdk_ecs::Client::new(sdk);
        let route53 = aws_sdk_route53::Client::new(sdk);
        let mut seen = BTreeMap::new();
        let ec2_tags = |tags: &[aws_sdk_ec2::types::Tag]| {
            let mut t: Vec<String> = tags
                .iter()
                .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
                .collect();
            t.sort();
            t.join(",")
        };

        let nat = format!("NAT gateway {}", self.nat_gateway_id);
        let gateways = ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&self.nat_gateway_id)
            .send()
            .await;
        match gateways
            .ok()
            .and_then(|o| o.nat_gateways().first().cloned())
        {
            Some(g) => {
                seen.insert(
                    format!("{nat} state"),
                    g.state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                );
                seen.insert(format!("{nat} tags"), ec2_tags(g.tags()));
                let allocations: Vec<&str> = g
                    .nat_gateway_addresses()
                    .iter()
                    .filter_map(|a| a.allocation_id())
                    .collect();
                seen.insert(format!("{nat} allocation"), allocations.join(","));
            }
            None => {
                seen.insert(format!("{nat} state"), "<absent>".into());
            }
        }
        for (what, id) in [
            ("NAT's Elastic IP", &self.nat_allocation_id),
            ("spare Elastic IP", &self.spare_allocation_id),
        ] {
            let key = format!("{what} {id}");
            let addresses = ec2.describe_addresses().allocation_ids(id).send().await;
            match addresses.ok().and_then(|o| o.addresses().first().cloned()) {
                Some(a) => {
                    seen.insert(format!("{key} exists"), "yes".into());
                    seen.insert(format!("{key} tags"), ec2_tags(a.tags()));
                }
                None => {
                    seen.insert(format!("{key} exists"), "no".into());
                }
            }
        }

        let alb = format!("load balancer {}", self.load_balancer_name);
        let found = elb
            .describe_load_balancers()
            .names(&self.load_balancer_name)
            .send()
            .await;
        match found.ok().and_then(|o| o.load_balancers().first().cloned()) {
            Some(lb) => {
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                seen.insert(format!("{alb} arn"), arn.clone());
                seen.insert(
                    format!("{alb} state"),
                    lb.state()
                        .and_then(|s| s.code())
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default(),
                );
                let tags = elb
                    .describe_tags()
                    .resource_arns(&arn)
                    .send()
                    .await
                    .expect("DescribeTags");
                let mut t: Vec<String> = tags
                    .tag_descriptions()
                    .iter()
                    .flat_map(|d| d.tags())
                    .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
                    .collect();
                t.sort();
                seen.insert(format!("{alb} tags"), t.join(","));
                let listeners = elb
                    .describe_listeners()
                    .load_balancer_arn(&arn)
                    .send()
                    .await
                    .expect("DescribeListeners");
                let mut l: Vec<&str> = listeners
                    .listeners()
                    .iter()
                    .filter_map(|l| l.listener_arn())
                    .collect();
                l.sort_unstable();
                seen.insert(format!("{alb} listeners"), l.join(","));
            }
            None => {
                seen.insert(format!("{alb} arn"), "<absent>".into());
            }
        }

        let record = format!("record {} A", self.record_name);
        let sets = route53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .start_record_name(&self.record_name)
            .start_record_type(RrType::A)
            .max_items(1)
            .send()
            .await
            .expect("ListResourceRecordSets");
        let alias = sets
            .resource_record_sets()
            .iter()
            .find(|r| {
                r.name().trim_end_matches('.') == self.record_name && r.r#type() == &RrType::A
            })
            .and_then(|r| r.alias_target())
            .map(|a| {
                format!(
                    "alias {} ({})",
                    a.dns_name().to_ascii_lowercase().trim_end_matches('.'),
                    a.hosted_zone_id()
                )
            });
        seen.insert(record, alias.unwrap_or_else(|| "<absent>".into()));

        let svc = format!("ECS service {}/{}", self.cluster, self.service_name);
        let services = ecs
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service_name)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .expect("DescribeServices");
        match services.services().first() {
            Some(s) => {
                seen.insert(
                    format!("{svc} status"),
                    s.status().unwrap_or_default().to_string(),
                );
                seen.insert(
                    format!("{svc} desired count"),
                    s.desired_count().to_string(),
                );
                let mut t: Vec<String> = s
                    .tags()
                    .iter()
                    .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
                    .collect();
                t.sort();
                seen.insert(format!("{svc} tags"), t.join(","));
            }
            None => {
                seen.insert(format!("{svc} status"), "<absent>".into());
            }
        }
        seen
    }
}
