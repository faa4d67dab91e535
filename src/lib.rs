//! runtime-scheduler puts a web application's expensive runtime tier (NAT gateways, the ALB, its
//! alias records and the ECS services) to sleep when nobody needs it and wakes it again.
//!
//! The flow of one invocation is observe, then plan, then act:
//! [`command`] parses the payload into a typed request, [`config`] was read at cold start,
//! [`spec`] is loaded from S3, [`schedule`] decides, [`observe`] describes what exists, [`plan`]
//! builds the steps (pure), [`executor`] runs them through the adapters of [`aws`], and [`state`]
//! records the outcome in S3 under a lease taken with conditional writes. [`handler`] names these
//! stages for the Lambda runtime and the command line alike. [`ownership`] holds every rule about
//! what is the scheduler's own.

pub mod aws;
pub mod command;
pub mod config;
pub mod executor;
pub mod handler;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod ownership;
pub mod plan;
pub mod schedule;
pub mod spec;
pub mod state;
pub mod time;
