//! What makes a resource the scheduler's own, and the other tags and records it reads or writes.
//! Every rule about ownership lives here; the adapters, the planner, the executor and the
//! permissions list use these and nothing else.
//!
//! | Resource | Ours when |
//! |---|---|
//! | NAT gateway, Elastic IP, ALB (so its listeners and rules), ECS service | tagged [`TAG_MANAGED_BY`]=[`MANAGED_BY_VALUE`] and [`TAG_ENVIRONMENT`]=`<env>` at creation |
//! | a private `0.0.0.0/0` route | it points at a NAT gateway of ours |
//! | a Route53 alias record | the TXT record [`owner_record_name`] holds [`owner_record_value`] |

use std::collections::BTreeMap;

/// Resource tags.
pub type Tags = BTreeMap<String, String>;

/// Tag key naming who manages a resource.
pub const TAG_MANAGED_BY: &str = "ManagedBy";
/// Tag value the scheduler puts on everything it creates.
pub const MANAGED_BY_VALUE: &str = "runtime-scheduler";
/// Tag key naming the environment.
pub const TAG_ENVIRONMENT: &str = "Environment";
/// Tag keys the scheduler sets itself; a spec may not override them.
pub const OWNERSHIP_TAG_KEYS: [&str; 2] = [TAG_MANAGED_BY, TAG_ENVIRONMENT];

/// Tag key mapping a NAT gateway or Elastic IP to the spec's NAT name.
pub const TAG_NAT: &str = "runtime-scheduler:nat";
/// Tag key on an Elastic IP saying whether it is kept across cycles (`keep` or `release`).
pub const TAG_EIP_MODE: &str = "runtime-scheduler:eip-mode";

/// Tag on the ECS cluster: `keep-running` or `keep-stopped`.
pub const TAG_OVERRIDE: &str = "runtime-scheduler:override";
/// Tag on the ECS cluster: RFC 3339 instant after which the override is ignored.
pub const TAG_OVERRIDE_UNTIL: &str = "runtime-scheduler:override-until";
/// Tag on an ECS service: `true` keeps it (and what it needs) running through a stop.
pub const TAG_EXCLUDE: &str = "runtime-scheduler:exclude";

/// Prefix of the TXT record that marks an alias record name as ours (like external-dns).
pub const OWNER_RECORD_PREFIX: &str = "_runtime-scheduler.";

/// The tags that make a resource ours: `ManagedBy=runtime-scheduler`, `Environment=<env>`.
pub fn ownership_tags(environment: &str) -> Tags {
    Tags::from([
        (TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (TAG_ENVIRONMENT.to_string(), environment.to_string()),
    ])
}

/// True when `tags` carry the scheduler's ownership tags for `environment`.
pub fn is_owned(tags: &Tags, environment: &str) -> bool {
    tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && tags.get(TAG_ENVIRONMENT).map(String::as_str) == Some(environment)
}

/// The tags for something the scheduler creates: the spec's tags, then the ownership tags (which
/// the spec may not override), then `extra`.
pub fn creation_tags(spec_tags: &Tags, environment: &str, extra: &[(&str, &str)]) -> Tags {
    let mut tags = spec_tags.clone();
    tags.extend(ownership_tags(environment));
    for (k, v) in extra {
        tags.insert((*k).to_string(), (*v).to_string());
    }
    tags
}

/// The name of the TXT record that claims `name` (normalised, with its trailing dot).
pub fn owner_record_name(name: &str) -> String {
    format!("{OWNER_RECORD_PREFIX}{name}")
}

/// Value of the ownership TXT record (quoted, as Route53 stores TXT values).
pub fn owner_record_value(environment: &str) -> String {
    format!("\"heritage=runtime-scheduler,environment={environment}\"")
}

/// True when one of `values` (of a TXT record) claims the name for `environment`.
pub fn claims(values: &[String], environment: &str) -> bool {
    let wanted = owner_record_value(environment);
    values.contains(&wanted)
}

/// The spec NAT name a NAT gateway or Elastic IP of ours carries.
pub fn nat_name(tags: &Tags) -> Option<&str> {
    tags.get(TAG_NAT).map(String::as_str)
}

/// What a service's exclude tag says. A value other than `true`/`false` counts as excluded: a
/// malformed tag never causes the stop it may have been meant to prevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// No tag, or `false`.
    No,
    /// `true`.
    Yes,
    /// Anything else: treated as excluded, and reported.
    Malformed(String),
}

/// Reads a service's [`TAG_EXCLUDE`].
pub fn exclusion(tags: &Tags) -> Exclusion {
    match tags.get(TAG_EXCLUDE).map(|v| v.trim()) {
        None | Some("false") => Exclusion::No,
        Some("true") => Exclusion::Yes,
        Some(other) => Exclusion::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_both_tags_for_this_environment() {
        assert!(is_owned(&ownership_tags("dev"), "dev"));
        assert!(!is_owned(&ownership_tags("dev"), "prod"));
        let mut only_env = ownership_tags("dev");
        only_env.remove(TAG_MANAGED_BY);
        assert!(!is_owned(&only_env, "dev"));
    }

    #[test]
    fn creation_tags_cannot_be_overridden_by_the_spec() {
        let spec = Tags::from([
            (TAG_MANAGED_BY.to_string(), "terraform".to_string()),
            ("Team".to_string(), "web".to_string()),
        ]);
        let tags = creation_tags(&spec, "dev", &[(TAG_NAT, "a")]);
        assert!(is_owned(&tags, "dev"));
        assert_eq!(tags["Team"], "web");
        assert_eq!(tags[TAG_NAT], "a");
    }

    #[test]
    fn a_malformed_exclude_tag_counts_as_excluded() {
        let tag = |v: &str| Tags::from([(TAG_EXCLUDE.to_string(), v.to_string())]);
        assert_eq!(exclusion(&Tags::new()), Exclusion::No);
        assert_eq!(exclusion(&tag(" true ")), Exclusion::Yes);
        assert_eq!(exclusion(&tag("false")), Exclusion::No);
        assert_eq!(exclusion(&tag("yes")), Exclusion::Malformed("yes".into()));
    }
}
