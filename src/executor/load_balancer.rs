//! ELBv2 and WAF steps: the ALB and its wait, attributes, listeners, rules, web ACL.

use std::time::Duration;

use crate::aws::{AlreadyDone, AwsError, ErrorKind};
use crate::model::LoadBalancerState;
use crate::ownership::{creation_tags, is_owned};
use crate::plan::LoadBalancerStep;
use crate::spec::{ListenerSpec, LoadBalancerSpec};

use super::{Change, Done, Executor, Ledger, StepError, StepResult, WaitKind};

pub(super) async fn run(x: &Executor<'_>, step: &LoadBalancerStep, ledger: &Ledger) -> StepResult {
    let lbs = &x.clients.load_balancing;
    let env = &x.spec.environment;
    let tags = || creation_tags(&x.spec.tags, env, &[]);
    match step {
        LoadBalancerStep::CreateLoadBalancer { .. } => {
            let spec = lb_spec(x)?;
            let lb = match lbs
                .create_load_balancer(spec, &tags())
                .await
                .existing_is_done()?
            {
                Some(lb) => lb,
                // An interrupted run created it: already done if it is ours.
                None => lbs
                    .find_load_balancer(&spec.name)
                    .await?
                    .filter(|lb| is_owned(&lb.tags, env))
                    .ok_or_else(|| {
                        AwsError::service(
                            "CreateLoadBalancer",
                            "DuplicateLoadBalancerName",
                            format!("a load balancer named {} exists and is not ours", spec.name),
                        )
                    })?,
            };
            Ok(Done::with(lb.arn.clone()).change(Change::LoadBalancer(lb)))
        }
        LoadBalancerStep::WaitLoadBalancerActive { name, fresh } => {
            let arn = ledger.load_balancer_arn()?;
            let bound = Duration::from_secs(x.spec.timeouts.load_balancer_active_seconds);
            // Polled by ARN without its tags: the ARN came from our own create or observation.
            let (done, mut lb) = x
                .wait(
                    WaitKind::LoadBalancerActive,
                    &format!("load balancer {name} to become active"),
                    bound,
                    !fresh,
                    || async {
                        match lbs.describe_load_balancer(&arn).await? {
                            Some(lb)
                                if matches!(
                                    lb.state,
                                    LoadBalancerState::Active | LoadBalancerState::ActiveImpaired
                                ) =>
                            {
                                Ok(Some(lb))
                            }
                            Some(lb) if lb.state == LoadBalancerState::Failed => Err(AwsError {
                                operation: "DescribeLoadBalancers",
                                code: Some("LoadBalancerFailed".into()),
                                message: format!("load balancer {name} failed to provision"),
                                kind: ErrorKind::Permanent,
                            }),
                            _ => Ok(None),
                        }
                    },
                )
                .await?
                .must_finish()?;
            // The describe by ARN carries no tags; the ALB's are the ones we gave it.
            lb.tags = ledger
                .load_balancer
                .as_ref()
                .map(|l| l.tags.clone())
                .unwrap_or_default();
            Ok(done.change(Change::LoadBalancer(lb)))
        }
        LoadBalancerStep::SetLoadBalancerAttributes { .. } => {
            let arn = ledger.load_balancer_arn()?;
            lbs.set_attributes(&arn, &lb_spec(x)?.attributes.wanted())
                .await?;
            Ok(Done::default())
        }
        LoadBalancerStep::CreateListener { port } => {
            let arn = ledger.load_balancer_arn()?;
            let spec = listener_spec(x, *port)?;
            let listener = match lbs
                .create_listener(&arn, spec, &tags())
                .await
                .existing_is_done()?
            {
                Some(l) => l,
                // The port is taken on this ALB, which is ours: an interrupted run's listener.
                None => lbs
                    .describe_listeners(&arn)
                    .await?
                    .into_iter()
                    .find(|l| l.port == *port)
                    .ok_or_else(|| {
                        AwsError::service(
                            "CreateListener",
                            "DuplicateListener",
                            format!("port {port} is taken but no listener on it was found"),
                        )
                    })?,
            };
            Ok(
                Done::with(listener.arn.clone()).change(Change::ListenerCreated {
                    port: *port,
                    arn: listener.arn,
                }),
            )
        }
        LoadBalancerStep::CreateRule { port, priority } => {
            let listener_arn = ledger.listener_arn(*port)?;
            let rule = listener_spec(x, *port)?
                .rules
                .iter()
                .find(|r| r.priority == *priority)
                .ok_or_else(|| {
                    StepError::Missing(format!("no rule with priority {priority} in the spec"))
                })?;
            // The listener is ours and priorities are unique per listener: a rule at this
            // priority is the one an interrupted run created.
            lbs.create_rule(&listener_arn, rule, &tags())
                .await
                .existing_is_done()?;
            Ok(Done::default())
        }
        LoadBalancerStep::DeleteListener { port, listener_arn } => {
            lbs.delete_listener(listener_arn).await.gone_is_done()?;
            Ok(Done::with(listener_arn.clone()).change(Change::ListenerDeleted { port: *port }))
        }
        LoadBalancerStep::AssociateWebAcl { web_acl_arn } => {
            let arn = ledger.load_balancer_arn()?;
            lbs.associate_web_acl(&arn, web_acl_arn).await?;
            Ok(Done::default())
        }
        LoadBalancerStep::DisassociateWebAcl { load_balancer_arn } => {
            lbs.disassociate_web_acl(load_balancer_arn)
                .await
                .gone_is_done()?;
            Ok(Done::default())
        }
        LoadBalancerStep::DeleteLoadBalancer { load_balancer_arn } => {
            lbs.delete_load_balancer(load_balancer_arn)
                .await
                .gone_is_done()?;
            Ok(Done::with(load_balancer_arn.clone()).change(Change::LoadBalancerDeleted))
        }
    }
}

fn lb_spec<'s>(x: &'s Executor<'_>) -> Result<&'s LoadBalancerSpec, StepError> {
    x.spec
        .load_balancer
        .as_ref()
        .ok_or_else(|| StepError::Missing("the spec has no load_balancer".into()))
}

fn listener_spec<'s>(x: &'s Executor<'_>, port: u16) -> Result<&'s ListenerSpec, StepError> {
    lb_spec(x)?
        .listeners
        .iter()
        .find(|l| l.port == port)
        .ok_or_else(|| StepError::Missing(format!("no listener on port {port} in the spec")))
}
