//! ECS and Application Auto Scaling adapter: clusters and their tags, Fargate services, task
//! definitions, and the services' scaling bounds and policy.

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, NetworkConfiguration, PropagateTags, ServiceField, Tag,
};

use std::collections::{BTreeMap, BTreeSet};

use super::{AwsError, Containers, ErrorKind, Result};
use crate::model::{Cluster, ScalingBounds, Service, ServiceStatus, Tags, TaskDefinition};
use crate::spec::{DeploymentSpec, ServiceSpec, TargetTracking};

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
}

#[async_trait]
impl Containers for EcsContainers {
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<Cluster>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .ecs
            .describe_clusters()
            .set_clusters(Some(names.to_vec()))
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeClusters", e))?;
        output
            .clusters()
            .iter()
            .filter(|c| c.status() != Some("INACTIVE"))
            .map(|c| {
                Ok(Cluster {
                    name: c
                        .cluster_name()
                        .ok_or_else(|| AwsError::malformed("DescribeClusters", "ClusterName"))?
                        .to_string(),
                    arn: c
                        .cluster_arn()
                        .ok_or_else(|| AwsError::malformed("DescribeClusters", "ClusterArn"))?
                        .to_string(),
                    tags: tags_of(c.tags()),
                })
            })
            .collect()
    }

    async fn tag_cluster(&self, cluster_arn: &str, tags: &Tags) -> Result<()> {
        self.ecs
            .tag_resource()
            .resource_arn(cluster_arn)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("TagResource", e))
    }

    async fn untag_cluster(&self, cluster_arn: &str, keys: &[String]) -> Result<()> {
        self.ecs
            .untag_resource()
            .resource_arn(cluster_arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UntagResource", e))
    }

    /// The named services that exist; none when the cluster itself does not (yet) exist, so
    /// `status` still answers and a start fails at CreateService, naming the cluster.
    async fn describe_services(&self, cluster: &str, names: &[String]) -> Result<Vec<Service>> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(DESCRIBE_SERVICES_MAX) {
            let output = match self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) => {
                    let err = AwsError::from_sdk("DescribeServices", e);
                    if err.has_code(&["ClusterNotFoundException"]) {
                        return Ok(Vec::new());
                    }
                    return Err(err);
                }
            };
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
        task_definition: &str,
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
        let deployment = deployment_configuration(OP, &spec.deployment)?;
        let mut request = self
            .ecs
            .create_service()
            .cluster(&spec.cluster)
            .service_name(&spec.name)
            .task_definition(task_definition)
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
        let output = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, e))?;
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

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        desired_count: Option<u32>,
        task_definition: Option<&str>,
        deployment: Option<&DeploymentSpec>,
    ) -> Result<()> {
        const OP: &str = "UpdateService";
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(name)
            .set_desired_count(desired_count.map(|n| to_i32(OP, n)).transpose()?)
            .set_task_definition(task_definition.map(str::to_string))
            .set_deployment_configuration(
                deployment
                    .map(|d| deployment_configuration(OP, d))
                    .transpose()?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(OP, e))
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> Result<()> {
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteService", e))
    }

    async fn scaling_bounds(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, ScalingBounds>> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let ids: Vec<String> = names.iter().map(|n| resource_id(cluster, n)).collect();
        let targets = self
            .scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .set_resource_ids(Some(ids))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeScalableTargets", e))?;
        Ok(names
            .iter()
            .filter_map(|name| {
                let id = resource_id(cluster, name);
                targets
                    .iter()
                    .find(|t| {
                        t.resource_id() == id
                            && t.scalable_dimension() == &ScalableDimension::EcsServiceDesiredCount
                    })
                    .map(|t| {
                        (
                            name.clone(),
                            ScalingBounds {
                                min: u32::try_from(t.min_capacity()).unwrap_or(0),
                                max: u32::try_from(t.max_capacity()).unwrap_or(0),
                            },
                        )
                    })
            })
            .collect())
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

    async fn deregister_scaling(&self, cluster: &str, name: &str) -> Result<()> {
        self.scaling
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cluster, name))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeregisterScalableTarget", e))
    }

    async fn services_with_policy(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeSet<String>> {
        if names.is_empty() {
            return Ok(BTreeSet::new());
        }
        // By policy name across the namespace: one listing for every service of the tier.
        let policies = self
            .scaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .policy_names(SCALING_POLICY_NAME)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeScalingPolicies", e))?;
        Ok(names
            .iter()
            .filter(|name| {
                let id = resource_id(cluster, name);
                policies
                    .iter()
                    .any(|p| p.policy_name() == SCALING_POLICY_NAME && p.resource_id() == id)
            })
            .cloned()
            .collect())
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

    async fn describe_task_definition(&self, reference: &str) -> Result<Option<TaskDefinition>> {
        const OP: &str = "DescribeTaskDefinition";
        let output = match self
            .ecs
            .describe_task_definition()
            .task_definition(reference)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let err = AwsError::from_sdk(OP, e);
                // ECS answers an unknown family or revision with ClientException.
                return if err.kind == ErrorKind::NotFound || err.has_code(&["ClientException"]) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let Some(td) = output.task_definition() else {
            return Ok(None);
        };
        Ok(Some(TaskDefinition {
            arn: td
                .task_definition_arn()
                .ok_or_else(|| AwsError::malformed(OP, "TaskDefinitionArn"))?
                .to_string(),
            family: td
                .family()
                .ok_or_else(|| AwsError::malformed(OP, "Family"))?
                .to_string(),
            revision: u32::try_from(td.revision()).unwrap_or(0),
            active: td.status() == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active),
        }))
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
        task_definition: s.task_definition().map(str::to_string),
        tags: tags_of(s.tags()),
    })
}

/// The spec's deployment settings: circuit breaker, rollback, bounds and deployment alarms.
fn deployment_configuration(
    op: &'static str,
    d: &DeploymentSpec,
) -> Result<DeploymentConfiguration> {
    let mut deployment = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(d.circuit_breaker)
                .rollback(d.rollback)
                .build(),
        )
        .minimum_healthy_percent(to_i32(op, d.minimum_healthy_percent)?)
        .maximum_percent(to_i32(op, d.maximum_percent)?);
    if !d.alarm_names.is_empty() {
        deployment = deployment.alarms(
            DeploymentAlarms::builder()
                .set_alarm_names(Some(d.alarm_names.clone()))
                .enable(true)
                .rollback(d.rollback)
                .build()
                .map_err(|e| AwsError::invalid_request(op, e))?,
        );
    }
    Ok(deployment.build())
}
