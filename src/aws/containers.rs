//! ECS and Application Auto Scaling adapter: Fargate services, their scaling bounds and policy,
//! and the cluster's tags.

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, NetworkConfiguration, PropagateTags, ServiceField, Tag,
};

use super::{AwsError, Containers, ErrorKind, Result};
use crate::model::{ScalingBounds, Service, ServiceStatus, Tags, TAG_ENVIRONMENT, TAG_MANAGED_BY};
use crate::spec::{ServiceSpec, TargetTracking};

/// Name of the target-tracking policy the scheduler puts on a service.
pub const SCALING_POLICY_NAME: &str = "runtime-scheduler-target-tracking";

/// DescribeServices accepts at most this many names per call.
const DESCRIBE_SERVICES_MAX: usize = 10;

/// [`Containers`] over the ECS and Application Auto Scaling APIs.
#[derive(Debug, Clone)]
pub struct EcsContainers {
    ecs: aws_sdk_ecs::Client,
    scaling: aws_sdk_applicationautoscaling::Client,
}

impl EcsContainers {
    /// Wraps an ECS and an Application Auto Scaling client (same region).
    pub fn new(ecs: aws_sdk_ecs::Client, scaling: aws_sdk_applicationautoscaling::Client) -> Self {
        EcsContainers { ecs, scaling }
    }

    async fn cluster_arn_and_tags(&self, cluster: &str) -> Result<(String, Tags)> {
        let output = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeClusters", e))?;
        let found = output
            .clusters()
            .iter()
            .find(|c| c.cluster_name() == Some(cluster) || c.cluster_arn() == Some(cluster))
            .filter(|c| c.status() != Some("INACTIVE"));
        let Some(found) = found else {
            return Err(AwsError {
                operation: "DescribeClusters",
                code: Some("ClusterNotFoundException".into()),
                message: format!("cluster {cluster} does not exist"),
                kind: ErrorKind::NotFound,
            });
        };
        let arn = found
            .cluster_arn()
            .ok_or_else(|| AwsError::malformed("DescribeClusters", "ClusterArn"))?;
        Ok((arn.to_string(), tags_of(found.tags())))
    }
}

