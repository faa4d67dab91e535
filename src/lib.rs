//! runtime-scheduler puts a web application's expensive runtime tier (NAT gateways, the ALB, its
//! alias records and the ECS services) to sleep outside business hours and wakes it again.
//!
//! The flow of one invocation is observe, then plan, then act:
//! [`event`] parses the payload, [`config`] was read at cold start, [`spec`] is loaded from S3,
//! [`observe`] describes what exists, [`plan`] decides (pure), [`executor`] acts, and [`state`]
//! records the outcome in S3 under a lease taken with conditional writes. [`handler`] ties it
//! together for the Lambda runtime and the one-shot local command alike.

pub mod aws;
pub mod config;
pub mod event;
pub mod executor;
pub mod handler;
pub mod model;
pub mod observe;
pub mod plan;
pub mod schedule;
pub mod spec;
pub mod state;

/// Tag keys the scheduler sets itself; a spec may not override them.
pub const OWNERSHIP_TAG_KEYS: [&str; 2] = [model::TAG_MANAGED_BY, model::TAG_ENVIRONMENT];
