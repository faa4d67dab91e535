//! Checks over the simulated world (never over the scheduler's response): has the tier converged
//! to running or stopped, did anything leak or get duplicated, do owned resources carry the
//! ownership tags, does the state document agree with what exists, were the decoys left alone.

use std::collections::BTreeMap;

use runtime_scheduler::model::{NatState, ScalingBounds};
use runtime_scheduler::ownership::{is_owned, owner_record_value, OWNER_RECORD_PREFIX, TAG_NAT};
use runtime_scheduler::spec::{normalize_dns_name, ElasticIpMode, Spec};
use runtime_scheduler::state::{Phase, State};
use tokio::time::Instant;

use super::{Sim, SimTarget, World};

/// What each service should run with once started: desired count and auto-scaling bounds.
pub type ExpectedServices = BTreeMap<String, (u32, Option<ScalingBounds>)>;

/// The counts a start restores when nothing was recorded: the spec's.
pub fn spec_counts(spec: &Spec) -> ExpectedServices {
    spec.services
        .iter()
        .map(|s| {
            (
                s.key(),
                (
                    s.desired_count,
                    s.auto_scaling.as_ref().map(|a| ScalingBounds {
                        min: a.min_capacity,
                        max: a.max_capacity,
                    }),
                ),
            )
        })
        .collect()
}

impl World {
    fn owned_live_nats(&self, env: &str, name: &str, now: Instant) -> Vec<&super::SimNat> {
        self.nats
            .values()
            .filter(|n| {
                is_owned(&n.tags, env)
                    && n.tags.get(TAG_NAT).map(String::as_str) == Some(name)
                    && self.nat_state(n, now) != NatState::Deleted
            })
            .collect()
    }

    fn owned_addresses(&self, env: &str, name: &str) -> Vec<&super::SimAddress> {
        self.addresses
            .values()
            .filter(|a| {
                is_owned(&a.tags, env) && a.tags.get(TAG_NAT).map(String::as_str) == Some(name)
            })
            .collect()
    }

    /// Problems that must never exist, whatever the phase: duplicates, untagged creations,
    /// dangling listeners.
    pub fn invariant_violations(&self, env: &str) -> Vec<String> {
        let now = Instant::now();
        let mut v = Vec::new();
        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for n in self
            .nats
            .values()
            .filter(|n| is_owned(&n.tags, env) && self.nat_state(n, now).is_live())
        {
            *by_name
                .entry(n.tags.get(TAG_NAT).map(String::as_str).unwrap_or("?"))
                .or_default() += 1;
        }
        for (name, count) in by_name.iter().filter(|(_, c)| **c > 1) {
            v.push(format!(
                "duplicated NAT gateway: {count} live gateways of ours for '{name}'"
            ));
        }
        let mut eips: BTreeMap<&str, usize> = BTreeMap::new();
        for a in self.addresses.values().filter(|a| is_owned(&a.tags, env)) {
            *eips
                .entry(a.tags.get(TAG_NAT).map(String::as_str).unwrap_or("?"))
                .or_default() += 1;
        }
        for (name, count) in eips.iter().filter(|(_, c)| **c > 1) {
            v.push(format!(
                "duplicated Elastic IP: {count} addresses of ours for '{name}'"
            ));
        }
        let mut lbs: BTreeMap<&str, usize> = BTreeMap::new();
        for lb in self.load_balancers.values() {
            *lbs.entry(lb.name.as_str()).or_default() += 1;
        }
        for (name, count) in lbs.iter().filter(|(_, c)| **c > 1) {
            v.push(format!("duplicated ALB name {name} ({count})"));
        }
        for l in self.listeners.values() {
            if !self.load_balancers.contains_key(&l.load_balancer_arn) {
                v.push(format!("listener {} outlived its ALB", l.arn));
            }
            if self
                .listeners
                .values()
                .filter(|o| o.load_balancer_arn == l.load_balancer_arn && o.port == l.port)
                .count()
                > 1
            {
                v.push(format!("duplicated listener on port {}", l.port));
            }
        }
        for n in self
            .nats
            .values()
            .filter(|n| n.created_by.is_some() && !is_owned(&n.tags, env))
        {
            v.push(format!(
                "NAT gateway {} was created without the ownership tags",
                n.id
            ));
        }
        for a in self
            .addresses
            .values()
            .filter(|a| a.created_by.is_some() && !is_owned(&a.tags, env))
        {
            v.push(format!(
                "Elastic IP {} was allocated without the ownership tags",
                a.allocation_id
            ));
        }
        for lb in self
            .load_balancers
            .values()
            .filter(|l| l.created_by.is_some() && !is_owned(&l.tags, env))
        {
            v.push(format!(
                "ALB {} was created without the ownership tags",
                lb.name
            ));
        }
        for s in self
            .services
            .values()
            .filter(|s| s.created_by.is_some() && !is_owned(&s.tags, env))
        {
            v.push(format!(
                "service {}/{} was created without the ownership tags",
                s.cluster, s.name
            ));
        }
        v
    }

