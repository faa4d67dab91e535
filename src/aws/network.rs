//! EC2 adapter: NAT gateways, Elastic IPs and the private route tables' default routes.

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    ConnectivityType, DomainType, Filter, NatGatewayState, ResourceType, RouteState, Tag,
    TagSpecification,
};

use super::{AwsError, Network, Result};
use crate::model::{DefaultRoute, ElasticIp, NatGateway, NatState, RouteTable, RouteTarget, Tags};

/// The IPv4 default route the scheduler manages.
const DEFAULT_ROUTE: &str = "0.0.0.0/0";

/// [`Network`] over the EC2 API.
#[derive(Debug, Clone)]
pub struct Ec2Network {
    ec2: aws_sdk_ec2::Client,
}

impl Ec2Network {
    /// Wraps an EC2 client.
    pub fn new(client: aws_sdk_ec2::Client) -> Self {
        Ec2Network { ec2: client }
    }
}

#[async_trait]
impl Network for Ec2Network {
    async fn describe_nat_gateways(&self, subnet_ids: &[String]) -> Result<Vec<NatGateway>> {
        // No subnets would mean "no filter", i.e. every gateway of the account.
        if subnet_ids.is_empty() {
            return Ok(Vec::new());
        }
        let gateways = self
            .ec2
            .describe_nat_gateways()
            .filter(
                Filter::builder()
                    .name("subnet-id")
                    .set_values(Some(subnet_ids.to_vec()))
                    .build(),
            )
            .filter(
                Filter::builder()
                    .name("state")
                    .values("pending")
                    .values("available")
                    .values("deleting")
                    .values("failed")
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeNatGateways", e))?;
        let mut out = Vec::with_capacity(gateways.len());
        for g in &gateways {
            let nat = nat_gateway("DescribeNatGateways", g)?;
            // Filters are a hint only: an emulator may ignore them, so check again here.
            if nat.state != NatState::Deleted && subnet_ids.contains(&nat.subnet_id) {
                out.push(nat);
            }
        }
        Ok(out)
    }

    async fn describe_nat_gateways_by_id(&self, ids: &[String]) -> Result<Vec<NatGateway>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A filter, not NatGatewayIds: an id AWS has forgotten is then simply absent instead of
        // failing the whole call.
        let gateways = self
            .ec2
            .describe_nat_gateways()
            .filter(
                Filter::builder()
                    .name("nat-gateway-id")
                    .set_values(Some(ids.to_vec()))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeNatGateways", e))?;
        gateways
            .iter()
            .map(|g| nat_gateway("DescribeNatGateways", g))
            .filter(|n| n.as_ref().map_or(true, |n| ids.contains(&n.id)))
            .collect()
    }

    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<NatGateway> {
        let output = self
            .ec2
            .create_nat_gateway()
            .subnet_id(subnet_id)
            .allocation_id(allocation_id)
            .connectivity_type(ConnectivityType::Public)
            .client_token(client_token)
            .tag_specifications(tag_specification(ResourceType::Natgateway, tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateNatGateway", e))?;
        let gateway = output
            .nat_gateway()
            .ok_or_else(|| AwsError::malformed("CreateNatGateway", "NatGateway"))?;
        let mut nat = nat_gateway("CreateNatGateway", gateway)?;
        // Tag specifications are applied atomically with the create, so the gateway carries them
        // even when the response leaves them out.
        if nat.tags.is_empty() {
            nat.tags = tags.clone();
        }
        Ok(nat)
    }

    async fn delete_nat_gateway(&self, id: &str) -> Result<()> {
        self.ec2
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteNatGateway", e))
    }

    async fn describe_addresses(&self) -> Result<Vec<ElasticIp>> {
        // DescribeAddresses is not paginated.
        let output = self
            .ec2
            .describe_addresses()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeAddresses", e))?;
        output
            .addresses()
            .iter()
            .map(|a| {
                Ok(ElasticIp {
                    allocation_id: a
                        .allocation_id()
                        .ok_or_else(|| AwsError::malformed("DescribeAddresses", "AllocationId"))?
                        .to_string(),
                    public_ip: a.public_ip().unwrap_or_default().to_string(),
                    association_id: a.association_id().map(str::to_string),
                    instance_id: a.instance_id().map(str::to_string),
                    tags: tags_of(a.tags()),
                })
            })
            .collect()
    }

    async fn allocate_address(&self, tags: &Tags) -> Result<ElasticIp> {
        let output = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_specification(ResourceType::ElasticIp, tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("AllocateAddress", e))?;
        Ok(ElasticIp {
            allocation_id: output
                .allocation_id()
                .ok_or_else(|| AwsError::malformed("AllocateAddress", "AllocationId"))?
                .to_string(),
            public_ip: output.public_ip().unwrap_or_default().to_string(),
            association_id: None,
            instance_id: None,
            tags: tags.clone(),
        })
    }

    async fn release_address(&self, allocation_id: &str) -> Result<()> {
        self.ec2
            .release_address()
            .allocation_id(allocation_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ReleaseAddress", e))
    }

    async fn disassociate_address(&self, association_id: &str) -> Result<()> {
        self.ec2
            .disassociate_address()
            .association_id(association_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DisassociateAddress", e))
    }

    async fn describe_route_tables(&self, ids: &[String]) -> Result<Vec<RouteTable>> {
        // No ids would mean "no filter", i.e. every route table of the account.
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let tables = self
            .ec2
            .describe_route_tables()
            .set_route_table_ids(Some(ids.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeRouteTables", e))?;
        let mut out = Vec::with_capacity(tables.len());
        for t in &tables {
            let id = t
                .route_table_id()
                .ok_or_else(|| AwsError::malformed("DescribeRouteTables", "RouteTableId"))?;
            if !ids.iter().any(|wanted| wanted == id) {
                continue;
            }
            let default_route = t
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(DEFAULT_ROUTE))
                .map(|r| {
                    let target = match r.nat_gateway_id() {
                        Some(nat) => RouteTarget::NatGateway(nat.to_string()),
                        None => RouteTarget::Other(
                            [
                                r.gateway_id(),
                                r.transit_gateway_id(),
                                r.instance_id(),
                                r.network_interface_id(),
                                r.vpc_peering_connection_id(),
                                r.egress_only_internet_gateway_id(),
                                r.local_gateway_id(),
                                r.carrier_gateway_id(),
                                r.core_network_arn(),
                            ]
                            .into_iter()
                            .flatten()
                            .next()
                            .unwrap_or("unknown")
                            .to_string(),
                        ),
                    };
                    DefaultRoute {
                        target,
                        active: r.state() != Some(&RouteState::Blackhole),
                    }
                });
            out.push(RouteTable {
                id: id.to_string(),
                default_route,
                subnet_ids: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_string))
                    .collect(),
            });
        }
        Ok(out)
    }

    async fn create_default_route(&self, route_table_id: &str, nat_gateway_id: &str) -> Result<()> {
        self.ec2
            .create_route()
            .route_table_id(route_table_id)
            .destination_cidr_block(DEFAULT_ROUTE)
            .nat_gateway_id(nat_gateway_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("CreateRoute", e))
    }

    async fn replace_default_route(
        &self,
        route_table_id: &str,
        nat_gateway_id: &str,
    ) -> Result<()> {
        self.ec2
            .replace_route()
            .route_table_id(route_table_id)
            .destination_cidr_block(DEFAULT_ROUTE)
            .nat_gateway_id(nat_gateway_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ReplaceRoute", e))
    }

    async fn delete_default_route(&self, route_table_id: &str) -> Result<()> {
        self.ec2
            .delete_route()
            .route_table_id(route_table_id)
            .destination_cidr_block(DEFAULT_ROUTE)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteRoute", e))
    }
}

fn tag_specification(resource_type: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
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

fn nat_gateway(operation: &'static str, g: &aws_sdk_ec2::types::NatGateway) -> Result<NatGateway> {
    let state = match g.state() {
        Some(NatGatewayState::Pending) => NatState::Pending,
        Some(NatGatewayState::Available) => NatState::Available,
        Some(NatGatewayState::Deleting) => NatState::Deleting,
        Some(NatGatewayState::Deleted) => NatState::Deleted,
        Some(NatGatewayState::Failed) => NatState::Failed,
        Some(other) => {
            return Err(AwsError::malformed(
                operation,
                &format!("a known NAT gateway state (got '{}')", other.as_str()),
            ))
        }
        None => return Err(AwsError::malformed(operation, "NatGateway.State")),
    };
    Ok(NatGateway {
        id: g
            .nat_gateway_id()
            .ok_or_else(|| AwsError::malformed(operation, "NatGatewayId"))?
            .to_string(),
        subnet_id: g.subnet_id().unwrap_or_default().to_string(),
        state,
        allocation_ids: g
            .nat_gateway_addresses()
            .iter()
            .filter_map(|a| a.allocation_id())
            .map(str::to_string)
            .collect(),
        tags: tags_of(g.tags()),
    })
}
