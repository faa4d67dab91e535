//! Route53 adapter: the record sets at one name, and batched changes waited on until in sync.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};

use super::{AwsError, Dns, ErrorKind, Result};
use crate::model::{self, RecordChange, RecordSet};
use crate::spec::normalize_dns_name;

/// How long [`Dns::change_records`] waits for `INSYNC` unless told otherwise. Route53 usually
/// propagates within a minute.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(180);

/// [`Dns`] over the Route53 API.
#[derive(Debug, Clone)]
pub struct Route53Dns {
    route53: aws_sdk_route53::Client,
    max_wait: Duration,
}

impl Route53Dns {
    /// Wraps a Route53 client.
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Route53Dns {
            route53: client,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// Bounds the wait for `INSYNC` after a change.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    async fn submit(&self, zone_id: &str, changes: &[RecordChange]) -> Result<String> {
        let batch = ChangeBatch::builder()
            .set_changes(Some(
                changes.iter().map(change).collect::<Result<Vec<_>>>()?,
            ))
            .build()
            .map_err(|e| AwsError::invalid_request("ChangeResourceRecordSets", e))?;
        let output = self
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ChangeResourceRecordSets", e))?;
        Ok(output
            .change_info()
            .ok_or_else(|| AwsError::malformed("ChangeResourceRecordSets", "ChangeInfo"))?
            .id()
            .to_string())
    }

    async fn wait_in_sync(&self, change_id: &str) -> Result<()> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_secs(2);
        loop {
            let output = self
                .route53
                .get_change()
                .id(change_id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetChange", e))?;
            let status = output.change_info().map(|c| c.status());
            if status == Some(&ChangeStatus::Insync) {
                return Ok(());
            }
            if started.elapsed() + delay > self.max_wait {
                return Err(AwsError {
                    operation: "GetChange",
                    code: None,
                    message: format!(
                        "change {change_id} is still {} after {}s",
                        status.map(|s| s.as_str()).unwrap_or("unknown"),
                        started.elapsed().as_secs()
                    ),
                    kind: ErrorKind::Transient,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

#[async_trait]
impl Dns for Route53Dns {
    async fn records_at(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>> {
        let wanted = normalize_dns_name(name);
        let mut out = Vec::new();
        let mut start: Option<(String, RrType)> = None;
        // Record sets are listed in name order starting at `wanted`; stop at the first other name.
        loop {
            let mut request = self
                .route53
                .list_resource_record_sets()
                .hosted_zone_id(zone_id);
            request = match &start {
                None => request.start_record_name(&wanted),
                Some((n, t)) => request.start_record_name(n).start_record_type(t.clone()),
            };
            let output = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListResourceRecordSets", e))?;
            let mut past = false;
            for rrs in output.resource_record_sets() {
                let rrs_name = normalize_dns_name(&unescape_dns_name(rrs.name()));
                if rrs_name != wanted {
                    past = true;
                    break;
                }
                out.push(RecordSet {
                    name: rrs_name,
                    record_type: rrs.r#type().as_str().to_string(),
                    alias: rrs.alias_target().map(|a| model::AliasTarget {
                        dns_name: a.dns_name().to_string(),
                        hosted_zone_id: a.hosted_zone_id().to_string(),
                        evaluate_target_health: a.evaluate_target_health(),
                    }),
                    ttl: rrs.ttl(),
                    values: rrs
                        .resource_records()
                        .iter()
                        .map(|r| r.value().to_string())
                        .collect(),
                });
            }
            match (
                past,
                output.is_truncated(),
                output.next_record_name(),
                output.next_record_type(),
            ) {
                (false, true, Some(n), Some(t)) => start = Some((n.to_string(), t.clone())),
                _ => return Ok(out),
            }
        }
    }

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let change_id = match self.submit(zone_id, changes).await {
            Ok(id) => id,
            // Route53 rejects the whole batch when a record to delete is already gone. Deleting
            // something gone is already done: look again, drop those deletes, submit the rest once.
            Err(err) if err.has_code(&["InvalidChangeBatch"]) => {
                let mut remaining = Vec::with_capacity(changes.len());
                for c in changes {
                    if let RecordChange::Delete { record } = c {
                        let present = self.records_at(zone_id, &record.name).await?;
                        // Only a record gone entirely is dropped; one whose values changed is kept
                        // so that the batch fails again and the caller sees it.
                        if !present.iter().any(|r| r.record_type == record.record_type) {
                            continue;
                        }
                    }
                    remaining.push(c.clone());
                }
                if remaining.len() == changes.len() {
                    return Err(err);
                }
                if remaining.is_empty() {
                    return Ok(());
                }
                self.submit(zone_id, &remaining).await?
            }
            Err(err) => return Err(err),
        };
        self.wait_in_sync(&change_id).await
    }
}

fn change(c: &RecordChange) -> Result<Change> {
    const OP: &str = "ChangeResourceRecordSets";
    let (action, set) = match c {
        RecordChange::UpsertAlias {
            name,
            record_type,
            target,
        } => (
            ChangeAction::Upsert,
            ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::from(record_type.as_str()))
                .alias_target(alias_target(target)?)
                .build(),
        ),
        RecordChange::UpsertTxt { name, ttl, values } => (
            ChangeAction::Upsert,
            ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::Txt)
                .ttl(*ttl)
                .set_resource_records(Some(
                    values
                        .iter()
                        .map(|v| resource_record(&quote_txt(v)))
                        .collect::<Result<Vec<_>>>()?,
                ))
                .build(),
        ),
        RecordChange::Delete { record } => {
            let mut set = ResourceRecordSet::builder()
                .name(&record.name)
                .r#type(RrType::from(record.record_type.as_str()));
            if let Some(alias) = &record.alias {
                set = set.alias_target(alias_target(alias)?);
            } else {
                set = set.set_ttl(record.ttl).set_resource_records(Some(
                    record
                        .values
                        .iter()
                        .map(|v| resource_record(v))
                        .collect::<Result<Vec<_>>>()?,
                ));
            }
            (ChangeAction::Delete, set.build())
        }
    };
    let set = set.map_err(|e| AwsError::invalid_request(OP, e))?;
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| AwsError::invalid_request(OP, e))
}

fn alias_target(t: &model::AliasTarget) -> Result<AliasTarget> {
    AliasTarget::builder()
        .dns_name(&t.dns_name)
        .hosted_zone_id(&t.hosted_zone_id)
        .evaluate_target_health(t.evaluate_target_health)
        .build()
        .map_err(|e| AwsError::invalid_request("ChangeResourceRecordSets", e))
}

fn resource_record(value: &str) -> Result<ResourceRecord> {
    ResourceRecord::builder()
        .value(value)
        .build()
        .map_err(|e| AwsError::invalid_request("ChangeResourceRecordSets", e))
}

/// Route53 wants TXT values in double quotes; values observed from it already are.
fn quote_txt(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Route53 returns some characters as `\DDD` octal escapes (`*` comes back as `\052`).
fn unescape_dns_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_escapes_in_record_names_are_decoded() {
        assert_eq!(unescape_dns_name("\\052.example.com."), "*.example.com.");
        assert_eq!(
            unescape_dns_name("plain.example.com."),
            "plain.example.com."
        );
        assert_eq!(unescape_dns_name("trailing\\05"), "trailing\\05");
    }

    #[test]
    fn txt_values_are_quoted_once() {
        assert_eq!(quote_txt("hello"), "\"hello\"");
        assert_eq!(quote_txt("\"already\""), "\"already\"");
        assert_eq!(quote_txt("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