    /// Problems with the tier being fully up as the spec says.
    pub fn running_violations(&self, spec: &Spec, expected: &ExpectedServices) -> Vec<String> {
        let now = Instant::now();
        let env = spec.environment.as_str();
        let mut v = self.invariant_violations(env);
        for nat in &spec.nat_gateways {
            let live = self.owned_live_nats(env, &nat.name, now);
            match live.as_slice() {
                [gw] => {
                    if self.nat_state(gw, now) != NatState::Available {
                        v.push(format!(
                            "NAT '{}' is {:?}, not available",
                            nat.name,
                            self.nat_state(gw, now)
                        ));
                    }
                    if gw.subnet_id != nat.subnet_id {
                        v.push(format!(
                            "NAT '{}' is in {}, not {}",
                            nat.name, gw.subnet_id, nat.subnet_id
                        ));
                    }
                    if nat.elastic_ip.mode == ElasticIpMode::External
                        && Some(&gw.allocation_id) != nat.elastic_ip.allocation_id.as_ref()
                    {
                        v.push(format!(
                            "NAT '{}' does not use the external address",
                            nat.name
                        ));
                    }
                    for rt in &nat.route_table_ids {
                        match self.route_tables.get(rt).and_then(|r| r.as_ref()) {
                            Some(r) if r.target == SimTarget::Nat(gw.id.clone()) => {}
                            other => v.push(format!(
                                "route table {rt}: default route is {:?}, not via {}",
                                other.map(|r| &r.target),
                                gw.id
                            )),
                        }
                    }
                }
                other => v.push(format!(
                    "NAT '{}': {} live gateways of ours, expected 1",
                    nat.name,
                    other.len()
                )),
            }
            let eips = self.owned_addresses(env, &nat.name).len();
            let want = if nat.elastic_ip.mode == ElasticIpMode::External {
                0
            } else {
                1
            };
            if eips != want {
                v.push(format!(
                    "NAT '{}': {eips} Elastic IPs of ours, expected {want}",
                    nat.name
                ));
            }
        }
        let names: Vec<&str> = spec.nat_gateways.iter().map(|n| n.name.as_str()).collect();
        for n in self
            .nats
            .values()
            .filter(|n| is_owned(&n.tags, env) && self.nat_state(n, now).is_live())
        {
            if !n
                .tags
                .get(TAG_NAT)
                .is_some_and(|t| names.contains(&t.as_str()))
            {
                v.push(format!("leaked NAT gateway {} (not in the spec)", n.id));
            }
        }
        if let Some(lb_spec) = &spec.load_balancer {
            let owned: Vec<_> = self
                .load_balancers
                .values()
                .filter(|l| l.name == lb_spec.name && is_owned(&l.tags, env))
                .collect();
            match owned.as_slice() {
                [lb] => {
                    if !self.lb_active(lb, now) {
                        v.push("the ALB is not active".into());
                    }
                    for (k, want) in lb_spec.attributes.wanted() {
                        if lb.attributes.get(&k) != Some(&want) {
                            v.push(format!(
                                "ALB attribute {k} is {:?}, expected {want}",
                                lb.attributes.get(&k)
                            ));
                        }
                    }
                    let mut ports: Vec<u16> = self
                        .listeners
                        .values()
                        .filter(|l| l.load_balancer_arn == lb.arn)
                        .map(|l| l.port)
                        .collect();
                    ports.sort_unstable();
                    let mut want: Vec<u16> = lb_spec.listeners.iter().map(|l| l.port).collect();
                    want.sort_unstable();
                    if ports != want {
                        v.push(format!("listeners on ports {ports:?}, expected {want:?}"));
                    }
                    for ls in &lb_spec.listeners {
                        if let Some(l) = self
                            .listeners
                            .values()
                            .find(|l| l.load_balancer_arn == lb.arn && l.port == ls.port)
                        {
                            let have: Vec<u32> = l.rules.keys().copied().collect();
                            let mut want: Vec<u32> = ls.rules.iter().map(|r| r.priority).collect();
                            want.sort_unstable();
                            if have != want {
                                v.push(format!(
                                    "listener {}: rules {have:?}, expected {want:?}",
                                    ls.port
                                ));
                            }
                        }
                    }
                    if lb.web_acl != lb_spec.web_acl_arn {
                        v.push(format!(
                            "web ACL is {:?}, expected {:?}",
                            lb.web_acl, lb_spec.web_acl_arn
                        ));
                    }
                    for r in &spec.dns_records {
                        let name = normalize_dns_name(&r.name);
                        let zone = self.zones.get(&r.zone_id);
                        for t in &r.types {
                            let rec =
                                zone.and_then(|z| z.get(&(name.clone(), t.as_str().to_string())));
                            let points =
                                rec.and_then(|r| r.alias.as_ref()).is_some_and(|(d, _, _)| {
                                    d.trim_end_matches('.').trim_start_matches("dualstack.")
                                        == lb.dns_name.to_ascii_lowercase()
                                });
                            if !points {
                                v.push(format!(
                                    "{name} {} does not alias the ALB: {rec:?}",
                                    t.as_str()
                                ));
                            }
                        }
                        let owner = zone.and_then(|z| {
                            z.get(&(format!("{OWNER_RECORD_PREFIX}{name}"), "TXT".to_string()))
                        });
                        if !owner.is_some_and(|o| o.values.contains(&owner_record_value(env))) {
                            v.push(format!("{name}: the ownership TXT record is missing"));
                        }
                    }
                }
                other => v.push(format!(
                    "{} ALBs of ours named {}, expected 1",
                    other.len(),
                    lb_spec.name
                )),
            }
        }
        for s in &spec.services {
            let Some(svc) = self.services.get(&(s.cluster.clone(), s.name.clone())) else {
                v.push(format!("service {} does not exist", s.key()));
                continue;
            };
            let (want, bounds) = expected
                .get(&s.key())
                .copied()
                .unwrap_or((s.desired_count, None));
            if !svc.active || !is_owned(&svc.tags, env) {
                v.push(format!(
                    "service {} is not an active service of ours",
                    s.key()
                ));
            }
            if svc.desired != want {
                v.push(format!(
                    "service {} desired {} expected {want}",
                    s.key(),
                    svc.desired
                ));
            }
            let running = self.running_count(svc, now);
            if running != svc.desired {
                v.push(format!(
                    "service {} runs {running} of {}",
                    s.key(),
                    svc.desired
                ));
            }
            if s.auto_scaling.is_some() {
                let have = self
                    .scalable_targets
                    .get(&(s.cluster.clone(), s.name.clone()))
                    .copied();
                if have != bounds {
                    v.push(format!(
                        "service {} bounds {have:?} expected {bounds:?}",
                        s.key()
                    ));
                }
                if !self
                    .policies
                    .contains_key(&(s.cluster.clone(), s.name.clone()))
                {
                    v.push(format!("service {} has no scaling policy", s.key()));
                }
            }
        }
        v
    }

