//! EC2: NAT gateways, Elastic IPs, route tables, as AWS behaves (errors with AWS's codes; what
//! counts as already done is decided above the adapters, as in production).

use async_trait::async_trait;
use runtime_scheduler::aws::{Network, Result};
use runtime_scheduler::model::{
    DefaultRoute, ElasticIp, NatGateway, NatState, RouteTable, RouteTarget, Tags,
};
use tokio::time::Instant;

use super::{aws_error, tags_summary, SimAddress, SimClient, SimNat, SimRoute, SimTarget, World};

impl World {
    fn nat_view(&self, n: &SimNat, now: Instant) -> NatGateway {
        NatGateway {
            id: n.id.clone(),
            subnet_id: n.subnet_id.clone(),
            state: self.nat_state(n, now),
            allocation_ids: vec![n.allocation_id.clone()],
            tags: n.tags.clone(),
        }
    }

    /// The NAT gateway (not `deleted`) holding an address, if any.
    pub fn holder_of(&self, allocation_id: &str, now: Instant) -> Option<&SimNat> {
        self.nats.values().find(|n| {
            n.allocation_id == allocation_id && self.nat_state(n, now) != NatState::Deleted
        })
    }

    /// Inserts a NAT gateway (test setup: decoys, or a half-built world).
    pub fn add_nat(
        &mut self,
        subnet_id: &str,
        allocation_id: &str,
        tags: Tags,
        now: Instant,
    ) -> String {
        let id = format!("nat-{}", self.next_hex(17));
        self.nats.insert(
            id.clone(),
            SimNat {
                id: id.clone(),
                subnet_id: subnet_id.into(),
                allocation_id: allocation_id.into(),
                tags,
                created_at: now,
                deleted_at: None,
                client_token: None,
                created_by: None,
            },
        );
        id
    }

    /// Inserts an Elastic IP (test setup).
    pub fn add_address(
        &mut self,
        tags: Tags,
        now: Instant,
        created_by: Option<String>,
    ) -> SimAddress {
        let allocation_id = format!("eipalloc-{}", self.next_hex(17));
        let n = self.addresses.len() as u32 + 10;
        let public_ip = format!("198.51.{}.{}", 100 + n / 250, n % 250 + 1);
        let a = SimAddress {
            allocation_id: allocation_id.clone(),
            public_ip,
            tags,
            created_at: now,
            created_by,
        };
        self.addresses.insert(allocation_id, a.clone());
        a
    }
}

#[async_trait]
impl Network for SimClient {
    async fn describe_nat_gateways(&self, subnet_ids: &[String]) -> Result<Vec<NatGateway>> {
        if subnet_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.call(
            "DescribeNatGateways",
            false,
            format!("subnets={}", subnet_ids.join(",")),
            |w, now| {
                Ok(w.nats
                    .values()
                    .filter(|n| subnet_ids.contains(&n.subnet_id) && w.visible(n.created_at, now))
                    .map(|n| w.nat_view(n, now))
                    .filter(|n| n.state != NatState::Deleted)
                    .collect())
            },
        )
        .await
    }

