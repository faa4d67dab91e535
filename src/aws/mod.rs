//! One adapter per AWS service, each behind a narrow trait named for intentions.
//!
//! The traits take and return `crate::model` types only, so the planner, the executor and the
//! tests never see an SDK type, and the simulator implements the same traits. Adapters are thin:
//! a mutating method is one AWS operation, and its failure keeps AWS's error code with a
//! [`ErrorKind`] from the one table in [`classify`]. Whether "not found" or "already exists"
//! means the work is already done is decided above the adapters, with [`AlreadyDone`], so the
//! simulator only has to behave like AWS.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use crate::model::{
    Cluster, ElasticIp, Listener, LoadBalancer, NatGateway, RecordChange, RecordSet, RouteTable,
    ScalingBounds, Service, Tags, TaskDefinition,
};
use crate::spec::{ListenerSpec, LoadBalancerSpec, RuleSpec, ServiceSpec, TargetTracking};

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
    /// A resource with that name or key exists already.
    AlreadyExists,
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
    /// An error answered by AWS (or the simulator), classified by [`classify`].
    pub fn service(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: Some(code.to_string()),
            message: message.into(),
            kind: classify(operation, Some(code)),
        }
    }

    /// Builds an error from an SDK error, classifying it by operation and code.
    pub fn from_sdk<E, R>(operation: &'static str, err: aws_sdk_s3::error::SdkError<E, R>) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_s3::error::SdkError;
        let context = || {
            format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            )
        };
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_string);
                AwsError {
                    operation,
                    kind: classify(operation, code.as_deref()),
                    code,
                    message: e.message().unwrap_or("no message").to_string(),
                }
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => AwsError {
                operation,
                code: None,
                message: context(),
                kind: ErrorKind::Transient,
            },
            _ => AwsError {
                operation,
                code: None,
                message: context(),
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

/// Classifies an AWS error code, per operation where one code means different things. The real
/// adapters and the simulator both use this table, so "already done" is decided the same way.
pub fn classify(operation: &str, code: Option<&str>) -> ErrorKind {
    let Some(code) = code else {
        return ErrorKind::Transient;
    };
    const TRANSIENT: [&str; 13] = [
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
        // WAF does not see a just-created ALB for a few seconds; AWS documents retrying.
        "WAFUnavailableEntityException",
    ];
    const ALREADY_EXISTS: [&str; 5] = [
        "RouteAlreadyExists",
        "DuplicateLoadBalancerName",
        "DuplicateListener",
        "PriorityInUse",
        "BucketAlreadyOwnedByYou",
    ];
    match (operation, code) {
        // An address is refused for release in the seconds after its NAT gateway is deleted.
        ("ReleaseAddress", "InvalidIPAddress.InUse" | "AuthFailure") => ErrorKind::Transient,
        // WAF's "no such association" when removing one.
        ("DisassociateWebACL" | "GetWebACLForResource", "WAFNonexistentItemException") => {
            ErrorKind::NotFound
        }
        _ if TRANSIENT.contains(&code) => ErrorKind::Transient,
        _ if ALREADY_EXISTS.contains(&code) => ErrorKind::AlreadyExists,
        _ if code.ends_with("NotFound")
            || code.ends_with(".NotFound")
            || code.ends_with("NotFoundException")
            || matches!(code, "NoSuchKey" | "NoSuchBucket" | "NoSuchHostedZone") =>
        {
            ErrorKind::NotFound
        }
        _ => ErrorKind::Permanent,
    }
}

/// "Already done is success", decided above the adapters. A delete of something gone, or a
/// create refused because the thing exists, is not a failure; whether what exists is ours is
/// for the caller to check.
pub trait AlreadyDone<T> {
    /// `Ok(Some(t))` when the call did it, `Ok(None)` when the resource was already gone.
    fn gone_is_done(self) -> Result<Option<T>>;
    /// `Ok(Some(t))` when the call did it, `Ok(None)` when it already existed.
    fn existing_is_done(self) -> Result<Option<T>>;
}

impl<T> AlreadyDone<T> for Result<T> {
    fn gone_is_done(self) -> Result<Option<T>> {
        match self {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn existing_is_done(self) -> Result<Option<T>> {
        match self {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind == ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// EC2: NAT gateways, Elastic IPs and the private route tables' default routes.
#[async_trait]
pub trait Network: Send + Sync {
    /// NAT gateways in these subnets, in any state except `deleted` (owned or not).
    async fn describe_nat_gateways(&self, subnet_ids: &[String]) -> Result<Vec<NatGateway>>;
    /// NAT gateways by id, in any state including `deleted`; ids AWS no longer knows are omitted.
    async fn describe_nat_gateways_by_id(&self, ids: &[String]) -> Result<Vec<NatGateway>>;
    /// Creates a public NAT gateway; tags are applied atomically at creation.
    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<NatGateway>;
    /// Deletes a NAT gateway.
    async fn delete_nat_gateway(&self, id: &str) -> Result<()>;
    /// All Elastic IPs of the account in the region (owned or not).
    async fn describe_addresses(&self) -> Result<Vec<ElasticIp>>;
    /// Allocates a VPC Elastic IP with tags applied at allocation.
    async fn allocate_address(&self, tags: &Tags) -> Result<ElasticIp>;
    /// Releases an Elastic IP. AWS refuses while a NAT gateway holds it.
    async fn release_address(&self, allocation_id: &str) -> Result<()>;
    /// Clears an association (moto keeps a deleted gateway's association on its address).
    async fn disassociate_address(&self, association_id: &str) -> Result<()>;
    /// These route tables with their default route.
    async fn describe_route_tables(&self, ids: &[String]) -> Result<Vec<RouteTable>>;
    /// Adds `0.0.0.0/0` via the NAT gateway.
    async fn create_default_route(&self, route_table_id: &str, nat_gateway_id: &str) -> Result<()>;
    /// Points the existing `0.0.0.0/0` route at the NAT gateway.
    async fn replace_default_route(&self, route_table_id: &str, nat_gateway_id: &str)
        -> Result<()>;
    /// Removes `0.0.0.0/0`.
    async fn delete_default_route(&self, route_table_id: &str) -> Result<()>;
}

/// ELBv2 and WAFv2: the ALB, its attributes, listeners, rules and web ACL association.
#[async_trait]
pub trait LoadBalancing: Send + Sync {
    /// The load balancer with this name and its tags, owned or not.
    async fn find_load_balancer(&self, name: &str) -> Result<Option<LoadBalancer>>;
    /// A load balancer by ARN, without its tags (waits and confirmations: one call).
    async fn describe_load_balancer(&self, arn: &str) -> Result<Option<LoadBalancer>>;
    /// Creates the ALB with tags applied at creation.
    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> Result<LoadBalancer>;
    /// Deletes it.
    async fn delete_load_balancer(&self, arn: &str) -> Result<()>;
    /// The ALB's attributes.
    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>>;
    /// Sets these attributes.
    async fn set_attributes(&self, arn: &str, attributes: &[(String, String)]) -> Result<()>;
    /// Listeners of the ALB (their rules are read separately).
    async fn describe_listeners(&self, load_balancer_arn: &str) -> Result<Vec<Listener>>;
    /// Priorities of a listener's non-default rules.
    async fn rule_priorities(&self, listener_arn: &str) -> Result<Vec<u32>>;
    /// Creates a listener (its rules are created separately).
    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> Result<Listener>;
    /// Deletes a listener.
    async fn delete_listener(&self, arn: &str) -> Result<()>;
    /// Creates one rule on a listener.
    async fn create_rule(&self, listener_arn: &str, rule: &RuleSpec, tags: &Tags) -> Result<()>;
    /// The web ACL associated with the ALB, if any.
    async fn web_acl_for(&self, load_balancer_arn: &str) -> Result<Option<String>>;
    /// Associates the web ACL.
    async fn associate_web_acl(&self, load_balancer_arn: &str, web_acl_arn: &str) -> Result<()>;
    /// Removes the association.
    async fn disassociate_web_acl(&self, load_balancer_arn: &str) -> Result<()>;
    /// (healthy, registered) targets of a target group.
    async fn target_health(&self, target_group_arn: &str) -> Result<(u32, u32)>;
}

/// Route53 records in one hosted zone.
#[async_trait]
pub trait Dns: Send + Sync {
    /// Record sets at `name` and at names under it that are listed in `names` (e.g. the
    /// ownership TXT record), read in as few listings as the zone allows.
    async fn records(&self, zone_id: &str, name: &str, names: &[String]) -> Result<Vec<RecordSet>>;
    /// Submits the changes in one batch; returns the change id.
    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<String>;
    /// True once the change is `INSYNC`.
    async fn change_in_sync(&self, change_id: &str) -> Result<bool>;
}

/// ECS clusters and services, task definitions, and Application Auto Scaling.
#[async_trait]
pub trait Containers: Send + Sync {
    /// These clusters with their tags; missing or inactive ones are omitted.
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<Cluster>>;
    /// Adds or overwrites tags on a cluster.
    async fn tag_cluster(&self, cluster_arn: &str, tags: &Tags) -> Result<()>;
    /// Removes tag keys from a cluster; keys that are not there are ignored by ECS.
    async fn untag_cluster(&self, cluster_arn: &str, keys: &[String]) -> Result<()>;
    /// The named services of a cluster with their tags; missing ones are omitted.
    async fn describe_services(&self, cluster: &str, names: &[String]) -> Result<Vec<Service>>;
    /// Creates a service with tags applied at creation.
    async fn create_service(
        &self,
        spec: &ServiceSpec,
        task_definition: &str,
        desired_count: u32,
        tags: &Tags,
    ) -> Result<Service>;
    /// Sets the desired count, the task definition and the deployment settings (what is `None`
    /// stays).
    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        desired_count: Option<u32>,
        task_definition: Option<&str>,
        deployment: Option<&crate::spec::DeploymentSpec>,
    ) -> Result<()>;
    /// Deletes a service, stopping its tasks.
    async fn delete_service(&self, cluster: &str, name: &str) -> Result<()>;
    /// Registered scalable target bounds, by service name, of these services.
    async fn scaling_bounds(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, ScalingBounds>>;
    /// Registers (or updates) the scalable target with these bounds.
    async fn set_scaling_bounds(
        &self,
        cluster: &str,
        name: &str,
        bounds: ScalingBounds,
    ) -> Result<()>;
    /// Deregisters the scalable target (and with it its policies).
    async fn deregister_scaling(&self, cluster: &str, name: &str) -> Result<()>;
    /// Which of these services carry the scheduler's target-tracking policy.
    async fn services_with_policy(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeSet<String>>;
    /// Puts the target-tracking policy. `resource_label` is needed for `ALBRequestCountPerTarget`.
    async fn put_scaling_policy(
        &self,
        cluster: &str,
        name: &str,
        policy: &TargetTracking,
        resource_label: Option<&str>,
    ) -> Result<()>;
    /// A task definition by `family`, `family:revision` or ARN (a family alone names its latest
    /// ACTIVE revision); `None` when it does not exist.
    async fn describe_task_definition(&self, reference: &str) -> Result<Option<TaskDefinition>>;
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
    /// The object's body and entity tag, or `None` when the key does not exist. A bucket that
    /// does not exist is an error (`NoSuchBucket`), not a missing key.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, ETag)>>;
    /// Writes the object if the precondition holds, returning the new entity tag.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> Result<ETag, PutError>;
    /// Keys under `prefix` that sort after `start_after`, in order (at most `limit`).
    async fn list(&self, prefix: &str, start_after: &str, limit: usize) -> Result<Vec<String>>;
}

/// Counts the AWS API calls the SDK clients make (operations, and attempts beyond the first
/// one: the SDK's own retries), for the metrics an invocation emits.
#[derive(Debug, Default)]
pub struct CallCounter {
    operations: std::sync::atomic::AtomicU64,
    attempts: std::sync::atomic::AtomicU64,
}

impl CallCounter {
    /// `(operations, retries)` so far.
    pub fn read(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let operations = self.operations.load(Relaxed);
        let attempts = self.attempts.load(Relaxed);
        (operations, attempts.saturating_sub(operations))
    }
}

/// The interceptor every client carries; it shares one [`CallCounter`].
#[derive(Debug, Clone)]
struct Counting(std::sync::Arc<CallCounter>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for Counting {
    fn name(&self) -> &'static str {
        "runtime-scheduler call counter"
    }

    fn read_before_execution(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0
            .operations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
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
    /// Real AWS clients from one shared SDK configuration (built once at cold start), counting
    /// their calls in `counter`. `path_style` addresses S3 as `endpoint/bucket/key`, which local
    /// emulators need.
    pub fn from_sdk_config(
        sdk: &aws_config::SdkConfig,
        bucket: &str,
        path_style: bool,
        counter: std::sync::Arc<CallCounter>,
    ) -> Self {
        let c = Counting(counter);
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(sdk)
                        .interceptor(c.clone())
                        .build(),
                )
            };
        }
        Clients {
            network: std::sync::Arc::new(network::Ec2Network::new(client!(aws_sdk_ec2))),
            load_balancing: std::sync::Arc::new(load_balancing::ElbLoadBalancing::new(
                client!(aws_sdk_elasticloadbalancingv2),
                client!(aws_sdk_wafv2),
            )),
            dns: std::sync::Arc::new(dns::Route53Dns::new(client!(aws_sdk_route53))),
            containers: std::sync::Arc::new(containers::EcsContainers::new(
                client!(aws_sdk_ecs),
                client!(aws_sdk_applicationautoscaling),
            )),
            store: std::sync::Arc::new(store::S3Store::new(
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(sdk)
                        .force_path_style(path_style)
                        .interceptor(c.clone())
                        .build(),
                ),
                bucket,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_classifies_codes_per_operation() {
        assert_eq!(
            classify("DeleteNatGateway", Some("NatGatewayNotFound")),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify("CreateRoute", Some("RouteAlreadyExists")),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            classify("ReleaseAddress", Some("InvalidIPAddress.InUse")),
            ErrorKind::Transient
        );
        assert_eq!(
            classify("AllocateAddress", Some("AuthFailure")),
            ErrorKind::Permanent
        );
        assert_eq!(
            classify("GetObject", Some("NoSuchBucket")),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify("DescribeNatGateways", Some("Throttling")),
            ErrorKind::Transient
        );
        assert_eq!(classify("CreateService", None), ErrorKind::Transient);
    }

    #[test]
    fn already_done_turns_only_its_own_kind_into_success() {
        let gone: Result<()> = Err(AwsError::service("DeleteListener", "ListenerNotFound", "x"));
        assert_eq!(gone.gone_is_done(), Ok(None));
        let exists: Result<()> = Err(AwsError::service("CreateRule", "PriorityInUse", "x"));
        assert_eq!(exists.clone().existing_is_done(), Ok(None));
        assert!(exists.gone_is_done().is_err());
    }
}