    /// Problems with the tier being fully asleep.
    pub fn stopped_violations(&self, spec: &Spec) -> Vec<String> {
        let now = Instant::now();
        let env = spec.environment.as_str();
        let mut v = self.invariant_violations(env);
        for n in self.nats.values().filter(|n| is_owned(&n.tags, env)) {
            let st = self.nat_state(n, now);
            if st != NatState::Deleted {
                v.push(format!("NAT gateway {} of ours is {st:?}", n.id));
            }
        }
        for nat in &spec.nat_gateways {
            for rt in &nat.route_table_ids {
                if let Some(Some(r)) = self.route_tables.get(rt) {
                    if let SimTarget::Nat(id) = &r.target {
                        if self.nats.get(id).is_some_and(|n| is_owned(&n.tags, env)) {
                            v.push(format!("route table {rt} still routes via our NAT {id}"));
                        }
                    }
                }
            }
            let eips = self.owned_addresses(env, &nat.name);
            match nat.elastic_ip.mode {
                ElasticIpMode::Release if !eips.is_empty() => v.push(format!(
                    "leaked Elastic IP for '{}' (mode release): {}",
                    nat.name, eips[0].allocation_id
                )),
                ElasticIpMode::Keep if eips.len() > 1 => v.push(format!(
                    "'{}' (mode keep) has {} Elastic IPs, expected at most 1",
                    nat.name,
                    eips.len()
                )),
                ElasticIpMode::External => {
                    if let Some(a) = &nat.elastic_ip.allocation_id {
                        if !self.addresses.contains_key(a) {
                            v.push(format!("the external address {a} was released"));
                        }
                    }
                }
                _ => {}
            }
        }
        for lb in self
            .load_balancers
            .values()
            .filter(|l| is_owned(&l.tags, env))
        {
            v.push(format!("ALB {} of ours still exists", lb.name));
        }
        for r in &spec.dns_records {
            let name = normalize_dns_name(&r.name);
            for t in &r.types {
                if let Some(rec) = self
                    .zones
                    .get(&r.zone_id)
                    .and_then(|z| z.get(&(name.clone(), t.as_str().to_string())))
                {
                    if rec.alias.is_some()
                        && self.zones.get(&r.zone_id).is_some_and(|z| {
                            z.get(&(format!("{OWNER_RECORD_PREFIX}{name}"), "TXT".to_string()))
                                .is_some_and(|o| o.values.contains(&owner_record_value(env)))
                        })
                    {
                        v.push(format!("alias record {name} {} still exists", t.as_str()));
                    }
                }
            }
        }
        for s in &spec.services {
            let Some(svc) = self.services.get(&(s.cluster.clone(), s.name.clone())) else {
                continue;
            };
            if !is_owned(&svc.tags, env) {
                continue;
            }
            if svc.desired != 0 || self.running_count(svc, now) != 0 {
                v.push(format!(
                    "service {} desired {} running {}",
                    s.key(),
                    svc.desired,
                    self.running_count(svc, now)
                ));
            }
            if s.auto_scaling.is_some() {
                if let Some(b) = self
                    .scalable_targets
                    .get(&(s.cluster.clone(), s.name.clone()))
                {
                    if b.max != 0 {
                        v.push(format!(
                            "service {} bounds {}..{} while stopped",
                            s.key(),
                            b.min,
                            b.max
                        ));
                    }
                }
            }
        }
        v
    }

