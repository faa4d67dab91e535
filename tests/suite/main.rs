//! Every integration test in one binary: the AWS SDK-heavy harness (moto, the simulator, the
//! fixtures) is compiled and linked once instead of once per file.
//!
//! - `adapters`, `lifecycle`, `scheduling`: the real SDK clients over the wire against moto;
//! - `reliability`: the simulator suites (writes docs/reliability.md);
//! - `planner`, `schedule`, `spec`, `events`: pure tables;
//! - `bench`: ignored by `make test`, run by `make bench`.

mod sim;
mod support;

mod adapters;
mod bench;
mod events;
mod lifecycle;
mod planner;
mod reliability;
mod schedule;
mod scheduling;
mod spec;
