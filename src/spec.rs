//! The runtime spec: the versioned JSON document that Terraform writes to S3 and that tells the
//! scheduler what to build at start. Version 1.
//!
//! Loading is two passes so that one run reports every problem at once, each with its JSON path:
//! a structural pass (each section and each array element deserialised on its own, so one bad NAT
//! does not hide a bad listener) and a semantic pass over the typed document.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only spec version this build understands.
pub const SPEC_VERSION: u32 = 1;

/// Everything needed to rebuild the runtime tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Format version; must be 1.
    pub version: u32,
    /// Environment name; must equal the function's `ENVIRONMENT`.
    pub environment: String,
    /// Tags applied to everything the scheduler creates, on top of its ownership tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// NAT gateways serving the private subnets' default route.
    #[serde(default)]
    pub nat_gateways: Vec<NatGatewaySpec>,
    /// The Application Load Balancer, if the tier has one.
    #[serde(default)]
    pub load_balancer: Option<LoadBalancerSpec>,
    /// Route53 alias records that follow the ALB.
    #[serde(default)]
    pub dns_records: Vec<DnsRecordSpec>,
    /// ECS Fargate services.
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// The business-hours window (used by `reconcile` and shown by `status`).
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// Bounds on how long a start waits for AWS.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Prices for the savings report (defaults: us-east-1 on-demand).
    #[serde(default)]
    pub prices: Prices,
    /// Wake on request and sleep when idle; absent: the names are deleted while asleep.
    #[serde(default)]
    pub wake: Option<WakeSpec>,
}

/// Wake on request: while asleep the alias records point at a small always-available front
/// (API Gateway and the `wake-front` function) whose page wakes the tier; optionally the tier
/// also goes to sleep when its ALB has served no request for `idle_minutes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WakeSpec {
    /// What this environment is, shown on the page (e.g. "Acme shop, staging").
    pub title: String,
    /// Per app name, the front's API Gateway regional domain that the alias records point at
    /// while asleep. A name without one is deleted while asleep, as without `wake`.
    #[serde(default)]
    pub front: Vec<FrontTarget>,
    /// Hours the page offers by default.
    #[serde(default = "default_wake_hours")]
    pub default_hours: u32,
    /// The most hours a wake may ask for (1 to 168).
    #[serde(default = "default_wake_max_hours")]
    pub max_hours: u32,
    /// When not empty, only these source ranges may wake the tier (CIDR, IPv4 or IPv6).
    #[serde(default)]
    pub allowed_cidrs: Vec<Cidr>,
    /// SHA-256 (hex) of a shared secret that API clients send in `X-Wake-Secret` to wake the
    /// tier without the page; absent: only the page can wake it.
    #[serde(default)]
    pub api_secret_sha256: Option<String>,
    /// Stop when the ALB has served no request for this many minutes (10 to 180: CloudWatch
    /// evaluates a Metrics Insights alarm over at most three hours); absent: off.
    #[serde(default)]
    pub idle_minutes: Option<u32>,
    /// The CloudWatch alarm whose state changes say idle (ALARM) or busy (OK); required with
    /// `idle_minutes`. Events from any other alarm are refused.
    #[serde(default)]
    pub idle_alarm_name: Option<String>,
    /// No window at all: asleep unless woken (then `schedule` must be absent).
    #[serde(default)]
    pub on_demand: bool,
}

fn default_wake_hours() -> u32 {
    2
}
fn default_wake_max_hours() -> u32 {
    8
}

impl WakeSpec {
    /// The front target for an app name, if any.
    pub fn front_for(&self, name: &str) -> Option<&FrontTarget> {
        let name = normalize_dns_name(name);
        self.front
            .iter()
            .find(|f| normalize_dns_name(&f.name) == name)
    }

    /// Whether `secret` is the API clients' shared secret (compared as SHA-256 digests, in
    /// constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        let Some(want) = &self.api_secret_sha256 else {
            return false;
        };
        let got = crate::secret::sha256_hex(secret.as_bytes());
        crate::secret::same(got.as_bytes(), want.to_ascii_lowercase().as_bytes())
    }
}

/// Where an app name points while the tier sleeps: the front's regional domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrontTarget {
    /// The app name, as in `dns_records`.
    pub name: String,
    /// The API Gateway custom domain's regional domain name (`d-....execute-api.<region>.amazonaws.com`).
    pub dns_name: String,
    /// Its regional hosted zone id.
    pub hosted_zone_id: String,
}

