//! Route53: record sets, atomic change batches validated like Route53 (a DELETE must match the
//! record exactly), and changes that take time to be `INSYNC`.

use async_trait::async_trait;
use runtime_scheduler::aws::{Dns, Result};
use runtime_scheduler::model::{AliasTarget, RecordChange, RecordSet};
use runtime_scheduler::spec::normalize_dns_name;

use super::{aws_error, SimClient, SimRecord, World, API_GATEWAY_ZONE_ID, ELB_ZONE_ID};

fn record_view(r: &SimRecord) -> RecordSet {
    RecordSet {
        name: r.name.clone(),
        record_type: r.record_type.clone(),
        alias: r.alias.as_ref().map(|(d, z, e)| AliasTarget {
            dns_name: d.clone(),
            hosted_zone_id: z.clone(),
            evaluate_target_health: *e,
        }),
        ttl: r.ttl,
        values: r.values.clone(),
    }
}

fn quote_txt(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The record set a change writes, as Route53 stores it.
fn stored(c: &RecordChange) -> SimRecord {
    match c {
        RecordChange::UpsertAlias {
            name,
            record_type,
            target,
        } => SimRecord {
            name: normalize_dns_name(name),
            record_type: record_type.as_str().into(),
            // Route53 stores ALB alias targets lower-cased, with the dualstack prefix and a dot
            // (other targets, such as API Gateway's, without the prefix).
            alias: Some((
                format!(
                    "{}{}.",
                    if target.hosted_zone_id == ELB_ZONE_ID {
                        "dualstack."
                    } else {
                        ""
                    },
                    target.dns_name.trim_end_matches('.').to_ascii_lowercase()
                ),
                target.hosted_zone_id.clone(),
                target.evaluate_target_health,
            )),
            ttl: None,
            values: vec![],
        },
        RecordChange::UpsertTxt { name, ttl, values } => SimRecord {
            name: normalize_dns_name(name),
            record_type: "TXT".into(),
            alias: None,
            ttl: Some(*ttl),
            values: values.iter().map(|v| quote_txt(v)).collect(),
        },
        RecordChange::Delete { record } => SimRecord {
            name: normalize_dns_name(&record.name),
            record_type: record.record_type.clone(),
            alias: record.alias.as_ref().map(|a| {
                (
                    a.dns_name.clone(),
                    a.hosted_zone_id.clone(),
                    a.evaluate_target_health,
                )
            }),
            ttl: if record.alias.is_some() {
                None
            } else {
                record.ttl
            },
            values: record.values.clone(),
        },
    }
}

fn same_alias_target(a: &(String, String, bool), b: &(String, String, bool)) -> bool {
    let norm = |s: &str| {
        let s = s.trim_end_matches('.').to_ascii_lowercase();
        s.strip_prefix("dualstack.")
            .map(str::to_string)
            .unwrap_or(s)
    };
    norm(&a.0) == norm(&b.0) && a.1 == b.1 && a.2 == b.2
}

impl World {
    /// Inserts a record (test setup).
    pub fn add_record(&mut self, zone_id: &str, record: SimRecord) {
        self.zones.entry(zone_id.into()).or_default().insert(
            (normalize_dns_name(&record.name), record.record_type.clone()),
            SimRecord {
                name: normalize_dns_name(&record.name),
                ..record
            },
        );
    }

    /// Applies a batch atomically, or refuses all of it like Route53.
    fn apply_batch(&mut self, zone_id: &str, changes: &[RecordChange]) -> Result<()> {
        const OP: &str = "ChangeResourceRecordSets";
        let Some(zone) = self.zones.get(zone_id) else {
            return Err(aws_error(
                OP,
                "NoSuchHostedZone",
                format!("No hosted zone found with ID: {zone_id}"),
            ));
        };
        let mut next = zone.clone();
        let mut problems = Vec::new();
        for c in changes {
            let r = stored(c);
            let key = (r.name.clone(), r.record_type.clone());
            match c {
                RecordChange::Delete { .. } => match next.get(&key) {
                    Some(existing)
                        if existing.ttl == r.ttl
                            && existing.values == r.values
                            && match (&existing.alias, &r.alias) {
                                (Some(a), Some(b)) => same_alias_target(a, b),
                                (None, None) => true,
                                _ => false,
                            } =>
                    {
                        next.remove(&key);
                    }
                    Some(_) => problems.push(format!(
                        "Tried to delete resource record set [name='{}', type='{}'] but the values provided do not match the current values",
                        r.name, r.record_type
                    )),
                    None => problems.push(format!(
                        "Tried to delete resource record set [name='{}', type='{}'] but it was not found",
                        r.name, r.record_type
                    )),
                },
                _ => {
                    if r.record_type != "CNAME" && next.contains_key(&(r.name.clone(), "CNAME".into())) {
                        problems.push(format!(
                            "RRSet of type {} with DNS name {} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists",
                            r.record_type, r.name
                        ));
                        continue;
                    }
                    if let Some((name, z, _)) = &r.alias {
                        let lies_within = (z == ELB_ZONE_ID && name.contains(".elb."))
                            || (z == API_GATEWAY_ZONE_ID && name.contains(".execute-api."));
                        if !lies_within {
                            problems.push(format!(
                                "Tried to create an alias that targets {}, but the alias target name does not lie within the target zone {z}",
                                r.alias.as_ref().map(|a| a.0.clone()).unwrap_or_default()
                            ));
                            continue;
                        }
                    }
                    next.insert(key, r);
                }
            }
        }
        if !problems.is_empty() {
            return Err(aws_error(
                OP,
                "InvalidChangeBatch",
                format!("[{}]", problems.join(", ")),
            ));
        }
        self.zones.insert(zone_id.into(), next);
        Ok(())
    }
}

impl SimClient {
    async fn submit(&self, zone_id: &str, changes: &[RecordChange]) -> Result<String> {
        let summary = changes
            .iter()
            .map(|c| match c {
                RecordChange::UpsertAlias {
                    name,
                    record_type,
                    target,
                } => format!(
                    "UPSERT {name} {} -> {}",
                    record_type.as_str(),
                    target.dns_name
                ),
                RecordChange::UpsertTxt { name, .. } => format!("UPSERT {name} TXT"),
                RecordChange::Delete { record } => {
                    format!("DELETE {} {}", record.name, record.record_type)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        self.call(
            "ChangeResourceRecordSets",
            true,
            format!("zone={zone_id} {summary}"),
            |w, now| {
                w.apply_batch(zone_id, changes)?;
                let id = format!("/change/C{}", w.next_hex(12).to_ascii_uppercase());
                let insync = now + w.cfg.dns_propagation;
                w.changes.insert(id.clone(), insync);
                Ok(id)
            },
        )
        .await
    }
}

#[async_trait]
impl Dns for SimClient {
    async fn records(&self, zone_id: &str, name: &str, names: &[String]) -> Result<Vec<RecordSet>> {
        let base = normalize_dns_name(name);
        let wanted: Vec<String> = std::iter::once(base.clone())
            .chain(names.iter().map(|n| normalize_dns_name(n)))
            .collect();
        // One listing from `name`: the names under it follow it in Route53's order.
        self.call(
            "ListResourceRecordSets",
            false,
            format!("zone={zone_id} start={base}"),
            |w, _| {
                let Some(zone) = w.zones.get(zone_id) else {
                    return Err(aws_error(
                        "ListResourceRecordSets",
                        "NoSuchHostedZone",
                        format!("No hosted zone found with ID: {zone_id}"),
                    ));
                };
                Ok(zone
                    .values()
                    .filter(|r| wanted.contains(&r.name))
                    .map(record_view)
                    .collect())
            },
        )
        .await
    }

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<String> {
        self.submit(zone_id, changes).await
    }

    async fn change_in_sync(&self, change_id: &str) -> Result<bool> {
        self.call("GetChange", false, format!("id={change_id}"), |w, now| {
            w.changes.get(change_id).map(|t| now >= *t).ok_or_else(|| {
                aws_error(
                    "GetChange",
                    "NoSuchChange",
                    format!("change {change_id} not found"),
                )
            })
        })
        .await
    }
}
