//! ECS and Application Auto Scaling steps: counts, creation, revisions, scaling bounds and
//! policy, deletion, and the bounded wait for stable services with healthy targets.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::aws::{AlreadyDone, AwsError};
use crate::model::{ScalingBounds, ServiceStatus};
use crate::ownership::{creation_tags, is_owned};
use crate::plan::ServiceStep;
use crate::spec::ServiceSpec;

use super::{resource_label, Done, Executor, Ledger, StepError, StepResult, WaitKind};

pub(super) async fn run(x: &Executor<'_>, step: &ServiceStep, ledger: &Ledger) -> StepResult {
    let ecs = &x.clients.containers;
    match step {
        ServiceStep::SuspendScaling { cluster, service } => {
            ecs.set_scaling_bounds(cluster, service, ScalingBounds { min: 0, max: 0 })
                .await?;
            Ok(Done::default())
        }
        ServiceStep::ScaleService {
            cluster,
            service,
            desired_count,
        } => {
            ecs.update_service(cluster, service, Some(*desired_count), None, None)
                .await?;
            Ok(Done::with(format!("desired count {desired_count}")))
        }
        ServiceStep::CreateService {
            cluster,
            service,
            desired_count,
            task_definition,
        } => {
            let spec = service_spec(x, cluster, service)?;
            let tags = creation_tags(&x.spec.tags, &x.spec.environment, &[]);
            match ecs
                .create_service(spec, task_definition, *desired_count, &tags)
                .await
            {
                Ok(created) => Ok(Done::with(format!(
                    "{} running {task_definition} with desired count {desired_count}",
                    created.arn
                ))),
                // ECS answers a create of an existing ACTIVE service with this generic code
                // ("not idempotent"): already done when that service is ours.
                Err(e) if e.has_code(&["InvalidParameterException"]) => {
                    let existing = ecs
                        .describe_services(cluster, std::slice::from_ref(service))
                        .await?;
                    match existing.into_iter().find(|s| {
                        s.status == ServiceStatus::Active && is_owned(&s.tags, &x.spec.environment)
                    }) {
                        Some(s) => Ok(Done::with(format!("{} already exists", s.arn))),
                        None => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        ServiceStep::RestoreScaling {
            cluster,
            service,
            min,
            max,
        } => {
            ecs.set_scaling_bounds(
                cluster,
                service,
                ScalingBounds {
                    min: *min,
                    max: *max,
                },
            )
            .await?;
            Ok(Done::with(format!("{min}..{max}")))
        }
        ServiceStep::PutScalingPolicy { cluster, service } => {
            let spec = service_spec(x, cluster, service)?;
            let Some(scaling) = &spec.auto_scaling else {
                return Ok(Done::default());
            };
            let label = if scaling.target_tracking.metric == "ALBRequestCountPerTarget" {
                let lb_arn = ledger.load_balancer_arn()?;
                let tg = spec
                    .load_balancer
                    .as_ref()
                    .map(|l| l.target_group_arn.clone())
                    .unwrap_or_default();
                Some(resource_label(&lb_arn, &tg))
            } else {
                None
            };
            ecs.put_scaling_policy(cluster, service, &scaling.target_tracking, label.as_deref())
                .await?;
            Ok(Done::default())
        }
        ServiceStep::WaitServicesStable { services } => {
            let bound = Duration::from_secs(x.spec.timeouts.services_stable_seconds);
            x.wait(
                WaitKind::ServicesStable,
                &format!(
                    "services {} to be stable with healthy targets",
                    services.join(", ")
                ),
                bound,
                false,
                || async { Ok(stable(x, services).await?.then_some(())) },
            )
            .await?
            .may_time_out()
        }
        ServiceStep::PointService {
            cluster,
            service,
            task_definition,
        } => {
            // A deploy also applies the spec's deployment settings, so its alarms and circuit
            // breaker guard this rollout (a service created before they were set has older ones).
            let deployment = x
                .spec
                .services
                .iter()
                .find(|s| &s.cluster == cluster && &s.name == service)
                .map(|s| &s.deployment);
            ecs.update_service(cluster, service, None, Some(task_definition), deployment)
                .await?;
            Ok(Done::with(task_definition.clone()))
        }
        ServiceStep::DeregisterScaling { cluster, service } => {
            ecs.deregister_scaling(cluster, service)
                .await
                .gone_is_done()?;
            Ok(Done::default())
        }
        ServiceStep::DeleteService { cluster, service } => {
            match ecs.delete_service(cluster, service).await.gone_is_done() {
                // A service already being deleted answers this: already done.
                Err(e) if e.has_code(&["ServiceNotActiveException"]) => Ok(Done::default()),
                other => {
                    other?;
                    Ok(Done::default())
                }
            }
        }
    }
}

/// Every service running its desired count in one deployment, with as many healthy targets.
async fn stable(x: &Executor<'_>, keys: &[String]) -> Result<bool, AwsError> {
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in x.spec.services.iter().filter(|s| keys.contains(&s.key())) {
        by_cluster
            .entry(&s.cluster)
            .or_default()
            .push(s.name.clone());
    }
    for (cluster, names) in by_cluster {
        for s in x
            .clients
            .containers
            .describe_services(cluster, &names)
            .await?
        {
            if s.running_count != s.desired_count || s.deployments > 1 || s.pending_count > 0 {
                return Ok(false);
            }
            let lb = x
                .spec
                .services
                .iter()
                .find(|spec| spec.cluster == s.cluster && spec.name == s.name)
                .and_then(|spec| spec.load_balancer.as_ref());
            if let Some(lb) = lb {
                let (healthy, _) = x
                    .clients
                    .load_balancing
                    .target_health(&lb.target_group_arn)
                    .await?;
                if healthy < s.desired_count {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

fn service_spec<'s>(
    x: &'s Executor<'_>,
    cluster: &str,
    name: &str,
) -> Result<&'s ServiceSpec, StepError> {
    x.spec
        .services
        .iter()
        .find(|s| s.cluster == cluster && s.name == name)
        .ok_or_else(|| StepError::Missing(format!("no service {cluster}/{name} in the spec")))
}