/// An address range, `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Cidr {
    pub network: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix`; the address must be the network's first address.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a CIDR block (address/prefix)"))?;
        let network: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' in '{s}' is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("'{prefix}' in '{s}' is not a prefix length 0 to {max}"))?;
        let cidr = Cidr { network, prefix };
        if !cidr.contains(network) || cidr.masked(network) != bits(network) {
            return Err(format!("'{s}' has host bits set"));
        }
        Ok(cidr)
    }

    /// Whether `ip` is inside the range (an IPv4 address is never inside an IPv6 range).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.masked(self.network)
    }

    fn masked(&self, ip: std::net::IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let shift = width - u32::from(self.prefix);
        if shift >= 128 {
            0
        } else {
            (bits(ip) >> shift) << shift
        }
    }
}

fn bits(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)),
        std::net::IpAddr::V6(v6) => u128::from(v6),
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// On-demand prices of what the tier bills by the hour, for the savings `status` and `report`
/// state. Defaults are the us-east-1 list prices for Linux/x86 as published by AWS in 2026
/// (Amazon VPC pricing for NAT gateways and public IPv4 addresses, Elastic Load Balancing
/// pricing for the ALB and its LCU, AWS Fargate pricing), checked on 2026-12-02. Set them for
/// another region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Currency of all prices, for display.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Per NAT gateway-hour (data processing is not counted: it is the same asleep or not).
    #[serde(default = "default_nat_hour")]
    pub nat_gateway_hour: f64,
    /// Per public IPv4 address-hour (an Elastic IP costs this whether attached or not).
    #[serde(default = "default_ipv4_hour")]
    pub public_ipv4_hour: f64,
    /// Per ALB-hour.
    #[serde(default = "default_alb_hour")]
    pub load_balancer_hour: f64,
    /// Per LCU-hour.
    #[serde(default = "default_lcu_hour")]
    pub lcu_hour: f64,
    /// LCUs the ALB consumes per running hour (an estimate; a quiet dev ALB uses well under 1).
    #[serde(default = "default_lcus")]
    pub lcus_per_hour: f64,
    /// Per Fargate vCPU-hour.
    #[serde(default = "default_vcpu_hour")]
    pub fargate_vcpu_hour: f64,
    /// Per Fargate GB-hour of memory.
    #[serde(default = "default_gb_hour")]
    pub fargate_gb_hour: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            currency: default_currency(),
            nat_gateway_hour: default_nat_hour(),
            public_ipv4_hour: default_ipv4_hour(),
            load_balancer_hour: default_alb_hour(),
            lcu_hour: default_lcu_hour(),
            lcus_per_hour: default_lcus(),
            fargate_vcpu_hour: default_vcpu_hour(),
            fargate_gb_hour: default_gb_hour(),
        }
    }
}

fn default_currency() -> String {
    "USD".into()
}
fn default_nat_hour() -> f64 {
    0.045
}
fn default_ipv4_hour() -> f64 {
    0.005
}
fn default_alb_hour() -> f64 {
    0.0225
}
fn default_lcu_hour() -> f64 {
    0.008
}
fn default_lcus() -> f64 {
    1.0
}
fn default_vcpu_hour() -> f64 {
    0.04048
}
fn default_gb_hour() -> f64 {
    0.004445
}

/// One NAT gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatGatewaySpec {
    /// Stable key of this NAT within the spec (e.g. `a`); tagged on the gateway.
    pub name: String,
    /// Public subnet the gateway lives in (`subnet-...`).
    pub subnet_id: String,
    /// Private route tables whose `0.0.0.0/0` route goes through this gateway.
    pub route_table_ids: Vec<String>,
    /// What happens to the Elastic IP across cycles.
    #[serde(default)]
    pub elastic_ip: ElasticIpSpec,
}

/// The gateway's Elastic IP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ElasticIpSpec {
    /// `release` (default: allocated at start, released at stop), `keep` (allocated once by the
    /// scheduler and kept while asleep, for a stable egress IP) or `external` (an address someone
    /// else owns, named by `allocation_id`, never released).
    #[serde(default)]
    pub mode: ElasticIpMode,
    /// Required with `external`: the `eipalloc-...` to use.
    #[serde(default)]
    pub allocation_id: Option<String>,
}

/// See [`ElasticIpSpec::mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ElasticIpMode {
    #[default]
    Release,
    Keep,
    External,
}

/// The Application Load Balancer and everything hanging off it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// ALB name, at most 32 characters; unique in the account and region.
    pub name: String,
    /// `internet-facing` or `internal`.
    #[serde(default)]
    pub scheme: Scheme,
    /// `ipv4` or `dualstack`. Dualstack is what makes the AAAA alias meaningful.
    #[serde(default)]
    pub ip_address_type: IpAddressType,
    /// At least two subnets in different availability zones.
    pub subnet_ids: Vec<String>,
    /// Security groups of the ALB.
    pub security_group_ids: Vec<String>,
    /// Load balancer attributes.
    #[serde(default)]
    pub attributes: LoadBalancerAttributes,
    /// Listeners, with their rules.
    pub listeners: Vec<ListenerSpec>,
    /// WAFv2 web ACL ARN to associate with every new ALB.
    #[serde(default)]
    pub web_acl_arn: Option<String>,
}

/// ALB scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

impl Scheme {
    /// The value the ELB API expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::InternetFacing => "internet-facing",
            Scheme::Internal => "internal",
        }
    }
}

/// ALB address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IpAddressType {
    #[default]
    Ipv4,
    Dualstack,
}

impl IpAddressType {
    /// The value the ELB API expects.
    pub fn as_str(self) -> &'static str {
        match self {
            IpAddressType::Ipv4 => "ipv4",
            IpAddressType::Dualstack => "dualstack",
        }
    }
}

/// The ALB attributes the scheduler sets after creation. Deletion protection is always off: the
/// scheduler has to be able to delete what it created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerAttributes {
    /// `idle_timeout.timeout_seconds`, 1 to 4000.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u32,
    /// `routing.http.drop_invalid_header_fields.enabled`.
    #[serde(default = "default_true")]
    pub drop_invalid_header_fields: bool,
    /// Access logs, if wanted.
    #[serde(default)]
    pub access_logs: Option<AccessLogs>,
}

impl Default for LoadBalancerAttributes {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: default_idle_timeout(),
            drop_invalid_header_fields: true,
            access_logs: None,
        }
    }
}

impl LoadBalancerAttributes {
    /// The attribute keys and values this asks for. Deletion protection is always off, so that
    /// the scheduler can delete the ALB it created.
    pub fn wanted(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "idle_timeout.timeout_seconds".to_string(),
                self.idle_timeout_seconds.to_string(),
            ),
            (
                "routing.http.drop_invalid_header_fields.enabled".to_string(),
                self.drop_invalid_header_fields.to_string(),
            ),
            (
                "deletion_protection.enabled".to_string(),
                "false".to_string(),
            ),
            (
                "access_logs.s3.enabled".to_string(),
                self.access_logs.is_some().to_string(),
            ),
        ];
        if let Some(logs) = &self.access_logs {
            out.push(("access_logs.s3.bucket".to_string(), logs.bucket.clone()));
            out.push(("access_logs.s3.prefix".to_string(), logs.prefix.clone()));
        }
        out
    }

    /// True when `actual` already holds every wanted value.
    pub fn satisfied_by(&self, actual: &std::collections::BTreeMap<String, String>) -> bool {
        self.wanted().iter().all(|(k, v)| actual.get(k) == Some(v))
    }
}

fn default_idle_timeout() -> u32 {
    60
}

fn default_true() -> bool {
    true
}

/// ALB access logs destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLogs {
    /// S3 bucket name (not ARN).
    pub bucket: String,
    /// Key prefix, without a trailing slash.
    #[serde(default)]
    pub prefix: String,
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    /// Port, 1 to 65535; unique per ALB.
    pub port: u16,
    /// `HTTP` or `HTTPS`.
    pub protocol: ListenerProtocol,
    /// Required for HTTPS: ACM certificate ARN.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// HTTPS only; defaults to `ELBSecurityPolicy-TLS13-1-2-2021-06`.
    #[serde(default)]
    pub ssl_policy: Option<String>,
    /// What requests matching no rule get.
    pub default_action: Action,
    /// Path and host rules, evaluated by priority.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// Listener protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ListenerProtocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

impl ListenerProtocol {
    /// The value the ELB API expects.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "HTTP",
            ListenerProtocol::Https => "HTTPS",
        }
    }
}

