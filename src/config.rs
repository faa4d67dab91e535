//! Configuration, only from the environment, read once at cold start.

use std::time::Duration;

/// Everything the function needs besides the AWS SDK's own `AWS_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `STATE_BUCKET`: holds the spec, the state document and the history.
    pub state_bucket: String,
    /// `ENVIRONMENT`: the environment this function serves (e.g. `dev`).
    pub environment: String,
    /// `SPEC_KEY`: the spec's key; `<environment>/spec.json` by default.
    pub spec_key: String,
    /// `HISTORY_PREFIX`: where history records go, relative to `<environment>/`; `history/` by
    /// default. terraform-runtime sets it from the same variable as the bucket's expiry rule.
    pub history_prefix: String,
    /// `AWS_ENDPOINT_URL`, when set: a local emulator, which needs path-style S3.
    pub endpoint_url: Option<String>,
    /// `LEASE_SECONDS`: how long a lease lasts when the invocation has no deadline (local runs);
    /// inside Lambda the lease ends with the function's own deadline. Default 900.
    pub lease: Duration,
    /// `DEFAULT_HOLD`: how long a manual start outside the window keeps the tier up when the
    /// payload gives no `hold_for`/`hold_until`. Default `2h`.
    pub default_hold: chrono::Duration,
}

/// Every configuration problem, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let state_bucket = get("STATE_BUCKET").unwrap_or_default();
        if state_bucket.is_empty() {
            problems
                .push("STATE_BUCKET is not set (the S3 bucket holding spec and state)".to_string());
        } else if !is_bucket_name(&state_bucket) {
            problems.push(format!(
                "STATE_BUCKET '{state_bucket}' is not a valid S3 bucket name (3 to 63 lower-case letters, digits, '.', '-')"
            ));
        }
        let environment = get("ENVIRONMENT").unwrap_or_default();
        if environment.is_empty() {
            problems.push("ENVIRONMENT is not set (e.g. dev, staging)".to_string());
        } else if !is_environment_name(&environment) {
            problems.push(format!(
                "ENVIRONMENT '{environment}' must be 1 to 32 lower-case letters, digits or '-' (it prefixes S3 keys and tags)"
            ));
        }
        // The default key is derived from ENVIRONMENT, so it is checked only when given.
        let spec_key = match get("SPEC_KEY") {
            Some(key) => {
                if key.starts_with('/') || key.ends_with('/') {
                    problems.push(format!(
                        "SPEC_KEY '{key}' must be an object key without leading or trailing '/'"
                    ));
                }
                key
            }
            None => format!("{environment}/spec.json"),
        };
        let history_prefix = get("HISTORY_PREFIX").unwrap_or_else(|| "history/".to_string());
        if !is_relative_prefix(&history_prefix) {
            problems.push(format!(
                "HISTORY_PREFIX '{history_prefix}' must be a relative key prefix ending in '/', such as history/"
            ));
        }
        if get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .is_none()
        {
            problems.push(
                "AWS_REGION is not set (Lambda sets it; set it yourself when running locally)"
                    .to_string(),
            );
        }
        let endpoint_url = get("AWS_ENDPOINT_URL");
        if let Some(url) = &endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "AWS_ENDPOINT_URL '{url}' must start with http:// or https://"
                ));
            }
        }
        let lease = match get("LEASE_SECONDS") {
            None => Duration::from_secs(900),
            Some(v) => match v.parse::<u64>() {
                Ok(s) if (10..=3600).contains(&s) => Duration::from_secs(s),
                _ => {
                    problems.push(format!(
                        "LEASE_SECONDS '{v}' must be a whole number of seconds from 10 to 3600"
                    ));
                    Duration::from_secs(900)
                }
            },
        };

        let default_hold = match get("DEFAULT_HOLD") {
            None => chrono::Duration::hours(2),
            Some(v) => crate::time::parse_span(&v, crate::time::MAX_HOLD).unwrap_or_else(|e| {
                problems.push(format!("DEFAULT_HOLD: {e}"));
                chrono::Duration::hours(2)
            }),
        };

        if problems.is_empty() {
            Ok(Config {
                state_bucket,
                environment,
                spec_key,
                history_prefix,
                endpoint_url,
                lease,
                default_hold,
            })
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Key of the state document.
    pub fn state_key(&self) -> String {
        format!("{}/state.json", self.environment)
    }

    /// Prefix of the history records.
    pub fn history_key_prefix(&self) -> String {
        format!("{}/{}", self.environment, self.history_prefix)
    }
}

fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// 1 to 32 lower-case letters, digits or '-': it prefixes S3 keys and goes into tags.
pub fn is_environment_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_relative_prefix(s: &str) -> bool {
    s.ends_with('/')
        && !s.starts_with('/')
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn minimal_configuration_defaults_the_spec_key_and_lease() {
        let c = config(&[
            ("STATE_BUCKET", "acme-scheduler"),
            ("ENVIRONMENT", "dev"),
            ("AWS_REGION", "us-east-1"),
        ])
        .unwrap();
        assert_eq!(c.spec_key, "dev/spec.json");
        assert_eq!(c.state_key(), "dev/state.json");
        assert_eq!(c.lease, Duration::from_secs(900));
        assert_eq!(c.endpoint_url, None);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = config(&[
            ("STATE_BUCKET", "Bad_Bucket"),
            ("ENVIRONMENT", "Dev!"),
            ("AWS_ENDPOINT_URL", "localhost:5000"),
            ("LEASE_SECONDS", "2"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 5, "{text}");
        for needle in [
            "STATE_BUCKET",
            "ENVIRONMENT",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "LEASE_SECONDS",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }

    #[test]
    fn missing_variables_are_named() {
        let err = config(&[]).unwrap_err();
        assert!(err
            .0
            .iter()
            .any(|p| p.starts_with("STATE_BUCKET is not set")));
        assert!(err
            .0
            .iter()
            .any(|p| p.starts_with("ENVIRONMENT is not set")));
        assert!(err.0.iter().any(|p| p.starts_with("AWS_REGION is not set")));
        assert!(
            !err.to_string().contains("SPEC_KEY"),
            "nobody set SPEC_KEY, so it must not be blamed: {err}"
        );
    }

    #[test]
    fn history_prefix_is_read_and_checked() {
        let base = [
            ("STATE_BUCKET", "acme-scheduler"),
            ("ENVIRONMENT", "dev"),
            ("AWS_REGION", "us-east-1"),
        ];
        let c = config(&[base[0], base[1], base[2], ("HISTORY_PREFIX", "audit/")]).unwrap();
        assert_eq!(c.history_key_prefix(), "dev/audit/");
        assert_eq!(config(&base).unwrap().history_key_prefix(), "dev/history/");
        let err = config(&[base[0], base[1], base[2], ("HISTORY_PREFIX", "/abs")]).unwrap_err();
        assert!(err.to_string().contains("HISTORY_PREFIX"), "{err}");
    }
}
