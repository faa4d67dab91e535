//! The teardown plan: everything the scheduler owns goes, so `terraform destroy` finds nothing
//! of ours in its way. Services first (scaling deregistered, then deleted with their tasks), then
//! the two branches of a stop that keeps nothing (kept Elastic IPs included), and last the
//! ownership TXT records, once no alias of ours is left at their names.

use crate::model::ServiceStatus;
use crate::ownership::{is_owned, owner_record_name};

use super::stop::{load_balancer_branch, nat_branch, records_branch, Keep};
use super::{DnsStep, Plan, ServiceStep, View};

/// Plans a teardown.
pub(super) fn plan(v: &View) -> Plan {
    let mut plan = Plan::default();
    let services = services(v, &mut plan);
    let keep = Keep::default();
    let records = records_branch(v, &mut plan, &services, false);
    load_balancer_branch(v, &mut plan, &records);
    ownership_claims(v, &mut plan, &records);
    nat_branch(v, &mut plan, &keep, &services, true);
    plan
}

/// Each service of ours: its scalable target deregistered (which removes its policy), then the
/// service deleted with its tasks.
fn services(v: &View, plan: &mut Plan) -> Vec<usize> {
    let mut done = Vec::new();
    for spec in &v.spec.services {
        let Some(observed) = v.service(spec) else {
            continue;
        };
        let s = &observed.service;
        if !is_owned(&s.tags, v.env) {
            plan.warnings.push(format!(
                "service {} exists but is not ours (no ownership tags): left alone",
                s.key()
            ));
            continue;
        }
        if s.status != ServiceStatus::Active {
            continue;
        }
        let mut after = Vec::new();
        if observed.bounds.is_some() {
            after.push(plan.service(
                ServiceStep::DeregisterScaling {
                    cluster: s.cluster.clone(),
                    service: s.name.clone(),
                },
                &[],
                "its scalable target is registered",
            ));
        }
        done.push(plan.service(
            ServiceStep::DeleteService {
                cluster: s.cluster.clone(),
                service: s.name.clone(),
            },
            &after,
            format!("the service exists with {} tasks desired", s.desired_count),
        ));
    }
    done
}

/// The ownership TXT records, after the aliases they claim are gone.
fn ownership_claims(v: &View, plan: &mut Plan, after: &[usize]) {
    for r in &v.spec.dns_records {
        let Some(observed) = v.name(&r.zone_id, &r.name) else {
            continue;
        };
        if !v.name_is_ours(observed) {
            continue;
        }
        let claims: Vec<_> = observed
            .owner_records
            .iter()
            .filter(|rs| rs.record_type == "TXT")
            .cloned()
            .collect();
        plan.dns(
            DnsStep::DeleteRecords {
                zone_id: r.zone_id.clone(),
                name: owner_record_name(&observed.name),
                records: claims,
            },
            after,
            "the name is no longer served by the scheduler",
        );
    }
}