    async fn describe_nat_gateways_by_id(&self, ids: &[String]) -> Result<Vec<NatGateway>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A `nat-gateway-id` filter: unknown ids are simply absent; a deleted gateway stays
        // describable (with its tags) for a while, as in AWS.
        self.call(
            "DescribeNatGateways",
            false,
            format!("ids={}", ids.join(",")),
            |w, now| {
                Ok(ids
                    .iter()
                    .filter_map(|id| w.nats.get(id))
                    .filter(|n| {
                        w.visible(n.created_at, now)
                            && n.deleted_at.is_none_or(|d| {
                                now < d + w.cfg.nat_deleting + w.cfg.nat_deleted_retention
                            })
                    })
                    .map(|n| w.nat_view(n, now))
                    .collect())
            },
        )
        .await
    }

    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<NatGateway> {
        let tag = self.tag.to_string();
        self.call(
            "CreateNatGateway",
            true,
            format!(
                "subnet={subnet_id} allocation={allocation_id} token={client_token} tags={}",
                tags_summary(tags)
            ),
            |w, now| {
                if let Some(n) = w
                    .nats
                    .values()
                    .find(|n| n.client_token.as_deref() == Some(client_token))
                {
                    // Same token: the same request again (an SDK retry), answered with the same gateway.
                    if n.subnet_id == subnet_id && n.allocation_id == allocation_id {
                        return Ok(w.nat_view(n, now));
                    }
                    return Err(aws_error(
                        "CreateNatGateway",
                        "IdempotentParameterMismatch",
                        "the client token was used with other parameters",
                    ));
                }
                if !w.addresses.contains_key(allocation_id) {
                    return Err(aws_error(
                        "CreateNatGateway",
                        "InvalidAllocationID.NotFound",
                        format!("allocation {allocation_id} not found"),
                    ));
                }
                if w.holder_of(allocation_id, now).is_some() {
                    return Err(aws_error(
                        "CreateNatGateway",
                        "Resource.AlreadyAssociated",
                        format!("Elastic IP address [{allocation_id}] is already associated"),
                    ));
                }
                let id = w.add_nat(subnet_id, allocation_id, tags.clone(), now);
                let n = w.nats.get_mut(&id).expect("just added");
                n.client_token = Some(client_token.to_string());
                n.created_by = Some(tag.clone());
                let n = n.clone();
                Ok(w.nat_view(&n, now))
            },
        )
        .await
    }

    async fn delete_nat_gateway(&self, id: &str) -> Result<()> {
        let r = self
            .call("DeleteNatGateway", true, format!("id={id}"), |w, now| {
                let Some(n) = w.nats.get_mut(id) else {
                    return Err(aws_error(
                        "DeleteNatGateway",
                        "NatGatewayNotFound",
                        format!("NAT gateway {id} was not found"),
                    ));
                };
                if n.deleted_at.is_none() {
                    n.deleted_at = Some(now);
                }
                Ok(())
            })
            .await;
        r
    }

    async fn describe_addresses(&self) -> Result<Vec<ElasticIp>> {
        self.call("DescribeAddresses", false, String::new(), |w, now| {
            Ok(w.addresses
                .values()
                .filter(|a| w.visible(a.created_at, now))
                .map(|a| ElasticIp {
                    allocation_id: a.allocation_id.clone(),
                    public_ip: a.public_ip.clone(),
                    association_id: w
                        .holder_of(&a.allocation_id, now)
                        .map(|n| format!("eipassoc-{}", &n.id[4..])),
                    instance_id: None,
                    tags: a.tags.clone(),
                })
                .collect())
        })
        .await
    }

    async fn allocate_address(&self, tags: &Tags) -> Result<ElasticIp> {
        let tag = self.tag.to_string();
        self.call(
            "AllocateAddress",
            true,
            format!("tags={}", tags_summary(tags)),
            |w, now| {
                let a = w.add_address(tags.clone(), now, Some(tag.clone()));
                Ok(ElasticIp {
                    allocation_id: a.allocation_id,
                    public_ip: a.public_ip,
                    association_id: None,
                    instance_id: None,
                    tags: a.tags,
                })
            },
        )
        .await
    }

    async fn release_address(&self, allocation_id: &str) -> Result<()> {
        let r = self
            .call(
                "ReleaseAddress",
                true,
                format!("allocation={allocation_id}"),
                |w, now| {
                    if !w.addresses.contains_key(allocation_id) {
                        return Err(aws_error(
                            "ReleaseAddress",
                            "InvalidAllocationID.NotFound",
                            format!("allocation {allocation_id} not found"),
                        ));
                    }
                    if let Some(n) = w.holder_of(allocation_id, now) {
                        return Err(aws_error(
                            "ReleaseAddress",
                            "InvalidIPAddress.InUse",
                            format!("Address {allocation_id} is in use by {}", n.id),
                        ));
                    }
                    w.addresses.remove(allocation_id);
                    Ok(())
                },
            )
            .await;
        r
    }

    async fn disassociate_address(&self, association_id: &str) -> Result<()> {
        let r = self
            .call(
                "DisassociateAddress",
                true,
                format!("association={association_id}"),
                |w, now| {
                    // AWS clears a gateway's association itself once it is deleted; while the gateway
                    // lives, its requester-managed interface may not be touched.
                    match w
                        .nats
                        .values()
                        .find(|n| format!("eipassoc-{}", &n.id[4..]) == association_id)
                    {
                        Some(n) if w.nat_state(n, now) != NatState::Deleted => Err(aws_error(
                            "DisassociateAddress",
                            "AuthFailure",
                            "You do not have permission to access the specified resource.",
                        )),
                        _ => Err(aws_error(
                            "DisassociateAddress",
                            "InvalidAssociationID.NotFound",
                            format!("association {association_id} not found"),
                        )),
                    }
                },
            )
            .await;
        r
    }

    async fn describe_route_tables(&self, ids: &[String]) -> Result<Vec<RouteTable>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.call(
            "DescribeRouteTables",
            false,
            format!("ids={}", ids.join(",")),
            |w, now| {
                let mut out = Vec::new();
                for id in ids {
                    let Some(route) = w.route_tables.get(id) else {
                        return Err(aws_error(
                            "DescribeRouteTables",
                            "InvalidRouteTableID.NotFound",
                            format!("route table {id} does not exist"),
                        ));
                    };
                    let default_route = route.as_ref().map(|r| match &r.target {
                        SimTarget::Nat(n) => DefaultRoute {
                            target: RouteTarget::NatGateway(n.clone()),
                            active: w
                                .nats
                                .get(n)
                                .is_some_and(|g| w.nat_state(g, now) == NatState::Available),
                        },
                        SimTarget::Other(o) => DefaultRoute {
                            target: RouteTarget::Other(o.clone()),
                            active: true,
                        },
                    });
                    out.push(RouteTable {
                        id: id.clone(),
                        default_route,
                        subnet_ids: w.route_table_subnets.get(id).cloned().unwrap_or_default(),
                    });
                }
                Ok(out)
            },
        )
        .await
    }

    async fn create_default_route(&self, route_table_id: &str, nat_gateway_id: &str) -> Result<()> {
        let r = self
            .call(
                "CreateRoute",
                true,
                format!("table={route_table_id} nat={nat_gateway_id}"),
                |w, now| {
                    check_route_target(w, "CreateRoute", nat_gateway_id, now)?;
                    let Some(slot) = w.route_tables.get_mut(route_table_id) else {
                        return Err(aws_error(
                            "CreateRoute",
                            "InvalidRouteTableID.NotFound",
                            format!("route table {route_table_id} does not exist"),
                        ));
                    };
                    if slot.is_some() {
                        return Err(aws_error(
                            "CreateRoute",
                            "RouteAlreadyExists",
                            "the route identified by 0.0.0.0/0 already exists",
                        ));
                    }
                    *slot = Some(SimRoute {
                        target: SimTarget::Nat(nat_gateway_id.into()),
                        set_at: now,
                    });
                    Ok(())
                },
            )
            .await;
        r
    }

    async fn replace_default_route(
        &self,
        route_table_id: &str,
        nat_gateway_id: &str,
    ) -> Result<()> {
        self.call(
            "ReplaceRoute",
            true,
            format!("table={route_table_id} nat={nat_gateway_id}"),
            |w, now| {
                check_route_target(w, "ReplaceRoute", nat_gateway_id, now)?;
                let Some(slot) = w.route_tables.get_mut(route_table_id) else {
                    return Err(aws_error(
                        "ReplaceRoute",
                        "InvalidRouteTableID.NotFound",
                        format!("route table {route_table_id} does not exist"),
                    ));
                };
                if slot.is_none() {
                    return Err(aws_error(
                        "ReplaceRoute",
                        "InvalidParameterValue",
                        "There is no route defined for '0.0.0.0/0' in the route table",
                    ));
                }
                *slot = Some(SimRoute {
                    target: SimTarget::Nat(nat_gateway_id.into()),
                    set_at: now,
                });
                Ok(())
            },
        )
        .await
    }

    async fn delete_default_route(&self, route_table_id: &str) -> Result<()> {
        let r = self
            .call(
                "DeleteRoute",
                true,
                format!("table={route_table_id}"),
                |w, _| {
                    let Some(slot) = w.route_tables.get_mut(route_table_id) else {
                        return Err(aws_error(
                            "DeleteRoute",
                            "InvalidRouteTableID.NotFound",
                            format!("route table {route_table_id} does not exist"),
                        ));
                    };
                    if slot.take().is_none() {
                        return Err(aws_error(
                            "DeleteRoute",
                            "InvalidRoute.NotFound",
                            "no route with destination-cidr-block 0.0.0.0/0",
                        ));
                    }
                    Ok(())
                },
            )
            .await;
        r
    }
}

/// EC2 refuses a route through a NAT gateway it does not know or that is gone.
fn check_route_target(
    w: &World,
    op: &'static str,
    nat_gateway_id: &str,
    now: Instant,
) -> Result<()> {
    match w.nats.get(nat_gateway_id) {
        Some(n) if !matches!(w.nat_state(n, now), NatState::Deleted | NatState::Deleting) => Ok(()),
        _ => Err(aws_error(
            op,
            "InvalidNatGatewayID.NotFound",
            format!("The natGateway ID '{nat_gateway_id}' does not exist"),
        )),
    }
}
