//! One adapter per AWS service, each behind a narrow trait named for intentions.
//!
//! The traits take and return `crate::model` types only, so the planner, the executor and the
//! tests never see an SDK type, and the simulator can implement the same traits.
//! "Already done" is success: deleting something already gone returns `Ok`.

use async_trait::async_trait;

use crate::model::{
    ElasticIp, Listener, LoadBalancer, NatGateway, RecordChange, RecordSet, RouteTable,
    ScalingBounds, Service, Tags,
};
use crate::spec::{
    ListenerSpec, LoadBalancerAttributes, LoadBalancerSpec, RuleSpec, ServiceSpec, TargetTracking,
};

pub mod containers;
pub mod dns;
pub mod load_balancing;
pub mod network;
pub mod permissions;
pub mod store;

/// Result of an adapter call.
pub type Result<T, E = AwsError> = std::result::Result<T, E>;

/// How an AWS error should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Throttling, 5xx, timeouts, connection resets: worth retrying with backoff.
    Transient,
    /// The resource does not exist.
    NotFound,
    /// Access denied, invalid parameter, limits: retrying will not help.
    Permanent,
}

/// An AWS call that failed, keeping the service's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    /// The API operation, e.g. `DeleteNatGateway`.
    pub operation: &'static str,
    /// AWS's error code, e.g. `InvalidAllocationID.NotFound`, when the service sent one.
    pub code: Option<String>,
    /// AWS's message (never contains credentials: the SDK does not echo them).
    pub message: String,
    /// How to treat it.
    pub kind: ErrorKind,
}

