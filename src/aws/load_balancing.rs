//! ELBv2 and WAFv2 adapter: the ALB, its attributes, listeners, rules and web ACL association.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    ActionTypeEnum, Certificate, FixedResponseActionConfig, HostHeaderConditionConfig,
    IpAddressType, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum, PathPatternConditionConfig, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, RuleCondition, Tag, TargetHealthStateEnum,
};

use super::{AwsError, ErrorKind, LoadBalancing, Result};
use crate::model::{Listener, LoadBalancer, LoadBalancerState, Tags};
use crate::spec::{Action, ListenerProtocol, ListenerSpec, LoadBalancerSpec, RuleSpec};

/// [`LoadBalancing`] over the ELBv2 and WAFv2 APIs.
#[derive(Debug, Clone)]
pub struct ElbLoadBalancing {
    elb: elbv2::Client,
    waf: aws_sdk_wafv2::Client,
}

impl ElbLoadBalancing {
    /// Wraps an ELBv2 and a WAFv2 client (same region).
    pub fn new(elb: elbv2::Client, waf: aws_sdk_wafv2::Client) -> Self {
        ElbLoadBalancing { elb, waf }
    }

    async fn tags_of(&self, arn: &str) -> Result<Tags> {
        let output = self
            .elb
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTags", e))?;
        Ok(output
            .tag_descriptions()
            .iter()
            .filter(|d| d.resource_arn() == Some(arn))
            .flat_map(|d| d.tags())
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn attributes_of_lb(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let output = self
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeLoadBalancerAttributes", e))?;
        Ok(output
            .attributes()
            .iter()
            .filter_map(|a| {
                Some((
                    a.key()?.to_string(),
                    a.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn priorities_of(&self, listener_arn: &str) -> Result<Vec<u32>> {
        let rules = self
            .elb
            .describe_rules()
            .listener_arn(listener_arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeRules", e))?;
        let mut priorities = Vec::new();
        for rule in &rules {
            // The default rule has priority "default" and is the listener's default action.
            if rule.is_default() == Some(true) || rule.priority() == Some("default") {
                continue;
            }
            let priority = rule.priority().and_then(|p| p.parse().ok());
            priorities.push(
                priority.ok_or_else(|| {
                    AwsError::malformed("DescribeRules", "a numeric Rule.Priority")
                })?,
            );
        }
        priorities.sort_unstable();
        Ok(priorities)
    }
}

#[async_trait]
impl LoadBalancing for ElbLoadBalancing {
    async fn find_load_balancer(&self, name: &str) -> Result<Option<LoadBalancer>> {
        let output = match self.elb.describe_load_balancers().names(name).send().await {
            Ok(output) => output,
            Err(e) => {
                let err = AwsError::from_sdk("DescribeLoadBalancers", e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let Some(lb) = output
            .load_balancers()
            .iter()
            .find(|lb| lb.load_balancer_name() == Some(name))
        else {
            return Ok(None);
        };
        let mut found = load_balancer("DescribeLoadBalancers", lb)?;
        found.tags = self.tags_of(&found.arn).await?;
        Ok(Some(found))
    }

    async fn describe_load_balancer(&self, arn: &str) -> Result<Option<LoadBalancer>> {
        let output = match self
            .elb
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let err = AwsError::from_sdk("DescribeLoadBalancers", e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        output
            .load_balancers()
            .iter()
            .find(|lb| lb.load_balancer_arn() == Some(arn))
            .map(|lb| load_balancer("DescribeLoadBalancers", lb))
            .transpose()
    }

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> Result<LoadBalancer> {
        let result = self
            .elb
            .create_load_balancer()
            .name(&spec.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(spec.scheme.as_str()))
            .ip_address_type(IpAddressType::from(spec.ip_address_type.as_str()))
            .set_subnets(Some(spec.subnet_ids.clone()))
            .set_security_groups(Some(spec.security_group_ids.clone()))
            .set_tags(Some(elb_tags(tags)))
            .send()
            .await;
        let output = result.map_err(|e| AwsError::from_sdk("CreateLoadBalancer", e))?;
        let lb = output
            .load_balancers()
            .first()
            .ok_or_else(|| AwsError::malformed("CreateLoadBalancer", "LoadBalancers[0]"))?;
        let mut created = load_balancer("CreateLoadBalancer", lb)?;
        // Tags are applied with the create; the response does not repeat them.
        created.tags = tags.clone();
        Ok(created)
    }

    async fn delete_load_balancer(&self, arn: &str) -> Result<()> {
        self.elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteLoadBalancer", e))
    }

    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        self.attributes_of_lb(arn).await
    }

    async fn set_attributes(&self, arn: &str, attributes: &[(String, String)]) -> Result<()> {
        let attrs = attributes
            .iter()
            .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build());
        self.elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attrs.collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ModifyLoadBalancerAttributes", e))
    }

    async fn describe_listeners(&self, load_balancer_arn: &str) -> Result<Vec<Listener>> {
        let listeners = self
            .elb
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeListeners", e))?;
        let mut out = listeners
            .iter()
            .map(|l| listener("DescribeListeners", l))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|l| l.port);
        Ok(out)
    }

    async fn rule_priorities(&self, listener_arn: &str) -> Result<Vec<u32>> {
        self.priorities_of(listener_arn).await
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> Result<Listener> {
        let mut request = self
            .elb
            .create_listener()
            .load_balancer_arn(load_balancer_arn)
            .port(i32::from(spec.port))
            .protocol(ProtocolEnum::from(spec.protocol.as_str()))
            .default_actions(elb_action(&spec.default_action))
            .set_tags(Some(elb_tags(tags)));
        if spec.protocol == ListenerProtocol::Https {
            request = request
                .set_certificates(
                    spec.certificate_arn
                        .as_ref()
                        .map(|c| vec![Certificate::builder().certificate_arn(c).build()]),
                )
                .ssl_policy(
                    spec.ssl_policy
                        .as_deref()
                        .unwrap_or(crate::spec::DEFAULT_SSL_POLICY),
                );
        }
        let output = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateListener", e))?;
        let l = output
            .listeners()
            .first()
            .ok_or_else(|| AwsError::malformed("CreateListener", "Listeners[0]"))?;
        listener("CreateListener", l)
    }

    async fn delete_listener(&self, arn: &str) -> Result<()> {
        self.elb
            .delete_listener()
            .listener_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteListener", e))
    }

    async fn create_rule(&self, listener_arn: &str, rule: &RuleSpec, tags: &Tags) -> Result<()> {
        let mut request = self
            .elb
            .create_rule()
            .listener_arn(listener_arn)
            .priority(
                i32::try_from(rule.priority)
                    .map_err(|e| AwsError::invalid_request("CreateRule", e))?,
            )
            .actions(elb_action(&rule.action))
            .set_tags(Some(elb_tags(tags)));
        if !rule.path_patterns.is_empty() {
            request = request.conditions(
                RuleCondition::builder()
                    .field("path-pattern")
                    .path_pattern_config(
                        PathPatternConditionConfig::builder()
                            .set_values(Some(rule.path_patterns.clone()))
                            .build(),
                    )
                    .build(),
            );
        }
        if !rule.host_headers.is_empty() {
            request = request.conditions(
                RuleCondition::builder()
                    .field("host-header")
                    .host_header_config(
                        HostHeaderConditionConfig::builder()
                            .set_values(Some(rule.host_headers.clone()))
                            .build(),
                    )
                    .build(),
            );
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("CreateRule", e))
    }

    async fn web_acl_for(&self, load_balancer_arn: &str) -> Result<Option<String>> {
        match self
            .waf
            .get_web_acl_for_resource()
            .resource_arn(load_balancer_arn)
            .send()
            .await
        {
            Ok(output) => Ok(output.web_acl().map(|acl| acl.arn().to_string())),
            Err(e) => {
                let err = AwsError::from_sdk("GetWebACLForResource", e);
                // WAF answers this for a resource it does not know, i.e. nothing is associated.
                if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn associate_web_acl(&self, load_balancer_arn: &str, web_acl_arn: &str) -> Result<()> {
        self.waf
            .associate_web_acl()
            .resource_arn(load_balancer_arn)
            .web_acl_arn(web_acl_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("AssociateWebACL", e))
    }

    async fn disassociate_web_acl(&self, load_balancer_arn: &str) -> Result<()> {
        self.waf
            .disassociate_web_acl()
            .resource_arn(load_balancer_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DisassociateWebACL", e))
    }

    async fn target_health(&self, target_group_arn: &str) -> Result<(u32, u32)> {
        let output = self
            .elb
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTargetHealth", e))?;
        let (mut healthy, mut registered) = (0u32, 0u32);
        for description in output.target_health_descriptions() {
            let state = description.target_health().and_then(|h| h.state());
            // Draining targets are on their way out and do not serve new requests.
            if matches!(
                state,
                Some(TargetHealthStateEnum::Draining | TargetHealthStateEnum::UnhealthyDraining)
            ) {
                continue;
            }
            registered += 1;
            if state == Some(&TargetHealthStateEnum::Healthy) {
                healthy += 1;
            }
        }
        Ok((healthy, registered))
    }
}

fn elb_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn elb_action(action: &Action) -> elbv2::types::Action {
    let builder = elbv2::types::Action::builder();
    match action {
        Action::Forward { target_group_arn } => builder
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(target_group_arn)
            .build(),
        Action::Redirect {
            protocol,
            port,
            status_code,
        } => builder
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol(protocol)
                    .port(port)
                    .status_code(RedirectActionStatusCodeEnum::from(status_code.as_str()))
                    .build(),
            )
            .build(),
        Action::FixedResponse {
            status_code,
            content_type,
            message_body,
        } => builder
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(status_code)
                    .content_type(content_type)
                    .set_message_body((!message_body.is_empty()).then(|| message_body.clone()))
                    .build(),
            )
            .build(),
    }
}

fn load_balancer(operation: &'static str, lb: &elbv2::types::LoadBalancer) -> Result<LoadBalancer> {
    let state = match lb.state().and_then(|s| s.code()) {
        Some(LoadBalancerStateEnum::Provisioning) => LoadBalancerState::Provisioning,
        Some(LoadBalancerStateEnum::Active) => LoadBalancerState::Active,
        Some(LoadBalancerStateEnum::ActiveImpaired) => LoadBalancerState::ActiveImpaired,
        Some(LoadBalancerStateEnum::Failed) => LoadBalancerState::Failed,
        Some(other) => {
            return Err(AwsError::malformed(
                operation,
                &format!("a known load balancer state (got '{}')", other.as_str()),
            ))
        }
        None => return Err(AwsError::malformed(operation, "LoadBalancer.State.Code")),
    };
    Ok(LoadBalancer {
        arn: lb
            .load_balancer_arn()
            .ok_or_else(|| AwsError::malformed(operation, "LoadBalancerArn"))?
            .to_string(),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        dns_name: lb
            .dns_name()
            .ok_or_else(|| AwsError::malformed(operation, "DNSName"))?
            .to_string(),
        canonical_hosted_zone_id: lb
            .canonical_hosted_zone_id()
            .ok_or_else(|| AwsError::malformed(operation, "CanonicalHostedZoneId"))?
            .to_string(),
        state,
        tags: Tags::new(),
    })
}

fn listener(operation: &'static str, l: &elbv2::types::Listener) -> Result<Listener> {
    Ok(Listener {
        arn: l
            .listener_arn()
            .ok_or_else(|| AwsError::malformed(operation, "ListenerArn"))?
            .to_string(),
        port: l
            .port()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| AwsError::malformed(operation, "a valid Listener.Port"))?,
        protocol: l
            .protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        rule_priorities: Vec::new(),
    })
}
