//! ECS and Application Auto Scaling: services whose tasks start only after a delay and only with
//! working egress, scalable targets that clamp the desired count, policies, cluster tags. Then
//! the same translations as `src/aws/containers.rs`.

use async_trait::async_trait;
use runtime_scheduler::aws::{Containers, Result};
use runtime_scheduler::model::{
    ScalingBounds, Service, ServiceStatus, Tags, TAG_ENVIRONMENT, TAG_MANAGED_BY,
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
                    s.task_definition = spec.task_definition.clone();
                    w.set_desired(&key, desired_count, now);
                    let s = w.services.get(&key).expect("just added").clone();
                    Ok(w.service_view(&s, now))
                },
            )
            .await;
        match r {
            Err(e) if e.has_code(&["InvalidParameterException"]) => {
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
                Err(e)
            }
            other => other,
        }
    }

    async fn set_desired_count(&self, cluster: &str, name: &str, desired_count: u32) -> Result<()> {
        self.call(
            "UpdateService",
            true,
            format!("cluster={cluster} service={name} desired={desired_count}"),
            |w, now| {
                w.active_service("UpdateService", cluster, name)?;
                w.set_desired(&(cluster.into(), name.into()), desired_count, now);
                Ok(())
            },
        )
        .await
    }

    async fn scaling_bounds(&self, cluster: &str, name: &str) -> Result<Option<ScalingBounds>> {
        self.call(
            "DescribeScalableTargets",
            false,
            format!("resource=service/{cluster}/{name}"),
            |w, _| {
                Ok(w.scalable_targets
                    .get(&(cluster.to_string(), name.to_string()))
                    .copied())
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

    async fn has_scaling_policy(&self, cluster: &str, name: &str) -> Result<bool> {
        self.call(
            "DescribeScalingPolicies",
            false,
            format!("resource=service/{cluster}/{name}"),
            |w, _| {
                Ok(w.policies
                    .contains_key(&(cluster.to_string(), name.to_string())))
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

    async fn cluster_tags(&self, cluster: &str) -> Result<Tags> {
        self.call(
            "DescribeClusters",
            false,
            format!("cluster={cluster}"),
            |w, _| {
                w.clusters.get(cluster).cloned().ok_or_else(|| {
                    aws_error(
                        "DescribeClusters",
                        "ClusterNotFoundException",
                        format!("cluster {cluster} does not exist"),
                    )
                })
            },
        )
        .await
    }

    async fn set_cluster_tags(&self, cluster: &str, tags: &Tags) -> Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.cluster_tags(cluster).await?;
        self.call(
            "TagResource",
            true,
            format!("cluster={cluster} tags={}", tags_summary(tags)),
            |w, _| {
                let t = w.clusters.get_mut(cluster).ok_or_else(|| {
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

    async fn remove_cluster_tags(&self, cluster: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.cluster_tags(cluster).await?;
        self.call(
            "UntagResource",
            true,
            format!("cluster={cluster} keys={}", keys.join(",")),
            |w, _| {
                let t = w.clusters.get_mut(cluster).ok_or_else(|| {
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
}