/// Default SSL policy for HTTPS listeners: TLS 1.3 and 1.2 only.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// A listener or rule action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Forward to a target group.
    Forward {
        /// Target group ARN.
        target_group_arn: String,
    },
    /// Redirect, typically HTTP to HTTPS.
    Redirect {
        /// `HTTP`, `HTTPS` or `#{protocol}`.
        #[serde(default = "default_redirect_protocol")]
        protocol: String,
        /// Port or `#{port}`.
        #[serde(default = "default_redirect_port")]
        port: String,
        /// `HTTP_301` or `HTTP_302`.
        #[serde(default = "default_redirect_status")]
        status_code: String,
    },
    /// A fixed response.
    FixedResponse {
        /// 2XX, 4XX or 5XX.
        status_code: String,
        /// e.g. `text/plain`.
        #[serde(default = "default_content_type")]
        content_type: String,
        /// Response body, at most 1024 characters.
        #[serde(default)]
        message_body: String,
    },
}

fn default_redirect_protocol() -> String {
    "HTTPS".into()
}
fn default_redirect_port() -> String {
    "443".into()
}
fn default_redirect_status() -> String {
    "HTTP_301".into()
}
fn default_content_type() -> String {
    "text/plain".into()
}

/// A listener rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// 1 to 50000, unique per listener.
    pub priority: u32,
    /// Path patterns such as `/api/*` (any of them matches).
    #[serde(default)]
    pub path_patterns: Vec<String>,
    /// Host headers (any of them matches).
    #[serde(default)]
    pub host_headers: Vec<String>,
    /// What matching requests get.
    pub action: Action,
}

/// A Route53 alias record set that follows the ALB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordSpec {
    /// Hosted zone id (`Z...`).
    pub zone_id: String,
    /// Fully qualified name, e.g. `app.example.com`.
    pub name: String,
    /// Which alias record types: `A`, `AAAA` or both.
    #[serde(default = "default_record_types")]
    pub types: Vec<RecordType>,
}

fn default_record_types() -> Vec<RecordType> {
    vec![RecordType::A]
}

pub use crate::model::RecordType;

/// One ECS Fargate service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Cluster name (not ARN).
    pub cluster: String,
    /// Service name.
    pub name: String,
    /// Task definition family, optionally `family:revision`.
    pub task_definition: String,
    /// Desired count when first created, or when no count was recorded at the last stop.
    pub desired_count: u32,
    /// Private subnets for the tasks.
    pub subnet_ids: Vec<String>,
    /// Security groups for the tasks.
    pub security_group_ids: Vec<String>,
    /// Whether tasks get a public IP; the tier's design wants `false`.
    #[serde(default)]
    pub assign_public_ip: bool,
    /// How the ALB reaches the service.
    #[serde(default)]
    pub load_balancer: Option<ServiceLoadBalancer>,
    /// Seconds ECS ignores failing ALB health checks after a task starts.
    #[serde(default = "default_grace")]
    pub health_check_grace_period_seconds: u32,
    /// Deployment settings.
    #[serde(default)]
    pub deployment: DeploymentSpec,
    /// Application Auto Scaling, if wanted.
    #[serde(default)]
    pub auto_scaling: Option<AutoScalingSpec>,
    /// The task size (from the task definition), for the savings report.
    #[serde(default)]
    pub size: Option<TaskSize>,
}

/// A Fargate task's size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSize {
    /// CPU units (1024 = 1 vCPU).
    pub cpu: u32,
    /// Memory in MiB.
    pub memory: u32,
}

impl TaskSize {
    /// vCPUs.
    pub fn vcpu(self) -> f64 {
        f64::from(self.cpu) / 1024.0
    }

    /// Memory in GB (as Fargate prices it: 1024 MiB).
    pub fn memory_gb(self) -> f64 {
        f64::from(self.memory) / 1024.0
    }
}

impl ServiceSpec {
    /// `cluster/name`, the key used in state and in plan targets.
    pub fn key(&self) -> String {
        format!("{}/{}", self.cluster, self.name)
    }
}

fn default_grace() -> u32 {
    60
}

/// Target group wiring of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceLoadBalancer {
    /// Target group ARN (ip target type).
    pub target_group_arn: String,
    /// Container that receives traffic.
    pub container_name: String,
    /// Its port.
    pub container_port: u16,
}

/// ECS deployment configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Deployment circuit breaker.
    #[serde(default = "default_true")]
    pub circuit_breaker: bool,
    /// Roll back when the circuit breaker trips.
    #[serde(default = "default_true")]
    pub rollback: bool,
    /// Percent of desired tasks kept healthy during a deployment.
    #[serde(default = "default_min_healthy")]
    pub minimum_healthy_percent: u32,
    /// Upper bound of running tasks during a deployment, in percent.
    #[serde(default = "default_max_percent")]
    pub maximum_percent: u32,
    /// CloudWatch alarms that stop (and, with `rollback`, roll back) a deployment when they
    /// fire (ECS deployment alarms).
    #[serde(default)]
    pub alarm_names: Vec<String>,
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        Self {
            circuit_breaker: true,
            rollback: true,
            minimum_healthy_percent: default_min_healthy(),
            maximum_percent: default_max_percent(),
            alarm_names: Vec::new(),
        }
    }
}

fn default_min_healthy() -> u32 {
    100
}
fn default_max_percent() -> u32 {
    200
}

/// Application Auto Scaling for a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingSpec {
    /// Lower bound while running.
    pub min_capacity: u32,
    /// Upper bound while running.
    pub max_capacity: u32,
    /// Target tracking policy.
    pub target_tracking: TargetTracking,
}

/// A target tracking scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetTracking {
    /// `ECSServiceAverageCPUUtilization`, `ECSServiceAverageMemoryUtilization` or
    /// `ALBRequestCountPerTarget`.
    pub metric: String,
    /// Target value of the metric.
    pub target_value: f64,
}

/// Predefined metrics Application Auto Scaling accepts for ECS.
pub const SCALING_METRICS: [&str; 3] = [
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
];

/// The business-hours window, in local time of an IANA zone. Typed at parse time: a zone that
/// does not exist, a time that is not `HH:MM`, a day that is not `MON`..`SUN` or a date that is
/// not `YYYY-MM-DD` is a structural error with its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// IANA time zone, e.g. `America/New_York`.
    #[serde(with = "zone")]
    #[schemars(with = "String")]
    pub timezone: chrono_tz::Tz,
    /// Local start time `HH:MM` (inclusive).
    pub start: ClockTime,
    /// Local stop time `HH:MM` (exclusive). A stop earlier than the start closes the window the
    /// next day (a night window); the two may not be equal.
    pub stop: ClockTime,
    /// Days the window opens: `MON` .. `SUN`.
    pub days: Vec<Day>,
    /// Local calendar dates (`YYYY-MM-DD`) when the window does not open.
    #[serde(default)]
    pub skip_dates: Vec<LocalDate>,
}

