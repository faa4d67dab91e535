//! Cluster steps: the tier-wide override tags.

use crate::ownership::{Tags, TAG_OVERRIDE, TAG_OVERRIDE_UNTIL};
use crate::plan::ClusterStep;

use super::{Done, Executor, StepResult};

pub(super) async fn run(x: &Executor<'_>, step: &ClusterStep) -> StepResult {
    let ecs = &x.clients.containers;
    match step {
        ClusterStep::SetOverrideTags {
            cluster_arn,
            mode,
            until,
            ..
        } => {
            let mut tags = Tags::from([(TAG_OVERRIDE.to_string(), mode.clone())]);
            match until {
                Some(u) => {
                    tags.insert(TAG_OVERRIDE_UNTIL.to_string(), u.to_rfc3339());
                }
                // An override without expiry must not keep an old expiry.
                None => {
                    ecs.untag_cluster(cluster_arn, &[TAG_OVERRIDE_UNTIL.to_string()])
                        .await?
                }
            }
            ecs.tag_cluster(cluster_arn, &tags).await?;
            Ok(Done::with(match until {
                Some(u) => format!("{mode} until {}", u.to_rfc3339()),
                None => mode.clone(),
            }))
        }
        ClusterStep::RemoveOverrideTags { cluster_arn, .. } => {
            ecs.untag_cluster(
                cluster_arn,
                &[TAG_OVERRIDE.to_string(), TAG_OVERRIDE_UNTIL.to_string()],
            )
            .await?;
            Ok(Done::default())
        }
    }
}
