//! The front's only effects: read the state document, and invoke the scheduler asynchronously.
//! Its IAM role allows exactly these (and reading the token key at cold start).

use std::sync::Arc;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::aws::ObjectStore;
use crate::state::State;

/// What the front may do.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The state document; `None` when the scheduler has never written one.
    async fn state(&self) -> Result<Option<State>, String>;
    /// Sends this payload to the scheduler without waiting for it to run.
    async fn wake(&self, payload: Vec<u8>) -> Result<(), String>;
}

/// The real one: S3 and Lambda.
pub struct AwsBackend {
    pub store: Arc<dyn ObjectStore>,
    pub state_key: String,
    pub lambda: aws_sdk_lambda::Client,
    pub function: String,
}

#[async_trait::async_trait]
impl Backend for AwsBackend {
    async fn state(&self) -> Result<Option<State>, String> {
        match self.store.get(&self.state_key).await {
            Ok(None) => Ok(None),
            Ok(Some((body, _))) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| format!("the state document is unreadable: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn wake(&self, payload: Vec<u8>) -> Result<(), String> {
        let out = self
            .lambda
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_lambda::error::DisplayErrorContext(e);
                format!("Invoke failed: {e}")
            })?;
        match out.status_code() {
            202 => Ok(()),
            other => Err(format!("Invoke answered {other}, expected 202")),
        }
    }
}

/// The token key, a SecureString parameter Terraform generates.
pub async fn token_key(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Vec<u8>, String> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            let e = aws_sdk_ssm::error::DisplayErrorContext(e);
            format!("GetParameter {name} failed: {e}")
        })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(|v| v.as_bytes().to_vec())
        .ok_or_else(|| format!("parameter {name} has no value"))
}