impl AwsError {
    /// Builds an error from an SDK error, classifying it by code and HTTP status.
    pub fn from_sdk<E, R>(operation: &'static str, err: aws_sdk_s3::error::SdkError<E, R>) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_s3::error::SdkError;
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_string);
                let message = e.message().unwrap_or("no message").to_string();
                let kind = classify(code.as_deref());
                AwsError {
                    operation,
                    code,
                    message,
                    kind,
                }
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => AwsError {
                operation,
                code: None,
                message: format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                ),
                kind: ErrorKind::Transient,
            },
            _ => AwsError {
                operation,
                code: None,
                message: format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                ),
                kind: ErrorKind::Permanent,
            },
        }
    }

    /// An error the adapter itself raises (a response missing a field it must have).
    pub fn malformed(operation: &'static str, what: &str) -> Self {
        AwsError {
            operation,
            code: None,
            message: format!("response is missing {what}"),
            kind: ErrorKind::Permanent,
        }
    }

    /// A request the adapter could not even build (a required field left empty): a bug or a bad
    /// spec, never worth retrying.
    pub fn invalid_request(operation: &'static str, err: impl std::fmt::Display) -> Self {
        AwsError {
            operation,
            code: None,
            message: format!("could not build the request: {err}"),
            kind: ErrorKind::Permanent,
        }
    }

    /// True when the code is one of `codes`.
    pub fn has_code(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    /// Worth retrying.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

/// Classifies an AWS error code. Not-found codes vary per service; they end the same way.
pub fn classify(code: Option<&str>) -> ErrorKind {
    let Some(code) = code else {
        return ErrorKind::Transient;
    };
    const TRANSIENT: [&str; 12] = [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "PriorRequestNotComplete",
        "SlowDown",
    ];
    if TRANSIENT.contains(&code) {
        ErrorKind::Transient
    } else if code.ends_with("NotFound")
        || code.ends_with(".NotFound")
        || code.ends_with("NotFoundException")
        || code == "NoSuchKey"
        || code == "NoSuchHostedZone"
    {
        ErrorKind::NotFound
    } else {
        ErrorKind::Permanent
    }
}

/// EC2: NAT gateways, Elastic IPs and the private route tables' default routes.
#[async_trait]
pub trait Network: Send + Sync {
    /// NAT gateways in these subnets, in any state except `deleted` (owned or not).
    async fn describe_nat_gateways(&self, subnet_ids: &[String]) -> Result<Vec<NatGateway>>;
    /// One NAT gateway by id, including `deleted` ones; `None` when AWS no longer knows it.
    async fn describe_nat_gateway(&self, id: &str) -> Result<Option<NatGateway>>;
    /// Creates a public NAT gateway; tags are applied atomically at creation.
    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<NatGateway>;
    /// Deletes a NAT gateway; already deleted or unknown is success.
    async fn delete_nat_gateway(&self, id: &str) -> Result<()>;
    /// All Elastic IPs of the account in the region (owned or not).
    async fn describe_addresses(&self) -> Result<Vec<ElasticIp>>;
    /// Allocates a VPC Elastic IP with tags applied at allocation.
    async fn allocate_address(&self, tags: &Tags) -> Result<ElasticIp>;
    /// Releases an Elastic IP; already released is success. AWS refuses while a NAT holds it.
    async fn release_address(&self, allocation_id: &str) -> Result<()>;
    /// Clears an association AWS no longer honours (moto keeps a deleted gateway's association
    /// on its address); already clear is success.
    async fn disassociate_address(&self, association_id: &str) -> Result<()>;
    /// These route tables with their default route.
    async fn describe_route_tables(&self, ids: &[String]) -> Result<Vec<RouteTable>>;
    /// Adds `0.0.0.0/0` via the NAT gateway.
    async fn create_default_route(&self, route_table_id: &str, nat_gateway_id: &str) -> Result<()>;
    /// Points the existing `0.0.0.0/0` route at the NAT gateway.
    async fn replace_default_route(&self, route_table_id: &str, nat_gateway_id: &str)
        -> Result<()>;
    /// Removes `0.0.0.0/0`; already absent is success.
    async fn delete_default_route(&self, route_table_id: &str) -> Result<()>;
}

/// ELBv2 and WAFv2: the ALB, its attributes, listeners, rules and web ACL association.
#[async_trait]
pub trait LoadBalancing: Send + Sync {
    /// The load balancer with this name and its tags, owned or not.
    async fn find_load_balancer(&self, name: &str) -> Result<Option<LoadBalancer>>;
    /// Creates the ALB with tags applied at creation.
    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> Result<LoadBalancer>;
    /// Deletes it; already gone is success.
    async fn delete_load_balancer(&self, arn: &str) -> Result<()>;
    /// True when the ALB's attributes already match.
    async fn attributes_match(
        &self,
        arn: &str,
        attributes: &LoadBalancerAttributes,
    ) -> Result<bool>;
    /// Sets the attributes (deletion protection always off).
    async fn set_attributes(&self, arn: &str, attributes: &LoadBalancerAttributes) -> Result<()>;
    /// Listeners of the ALB with the priorities of their rules.
    async fn describe_listeners(&self, load_balancer_arn: &str) -> Result<Vec<Listener>>;
    /// Creates a listener (its rules are created separately).
    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> Result<Listener>;
    /// Deletes a listener; already gone is success.
    async fn delete_listener(&self, arn: &str) -> Result<()>;
    /// Creates one rule on a listener.
    async fn create_rule(&self, listener_arn: &str, rule: &RuleSpec, tags: &Tags) -> Result<()>;
    /// The web ACL associated with the ALB, if any.
    async fn web_acl_for(&self, load_balancer_arn: &str) -> Result<Option<String>>;
    /// Associates the web ACL.
    async fn associate_web_acl(&self, load_balancer_arn: &str, web_acl_arn: &str) -> Result<()>;
    /// Removes any association; none is success.
    async fn disassociate_web_acl(&self, load_balancer_arn: &str) -> Result<()>;
    /// (healthy, registered) targets of a target group.
    async fn target_health(&self, target_group_arn: &str) -> Result<(u32, u32)>;
}

/// Route53 records in one hosted zone.
#[async_trait]
pub trait Dns: Send + Sync {
    /// Record sets at exactly this name (any type).
    async fn records_at(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>>;
    /// Applies the changes in one batch and waits until Route53 reports them in sync.
    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<()>;
}

/// ECS services, their auto-scaling bounds, and the cluster's override tags.
#[async_trait]
pub trait Containers: Send + Sync {
    /// The named services of a cluster with their tags; missing ones are omitted.
    async fn describe_services(&self, cluster: &str, names: &[String]) -> Result<Vec<Service>>;
    /// Creates a service with tags applied at creation.
    async fn create_service(
        &self,
        spec: &ServiceSpec,
        desired_count: u32,
        tags: &Tags,
    ) -> Result<Service>;
    /// Sets the desired count.
    async fn set_desired_count(&self, cluster: &str, name: &str, desired_count: u32) -> Result<()>;
    /// The service's registered scalable target bounds, if any.
    async fn scaling_bounds(&self, cluster: &str, name: &str) -> Result<Option<ScalingBounds>>;
    /// Registers (or updates) the scalable target with these bounds.
    async fn set_scaling_bounds(
        &self,
        cluster: &str,
        name: &str,
        bounds: ScalingBounds,
    ) -> Result<()>;
    /// True when the service has a target-tracking policy named by the scheduler.
    async fn has_scaling_policy(&self, cluster: &str, name: &str) -> Result<bool>;
    /// Puts the target-tracking policy. `resource_label` is needed for `ALBRequestCountPerTarget`.
    async fn put_scaling_policy(
        &self,
        cluster: &str,
        name: &str,
        policy: &TargetTracking,
        resource_label: Option<&str>,
    ) -> Result<()>;
    /// Tags of the cluster (where the tier-wide override tags live).
    async fn cluster_tags(&self, cluster: &str) -> Result<Tags>;
    /// Adds or overwrites these tags on the cluster.
    async fn set_cluster_tags(&self, cluster: &str, tags: &Tags) -> Result<()>;
    /// Removes these tag keys from the cluster; keys that are not there are ignored.
    async fn remove_cluster_tags(&self, cluster: &str, keys: &[String]) -> Result<()>;
}

/// A versioned object's entity tag.
pub type ETag = String;

/// Condition on a state write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if the key does not exist yet (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this entity tag (`If-Match`).
    Matches(ETag),
}

/// Failure of a conditional write.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// Someone else wrote first (HTTP 412, or 409 for a concurrent conditional write).
    #[error("precondition failed: the object changed since it was read")]
    PreconditionFailed,
    /// Any other failure.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// S3: the spec, the state document and the history records.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The object's body and entity tag, or `None` when the key does not exist.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, ETag)>>;
    /// Writes the object if the precondition holds, returning the new entity tag.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> Result<ETag, PutError>;
}

