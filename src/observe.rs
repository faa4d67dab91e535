//! Observation: read-only calls that describe what exists now, in the types the planner reads.
//! What is read depends on what the invocation may do ([`Reading`]): a stop never needs the
//! ALB's attributes or rules, a status only confirms the recorded ids, a deploy only reads the
//! services. Independent reads run concurrently; nothing here mutates.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;

use crate::aws::{Clients, Result};
use crate::model::{
    Cluster, ElasticIp, Listener, LoadBalancer, NatGateway, NatState, RecordSet, RouteTable,
    RouteTarget, ScalingBounds, Service,
};
use crate::ownership::{is_owned, owner_record_name};
use crate::spec::{normalize_dns_name, ServiceSpec, Spec};
use crate::state::State;

/// What an invocation needs to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Everything a start may change: with an existing ALB of ours, its listeners, rules,
    /// attributes and web ACL; the services with their scaling.
    ForStart,
    /// Everything a stop (or teardown) removes: NAT gateways, addresses, routes, the ALB and
    /// its records, the services with their bounds. Not the ALB's attributes, rules or web ACL:
    /// deleting the ALB removes them.
    ForStop,
    /// Only the services (deploy).
    Services,
}

/// The ALB as observed, with what hangs off it (as far as the [`Reading`] needed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedLoadBalancer {
    pub load_balancer: Option<LoadBalancer>,
    /// With each listener's rule priorities when read for a start.
    pub listeners: Vec<Listener>,
    /// `None` when not read.
    pub attributes: Option<BTreeMap<String, String>>,
    pub web_acl_arn: Option<String>,
}

/// The record sets at one spec record name, and at its ownership TXT name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedName {
    pub zone_id: String,
    /// Normalised (lower case, trailing dot).
    pub name: String,
    pub records: Vec<RecordSet>,
    pub owner_records: Vec<RecordSet>,
}

/// A service with its scaling configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedService {
    pub service: Service,
    pub bounds: Option<ScalingBounds>,
    pub has_policy: bool,
}

/// Everything observed for one plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Live or deleting NAT gateways in the spec's subnets (owned or not), and the gateways
    /// state remembers wherever they are.
    pub nat_gateways: Vec<NatGateway>,
    /// For each NAT id some default route points at: whether that gateway is ours (by tags,
    /// also for deleted gateways, which stay describable for a while).
    pub route_target_owned: BTreeMap<String, bool>,
    pub addresses: Vec<ElasticIp>,
    pub route_tables: Vec<RouteTable>,
    pub load_balancer: ObservedLoadBalancer,
    pub names: Vec<ObservedName>,
    /// Services named by the spec that exist (any status, owned or not).
    pub services: Vec<ObservedService>,
}

