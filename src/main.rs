//! Entry point: the Lambda function, or a one-shot local command on the same handler.
//!
//! ```text
//! runtime-scheduler                      run as the Lambda function (cargo lambda, AWS)
//! runtime-scheduler invoke <file|->      handle one payload, print the response JSON
//! runtime-scheduler permissions          print the IAM actions the function calls
//! runtime-scheduler schema               print the runtime spec's JSON Schema
//! ```

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use runtime_scheduler::aws::Clients;
use runtime_scheduler::config::Config;
use runtime_scheduler::handler::{Handler, Invocation, Outcome};
use serde_json::Value;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["permissions"] => print_json(&runtime_scheduler::aws::permissions::required_actions()),
        ["schema"] => print_json(&runtime_scheduler::spec::json_schema()),
        ["invoke", source] => run(Mode::Invoke(source.to_string())),
        [] => run(Mode::Lambda),
        _ => {
            eprintln!("usage: runtime-scheduler [invoke <file|->] | permissions | schema");
            ExitCode::from(2)
        }
    }
}

enum Mode {
    Lambda,
    Invoke(String),
}

fn run(mode: Mode) -> ExitCode {
    init_tracing(matches!(mode, Mode::Lambda));
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let clients =
            Clients::from_sdk_config(&sdk, &config.state_bucket, config.endpoint_url.is_some());
        let handler = Arc::new(Handler::new(config, clients));
        match mode {
            Mode::Lambda => lambda(handler).await,
            Mode::Invoke(source) => invoke(&handler, &source).await,
        }
    })
}

async fn lambda(handler: Arc<Handler>) -> ExitCode {
    let result = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let invocation = Invocation {
                id: event.context.request_id.clone(),
                now: chrono::Utc::now(),
                deadline: Some(deadline(&event.context)),
            };
            let response = handler.handle(&event.payload, invocation).await?;
            // A failed run fails the invocation, so EventBridge Scheduler retries it and the
            // failure destination hears about it.
            if response.outcome == Outcome::Failed {
                return Err(serde_json::to_string(&response)?.into());
            }
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
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
        .map_or(0, |d| d.as_millis() as u64);
    tokio::time::Instant::now()
        + std::time::Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

async fn invoke(handler: &Handler, source: &str) -> ExitCode {
    let bytes = match source {
        "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map(|_| buf)
        }
        path => std::fs::read(path),
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read the payload from {source}: {e}");
            return ExitCode::from(2);
        }
    };
    let payload: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("invalid invocation payload:\n  the payload is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let id = format!(
        "local-{}-{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    );
    match handler
        .handle(
            &payload,
            Invocation {
                id,
                now: chrono::Utc::now(),
                deadline: None,
            },
        )
        .await
    {
        Ok(response) => {
            print_json(&response);
            if response.outcome == Outcome::Failed {
                eprintln!(
                    "{}",
                    response
                        .error
                        .map(|e| e.message)
                        .unwrap_or_else(|| "failed".into())
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> ExitCode {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value).expect("serialisable");
    // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("cannot write the response: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

fn init_tracing(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        builder.json().without_time().init();
    } else {
        builder.compact().init();
    }
}
