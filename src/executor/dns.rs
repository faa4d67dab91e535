//! Route53 steps: alias records (with their ownership claim) and their deletion, each waited on
//! until Route53 reports the change in sync.

use std::time::Duration;

use crate::aws::AwsError;
use crate::model::{AliasTarget, RecordChange, RecordSet};
use crate::ownership::{owner_record_name, owner_record_value};
use crate::plan::DnsStep;

use super::{Done, Executor, Ledger, StepError, StepResult, WaitKind};

/// TTL of the ownership TXT record.
const OWNER_RECORD_TTL: i64 = 300;

pub(super) async fn run(x: &Executor<'_>, step: &DnsStep, ledger: &Ledger) -> StepResult {
    match step {
        DnsStep::UpsertRecords {
            zone_id,
            name,
            types,
            claim,
        } => {
            let lb = ledger
                .load_balancer
                .as_ref()
                .ok_or_else(|| StepError::Missing("no load balancer to point at".into()))?;
            let mut changes = Vec::new();
            if *claim {
                changes.push(RecordChange::UpsertTxt {
                    name: owner_record_name(name),
                    ttl: OWNER_RECORD_TTL,
                    values: vec![owner_record_value(&x.spec.environment)],
                });
            }
            for t in types {
                changes.push(RecordChange::UpsertAlias {
                    name: name.clone(),
                    record_type: *t,
                    target: AliasTarget {
                        dns_name: lb.dns_name.clone(),
                        hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
                        evaluate_target_health: true,
                    },
                });
            }
            let change = x.clients.dns.change_records(zone_id, &changes).await?;
            let mut done = in_sync(x, &change).await?;
            done.detail
                .get_or_insert(format!("alias to {}", lb.dns_name));
            Ok(done)
        }
        DnsStep::DeleteRecords {
            zone_id, records, ..
        } => {
            let Some(change) = delete(x, zone_id, records).await? else {
                return Ok(Done::with("already gone"));
            };
            in_sync(x, &change).await
        }
    }
}

/// Submits the deletes. Route53 rejects a whole batch when one record to delete is already
/// gone; deleting what is gone is already done, so the batch is re-read and submitted once more
/// without those. A record whose values changed stays in the batch, which then fails again.
async fn delete(
    x: &Executor<'_>,
    zone_id: &str,
    records: &[RecordSet],
) -> Result<Option<String>, AwsError> {
    let changes: Vec<RecordChange> = records
        .iter()
        .map(|r| RecordChange::Delete { record: r.clone() })
        .collect();
    match x.clients.dns.change_records(zone_id, &changes).await {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.has_code(&["InvalidChangeBatch"]) => {
            let mut remaining = Vec::with_capacity(records.len());
            for r in records {
                let present = x.clients.dns.records(zone_id, &r.name, &[]).await?;
                if present
                    .iter()
                    .any(|p| p.name == r.name && p.record_type == r.record_type)
                {
                    remaining.push(RecordChange::Delete { record: r.clone() });
                }
            }
            if remaining.len() == changes.len() {
                return Err(err);
            }
            if remaining.is_empty() {
                return Ok(None);
            }
            x.clients
                .dns
                .change_records(zone_id, &remaining)
                .await
                .map(Some)
        }
        Err(err) => Err(err),
    }
}

/// Waits, within `timeouts.dns_in_sync_seconds`, for the change to be `INSYNC`. Running out is a
/// warning: Route53 accepted the change and propagates it regardless.
async fn in_sync(x: &Executor<'_>, change: &str) -> StepResult {
    let bound = Duration::from_secs(x.spec.timeouts.dns_in_sync_seconds);
    x.wait(
        WaitKind::DnsInSync,
        &format!("record change {change} to be in sync"),
        bound,
        false,
        || async { Ok(x.clients.dns.change_in_sync(change).await?.then_some(())) },
    )
    .await?
    .may_time_out()
}