/// A local wall-clock time written `HH:MM` (24-hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct ClockTime(pub chrono::NaiveTime);

impl ClockTime {
    /// Parses exactly `HH:MM`.
    pub fn parse(s: &str) -> Option<ClockTime> {
        if s.len() != 5 {
            return None;
        }
        chrono::NaiveTime::parse_from_str(s, "%H:%M")
            .ok()
            .map(ClockTime)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format("%H:%M").to_string())
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClockTime::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not HH:MM")))
    }
}

/// A day of the week as the spec writes it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    JsonSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE")]
#[allow(clippy::upper_case_acronyms)]
pub enum Day {
    MON,
    TUE,
    WED,
    THU,
    FRI,
    SAT,
    SUN,
}

impl Day {
    /// chrono's weekday.
    pub fn weekday(self) -> chrono::Weekday {
        use chrono::Weekday::*;
        match self {
            Day::MON => Mon,
            Day::TUE => Tue,
            Day::WED => Wed,
            Day::THU => Thu,
            Day::FRI => Fri,
            Day::SAT => Sat,
            Day::SUN => Sun,
        }
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not one of MON..SUN")))
    }
}

/// A local calendar date written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct LocalDate(pub chrono::NaiveDate);

impl Serialize for LocalDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format("%Y-%m-%d").to_string())
    }
}

impl<'de> Deserialize<'de> for LocalDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .ok()
            .filter(|_| s.len() == 10)
            .map(LocalDate)
            .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not a YYYY-MM-DD date")))
    }
}

/// Serde for an IANA zone name, with the name in the error.
mod zone {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "'{name}' is not an IANA time zone such as America/New_York"
            ))
        })
    }
}

/// Bounds on waits during start and stop, and how long each usually takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// How long to wait for a new NAT gateway to become available.
    #[serde(default = "default_nat_timeout")]
    pub nat_available_seconds: u64,
    /// How long to wait for a deleted NAT gateway to reach `deleted` before releasing its EIP.
    #[serde(default = "default_nat_timeout")]
    pub nat_deleted_seconds: u64,
    /// How long to wait for a new ALB to become active.
    #[serde(default = "default_lb_timeout")]
    pub load_balancer_active_seconds: u64,
    /// How long start waits for services to be stable and targets healthy; 0 skips the wait.
    #[serde(default = "default_services_timeout")]
    pub services_stable_seconds: u64,
    /// How long a record change may take to be `INSYNC` before the run moves on with a warning.
    #[serde(default = "default_dns_timeout")]
    pub dns_in_sync_seconds: u64,
    /// How long each wait usually takes: the first poll comes then, and fast polls follow. After
    /// a few runs the scheduler uses what it measured instead (kept in the state document).
    #[serde(default)]
    pub expected: ExpectedDurations,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            nat_available_seconds: default_nat_timeout(),
            nat_deleted_seconds: default_nat_timeout(),
            load_balancer_active_seconds: default_lb_timeout(),
            services_stable_seconds: default_services_timeout(),
            dns_in_sync_seconds: default_dns_timeout(),
            expected: ExpectedDurations::default(),
        }
    }
}

/// Typical durations of AWS's asynchronous work, in seconds. Defaults are the low end of what AWS
/// usually takes (a first poll after the resource is ready costs time, one before costs a call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDurations {
    /// A NAT gateway from `pending` to `available` (AWS: about 1 to 2 minutes). Default 60.
    #[serde(default = "default_expected_nat_available")]
    pub nat_available_seconds: u64,
    /// A NAT gateway from `deleting` to `deleted` (AWS: about a minute). Default 45.
    #[serde(default = "default_expected_nat_deleted")]
    pub nat_deleted_seconds: u64,
    /// An ALB from `provisioning` to `active` (AWS: about 2 to 3 minutes). Default 120.
    #[serde(default = "default_expected_lb_active")]
    pub load_balancer_active_seconds: u64,
    /// New tasks running and healthy behind the ALB (depends on the image). Default 45.
    #[serde(default = "default_expected_services")]
    pub services_stable_seconds: u64,
    /// A Route53 change from `PENDING` to `INSYNC` (AWS: under a minute). Default 30.
    #[serde(default = "default_expected_dns")]
    pub dns_in_sync_seconds: u64,
}

impl Default for ExpectedDurations {
    fn default() -> Self {
        Self {
            nat_available_seconds: default_expected_nat_available(),
            nat_deleted_seconds: default_expected_nat_deleted(),
            load_balancer_active_seconds: default_expected_lb_active(),
            services_stable_seconds: default_expected_services(),
            dns_in_sync_seconds: default_expected_dns(),
        }
    }
}

fn default_nat_timeout() -> u64 {
    300
}
fn default_lb_timeout() -> u64 {
    600
}
fn default_services_timeout() -> u64 {
    300
}
fn default_dns_timeout() -> u64 {
    180
}
fn default_expected_nat_available() -> u64 {
    60
}
fn default_expected_nat_deleted() -> u64 {
    45
}
fn default_expected_lb_active() -> u64 {
    120
}
fn default_expected_services() -> u64 {
    45
}
fn default_expected_dns() -> u64 {
    30
}

/// One problem found in a spec, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON path, e.g. `$.load_balancer.listeners[1].certificate_arn`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a spec; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid runtime spec ({} problem{}):\n  {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
pub struct SpecErrors(pub Vec<Problem>);

