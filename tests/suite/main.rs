//! Every integration test in one binary: the AWS SDK-heavy harness (moto, the simulator, the
//! fixtures) is compiled and linked once instead of once per file.
//!
//! - `adapters`, `lifecycle`, `scheduling`, `wake`, `front`: the real SDK clients over the wire
//!   against moto (`front` drives the wake page with API Gateway event fixtures);
//! - `reliability`: the simulator suites (writes docs/reliability.md);
//! - `week`: wake on request on the simulator, a week under three policies (writes part of
//!   docs/performance.md);
//! - `planner`, `schedule`, `spec`, `events`: pure tables;
//! - `cli`: both binaries as processes (help, configuration errors, exit codes, no colour);
//! - `bench`: ignored by `make test`, run by `make bench`.

mod sim;
mod support;

mod adapters;
mod bench;
mod budgets;
mod cli;
mod docs;
mod events;
mod front;
mod lifecycle;
mod planner;
mod reliability;
mod savings;
mod schedule;
mod scheduling;
mod spec;
mod wake;
mod week;