    /// The state document, parsed.
    pub fn state(&self, env: &str) -> Option<State> {
        self.objects
            .get(&format!("{env}/state.json"))
            .map(|(b, _)| serde_json::from_slice(b).expect("state parses"))
    }

    /// Problems with the state document: phase, lease, and ids that disagree with the world.
    pub fn state_violations(&self, env: &str, phase: Phase) -> Vec<String> {
        let now = Instant::now();
        let Some(state) = self.state(env) else {
            return vec!["no state document".into()];
        };
        let mut v = Vec::new();
        if state.phase != phase {
            v.push(format!(
                "state phase is {:?}, expected {phase:?}",
                state.phase
            ));
        }
        if let Some(l) = &state.lease {
            v.push(format!(
                "a lease is left in state: {} until {}",
                l.owner, l.expires_at
            ));
        }
        let live: BTreeMap<String, String> = self
            .nats
            .values()
            .filter(|n| is_owned(&n.tags, env) && self.nat_state(n, now).is_live())
            .filter_map(|n| Some((n.tags.get(TAG_NAT)?.clone(), n.id.clone())))
            .collect();
        let recorded: BTreeMap<String, String> = state
            .resources
            .nat_gateways
            .iter()
            .filter_map(|(k, r)| Some((k.clone(), r.nat_gateway_id.clone()?)))
            .collect();
        if live != recorded {
            v.push(format!(
                "state records NAT gateways {recorded:?}, the world has {live:?}"
            ));
        }
        for (name, r) in &state.resources.nat_gateways {
            if let Some(a) = &r.allocation_id {
                if !self.addresses.contains_key(a) {
                    v.push(format!(
                        "state records Elastic IP {a} for '{name}', which does not exist"
                    ));
                }
            }
        }
        let lb = self
            .load_balancers
            .values()
            .find(|l| is_owned(&l.tags, env))
            .map(|l| l.arn.clone());
        if state
            .resources
            .load_balancer
            .as_ref()
            .map(|l| l.arn.clone())
            != lb
        {
            v.push(format!(
                "state records ALB {:?}, the world has {lb:?}",
                state.resources.load_balancer.as_ref().map(|l| &l.arn)
            ));
        }
        let listeners: BTreeMap<u16, String> = self
            .listeners
            .values()
            .filter(|l| Some(&l.load_balancer_arn) == lb.as_ref())
            .map(|l| (l.port, l.arn.clone()))
            .collect();
        if state.resources.listeners != listeners {
            v.push(format!(
                "state records listeners {:?}, the world has {listeners:?}",
                state.resources.listeners
            ));
        }
        v
    }
}