impl Spec {
    /// Parses and validates a spec document, reporting every problem at once.
    pub fn from_json(bytes: &[u8], environment: &str) -> Result<Spec, SpecErrors> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            SpecErrors(vec![Problem {
                path: "$".into(),
                message: format!("not valid JSON: {e}"),
            }])
        })?;
        let spec = structural_pass(&value)?;
        let problems = spec.problems(environment);
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(SpecErrors(problems))
        }
    }

    /// Semantic checks on a structurally valid spec.
    pub fn problems(&self, environment: &str) -> Vec<Problem> {
        let mut v = Validator::default();
        v.check(self.version == SPEC_VERSION, "$.version", || {
            format!(
                "unsupported spec version {} (this build reads version {SPEC_VERSION})",
                self.version
            )
        });
        v.check(self.environment == environment, "$.environment", || {
            format!(
                "spec is for environment '{}' but this function serves '{environment}'",
                self.environment
            )
        });
        for (k, val) in &self.tags {
            v.check(
                !k.is_empty() && k.len() <= 128,
                &format!("$.tags.{k}"),
                || "tag keys are 1 to 128 characters".into(),
            );
            v.check(val.len() <= 256, &format!("$.tags.{k}"), || {
                "tag values are at most 256 characters".into()
            });
            v.check(!k.starts_with("aws:"), &format!("$.tags.{k}"), || {
                "tag keys may not start with 'aws:'".into()
            });
            v.check(
                !crate::ownership::OWNERSHIP_TAG_KEYS.contains(&k.as_str()),
                &format!("$.tags.{k}"),
                || "this tag is set by the scheduler itself and may not be overridden".into(),
            );
        }
        self.check_nats(&mut v);
        if let Some(lb) = &self.load_balancer {
            check_load_balancer(lb, &mut v);
        }
        self.check_records(&mut v);
        self.check_services(&mut v);
        if let Some(s) = &self.schedule {
            check_schedule(s, &mut v);
        }
        if let Some(w) = &self.wake {
            self.check_wake(w, &mut v);
        }
        let p = &self.prices;
        for (name, price) in [
            ("nat_gateway_hour", p.nat_gateway_hour),
            ("public_ipv4_hour", p.public_ipv4_hour),
            ("load_balancer_hour", p.load_balancer_hour),
            ("lcu_hour", p.lcu_hour),
            ("lcus_per_hour", p.lcus_per_hour),
            ("fargate_vcpu_hour", p.fargate_vcpu_hour),
            ("fargate_gb_hour", p.fargate_gb_hour),
        ] {
            v.check(
                price.is_finite() && price >= 0.0,
                &format!("$.prices.{name}"),
                || "must be a number of at least 0".into(),
            );
        }
        v.problems
    }

    fn check_nats(&self, v: &mut Validator) {
        let mut names = BTreeSet::new();
        let mut route_tables = BTreeMap::new();
        for (i, nat) in self.nat_gateways.iter().enumerate() {
            let p = format!("$.nat_gateways[{i}]");
            v.check(is_name(&nat.name, 32), &format!("{p}.name"), || {
                "must be 1 to 32 letters, digits or '-'".into()
            });
            v.check(names.insert(nat.name.clone()), &format!("{p}.name"), || {
                format!("duplicate NAT name '{}'", nat.name)
            });
            v.id(&nat.subnet_id, "subnet-", &format!("{p}.subnet_id"));
            v.check(
                !nat.route_table_ids.is_empty(),
                &format!("{p}.route_table_ids"),
                || "at least one private route table is needed".into(),
            );
            for (j, rt) in nat.route_table_ids.iter().enumerate() {
                let rp = format!("{p}.route_table_ids[{j}]");
                v.id(rt, "rtb-", &rp);
                if let Some(prev) = route_tables.insert(rt.clone(), rp.clone()) {
                    v.push(&rp, format!("route table {rt} is already served by {prev}"));
                }
            }
            match (nat.elastic_ip.mode, &nat.elastic_ip.allocation_id) {
                (ElasticIpMode::External, None) => {
                    v.push(&format!("{p}.elastic_ip.allocation_id"), "required when mode is 'external'".into())
                }
                (ElasticIpMode::External, Some(a)) => v.id(a, "eipalloc-", &format!("{p}.elastic_ip.allocation_id")),
                (_, Some(_)) => v.push(
                    &format!("{p}.elastic_ip.allocation_id"),
                    "only allowed when mode is 'external' (the scheduler allocates its own otherwise)".into(),
                ),
                (_, None) => {}
            }
        }
    }

    fn check_records(&self, v: &mut Validator) {
        let mut seen = BTreeSet::new();
        if !self.dns_records.is_empty() && self.load_balancer.is_none() {
            v.push(
                "$.dns_records",
                "alias records need a load_balancer to point at".into(),
            );
        }
        for (i, r) in self.dns_records.iter().enumerate() {
            let p = format!("$.dns_records[{i}]");
            v.check(is_zone_id(&r.zone_id), &format!("{p}.zone_id"), || {
                format!("'{}' is not a hosted zone id (Z...)", r.zone_id)
            });
            v.check(is_dns_name(&r.name), &format!("{p}.name"), || {
                format!("'{}' is not a DNS name", r.name)
            });
            v.check(!r.types.is_empty(), &format!("{p}.types"), || {
                "at least one of A, AAAA".into()
            });
            for t in &r.types {
                v.check(
                    seen.insert((normalize_dns_name(&r.name), *t)),
                    &format!("{p}.types"),
                    || format!("{} {} is listed twice", r.name, t.as_str()),
                );
            }
            if r.types.contains(&RecordType::AAAA) {
                if let Some(lb) = &self.load_balancer {
                    v.check(
                        lb.ip_address_type == IpAddressType::Dualstack,
                        &format!("{p}.types"),
                        || "an AAAA alias needs load_balancer.ip_address_type = dualstack".into(),
                    );
                }
            }
        }
    }

    fn check_wake(&self, w: &WakeSpec, v: &mut Validator) {
        let p = "$.wake";
        v.check(
            !w.title.trim().is_empty() && w.title.chars().count() <= 120,
            &format!("{p}.title"),
            || "1 to 120 characters".into(),
        );
        v.check(!self.dns_records.is_empty(), "$.dns_records", || {
            "wake on request moves the alias records: at least one is needed".into()
        });
        let mut names = BTreeSet::new();
        for (i, f) in w.front.iter().enumerate() {
            let fp = format!("{p}.front[{i}]");
            v.check(
                self.dns_records
                    .iter()
                    .any(|r| normalize_dns_name(&r.name) == normalize_dns_name(&f.name)),
                &format!("{fp}.name"),
                || format!("'{}' is not one of the dns_records names", f.name),
            );
            v.check(
                names.insert(normalize_dns_name(&f.name)),
                &format!("{fp}.name"),
                || format!("'{}' has two fronts", f.name),
            );
            v.check(is_dns_name(&f.dns_name), &format!("{fp}.dns_name"), || {
                format!("'{}' is not a DNS name", f.dns_name)
            });
            v.check(
                is_zone_id(&f.hosted_zone_id),
                &format!("{fp}.hosted_zone_id"),
                || format!("'{}' is not a hosted zone id (Z...)", f.hosted_zone_id),
            );
        }
        v.check(
            (1..=168).contains(&w.max_hours),
            &format!("{p}.max_hours"),
            || "1 to 168".into(),
        );
        v.check(
            (1..=w.max_hours.max(1)).contains(&w.default_hours),
            &format!("{p}.default_hours"),
            || format!("1 to max_hours ({})", w.max_hours),
        );
        if let Some(h) = &w.api_secret_sha256 {
            v.check(
                h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()),
                &format!("{p}.api_secret_sha256"),
                || "the SHA-256 of the secret as 64 hex digits".into(),
            );
        }
        match (w.idle_minutes, &w.idle_alarm_name) {
            (Some(m), Some(name)) => {
                v.check(
                    (10..=180).contains(&m),
                    &format!("{p}.idle_minutes"),
                    || "10 to 180 (a Metrics Insights alarm sees at most three hours)".into(),
                );
                v.check(
                    !name.is_empty() && name.len() <= 255,
                    &format!("{p}.idle_alarm_name"),
                    || "1 to 255 characters".into(),
                );
            }
            (Some(_), None) => v.push(
                &format!("{p}.idle_alarm_name"),
                "required with idle_minutes (the alarm that says the ALB is idle)".into(),
            ),
            (None, Some(_)) => v.push(
                &format!("{p}.idle_minutes"),
                "required with idle_alarm_name".into(),
            ),
            (None, None) => {}
        }
        v.check(
            !(w.on_demand && self.schedule.is_some()),
            &format!("{p}.on_demand"),
            || "on_demand means no window: remove schedule, or set on_demand to false".into(),
        );
    }

    fn check_services(&self, v: &mut Validator) {
        let mut keys = BTreeSet::new();
        let forwarded: BTreeSet<&str> = self
            .load_balancer
            .iter()
            .flat_map(|lb| lb.listeners.iter())
            .flat_map(|l| {
                std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action))
            })
            .filter_map(|a| match a {
                Action::Forward { target_group_arn } => Some(target_group_arn.as_str()),
                _ => None,
            })
            .collect();
        for (i, s) in self.services.iter().enumerate() {
            let p = format!("$.services[{i}]");
            v.check(is_name(&s.cluster, 255), &format!("{p}.cluster"), || {
                "must be a cluster name (not an ARN)".into()
            });
            v.check(is_ecs_name(&s.name), &format!("{p}.name"), || {
                "must be 1 to 255 letters, digits, '-' or '_'".into()
            });
            v.check(keys.insert(s.key()), &format!("{p}.name"), || {
                format!("duplicate service {}", s.key())
            });
            v.check(
                !s.task_definition.is_empty(),
                &format!("{p}.task_definition"),
                || "must not be empty".into(),
            );
            v.check(!s.subnet_ids.is_empty(), &format!("{p}.subnet_ids"), || {
                "at least one subnet".into()
            });
            v.ids(&s.subnet_ids, "subnet-", &format!("{p}.subnet_ids"));
            v.check(
                !s.security_group_ids.is_empty(),
                &format!("{p}.security_group_ids"),
                || "at least one security group".into(),
            );
            v.ids(
                &s.security_group_ids,
                "sg-",
                &format!("{p}.security_group_ids"),
            );
            v.check(
                s.desired_count <= 1000,
                &format!("{p}.desired_count"),
                || "at most 1000".into(),
            );
            if let Some(lb) = &s.load_balancer {
                v.arn(
                    &lb.target_group_arn,
                    "elasticloadbalancing",
                    &format!("{p}.load_balancer.target_group_arn"),
                );
                v.check(
                    forwarded.contains(lb.target_group_arn.as_str()),
                    &format!("{p}.load_balancer.target_group_arn"),
                    || "no listener or rule forwards to this target group, so ECS would refuse the service".into(),
                );
                v.check(
                    !lb.container_name.is_empty(),
                    &format!("{p}.load_balancer.container_name"),
                    || "must not be empty".into(),
                );
                v.check(
                    lb.container_port > 0,
                    &format!("{p}.load_balancer.container_port"),
                    || "must be 1 to 65535".into(),
                );
            }
            if let Some(size) = s.size {
                v.check(
                    (256..=16384).contains(&size.cpu) && (512..=122_880).contains(&size.memory),
                    &format!("{p}.size"),
                    || "a Fargate size: cpu 256 to 16384 units, memory 512 to 122880 MiB".into(),
                );
            }
            v.check(
                s.health_check_grace_period_seconds <= 2_147_483_647,
                &format!("{p}.health_check_grace_period_seconds"),
                || "too large".into(),
            );
            let d = &s.deployment;
            v.check(
                d.minimum_healthy_percent <= 100,
                &format!("{p}.deployment.minimum_healthy_percent"),
                || "at most 100".into(),
            );
            v.check(
                d.maximum_percent >= 100 && d.maximum_percent <= 200,
                &format!("{p}.deployment.maximum_percent"),
                || "100 to 200".into(),
            );
            v.check(
                !d.rollback || d.circuit_breaker,
                &format!("{p}.deployment.rollback"),
                || "rollback needs circuit_breaker".into(),
            );
            if let Some(a) = &s.auto_scaling {
                let ap = format!("{p}.auto_scaling");
                v.check(
                    a.min_capacity <= a.max_capacity,
                    &format!("{ap}.min_capacity"),
                    || {
                        format!(
                            "min_capacity {} exceeds max_capacity {}",
                            a.min_capacity, a.max_capacity
                        )
                    },
                );
                v.check(a.max_capacity >= 1, &format!("{ap}.max_capacity"), || {
                    "at least 1".into()
                });
                v.check(
                    s.desired_count >= a.min_capacity && s.desired_count <= a.max_capacity,
                    &format!("{p}.desired_count"),
                    || {
                        format!(
                            "{} is outside the auto-scaling bounds {}..={}",
                            s.desired_count, a.min_capacity, a.max_capacity
                        )
                    },
                );
                v.check(
                    SCALING_METRICS.contains(&a.target_tracking.metric.as_str()),
                    &format!("{ap}.target_tracking.metric"),
                    || {
                        format!(
                            "'{}' is not one of {}",
                            a.target_tracking.metric,
                            SCALING_METRICS.join(", ")
                        )
                    },
                );
                v.check(
                    a.target_tracking.metric != "ALBRequestCountPerTarget"
                        || s.load_balancer.is_some(),
                    &format!("{ap}.target_tracking.metric"),
                    || "ALBRequestCountPerTarget needs the service to have a load_balancer".into(),
                );
                v.check(
                    a.target_tracking.target_value.is_finite()
                        && a.target_tracking.target_value > 0.0,
                    &format!("{ap}.target_tracking.target_value"),
                    || "must be a positive number".into(),
                );
            }
        }
    }
}

