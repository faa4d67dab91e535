//! What the scheduler observes in AWS, in its own types. Adapters translate SDK types into these;
//! nothing above `crate::aws` sees an SDK type. Ownership rules are in [`crate::ownership`].

use serde::{Deserialize, Serialize};

pub use crate::ownership::Tags;

/// Alias record type.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::IntoStaticStr,
)]
pub enum RecordType {
    A,
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
}

impl RecordType {
    /// The value the Route53 API expects.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// NAT gateway lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatState {
    Pending,
    Available,
    Deleting,
    Deleted,
    Failed,
}

impl NatState {
    /// Pending or available: the gateway is (or will be) usable.
    pub fn is_live(self) -> bool {
        matches!(self, NatState::Pending | NatState::Available)
    }
}

/// An observed NAT gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatGateway {
    pub id: String,
    pub subnet_id: String,
    pub state: NatState,
    pub allocation_ids: Vec<String>,
    pub tags: Tags,
}

/// An observed Elastic IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElasticIp {
    pub allocation_id: String,
    pub public_ip: String,
    /// Set while a network interface (a NAT gateway's) holds the address.
    pub association_id: Option<String>,
    /// Set when the association is with an EC2 instance (never a NAT gateway's).
    #[serde(default)]
    pub instance_id: Option<String>,
    pub tags: Tags,
}

/// Where a route table's `0.0.0.0/0` route points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "id")]
pub enum RouteTarget {
    NatGateway(String),
    /// An internet gateway, transit gateway, instance, peering...: never ours.
    Other(String),
}

/// A route table's default route, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRoute {
    pub target: RouteTarget,
    /// False when AWS reports `blackhole` (the target is gone).
    pub active: bool,
}

/// An observed route table (only what the scheduler cares about).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub id: String,
    pub default_route: Option<DefaultRoute>,
    /// Subnets explicitly associated with it (which services' egress it carries).
    #[serde(default)]
    pub subnet_ids: Vec<String>,
}

/// Load balancer lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancerState {
    Provisioning,
    Active,
    ActiveImpaired,
    Failed,
}

/// An observed Application Load Balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    /// The zone id an alias record needs (per region in AWS).
    pub canonical_hosted_zone_id: String,
    pub state: LoadBalancerState,
    pub tags: Tags,
}

/// An observed listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub port: u16,
    pub protocol: String,
    /// Priorities of the non-default rules.
    pub rule_priorities: Vec<u32>,
}

/// The alias part of a record set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasTarget {
    pub dns_name: String,
    pub hosted_zone_id: String,
    pub evaluate_target_health: bool,
}

/// An observed record set at one name and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    /// Fully qualified, lower-case, with the trailing dot.
    pub name: String,
    pub record_type: String,
    pub alias: Option<AliasTarget>,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
}

/// One record change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "change")]
pub enum RecordChange {
    /// Create or replace an alias record.
    UpsertAlias {
        name: String,
        record_type: RecordType,
        target: AliasTarget,
    },
    /// Create or replace a TXT record.
    UpsertTxt {
        name: String,
        ttl: i64,
        values: Vec<String>,
    },
    /// Delete exactly this record set (Route53 needs the current values).
    Delete { record: RecordSet },
}

/// ECS service status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceStatus {
    Active,
    Draining,
    Inactive,
}

/// An observed ECS service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub cluster: String,
    pub name: String,
    pub arn: String,
    pub status: ServiceStatus,
    pub desired_count: u32,
    pub running_count: u32,
    pub pending_count: u32,
    /// Number of deployments in flight; 1 when steady.
    pub deployments: u32,
    /// The task definition (ARN) the service runs, or will run when scaled up.
    #[serde(default)]
    pub task_definition: Option<String>,
    pub tags: Tags,
}

impl Service {
    /// `cluster/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.cluster, self.name)
    }
}

/// Application Auto Scaling bounds of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingBounds {
    pub min: u32,
    pub max: u32,
}

/// An ECS cluster: where the tier-wide override tags live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub tags: Tags,
}

/// A registered task definition revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: u32,
    /// `ACTIVE`, `INACTIVE` or `DELETE_IN_PROGRESS`.
    pub active: bool,
}