/// The adapters one invocation uses.
#[derive(Clone)]
pub struct Clients {
    pub network: std::sync::Arc<dyn Network>,
    pub load_balancing: std::sync::Arc<dyn LoadBalancing>,
    pub dns: std::sync::Arc<dyn Dns>,
    pub containers: std::sync::Arc<dyn Containers>,
    pub store: std::sync::Arc<dyn ObjectStore>,
}

impl Clients {
    /// Real AWS clients from one shared SDK configuration (built once at cold start).
    /// `path_style` addresses S3 as `endpoint/bucket/key`, which local emulators need.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bucket: &str, path_style: bool) -> Self {
        Clients {
            network: std::sync::Arc::new(network::Ec2Network::new(aws_sdk_ec2::Client::new(sdk))),
            load_balancing: std::sync::Arc::new(load_balancing::ElbLoadBalancing::new(
                aws_sdk_elasticloadbalancingv2::Client::new(sdk),
                aws_sdk_wafv2::Client::new(sdk),
            )),
            dns: std::sync::Arc::new(dns::Route53Dns::new(aws_sdk_route53::Client::new(sdk))),
            containers: std::sync::Arc::new(containers::EcsContainers::new(
                aws_sdk_ecs::Client::new(sdk),
                aws_sdk_applicationautoscaling::Client::new(sdk),
            )),
            store: std::sync::Arc::new(store::S3Store::new(
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(sdk)
                        .force_path_style(path_style)
                        .build(),
                ),
                bucket,
            )),
        }
    }
}