#[async_trait]
impl Containers for EcsContainers {
    async fn describe_services(&self, cluster: &str, names: &[String]) -> Result<Vec<Service>> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(DESCRIBE_SERVICES_MAX) {
            let output = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeServices", e))?;
            // Missing services come back as `failures` with reason MISSING: omitted here.
            for s in output.services() {
                if s.service_name()
                    .is_some_and(|n| chunk.iter().any(|c| c == n))
                {
                    out.push(service("DescribeServices", cluster, s)?);
                }
            }
        }
        Ok(out)
    }

    async fn create_service(
        &self,
        spec: &ServiceSpec,
        desired_count: u32,
        tags: &Tags,
    ) -> Result<Service> {
        const OP: &str = "CreateService";
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(spec.subnet_ids.clone()))
            .set_security_groups(Some(spec.security_group_ids.clone()))
            .assign_public_ip(if spec.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| AwsError::invalid_request(OP, e))?;
        let deployment = DeploymentConfiguration::builder()
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(spec.deployment.circuit_breaker)
                    .rollback(spec.deployment.rollback)
                    .build(),
            )
            .minimum_healthy_percent(to_i32(OP, spec.deployment.minimum_healthy_percent)?)
            .maximum_percent(to_i32(OP, spec.deployment.maximum_percent)?)
            .build();
        let mut request = self
            .ecs
            .create_service()
            .cluster(&spec.cluster)
            .service_name(&spec.name)
            .task_definition(&spec.task_definition)
            .desired_count(to_i32(OP, desired_count)?)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .deployment_configuration(deployment)
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .set_tags(Some(ecs_tags(tags)));
        if let Some(lb) = &spec.load_balancer {
            request = request
                .load_balancers(
                    aws_sdk_ecs::types::LoadBalancer::builder()
                        .target_group_arn(&lb.target_group_arn)
                        .container_name(&lb.container_name)
                        .container_port(i32::from(lb.container_port))
                        .build(),
                )
                // ECS refuses a grace period on a service without a load balancer.
                .health_check_grace_period_seconds(to_i32(
                    OP,
                    spec.health_check_grace_period_seconds,
                )?);
        }
        match request.send().await {
            Ok(output) => {
                let created = output
                    .service()
                    .ok_or_else(|| AwsError::malformed(OP, "Service"))?;
                let mut svc = service(OP, &spec.cluster, created)?;
                if svc.tags.is_empty() {
                    // Tags are applied with the create even when the response leaves them out.
                    svc.tags = tags.clone();
                }
                Ok(svc)
            }
            Err(e) => {
                let err = AwsError::from_sdk(OP, e);
                // ECS answers a create of an existing ACTIVE service with this generic code
                // ("not idempotent"). It is already done when that service carries our tags.
                if err.has_code(&["InvalidParameterException"]) {
                    let existing = self
                        .describe_services(&spec.cluster, std::slice::from_ref(&spec.name))
                        .await?;
                    let ours = |s: &Service| {
                        [TAG_MANAGED_BY, TAG_ENVIRONMENT]
                            .iter()
                            .all(|k| tags.get(*k).is_some_and(|v| s.tags.get(*k) == Some(v)))
                    };
                    if let Some(s) = existing
                        .into_iter()
                        .find(|s| s.status == ServiceStatus::Active && ours(s))
                    {
                        return Ok(s);
                    }
                }
                Err(err)
            }
        }
    }

    async fn set_desired_count(&self, cluster: &str, name: &str, desired_count: u32) -> Result<()> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(to_i32("UpdateService", desired_count)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UpdateService", e))
    }

    async fn scaling_bounds(&self, cluster: &str, name: &str) -> Result<Option<ScalingBounds>> {
        let resource_id = resource_id(cluster, name);
        let targets = self
            .scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(&resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeScalableTargets", e))?;
        Ok(targets
            .iter()
            .find(|t| {
                t.resource_id() == resource_id
                    && t.scalable_dimension() == &ScalableDimension::EcsServiceDesiredCount
            })
            .map(|t| ScalingBounds {
                min: u32::try_from(t.min_capacity()).unwrap_or(0),
                max: u32::try_from(t.max_capacity()).unwrap_or(0),
            }))
    }

    async fn set_scaling_bounds(
        &self,
        cluster: &str,
        name: &str,
        bounds: ScalingBounds,
    ) -> Result<()> {
        const OP: &str = "RegisterScalableTarget";
        self.scaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cluster, name))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(to_i32(OP, bounds.min)?)
            .max_capacity(to_i32(OP, bounds.max)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(OP, e))
    }

    async fn has_scaling_policy(&self, cluster: &str, name: &str) -> Result<bool> {
        let resource_id = resource_id(cluster, name);
        let policies = self
            .scaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_names(SCALING_POLICY_NAME)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeScalingPolicies", e))?;
        Ok(policies
            .iter()
            .any(|p| p.policy_name() == SCALING_POLICY_NAME && p.resource_id() == resource_id))
    }

    async fn put_scaling_policy(
        &self,
        cluster: &str,
        name: &str,
        policy: &TargetTracking,
        resource_label: Option<&str>,
    ) -> Result<()> {
        const OP: &str = "PutScalingPolicy";
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::from(policy.metric.as_str()))
            .set_resource_label(resource_label.map(str::to_string))
            .build()
            .map_err(|e| AwsError::invalid_request(OP, e))?;
        let configuration = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(policy.target_value)
            .predefined_metric_specification(metric)
            .build()
            .map_err(|e| AwsError::invalid_request(OP, e))?;
        self.scaling
            .put_scaling_policy()
            .policy_name(SCALING_POLICY_NAME)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cluster, name))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(configuration)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(OP, e))
    }

    async fn cluster_tags(&self, cluster: &str) -> Result<Tags> {
        Ok(self.cluster_arn_and_tags(cluster).await?.1)
    }

    async fn set_cluster_tags(&self, cluster: &str, tags: &Tags) -> Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let (arn, _) = self.cluster_arn_and_tags(cluster).await?;
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("TagResource", e))
    }

    async fn remove_cluster_tags(&self, cluster: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let (arn, _) = self.cluster_arn_and_tags(cluster).await?;
        self.ecs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UntagResource", e))
    }
}

/// Application Auto Scaling's id of an ECS service.
fn resource_id(cluster: &str, name: &str) -> String {
    format!("service/{cluster}/{name}")
}

fn to_i32(operation: &'static str, value: u32) -> Result<i32> {
    i32::try_from(value).map_err(|e| AwsError::invalid_request(operation, e))
}

fn ecs_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn service(
    operation: &'static str,
    cluster: &str,
    s: &aws_sdk_ecs::types::Service,
) -> Result<Service> {
    let status = match s.status() {
        Some("ACTIVE") => ServiceStatus::Active,
        Some("DRAINING") => ServiceStatus::Draining,
        Some("INACTIVE") => ServiceStatus::Inactive,
        Some(other) => {
            return Err(AwsError::malformed(
                operation,
                &format!("a known service status (got '{other}')"),
            ))
        }
        None => return Err(AwsError::malformed(operation, "Service.Status")),
    };
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Ok(Service {
        cluster: cluster.to_string(),
        name: s
            .service_name()
            .ok_or_else(|| AwsError::malformed(operation, "ServiceName"))?
            .to_string(),
        arn: s
            .service_arn()
            .ok_or_else(|| AwsError::malformed(operation, "ServiceArn"))?
            .to_string(),
        status,
        desired_count: count(s.desired_count()),
        running_count: count(s.running_count()),
        pending_count: count(s.pending_count()),
        deployments: u32::try_from(s.deployments().len()).unwrap_or(u32::MAX),
        tags: tags_of(s.tags()),
    })
}
