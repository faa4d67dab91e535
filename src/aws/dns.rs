//! Route53 adapter: the record sets at one name (and the names under it that it is asked for),
//! batched changes, and their sync status.

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};

use super::{AwsError, Dns, Result};
use crate::model::{self, RecordChange, RecordSet};
use crate::spec::normalize_dns_name;

/// [`Dns`] over the Route53 API.
#[derive(Debug, Clone)]
pub struct Route53Dns {
    route53: aws_sdk_route53::Client,
}

impl Route53Dns {
    /// Wraps a Route53 client.
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Route53Dns { route53: client }
    }
}

#[async_trait]
impl Dns for Route53Dns {
    async fn records(&self, zone_id: &str, name: &str, names: &[String]) -> Result<Vec<RecordSet>> {
        let base = normalize_dns_name(name);
        let wanted: Vec<String> = std::iter::once(base.clone())
            .chain(names.iter().map(|n| normalize_dns_name(n)))
            .collect();
        let mut out = Vec::new();
        let mut start: Option<(String, RrType)> = None;
        // Route53 lists record sets in name order with the labels reversed, so `name` comes
        // first, then the names under it (the ownership TXT record among them): one listing
        // usually covers all of them. Stop at the first name that is neither `name` nor under it.
        loop {
            let mut request = self
                .route53
                .list_resource_record_sets()
                .hosted_zone_id(zone_id);
            request = match &start {
                None => request.start_record_name(&base),
                Some((n, t)) => request.start_record_name(n).start_record_type(t.clone()),
            };
            let output = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListResourceRecordSets", e))?;
            let mut past = false;
            for rrs in output.resource_record_sets() {
                let rrs_name = normalize_dns_name(&unescape_dns_name(rrs.name()));
                if rrs_name != base && !rrs_name.ends_with(&format!(".{base}")) {
                    past = true;
                    break;
                }
                if !wanted.contains(&rrs_name) {
                    continue;
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

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<String> {
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

    async fn change_in_sync(&self, change_id: &str) -> Result<bool> {
        let output = self
            .route53
            .get_change()
            .id(change_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetChange", e))?;
        Ok(output.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync))
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
