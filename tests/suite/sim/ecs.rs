//! ECS and Application Auto Scaling: services whose tasks start only after a delay and only with
//! working egress, scalable targets that clamp the desired count, policies, cluster tags.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use runtime_scheduler::aws::{Containers, Result};
use runtime_scheduler::model::{
    Cluster, ScalingBounds, Service, ServiceStatus, Tags, TaskDefinition,
};
use runtime_scheduler::spec::{ServiceSpec, TargetTracking};
use tokio::time::Instant;

use super::{aws_error, tags_summary, SimClient, SimService, World, ACCOUNT, REGION};

impl World {
    fn service_view(&self, s: &SimService, now: Instant) -> Service {
        let running = self.running_count(s, now);
        Service {
            cluster: s.cluster.clone(),
            name: s.name.clone(),
            arn: s.arn.clone(),
            status: if s.active {
                ServiceStatus::Active
            } else {
                ServiceStatus::Inactive
            },
            desired_count: s.desired,
            running_count: running,
            pending_count: s.desired.saturating_sub(running),
            deployments: 1,
            task_definition: Some(task_definition_arn(&s.task_definition)),
            tags: s.tags.clone(),
        }
    }

    /// Inserts a service (test setup: decoys), running `desired` tasks already.
    pub fn add_service(
        &mut self,
        cluster: &str,
        name: &str,
        desired: u32,
        target_group: Option<String>,
        tags: Tags,
        now: Instant,
    ) {
        let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}");
        self.services.insert(
            (cluster.into(), name.into()),
            SimService {
                arn,
                cluster: cluster.into(),
                name: name.into(),
                active: true,
                desired,
                running_before: desired,
                changed_at: now,
                target_group,
                task_definition: format!("{name}:1"),
                tags,
                created_at: now,
                created_by: None,
            },
        );
    }

    fn cluster_exists(&self, op: &'static str, cluster: &str) -> Result<()> {
        if self.clusters.contains_key(cluster) {
            Ok(())
        } else {
            Err(aws_error(
                op,
                "ClusterNotFoundException",
                "Cluster not found.",
            ))
        }
    }

    fn active_service(&self, op: &'static str, cluster: &str, name: &str) -> Result<()> {
        self.cluster_exists(op, cluster)?;
        match self.services.get(&(cluster.to_string(), name.to_string())) {
            Some(s) if s.active => Ok(()),
            Some(_) => Err(aws_error(
                op,
                "ServiceNotActiveException",
                "Service was not ACTIVE.",
            )),
            None => Err(aws_error(
                op,
                "ServiceNotFoundException",
                "Service not found.",
            )),
        }
    }

    fn scaling_target_exists(&self, op: &'static str, cluster: &str, name: &str) -> Result<()> {
        match self.services.get(&(cluster.to_string(), name.to_string())) {
            Some(s) if s.active => Ok(()),
            _ => Err(aws_error(
                op,
                "ValidationException",
                format!("ECS service doesn't exist: service/{cluster}/{name}"),
            )),
        }
    }
}