fn check_load_balancer(lb: &LoadBalancerSpec, v: &mut Validator) {
    let p = "$.load_balancer";
    v.check(
        !lb.name.is_empty()
            && lb.name.len() <= 32
            && lb
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !lb.name.starts_with('-')
            && !lb.name.ends_with('-')
            && !lb.name.starts_with("internal-"),
        &format!("{p}.name"),
        || {
            format!(
                "'{}' is not a valid ALB name (1 to 32 letters, digits, inner '-')",
                lb.name
            )
        },
    );
    v.check(lb.subnet_ids.len() >= 2, &format!("{p}.subnet_ids"), || {
        "an ALB needs at least two subnets in different availability zones".into()
    });
    v.ids(&lb.subnet_ids, "subnet-", &format!("{p}.subnet_ids"));
    v.check(
        !lb.security_group_ids.is_empty(),
        &format!("{p}.security_group_ids"),
        || "at least one security group".into(),
    );
    v.ids(
        &lb.security_group_ids,
        "sg-",
        &format!("{p}.security_group_ids"),
    );
    let a = &lb.attributes;
    v.check(
        (1..=4000).contains(&a.idle_timeout_seconds),
        &format!("{p}.attributes.idle_timeout_seconds"),
        || "1 to 4000".into(),
    );
    if let Some(logs) = &a.access_logs {
        v.check(
            !logs.bucket.is_empty() && !logs.bucket.starts_with("arn:"),
            &format!("{p}.attributes.access_logs.bucket"),
            || "a bucket name, not an ARN".into(),
        );
        v.check(
            !logs.prefix.ends_with('/'),
            &format!("{p}.attributes.access_logs.prefix"),
            || "no trailing '/'".into(),
        );
    }
    if let Some(acl) = &lb.web_acl_arn {
        v.arn(acl, "wafv2", &format!("{p}.web_acl_arn"));
    }
    v.check(!lb.listeners.is_empty(), &format!("{p}.listeners"), || {
        "at least one listener".into()
    });
    let mut ports = BTreeSet::new();
    for (i, l) in lb.listeners.iter().enumerate() {
        let lp = format!("{p}.listeners[{i}]");
        v.check(l.port > 0, &format!("{lp}.port"), || "1 to 65535".into());
        v.check(ports.insert(l.port), &format!("{lp}.port"), || {
            format!("port {} has two listeners", l.port)
        });
        match l.protocol {
            ListenerProtocol::Https => match &l.certificate_arn {
                None => v.push(
                    &format!("{lp}.certificate_arn"),
                    "required for HTTPS".into(),
                ),
                Some(c) => v.arn(c, "acm", &format!("{lp}.certificate_arn")),
            },
            ListenerProtocol::Http => {
                v.check(
                    l.certificate_arn.is_none(),
                    &format!("{lp}.certificate_arn"),
                    || "only for HTTPS".into(),
                );
                v.check(l.ssl_policy.is_none(), &format!("{lp}.ssl_policy"), || {
                    "only for HTTPS".into()
                });
            }
        }
        if let Some(pol) = &l.ssl_policy {
            v.check(
                pol.starts_with("ELBSecurityPolicy-"),
                &format!("{lp}.ssl_policy"),
                || format!("'{pol}' is not an ELB security policy"),
            );
        }
        check_action(&l.default_action, &format!("{lp}.default_action"), v);
        let mut priorities = BTreeSet::new();
        for (j, r) in l.rules.iter().enumerate() {
            let rp = format!("{lp}.rules[{j}]");
            v.check(
                (1..=50_000).contains(&r.priority),
                &format!("{rp}.priority"),
                || "1 to 50000".into(),
            );
            v.check(
                priorities.insert(r.priority),
                &format!("{rp}.priority"),
                || format!("priority {} is used twice on this listener", r.priority),
            );
            v.check(
                !r.path_patterns.is_empty() || !r.host_headers.is_empty(),
                &rp,
                || "a rule needs path_patterns or host_headers".into(),
            );
            v.check(
                r.path_patterns.len() + r.host_headers.len() <= 5,
                &rp,
                || "at most 5 condition values per rule".into(),
            );
            check_action(&r.action, &format!("{rp}.action"), v);
        }
    }
}

