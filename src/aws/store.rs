//! S3 adapter: objects read with their entity tag and written with real conditional writes.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use super::{AwsError, ETag, ErrorKind, ObjectStore, Precondition, PutError, Result};

/// [`ObjectStore`] over one S3 bucket. Encryption is the bucket's default.
#[derive(Debug, Clone)]
pub struct S3Store {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// Wraps an S3 client for `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: &str) -> Self {
        S3Store {
            s3: client,
            bucket: bucket.to_string(),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, ETag)>> {
        let output = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                // Without s3:ListBucket S3 answers 403 instead of 404 for a missing key, which is
                // why the policy grants it.
                let status = e.raw_response().map(|r| r.status().as_u16());
                let err = AwsError::from_sdk("GetObject", e);
                // A missing bucket also answers 404: that is an error to report as such, never
                // a missing key.
                return if err.has_code(&["NoSuchBucket"]) {
                    Err(err)
                } else if err.has_code(&["NoSuchKey"]) || status == Some(404) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let etag = output
            .e_tag()
            .ok_or_else(|| AwsError::malformed("GetObject", "ETag"))?
            .to_string();
        let body = output.body.collect().await.map_err(|e| AwsError {
            operation: "GetObject",
            code: None,
            message: format!("reading the body failed: {e}"),
            kind: ErrorKind::Transient,
        })?;
        Ok(Some((body.into_bytes().to_vec(), etag)))
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> Result<ETag, PutError> {
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        request = match precondition {
            None => request,
            Some(Precondition::Absent) => request.if_none_match("*"),
            Some(Precondition::Matches(etag)) => request.if_match(etag),
        };
        match request.send().await {
            Ok(output) => Ok(output
                .e_tag()
                .ok_or_else(|| AwsError::malformed("PutObject", "ETag"))?
                .to_string()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let err = AwsError::from_sdk("PutObject", e);
                // 412: the condition does not hold. 409: another conditional write to the same key
                // is in flight; either way someone else is writing, and the caller must re-read.
                if err.has_code(&["PreconditionFailed", "ConditionalRequestConflict"])
                    || status == Some(412)
                {
                    Err(PutError::PreconditionFailed)
                } else {
                    Err(PutError::Aws(err))
                }
            }
        }
    }

    async fn list(&self, prefix: &str, start_after: &str, limit: usize) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after((!start_after.is_empty()).then(|| start_after.to_string()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListObjectsV2", e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    keys.push(key.to_string());
                    if keys.len() >= limit {
                        return Ok(keys);
                    }
                }
            }
        }
        Ok(keys)
    }
}
