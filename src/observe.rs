//! Observation: read-only calls that describe what exists now, for the planner.
//! Independent reads run concurrently; nothing here mutates.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;

use crate::aws::{Clients, Result};
use crate::model::{is_owned, RouteTarget};
use crate::plan::{
    Observed, ObservedLoadBalancer, ObservedName, ObservedService, OWNER_RECORD_PREFIX,
};
use crate::spec::{normalize_dns_name, Spec};
use crate::state::State;

/// Describes everything the spec names, owned or not.
pub async fn observe(clients: &Clients, spec: &Spec, state: &State) -> Result<Observed> {
    let (network, load_balancer, names, services) = tokio::try_join!(
        observe_network(clients, spec, state),
        observe_load_balancer(clients, spec),
        observe_names(clients, spec),
        observe_services(clients, spec)
    )?;
    let (nat_gateways, addresses, route_tables, route_target_owned) = network;
    Ok(Observed {
        nat_gateways,
        route_target_owned,
        addresses,
        route_tables,
        load_balancer,
        names,
        services,
    })
}

type NetworkView = (
    Vec<crate::model::NatGateway>,
    Vec<crate::model::ElasticIp>,
    Vec<crate::model::RouteTable>,
    BTreeMap<String, bool>,
);

async fn observe_network(clients: &Clients, spec: &Spec, state: &State) -> Result<NetworkView> {
    if spec.nat_gateways.is_empty() && state.resources.nat_gateways.is_empty() {
        return Ok(Default::default());
    }
    let subnets: Vec<String> = spec
        .nat_gateways
        .iter()
        .map(|n| n.subnet_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let tables: Vec<String> = spec
        .nat_gateways
        .iter()
        .flat_map(|n| n.route_table_ids.iter().cloned())
        .collect();
    let net = &clients.network;
    let (mut nats, addresses, route_tables) = tokio::try_join!(
        net.describe_nat_gateways(&subnets),
        net.describe_addresses(),
        net.describe_route_tables(&tables)
    )?;
    // Gateways recorded in state but outside today's subnets (the spec moved them) are still ours
    // to clean up.
    for record in state.resources.nat_gateways.values() {
        if let Some(id) = &record.nat_gateway_id {
            if !nats.iter().any(|n| &n.id == id) {
                if let Some(gw) = net.describe_nat_gateway(id).await? {
                    if gw.state != crate::model::NatState::Deleted {
                        nats.push(gw);
                    }
                }
            }
        }
    }
    // Which NAT ids the default routes point at are ours: deleted gateways stay describable
    // (with tags) for a while, which is what tells a blackhole route of ours from someone else's.
    let mut owned = BTreeMap::new();
    for rt in &route_tables {
        if let Some(crate::model::DefaultRoute {
            target: RouteTarget::NatGateway(id),
            ..
        }) = &rt.default_route
        {
            if owned.contains_key(id) {
                continue;
            }
            let known = nats
                .iter()
                .find(|n| &n.id == id)
                .map(|n| is_owned(&n.tags, &spec.environment));
            let is_ours = match known {
                Some(v) => v,
                None => net
                    .describe_nat_gateway(id)
                    .await?
                    .is_some_and(|n| is_owned(&n.tags, &spec.environment)),
            };
            owned.insert(id.clone(), is_ours);
        }
    }
    Ok((nats, addresses, route_tables, owned))
}

async fn observe_load_balancer(clients: &Clients, spec: &Spec) -> Result<ObservedLoadBalancer> {
    let Some(lb_spec) = &spec.load_balancer else {
        return Ok(ObservedLoadBalancer::default());
    };
    let lbs = &clients.load_balancing;
    let Some(lb) = lbs.find_load_balancer(&lb_spec.name).await? else {
        return Ok(ObservedLoadBalancer::default());
    };
    if !is_owned(&lb.tags, &spec.environment) {
        // Someone else's: never look further, never touch.
        return Ok(ObservedLoadBalancer {
            load_balancer: Some(lb),
            ..Default::default()
        });
    }
    let (listeners, attributes_match, web_acl_arn) = tokio::try_join!(
        lbs.describe_listeners(&lb.arn),
        lbs.attributes_match(&lb.arn, &lb_spec.attributes),
        lbs.web_acl_for(&lb.arn)
    )?;
    Ok(ObservedLoadBalancer {
        load_balancer: Some(lb),
        listeners,
        attributes_match,
        web_acl_arn,
    })
}

async fn observe_names(clients: &Clients, spec: &Spec) -> Result<Vec<ObservedName>> {
    try_join_all(spec.dns_records.iter().map(|r| async move {
        let name = normalize_dns_name(&r.name);
        let owner = format!("{OWNER_RECORD_PREFIX}{name}");
        let (records, owner_records) = tokio::try_join!(
            clients.dns.records_at(&r.zone_id, &name),
            clients.dns.records_at(&r.zone_id, &owner)
        )?;
        Ok(ObservedName {
            zone_id: r.zone_id.clone(),
            name,
            records,
            owner_records,
        })
    }))
    .await
}

async fn observe_services(clients: &Clients, spec: &Spec) -> Result<Vec<ObservedService>> {
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in &spec.services {
        by_cluster
            .entry(&s.cluster)
            .or_default()
            .push(s.name.clone());
    }
    let described = try_join_all(
        by_cluster
            .iter()
            .map(|(cluster, names)| clients.containers.describe_services(cluster, names)),
    )
    .await?;
    try_join_all(described.into_iter().flatten().map(|service| async move {
        let wants_scaling = spec.services.iter().any(|s| {
            s.cluster == service.cluster && s.name == service.name && s.auto_scaling.is_some()
        });
        let owned = is_owned(&service.tags, &spec.environment);
        let (bounds, has_policy) = if owned && wants_scaling {
            tokio::try_join!(
                clients
                    .containers
                    .scaling_bounds(&service.cluster, &service.name),
                clients
                    .containers
                    .has_scaling_policy(&service.cluster, &service.name)
            )?
        } else if owned {
            (
                clients
                    .containers
                    .scaling_bounds(&service.cluster, &service.name)
                    .await?,
                false,
            )
        } else {
            (None, false)
        };
        Ok(ObservedService {
            service,
            bounds,
            has_policy,
        })
    }))
    .await
}
