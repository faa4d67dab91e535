//! Entry point: the Lambda function, or the command line on the same handler.
//!
//! Inside Lambda (`AWS_LAMBDA_RUNTIME_API` is set) it runs the function; elsewhere every action has
//! its own subcommand, and `invoke` takes any payload. `--help` and `--version` need no
//! configuration. Exit codes are in docs/responses.md.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use runtime_scheduler::aws::{CallCounter, Clients};
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, HandlerError, Invocation, Outcome, Response};
use runtime_scheduler::metrics;
use serde_json::{json, Value};

/// Puts a web application's runtime tier (NAT gateways, ALB, DNS aliases, ECS services) to sleep
/// and wakes it again.
///
/// Configuration comes from the environment: STATE_BUCKET, ENVIRONMENT, AWS_REGION (and
/// optionally SPEC_KEY, HISTORY_PREFIX, DEFAULT_HOLD, LEASE_SECONDS, AWS_ENDPOINT_URL).
#[derive(Parser)]
#[command(version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Phase, resources, services and their revisions, overrides, hold, next transition.
    Status {
        /// Decide as of this instant (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Wake the tier up.
    Start(Edge),
    /// Put the tier to sleep.
    Stop(Edge),
    /// Converge to what the schedule, overrides and holds want now.
    Reconcile {
        #[command(flatten)]
        common: Common,
    },
    /// What a start, stop or reconcile would do (a dry run), optionally at an instant.
    Plan {
        /// start, stop or reconcile.
        #[arg(value_parser = ["start", "stop", "reconcile"])]
        action: String,
        /// Decide as of this instant (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Set or clear the tier-wide override tags.
    Override {
        /// keep-running, keep-stopped or clear.
        #[arg(value_parser = ["keep-running", "keep-stopped", "clear"])]
        mode: String,
        /// Expire at this instant (RFC 3339).
        #[arg(long, conflicts_with = "for")]
        until: Option<String>,
        /// Expire after this long (e.g. 8h).
        #[arg(long = "for")]
        r#for: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Point a service at a task definition revision (rolls if running, parks if asleep).
    Deploy {
        /// The service's name in the spec (or cluster/name).
        service: String,
        /// family:revision or a task definition ARN.
        task_definition: String,
        #[command(flatten)]
        common: Common,
    },
    /// Delete everything the scheduler owns, services included (before terraform destroy).
    Teardown {
        /// The environment to tear down (must match ENVIRONMENT).
        #[arg(long)]
        environment: String,
        #[command(flatten)]
        common: Common,
    },
    /// What the tier cost and what sleeping saved over the last days, from the history.
    Report {
        /// The period: the last this many days (1 to 366).
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Handle one payload (a JSON file, or - for stdin) and print the response.
    Invoke {
        /// A file holding the payload, or - to read it from stdin.
        source: String,
    },
    /// Print the IAM actions the function calls (for the policy).
    Permissions,
    /// Print the runtime spec's JSON Schema.
    Schema,
    /// Run as the Lambda function (the default inside Lambda).
    Lambda,
}

#[derive(Args)]
struct Common {
    /// Return the plan without acting.
    #[arg(long)]
    dry_run: bool,
    /// Why (kept in the state and the history).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args)]
struct Edge {
    #[command(flatten)]
    common: Common,
    /// Hold the result this long (e.g. 3h).
    #[arg(long, conflicts_with = "hold_until")]
    hold_for: Option<String>,
    /// Hold the result until this instant (RFC 3339).
    #[arg(long)]
    hold_until: Option<String>,
    /// Act even against an override tag.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Cmd::Lambda,
        None => {
            eprintln!(
                "not running inside Lambda (AWS_LAMBDA_RUNTIME_API is not set): give a command, e.g. `runtime-scheduler status`; see --help"
            );
            return ExitCode::from(2);
        }
    };
    let payload = match command {
        Cmd::Permissions => {
            return print_json(&runtime_scheduler::aws::permissions::required_actions())
        }
        Cmd::Schema => return print_json(&runtime_scheduler::spec::json_schema()),
        Cmd::Lambda => return run(Mode::Lambda),
        Cmd::Invoke { source } => match read_payload(&source) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        other => payload_of(other).to_string().into_bytes(),
    };
    run(Mode::Once(payload))
}

/// The payload a subcommand stands for; the handler checks it like any other.
fn payload_of(command: Cmd) -> Value {
    let mut p = Payload::default();
    match command {
        Cmd::Status { at } => p.set("action", "status").opt("at", at),
        Cmd::Start(e) => p.set("action", "start").edge(e),
        Cmd::Stop(e) => p.set("action", "stop").edge(e),
        Cmd::Reconcile { common } => p.set("action", "reconcile").common(common),
        Cmd::Plan { action, at } => p.set("action", &action).flag("dry_run", true).opt("at", at),
        Cmd::Override {
            mode,
            until,
            r#for,
            common,
        } => p
            .set("action", "override")
            .set("mode", &mode)
            .opt("until", until)
            .opt("for", r#for)
            .common(common),
        Cmd::Deploy {
            service,
            task_definition,
            common,
        } => p
            .set("action", "deploy")
            .set("service", &service)
            .set("task_definition", &task_definition)
            .common(common),
        Cmd::Teardown {
            environment,
            common,
        } => p
            .set("action", "teardown")
            .set("environment", &environment)
            .common(common),
        Cmd::Report { days } => {
            p.set("action", "report");
            p.0.insert("days".into(), json!(days));
            &mut p
        }
        Cmd::Invoke { .. } | Cmd::Permissions | Cmd::Schema | Cmd::Lambda => &mut p,
    };
    Value::Object(p.0)
}

/// A payload built from command-line arguments.
#[derive(Default)]
struct Payload(serde_json::Map<String, Value>);

impl Payload {
    fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.insert(key.into(), json!(value));
        self
    }

    fn flag(&mut self, key: &str, on: bool) -> &mut Self {
        if on {
            self.0.insert(key.into(), json!(true));
        }
        self
    }

    fn opt(&mut self, key: &str, value: Option<String>) -> &mut Self {
        if let Some(v) = value {
            self.0.insert(key.into(), json!(v));
        }
        self
    }

    fn common(&mut self, c: Common) -> &mut Self {
        self.flag("dry_run", c.dry_run).opt("reason", c.reason)
    }

    fn edge(&mut self, e: Edge) -> &mut Self {
        self.common(e.common)
            .opt("hold_for", e.hold_for)
            .opt("hold_until", e.hold_until)
            .flag("force", e.force)
    }
}

enum Mode {
    Lambda,
    Once(Vec<u8>),
}

fn run(mode: Mode) -> ExitCode {
    match mode {
        // Lambda's own log settings (logging_config in Terraform) decide format and level.
        Mode::Lambda => lambda_runtime::tracing::init_default_subscriber(),
        Mode::Once(_) => init_local_tracing(),
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let counter = Arc::new(CallCounter::default());
        let clients = Clients::from_sdk_config(
            &sdk,
            &config.state_bucket,
            config.endpoint_url.is_some(),
            counter.clone(),
        );
        let handler = Arc::new(Handler::new(config, clients));
        match mode {
            Mode::Lambda => lambda(handler, counter).await,
            Mode::Once(payload) => once(&handler, &payload).await,
        }
    })
}

async fn lambda(handler: Arc<Handler>, counter: Arc<CallCounter>) -> ExitCode {
    let result = lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<serde_json::value::RawValue>>| {
            let handler = handler.clone();
            let counter = counter.clone();
            async move {
                let invocation = Invocation {
                    id: event.context.request_id.clone(),
                    now: chrono::Utc::now(),
                    deadline: Some(deadline(&event.context)),
                };
                let before = counter.read();
                let result = handler
                    .handle(event.payload.get().as_bytes(), invocation)
                    .await;
                let after = counter.read();
                let response = result.map_err(|e| Diagnostic {
                    error_type: e.error_type().to_string(),
                    error_message: e.to_string(),
                })?;
                let calls = metrics::Calls {
                    operations: after.0 - before.0,
                    retries: after.1 - before.1,
                };
                println!(
                    "{}",
                    metrics::emf(&response, calls, chrono::Utc::now().timestamp_millis())
                );
                // A failed run fails the invocation, so EventBridge Scheduler retries it and the
                // failure destination hears about it.
                if response.outcome == Outcome::Failed {
                    return Err(Diagnostic {
                        error_type: "RunFailed".into(),
                        error_message: serde_json::to_string(&response).unwrap_or_default(),
                    });
                }
                Ok::<Response, Diagnostic>(response)
            }
        },
    ))
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn deadline(context: &lambda_runtime::Context) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    tokio::time::Instant::now()
        + std::time::Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

fn read_payload(source: &str) -> Result<Vec<u8>, String> {
    match source {
        "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map(|_| buf)
                .map_err(|e| format!("cannot read the payload from stdin: {e}"))
        }
        path => {
            std::fs::read(path).map_err(|e| format!("cannot read the payload from {path}: {e}"))
        }
    }
}

async fn once(handler: &Handler, payload: &[u8]) -> ExitCode {
    let id = format!(
        "local-{}-{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    );
    let invocation = Invocation {
        id,
        now: chrono::Utc::now(),
        deadline: None,
    };
    match handler.handle(payload, invocation).await {
        Ok(response) => {
            let printed = print_json(&response);
            if let Some(e) = &response.error {
                eprintln!("{}", e.message);
            } else if response.outcome != Outcome::Applied && response.outcome.exit_code() != 0 {
                for w in &response.warnings {
                    eprintln!("{w}");
                }
            }
            match response.outcome.exit_code() {
                0 => printed,
                code => ExitCode::from(code),
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(match e {
                HandlerError::Aws(_) | HandlerError::State(_) => 1,
                _ => 2,
            })
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> ExitCode {
    use std::io::Write;
    let text = match serde_json::to_string_pretty(value) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot serialise the response: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("cannot write the response: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Local runs log compactly to stderr (stdout holds the response), in colour only on a terminal.
fn init_local_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,runtime_scheduler=info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .compact()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks the definitions only when a subcommand is parsed; check them all here.
    #[test]
    fn the_command_line_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