#[async_trait]
impl Containers for SimClient {
    async fn describe_services(&self, cluster: &str, names: &[String]) -> Result<Vec<Service>> {
        let mut out = Vec::new();
        for chunk in names.chunks(10) {
            let found = self
                .call(
                    "DescribeServices",
                    false,
                    format!("cluster={cluster} services={}", chunk.join(",")),
                    |w, now| {
                        w.cluster_exists("DescribeServices", cluster)?;
                        Ok(chunk
                            .iter()
                            .filter_map(|n| w.services.get(&(cluster.to_string(), n.clone())))
                            .filter(|s| w.visible(s.created_at, now))
                            .map(|s| w.service_view(s, now))
                            .collect::<Vec<_>>())
                    },
                )
                .await?;
            out.extend(found);
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
        let tag = self.tag.to_string();
        let r = self
            .call(
                OP,
                true,
                format!("cluster={} name={} desired={desired_count} tags={}", spec.cluster, spec.name, tags_summary(tags)),
                |w, now| {
                    w.cluster_exists(OP, &spec.cluster)?;
                    let key = (spec.cluster.clone(), spec.name.clone());
                    if w.services.get(&key).is_some_and(|s| s.active) {
                        return Err(aws_error(OP, "InvalidParameterException", "Creation of service was not idempotent."));
                    }
                    let tg = spec.load_balancer.as_ref().map(|l| l.target_group_arn.clone());
                    if let Some(tg) = &tg {
                        if !w.target_groups.contains(tg) {
                            return Err(aws_error(OP, "InvalidParameterException", format!("Unable to assume role and validate the specified targetGroupArn: {tg}")));
                        }
                        if !w.attached_target_groups().contains(tg) {
                            return Err(aws_error(
                                OP,
                                "InvalidParameterException",
                                format!("The target group with targetGroupArn {tg} does not have an associated load balancer."),
                            ));
                        }
                    }
                    w.add_service(&spec.cluster, &spec.name, 0, tg, tags.clone(), now);
                    let s = w.services.get_mut(&key).expect("just added");
                    s.created_by = Some(tag.clone());
                    s.task_definition = task_definition.to_string();
                    w.set_desired(&key, desired_count, now);
                    let s = w.services.get(&key).expect("just added").clone();
                    Ok(w.service_view(&s, now))
                },
            )
            .await;
        r
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        desired_count: Option<u32>,
        task_definition: Option<&str>,
        _deployment: Option<&runtime_scheduler::spec::DeploymentSpec>,
    ) -> Result<()> {
        self.call(
            "UpdateService",
            true,
            format!(
                "cluster={cluster} service={name} desired={} task_definition={}",
                desired_count.map_or("-".to_string(), |n| n.to_string()),
                task_definition.unwrap_or("-")
            ),
            |w, now| {
                w.active_service("UpdateService", cluster, name)?;
                let key = (cluster.to_string(), name.to_string());
                if let Some(td) = task_definition {
                    if let Some(s) = w.services.get_mut(&key) {
                        s.task_definition = td.to_string();
                    }
                }
                if let Some(n) = desired_count {
                    w.set_desired(&key, n, now);
                }
                Ok(())
            },
        )
        .await
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> Result<()> {
        self.call(
            "DeleteService",
            true,
            format!("cluster={cluster} service={name} force=true"),
            |w, now| {
                w.active_service("DeleteService", cluster, name)?;
                let key = (cluster.to_string(), name.to_string());
                w.set_desired(&key, 0, now);
                if let Some(s) = w.services.get_mut(&key) {
                    s.active = false;
                }
                Ok(())
            },
        )
        .await
    }

    async fn scaling_bounds(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, ScalingBounds>> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.call(
            "DescribeScalableTargets",
            false,
            format!("cluster={cluster} services={}", names.join(",")),
            |w, _| {
                Ok(names
                    .iter()
                    .filter_map(|n| {
                        w.scalable_targets
                            .get(&(cluster.to_string(), n.clone()))
                            .map(|b| (n.clone(), *b))
                    })
                    .collect())
            },
        )
        .await
    }

    async fn set_scaling_bounds(
        &self,
        cluster: &str,
        name: &str,
        bounds: ScalingBounds,
    ) -> Result<()> {
        self.call(
            "RegisterScalableTarget",
            true,
            format!(
                "resource=service/{cluster}/{name} min={} max={}",
                bounds.min, bounds.max
            ),
            |w, now| {
                if bounds.min > bounds.max {
                    return Err(aws_error(
                        "RegisterScalableTarget",
                        "ValidationException",
                        "Minimum capacity cannot be greater than maximum capacity",
                    ));
                }
                w.scaling_target_exists("RegisterScalableTarget", cluster, name)?;
                let key = (cluster.to_string(), name.to_string());
                w.scalable_targets.insert(key.clone(), bounds);
                // Application Auto Scaling brings the current capacity into the new bounds.
                let desired = w.services.get(&key).map(|s| s.desired).unwrap_or(0);
                let clamped = desired.clamp(bounds.min, bounds.max);
                if clamped != desired {
                    w.set_desired(&key, clamped, now);
                }
                Ok(())
            },
        )
        .await
    }

    async fn deregister_scaling(&self, cluster: &str, name: &str) -> Result<()> {
        self.call(
            "DeregisterScalableTarget",
            true,
            format!("resource=service/{cluster}/{name}"),
            |w, _| {
                let key = (cluster.to_string(), name.to_string());
                if w.scalable_targets.remove(&key).is_none() {
                    return Err(aws_error(
                        "DeregisterScalableTarget",
                        "ObjectNotFoundException",
                        "No scalable target found for service namespace: ecs",
                    ));
                }
                w.policies.remove(&key);
                Ok(())
            },
        )
        .await
    }

    async fn services_with_policy(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeSet<String>> {
        if names.is_empty() {
            return Ok(BTreeSet::new());
        }
        self.call(
            "DescribeScalingPolicies",
            false,
            format!("cluster={cluster} services={}", names.join(",")),
            |w, _| {
                Ok(names
                    .iter()
                    .filter(|n| {
                        w.policies
                            .contains_key(&(cluster.to_string(), (*n).clone()))
                    })
                    .cloned()
                    .collect())
            },
        )
        .await
    }

    async fn put_scaling_policy(
        &self,
        cluster: &str,
        name: &str,
        policy: &TargetTracking,
        resource_label: Option<&str>,
    ) -> Result<()> {
        self.call(
            "PutScalingPolicy",
            true,
            format!(
                "resource=service/{cluster}/{name} metric={} label={}",
                policy.metric,
                resource_label.unwrap_or("-")
            ),
            |w, _| {
                let key = (cluster.to_string(), name.to_string());
                if !w.scalable_targets.contains_key(&key) {
                    return Err(aws_error(
                        "PutScalingPolicy",
                        "ObjectNotFoundException",
                        "No scalable target registered for service namespace: ecs",
                    ));
                }
                w.policies
                    .insert(key, (policy.clone(), resource_label.map(str::to_string)));
                Ok(())
            },
        )
        .await
    }

    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<Cluster>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.call(
            "DescribeClusters",
            false,
            format!("clusters={}", names.join(",")),
            |w, _| {
                Ok(names
                    .iter()
                    .filter_map(|n| {
                        w.clusters.get(n).map(|tags| Cluster {
                            name: n.clone(),
                            arn: cluster_arn(n),
                            tags: tags.clone(),
                        })
                    })
                    .collect())
            },
        )
        .await
    }

    async fn tag_cluster(&self, cluster_arn: &str, tags: &Tags) -> Result<()> {
        let name = cluster_name(cluster_arn);
        self.call(
            "TagResource",
            true,
            format!("cluster={name} tags={}", tags_summary(tags)),
            |w, _| {
                let t = w.clusters.get_mut(&name).ok_or_else(|| {
                    aws_error(
                        "TagResource",
                        "ClusterNotFoundException",
                        "Cluster not found.",
                    )
                })?;
                t.extend(tags.clone());
                Ok(())
            },
        )
        .await
    }

    async fn untag_cluster(&self, cluster_arn: &str, keys: &[String]) -> Result<()> {
        let name = cluster_name(cluster_arn);
        self.call(
            "UntagResource",
            true,
            format!("cluster={name} keys={}", keys.join(",")),
            |w, _| {
                let t = w.clusters.get_mut(&name).ok_or_else(|| {
                    aws_error(
                        "UntagResource",
                        "ClusterNotFoundException",
                        "Cluster not found.",
                    )
                })?;
                for k in keys {
                    t.remove(k);
                }
                Ok(())
            },
        )
        .await
    }

    async fn describe_task_definition(&self, reference: &str) -> Result<Option<TaskDefinition>> {
        // The simulator keeps no registry: every family has an ACTIVE revision 1 and whatever
        // revision is asked for.
        self.call(
            "DescribeTaskDefinition",
            false,
            format!("task_definition={reference}"),
            |_, _| {
                let arn = task_definition_arn(reference);
                let tail = arn.rsplit('/').next().unwrap_or_default();
                let (family, revision) = tail.split_once(':').unwrap_or((tail, "1"));
                Ok(Some(TaskDefinition {
                    arn: arn.clone(),
                    family: family.to_string(),
                    revision: revision.parse().unwrap_or(1),
                    active: true,
                }))
            },
        )
        .await
    }
}

/// The ARN ECS reports for a `family`, `family:revision` or ARN (a family alone: revision 1).
pub fn task_definition_arn(reference: &str) -> String {
    if reference.starts_with("arn:") {
        return reference.to_string();
    }
    let with_revision = if reference.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:1")
    };
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{with_revision}")
}

pub fn cluster_arn(name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}")
}

fn cluster_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}