fn check_action(a: &Action, path: &str, v: &mut Validator) {
    match a {
        Action::Forward { target_group_arn } => v.arn(
            target_group_arn,
            "elasticloadbalancing",
            &format!("{path}.target_group_arn"),
        ),
        Action::Redirect {
            protocol,
            port,
            status_code,
        } => {
            v.check(
                ["HTTP", "HTTPS", "#{protocol}"].contains(&protocol.as_str()),
                &format!("{path}.protocol"),
                || "HTTP, HTTPS or #{protocol}".into(),
            );
            v.check(
                port == "#{port}" || port.parse::<u16>().is_ok_and(|p| p > 0),
                &format!("{path}.port"),
                || "a port number or #{port}".into(),
            );
            v.check(
                ["HTTP_301", "HTTP_302"].contains(&status_code.as_str()),
                &format!("{path}.status_code"),
                || "HTTP_301 or HTTP_302".into(),
            );
        }
        Action::FixedResponse {
            status_code,
            message_body,
            ..
        } => {
            v.check(
                status_code.len() == 3
                    && matches!(status_code.as_bytes()[0], b'2' | b'4' | b'5')
                    && status_code.chars().all(|c| c.is_ascii_digit()),
                &format!("{path}.status_code"),
                || "a 2XX, 4XX or 5XX code".into(),
            );
            v.check(
                message_body.len() <= 1024,
                &format!("{path}.message_body"),
                || "at most 1024 characters".into(),
            );
        }
    }
}

fn check_schedule(s: &ScheduleSpec, v: &mut Validator) {
    let p = "$.schedule";
    v.check(s.start != s.stop, &format!("{p}.stop"), || {
        "start and stop must differ (a stop earlier than the start closes the window the next day)"
            .into()
    });
    v.check(!s.days.is_empty(), &format!("{p}.days"), || {
        "at least one day".into()
    });
    let mut seen = BTreeSet::new();
    for (i, d) in s.days.iter().enumerate() {
        v.check(seen.insert(*d), &format!("{p}.days[{i}]"), || {
            format!("{} is listed twice", <&str>::from(*d))
        });
    }
}

