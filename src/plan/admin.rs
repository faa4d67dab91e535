//! Plans for the actions that are not a start or a stop: the tier-wide override tags and a
//! deploy. They run through the same executor, under the same lease, with the same history.

use chrono::{DateTime, Utc};

use crate::command::{OverrideCommand, OverrideMode};
use crate::model::{Cluster, ServiceStatus, TaskDefinition};
use crate::observe::Observed;
use crate::ownership::{is_owned, TAG_OVERRIDE, TAG_OVERRIDE_UNTIL};
use crate::spec::{ServiceSpec, Spec};
use crate::state::{RecordedService, State};

use super::{ClusterStep, Plan, ServiceStep, StepKind};

/// Sets (or clears) the override tags on every cluster of the tier, where they differ.
pub fn plan_override(clusters: &[Cluster], command: &OverrideCommand, reason: &str) -> Plan {
    let mut plan = Plan::default();
    for c in clusters {
        let mode = c.tags.get(TAG_OVERRIDE).map(String::as_str);
        let until = c.tags.get(TAG_OVERRIDE_UNTIL).map(String::as_str);
        let kind = match command.mode {
            OverrideMode::Clear if mode.is_none() && until.is_none() => continue,
            OverrideMode::Clear => ClusterStep::RemoveOverrideTags {
                cluster: c.name.clone(),
                cluster_arn: c.arn.clone(),
            },
            wanted => {
                let wanted_until = command.until.map(|u| u.to_rfc3339());
                if mode == Some(wanted.as_str()) && until == wanted_until.as_deref() {
                    continue;
                }
                ClusterStep::SetOverrideTags {
                    cluster: c.name.clone(),
                    cluster_arn: c.arn.clone(),
                    mode: wanted.as_str().to_string(),
                    until: command.until,
                }
            }
        };
        plan.add(StepKind::Cluster(kind), &[], reason.to_string());
    }
    plan
}

/// How a deploy lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployMode {
    /// The service runs tasks: ECS rolls them to the revision.
    Rolling,
    /// The tier sleeps: the revision waits for the next start, nothing wakes.
    Parked,
}

/// A deploy that can be planned, or why not.
pub enum DeployPlan {
    Planned {
        plan: Plan,
        mode: DeployMode,
        service: String,
        from: Option<String>,
    },
    Refused(String),
}

/// Points `spec`'s service at `revision`: the running service rolls, a sleeping one (at 0) is
/// pointed at it without waking, and a service that does not exist gets the revision recorded
/// so that the next start creates it with it.
pub fn plan_deploy(
    spec: &Spec,
    service: &ServiceSpec,
    revision: &TaskDefinition,
    observed: &Observed,
    state: &State,
    reason: &str,
    now: DateTime<Utc>,
) -> DeployPlan {
    let key = service.key();
    let family = service
        .task_definition
        .rsplit('/')
        .next()
        .unwrap_or(&service.task_definition)
        .split(':')
        .next()
        .unwrap_or_default();
    if revision.family != family {
        return DeployPlan::Refused(format!(
            "{} is of family {}, but service {key} runs family {family}",
            revision.arn, revision.family
        ));
    }
    if !revision.active {
        return DeployPlan::Refused(format!(
            "{} is not ACTIVE (deregistered revisions cannot run new tasks)",
            revision.arn
        ));
    }
    let mut plan = Plan::default();
    let observed_service = observed
        .services
        .iter()
        .find(|o| o.service.cluster == service.cluster && o.service.name == service.name)
        .map(|o| &o.service)
        .filter(|s| s.status == ServiceStatus::Active);
    let previous = state.recorded.get(&key);
    match observed_service {
        Some(s) if !is_owned(&s.tags, &spec.environment) => DeployPlan::Refused(format!(
            "service {key} exists but is not ours (no ownership tags): not deployed"
        )),
        Some(s) => {
            let mode = if s.desired_count > 0 {
                DeployMode::Rolling
            } else {
                DeployMode::Parked
            };
            if mode == DeployMode::Parked {
                if let Some(p) = previous {
                    plan.record.insert(
                        key.clone(),
                        RecordedService {
                            task_definition: Some(revision.arn.clone()),
                            ..p.clone()
                        },
                    );
                }
            }
            if s.task_definition.as_deref() != Some(revision.arn.as_str()) {
                plan.add(
                    StepKind::Service(ServiceStep::PointService {
                        cluster: s.cluster.clone(),
                        service: s.name.clone(),
                        task_definition: revision.arn.clone(),
                    }),
                    &[],
                    reason.to_string(),
                );
            } else if plan.record.get(&key).is_some_and(|r| Some(r) == previous) {
                plan.record.clear();
            }
            DeployPlan::Planned {
                plan,
                mode,
                service: key,
                from: s.task_definition.clone(),
            }
        }
        None => {
            let recorded = RecordedService {
                desired_count: previous.map_or(service.desired_count, |p| p.desired_count),
                scaling: previous.and_then(|p| p.scaling),
                task_definition: Some(revision.arn.clone()),
                recorded_at: now,
            };
            let from = previous.and_then(|p| p.task_definition.clone());
            if from.as_deref() != Some(revision.arn.as_str()) {
                plan.record.insert(key.clone(), recorded);
            }
            DeployPlan::Planned {
                plan,
                mode: DeployMode::Parked,
                service: key,
                from,
            }
        }
    }
}
