//! S3: objects with content ETags (like S3's MD5 ETags, equal bodies have equal tags) and real
//! conditional writes: `If-None-Match: *` on an existing key and a stale `If-Match` answer 412.
//! Requests are serialised by the world's mutex, so of two racing conditional writes the second
//! one loses. Then the same translations as `src/aws/store.rs`.

use std::hash::{Hash, Hasher};

use async_trait::async_trait;
use runtime_scheduler::aws::{ETag, ObjectStore, Precondition, PutError, Result};

use super::{aws_error, SimClient};

fn etag_of(body: &[u8]) -> String {
    // SipHash with fixed keys: deterministic across runs, like an MD5 of the content.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x5eed, 0xe7a6);
    body.hash(&mut h);
    format!("\"{:016x}{:016x}\"", h.finish(), body.len())
}

#[async_trait]
impl ObjectStore for SimClient {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, ETag)>> {
        let r = self
            .call("GetObject", false, format!("key={key}"), |w, _| {
                w.objects.get(key).cloned().ok_or_else(|| {
                    aws_error(
                        "GetObject",
                        "NoSuchKey",
                        "The specified key does not exist.",
                    )
                })
            })
            .await;
        match r {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.has_code(&["NoSuchKey"]) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> Result<ETag, PutError> {
        let cond = match &precondition {
            None => "unconditional".to_string(),
            Some(Precondition::Absent) => "if-none-match=*".to_string(),
            Some(Precondition::Matches(e)) => format!("if-match={e}"),
        };
        let r = self
            .call("PutObject", true, format!("key={key} {cond}"), |w, _| {
                let current = w.objects.get(key).map(|(_, e)| e.clone());
                match (&precondition, &current) {
                    (Some(Precondition::Absent), Some(_)) => {
                        return Err(aws_error(
                            "PutObject",
                            "PreconditionFailed",
                            "At least one of the pre-conditions you specified did not hold",
                        ))
                    }
                    (Some(Precondition::Matches(_)), None) => {
                        return Err(aws_error(
                            "PutObject",
                            "NoSuchKey",
                            "The specified key does not exist.",
                        ))
                    }
                    (Some(Precondition::Matches(want)), Some(have)) if want != have => {
                        return Err(aws_error(
                            "PutObject",
                            "PreconditionFailed",
                            "At least one of the pre-conditions you specified did not hold",
                        ))
                    }
                    _ => {}
                }
                let etag = etag_of(&body);
                w.objects
                    .insert(key.to_string(), (body.clone(), etag.clone()));
                Ok(etag)
            })
            .await;
        match r {
            Ok(etag) => Ok(etag),
            Err(e) if e.has_code(&["PreconditionFailed", "ConditionalRequestConflict"]) => {
                Err(PutError::PreconditionFailed)
            }
            Err(e) => Err(PutError::Aws(e)),
        }
    }

    async fn list(&self, prefix: &str, start_after: &str, limit: usize) -> Result<Vec<String>> {
        self.call(
            "ListObjectsV2",
            false,
            format!("prefix={prefix} start_after={start_after}"),
            |w, _| {
                Ok(w.objects
                    .keys()
                    .filter(|k| k.starts_with(prefix) && k.as_str() > start_after)
                    .take(limit)
                    .cloned()
                    .collect())
            },
        )
        .await
    }
}