/// Lower-cases and adds the trailing dot Route53 returns.
pub fn normalize_dns_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

fn is_zone_id(s: &str) -> bool {
    s.starts_with('Z') && s.len() >= 2 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
        })
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn push(&mut self, path: &str, message: String) {
        self.problems.push(Problem {
            path: path.to_string(),
            message,
        });
    }

    fn check(&mut self, ok: bool, path: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.push(path, message());
        }
    }

    fn id(&mut self, id: &str, prefix: &str, path: &str) {
        let rest = id.strip_prefix(prefix).unwrap_or("");
        self.check(
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit()),
            path,
            || format!("'{id}' is not a {prefix}... id"),
        );
    }

    fn ids(&mut self, ids: &[String], prefix: &str, path: &str) {
        let mut seen = BTreeSet::new();
        for (i, id) in ids.iter().enumerate() {
            self.id(id, prefix, &format!("{path}[{i}]"));
            self.check(seen.insert(id), &format!("{path}[{i}]"), || {
                format!("{id} is listed twice")
            });
        }
    }

    fn arn(&mut self, arn: &str, service: &str, path: &str) {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        self.check(
            parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty(),
            path,
            || format!("'{arn}' is not an {service} ARN"),
        );
    }
}

/// Deserialises each section and array element on its own, so that one run reports every
/// structural problem (missing field, wrong type, unknown field) with its path.
fn structural_pass(value: &Value) -> Result<Spec, SpecErrors> {
    let Some(obj) = value.as_object() else {
        return Err(SpecErrors(vec![Problem {
            path: "$".into(),
            message: "the spec must be a JSON object".into(),
        }]));
    };
    let mut problems = Vec::new();
    const KNOWN: [&str; 12] = [
        "version",
        "environment",
        "tags",
        "nat_gateways",
        "load_balancer",
        "dns_records",
        "services",
        "schedule",
        "timeouts",
        "prices",
        "wake",
        "$comment",
    ];
    for key in obj.keys() {
        if !KNOWN.contains(&key.as_str()) {
            problems.push(Problem {
                path: format!("$.{key}"),
                message: format!(
                    "unknown field (expected one of {})",
                    KNOWN[..KNOWN.len() - 1].join(", ")
                ),
            });
        }
    }
    for required in ["version", "environment"] {
        if !obj.contains_key(required) {
            problems.push(Problem {
                path: format!("$.{required}"),
                message: "missing required field".into(),
            });
        }
    }
    // Each array element on its own; the listeners of the ALB likewise.
    let nat_gateways =
        elements::<NatGatewaySpec>(obj.get("nat_gateways"), "$.nat_gateways", &mut problems);
    let dns_records =
        elements::<DnsRecordSpec>(obj.get("dns_records"), "$.dns_records", &mut problems);
    let services = elements::<ServiceSpec>(obj.get("services"), "$.services", &mut problems);
    let load_balancer = match obj.get("load_balancer") {
        None | Some(Value::Null) => Some(None),
        Some(lb) => load_balancer_pass(lb, &mut problems).map(Some),
    };
    let version = field::<u32>(obj.get("version"), "$.version", &mut problems);
    let environment = field::<String>(obj.get("environment"), "$.environment", &mut problems);
    let tags = optional::<BTreeMap<String, String>>(obj.get("tags"), "$.tags", &mut problems);
    let schedule =
        optional::<Option<ScheduleSpec>>(obj.get("schedule"), "$.schedule", &mut problems);
    let timeouts = optional::<Timeouts>(obj.get("timeouts"), "$.timeouts", &mut problems);
    let prices = optional::<Prices>(obj.get("prices"), "$.prices", &mut problems);
    let wake = optional::<Option<WakeSpec>>(obj.get("wake"), "$.wake", &mut problems);

    match (
        version,
        environment,
        tags,
        nat_gateways,
        load_balancer,
        dns_records,
        services,
        schedule,
        timeouts,
        prices,
        wake,
    ) {
        (
            Some(version),
            Some(environment),
            Some(tags),
            Some(nat_gateways),
            Some(load_balancer),
            Some(dns_records),
            Some(services),
            Some(schedule),
            Some(timeouts),
            Some(prices),
            Some(wake),
        ) if problems.is_empty() => Ok(Spec {
            version,
            environment,
            tags,
            nat_gateways,
            load_balancer,
            dns_records,
            services,
            schedule,
            timeouts,
            prices,
            wake,
        }),
        _ => Err(SpecErrors(problems)),
    }
}

fn load_balancer_pass(lb: &Value, problems: &mut Vec<Problem>) -> Option<LoadBalancerSpec> {
    let Some(obj) = lb.as_object() else {
        problems.push(Problem {
            path: "$.load_balancer".into(),
            message: "must be an object".into(),
        });
        return None;
    };
    // Check listeners one by one, then the rest of the object with listeners emptied.
    let listeners = match obj.get("listeners") {
        None => {
            problems.push(Problem {
                path: "$.load_balancer.listeners".into(),
                message: "missing required field".into(),
            });
            None
        }
        some => elements::<ListenerSpec>(some, "$.load_balancer.listeners", problems),
    };
    let mut rest = obj.clone();
    rest.insert("listeners".into(), Value::Array(vec![]));
    let base = field::<LoadBalancerSpec>(Some(&Value::Object(rest)), "$.load_balancer", problems)?;
    Some(LoadBalancerSpec {
        listeners: listeners?,
        ..base
    })
}

fn elements<T: DeserializeOwned>(
    value: Option<&Value>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<T>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => {
            let before = problems.len();
            let parsed: Vec<T> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| field::<T>(Some(item), &format!("{path}[{i}]"), problems))
                .collect();
            (problems.len() == before).then_some(parsed)
        }
        Some(_) => {
            problems.push(Problem {
                path: path.into(),
                message: "must be an array".into(),
            });
            None
        }
    }
}

fn optional<T: DeserializeOwned + Default>(
    value: Option<&Value>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match value {
        None | Some(Value::Null) => Some(T::default()),
        some => field(some, path, problems),
    }
}

fn field<T: DeserializeOwned>(
    value: Option<&Value>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let value = value?;
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_string()
            } else if inner.starts_with('[') {
                format!("{path}{inner}")
            } else {
                format!("{path}.{inner}")
            };
            problems.push(Problem {
                path: full,
                message: e.into_inner().to_string(),
            });
            None
        }
    }
}

/// The JSON Schema of the spec, generated from these types.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Spec)).expect("a schema always serialises")
}
