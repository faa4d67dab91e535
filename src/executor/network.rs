//! EC2 steps: Elastic IPs, NAT gateways and their waits, default routes.

use std::time::Duration;

use crate::aws::{AlreadyDone, AwsError, ErrorKind};
use crate::model::{NatState, RouteTarget};
use crate::ownership::{creation_tags, is_owned, nat_name, TAG_EIP_MODE, TAG_NAT};
use crate::plan::NetworkStep;
use crate::spec::ElasticIpMode;

use super::{Change, Done, Executor, Ledger, StepError, StepResult, WaitKind};

pub(super) async fn run(x: &Executor<'_>, step: &NetworkStep, ledger: &Ledger) -> StepResult {
    let net = &x.clients.network;
    let env = &x.spec.environment;
    match step {
        NetworkStep::AllocateAddress { nat } => {
            let mode = match x.spec.nat_gateways.iter().find(|n| &n.name == nat) {
                Some(n) if n.elastic_ip.mode == ElasticIpMode::Keep => "keep",
                _ => "release",
            };
            let tags = creation_tags(&x.spec.tags, env, &[(TAG_NAT, nat), (TAG_EIP_MODE, mode)]);
            let address = net.allocate_address(&tags).await?;
            Ok(
                Done::with(format!("{} ({})", address.allocation_id, address.public_ip)).change(
                    Change::AddressAllocated {
                        nat: nat.clone(),
                        allocation_id: address.allocation_id,
                        public_ip: address.public_ip,
                    },
                ),
            )
        }
        NetworkStep::SweepAddresses { nat } => {
            let in_use = ledger.allocation_id(nat).ok();
            let surplus: Vec<String> = net
                .describe_addresses()
                .await?
                .into_iter()
                .filter(|a| is_owned(&a.tags, env))
                .filter(|a| nat_name(&a.tags) == Some(nat.as_str()) && a.association_id.is_none())
                .filter(|a| Some(&a.allocation_id) != in_use.as_ref())
                .map(|a| a.allocation_id)
                .collect();
            let mut done = Done::default();
            for allocation_id in &surplus {
                net.release_address(allocation_id).await.gone_is_done()?;
                done = done.change(Change::AddressReleased {
                    nat: nat.clone(),
                    allocation_id: allocation_id.clone(),
                });
            }
            if !surplus.is_empty() {
                done.detail = Some(format!("released {}", surplus.join(", ")));
            }
            Ok(done)
        }
        NetworkStep::DisassociateAddress { association_id, .. } => {
            net.disassociate_address(association_id)
                .await
                .gone_is_done()?;
            Ok(Done::with(association_id.clone()))
        }
        NetworkStep::CreateNatGateway {
            nat,
            subnet_id,
            allocation_id,
        } => {
            let allocation = match allocation_id {
                Some(a) => a.clone(),
                None => ledger.allocation_id(nat)?,
            };
            // One token per invocation and NAT: the SDK's retries of a lost response create
            // one gateway, not two.
            let token: String = format!("{}-{}", x.options.invocation_id, nat)
                .chars()
                .take(64)
                .collect();
            let tags = creation_tags(&x.spec.tags, env, &[(TAG_NAT, nat)]);
            let gw = net
                .create_nat_gateway(subnet_id, &allocation, &tags, &token)
                .await?;
            Ok(Done::with(gw.id.clone()).change(Change::NatCreated {
                nat: nat.clone(),
                id: gw.id,
                allocation_id: allocation,
            }))
        }
        NetworkStep::WaitNatAvailable { nat, fresh } => {
            let id = ledger.nat_id(nat)?;
            let bound = Duration::from_secs(x.spec.timeouts.nat_available_seconds);
            x.wait(
                WaitKind::NatAvailable,
                &format!("NAT gateway {id} to become available"),
                bound,
                !fresh,
                || async {
                    match nat_state(x, &id).await? {
                        Some(NatState::Available) => Ok(Some(())),
                        Some(state @ (NatState::Failed | NatState::Deleted)) => Err(AwsError {
                            operation: "DescribeNatGateways",
                            code: Some("NatGatewayFailed".into()),
                            message: format!("NAT gateway {id} is {state:?}").to_lowercase(),
                            kind: ErrorKind::Permanent,
                        }),
                        _ => Ok(None),
                    }
                },
            )
            .await?
            .must_finish()
            .map(|(done, ())| done)
        }
        NetworkStep::CreateRoute {
            route_table_id,
            nat,
        } => {
            let id = ledger.nat_id(nat)?;
            if net
                .create_default_route(route_table_id, &id)
                .await
                .existing_is_done()?
                .is_none()
            {
                // A route exists already: ours to point at this gateway only if it goes through
                // a gateway of ours (an interrupted run's); someone else's route stays.
                let existing = default_route_target(x, route_table_id).await?;
                match existing {
                    Some(RouteTarget::NatGateway(current)) if current == id => {}
                    Some(RouteTarget::NatGateway(current))
                        if ledger
                            .resources
                            .retired_nat_gateway_ids
                            .contains(&current)
                            || owned_nat(x, &current).await? =>
                    {
                        net.replace_default_route(route_table_id, &id).await?
                    }
                    other => {
                        return Err(StepError::Aws(AwsError {
                            operation: "CreateRoute",
                            code: Some("RouteAlreadyExists".into()),
                            message: format!(
                                "{route_table_id} already has a 0.0.0.0/0 route to {other:?}, which is not ours"
                            ),
                            kind: ErrorKind::Permanent,
                        }))
                    }
                }
            }
            Ok(Done::with(id))
        }
        NetworkStep::ReplaceRoute {
            route_table_id,
            nat,
            ..
        } => {
            let id = ledger.nat_id(nat)?;
            net.replace_default_route(route_table_id, &id).await?;
            Ok(Done::with(id))
        }
        NetworkStep::DeleteRoute { route_table_id, .. } => {
            net.delete_default_route(route_table_id)
                .await
                .gone_is_done()?;
            Ok(Done::default())
        }
        NetworkStep::DeleteNatGateway {
            nat,
            nat_gateway_id,
        } => {
            net.delete_nat_gateway(nat_gateway_id)
                .await
                .gone_is_done()?;
            Ok(
                Done::with(nat_gateway_id.clone()).change(Change::NatDeleted {
                    nat: nat.clone(),
                    id: nat_gateway_id.clone(),
                }),
            )
        }
        NetworkStep::WaitNatDeleted {
            nat_gateway_id,
            fresh,
            ..
        } => {
            let bound = Duration::from_secs(x.spec.timeouts.nat_deleted_seconds);
            // The Elastic IP cannot be released before the gateway is gone: running out of time
            // ends the step, it never lets the release run early.
            x.wait(
                WaitKind::NatDeleted,
                &format!("NAT gateway {nat_gateway_id} to be deleted"),
                bound,
                !fresh,
                || async {
                    let state = nat_state(x, nat_gateway_id).await?;
                    Ok(state.is_none_or(|s| s == NatState::Deleted).then_some(()))
                },
            )
            .await?
            .must_finish()
            .map(|(done, ())| done)
        }
        NetworkStep::ReleaseAddress { nat, allocation_id } => {
            net.release_address(allocation_id).await.gone_is_done()?;
            Ok(
                Done::with(allocation_id.clone()).change(Change::AddressReleased {
                    nat: nat.clone(),
                    allocation_id: allocation_id.clone(),
                }),
            )
        }
    }
}

async fn nat_state(x: &Executor<'_>, id: &str) -> Result<Option<NatState>, AwsError> {
    Ok(x.clients
        .network
        .describe_nat_gateways_by_id(&[id.to_string()])
        .await?
        .into_iter()
        .find(|n| n.id == id)
        .map(|n| n.state))
}

async fn owned_nat(x: &Executor<'_>, id: &str) -> Result<bool, AwsError> {
    Ok(x.clients
        .network
        .describe_nat_gateways_by_id(&[id.to_string()])
        .await?
        .iter()
        .any(|n| n.id == id && is_owned(&n.tags, &x.spec.environment)))
}

async fn default_route_target(
    x: &Executor<'_>,
    route_table_id: &str,
) -> Result<Option<RouteTarget>, AwsError> {
    Ok(x.clients
        .network
        .describe_route_tables(&[route_table_id.to_string()])
        .await?
        .into_iter()
        .find(|t| t.id == route_table_id)
        .and_then(|t| t.default_route)
        .map(|r| r.target))
}