/// Something that is not ours and must survive every scenario untouched.
#[derive(Debug, Clone)]
pub struct Decoy {
    pub what: String,
    /// What [`Sim::fingerprint`] looks it up by.
    pub id: String,
    /// A string that any request touching it would carry in its arguments.
    pub needle: String,
    /// Its observable state when set up.
    pub fingerprint: String,
}

impl Sim {
    /// The current fingerprint of a decoy id, or `gone`.
    pub fn fingerprint(&self, id: &str) -> String {
        let w = self.world();
        let now = Instant::now();
        if let Some(n) = w.nats.get(id) {
            return format!(
                "nat {:?} {:?} {}",
                w.nat_state(n, now),
                n.tags,
                n.allocation_id
            );
        }
        if let Some(a) = w.addresses.get(id) {
            return format!(
                "eip {:?} {:?}",
                a.tags,
                w.holder_of(id, now).map(|n| n.id.clone())
            );
        }
        if let Some(lb) = w
            .load_balancers
            .values()
            .find(|l| l.arn == id || l.name == id)
        {
            let ls: Vec<_> = w
                .listeners
                .values()
                .filter(|l| l.load_balancer_arn == lb.arn)
                .map(|l| (l.port, l.rules.len()))
                .collect();
            return format!(
                "alb {:?} {:?} {ls:?} {:?}",
                lb.tags, lb.attributes, lb.web_acl
            );
        }
        if let Some(r) = w.route_tables.get(id) {
            return format!("route {:?}", r.as_ref().map(|r| &r.target));
        }
        for (cluster, name) in w.services.keys() {
            if format!("{cluster}/{name}") == id {
                let s = &w.services[&(cluster.clone(), name.clone())];
                return format!(
                    "service {} {} {:?} {:?}",
                    s.active,
                    s.desired,
                    s.tags,
                    w.scalable_targets.get(&(cluster.clone(), name.clone()))
                );
            }
        }
        for (zone, records) in &w.zones {
            for ((name, t), r) in records {
                if format!("{zone}:{name}:{t}") == id {
                    return format!("record {r:?}");
                }
            }
        }
        "gone".into()
    }

    /// Decoys changed since set up, or named by a mutating request.
    pub fn decoy_violations(&self, decoys: &[Decoy]) -> Vec<String> {
        let mut v = Vec::new();
        let mutating = self.mutating_requests(None);
        for d in decoys {
            let now = self.fingerprint(&d.id);
            if now != d.fingerprint {
                v.push(format!(
                    "decoy {} changed: {} -> {now}",
                    d.what, d.fingerprint
                ));
            }
            if let Some(c) = mutating.iter().find(|c| c.args.contains(&d.needle)) {
                v.push(format!(
                    "decoy {} was named by {} {}",
                    d.what, c.operation, c.args
                ));
            }
        }
        v
    }
}