/// The clusters of the spec's services, with their tags (where the override tags live).
pub async fn clusters(clients: &Clients, spec: &Spec) -> Result<Vec<Cluster>> {
    let names: Vec<String> = spec
        .services
        .iter()
        .map(|s| s.cluster.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    clients.containers.describe_clusters(&names).await
}

/// Describes what `reading` needs of everything the spec names, owned or not.
pub async fn observe(
    clients: &Clients,
    spec: &Spec,
    state: &State,
    reading: Reading,
) -> Result<Observed> {
    if reading == Reading::Services {
        return Ok(Observed {
            services: services(clients, spec, reading).await?,
            ..Observed::default()
        });
    }
    let (network, load_balancer, names, services) = tokio::try_join!(
        network(clients, spec, state),
        load_balancer(clients, spec, reading),
        names(clients, spec),
        services(clients, spec, reading)
    )?;
    Ok(Observed {
        nat_gateways: network.nat_gateways,
        route_target_owned: network.route_target_owned,
        addresses: network.addresses,
        route_tables: network.route_tables,
        load_balancer,
        names,
        services,
    })
}

#[derive(Default)]
struct NetworkView {
    nat_gateways: Vec<NatGateway>,
    addresses: Vec<ElasticIp>,
    route_tables: Vec<RouteTable>,
    route_target_owned: BTreeMap<String, bool>,
}

async fn network(clients: &Clients, spec: &Spec, state: &State) -> Result<NetworkView> {
    let remembered: Vec<String> = state
        .resources
        .nat_gateways
        .values()
        .filter_map(|r| r.nat_gateway_id.clone())
        .collect();
    if spec.nat_gateways.is_empty() && remembered.is_empty() {
        return Ok(NetworkView::default());
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
    // Gateways recorded in state but outside today's subnets (the spec moved them), and the NAT
    // ids default routes point at that are not among the live ones: one describe by id says
    // which are ours (deleted gateways stay describable, with tags, for about an hour).
    let route_targets: BTreeSet<String> = route_tables
        .iter()
        .filter_map(|rt| match &rt.default_route {
            Some(crate::model::DefaultRoute {
                target: RouteTarget::NatGateway(id),
                ..
            }) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let unknown: Vec<String> = remembered
        .iter()
        .chain(route_targets.iter())
        .filter(|id| !nats.iter().any(|n| &n.id == *id))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let by_id = net.describe_nat_gateways_by_id(&unknown).await?;
    let mut route_target_owned = BTreeMap::new();
    for id in &route_targets {
        let owner = nats
            .iter()
            .chain(by_id.iter())
            .find(|n| &n.id == id)
            .is_some_and(|n| is_owned(&n.tags, &spec.environment));
        route_target_owned.insert(id.clone(), owner);
    }
    nats.extend(
        by_id
            .into_iter()
            .filter(|n| remembered.contains(&n.id) && n.state != NatState::Deleted),
    );
    Ok(NetworkView {
        nat_gateways: nats,
        addresses,
        route_tables,
        route_target_owned,
    })
}

async fn load_balancer(
    clients: &Clients,
    spec: &Spec,
    reading: Reading,
) -> Result<ObservedLoadBalancer> {
    let Some(lb_spec) = &spec.load_balancer else {
        return Ok(ObservedLoadBalancer::default());
    };
    let lbs = &clients.load_balancing;
    let Some(lb) = lbs.find_load_balancer(&lb_spec.name).await? else {
        return Ok(ObservedLoadBalancer::default());
    };
    if !is_owned(&lb.tags, &spec.environment) || reading != Reading::ForStart {
        // Someone else's: never look further. Ours, for a stop: deleting it is all there is.
        return Ok(ObservedLoadBalancer {
            load_balancer: Some(lb),
            ..Default::default()
        });
    }
    let (mut listeners, attributes, web_acl_arn) = tokio::try_join!(
        lbs.describe_listeners(&lb.arn),
        lbs.attributes(&lb.arn),
        async {
            match &lb_spec.web_acl_arn {
                Some(_) => lbs.web_acl_for(&lb.arn).await,
                // Without a web ACL in the spec there is nothing to associate; one associated
                // by hand is left alone (and goes with the ALB at the next stop).
                None => Ok(None),
            }
        }
    )?;
    let priorities = try_join_all(listeners.iter().map(|l| lbs.rule_priorities(&l.arn))).await?;
    for (listener, priorities) in listeners.iter_mut().zip(priorities) {
        listener.rule_priorities = priorities;
    }
    Ok(ObservedLoadBalancer {
        load_balancer: Some(lb),
        listeners,
        attributes: Some(attributes),
        web_acl_arn,
    })
}

async fn names(clients: &Clients, spec: &Spec) -> Result<Vec<ObservedName>> {
    try_join_all(spec.dns_records.iter().map(|r| async move {
        let name = normalize_dns_name(&r.name);
        let owner = owner_record_name(&name);
        let all = clients
            .dns
            .records(&r.zone_id, &name, std::slice::from_ref(&owner))
            .await?;
        let (owner_records, records) = all.into_iter().partition(|rs| rs.name == owner);
        Ok(ObservedName {
            zone_id: r.zone_id.clone(),
            name,
            records,
            owner_records,
        })
    }))
    .await
}

async fn services(
    clients: &Clients,
    spec: &Spec,
    reading: Reading,
) -> Result<Vec<ObservedService>> {
    let mut by_cluster: BTreeMap<&str, Vec<&ServiceSpec>> = BTreeMap::new();
    for s in &spec.services {
        by_cluster.entry(&s.cluster).or_default().push(s);
    }
    let per_cluster = try_join_all(by_cluster.into_iter().map(|(cluster, specs)| async move {
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let described = clients
            .containers
            .describe_services(cluster, &names)
            .await?;
        let ours: Vec<String> = described
            .iter()
            .filter(|s| is_owned(&s.tags, &spec.environment))
            .map(|s| s.name.clone())
            .collect();
        // Bounds: a stop records them, a start restores them. The policy: only a start, and
        // only for services that want auto scaling.
        let scaled: Vec<String> = ours
            .iter()
            .filter(|n| {
                specs
                    .iter()
                    .any(|s| &s.name == *n && s.auto_scaling.is_some())
            })
            .cloned()
            .collect();
        let (bounds, with_policy) = tokio::try_join!(
            async {
                if reading == Reading::Services {
                    Ok(BTreeMap::new())
                } else {
                    clients.containers.scaling_bounds(cluster, &ours).await
                }
            },
            async {
                if reading == Reading::ForStart {
                    clients
                        .containers
                        .services_with_policy(cluster, &scaled)
                        .await
                } else {
                    Ok(BTreeSet::new())
                }
            }
        )?;
        Ok::<_, crate::aws::AwsError>(
            described
                .into_iter()
                .map(|service| ObservedService {
                    bounds: bounds.get(&service.name).copied(),
                    has_policy: with_policy.contains(&service.name),
                    service,
                })
                .collect::<Vec<_>>(),
        )
    }))
    .await?;
    Ok(per_cluster.into_iter().flatten().collect())
}
