//! `wake-front`: the page a sleeping environment's names answer with (see `front` in the
//! library). In Lambda it answers API Gateway HTTP API events; `wake-front serve` answers plain
//! HTTP on a local port for previews, the demo and the browser tests.
//!
//! Configuration, from the environment (Terraform sets it on the function):
//! `ENVIRONMENT`, `STATE_BUCKET`, `SCHEDULER_FUNCTION`, `TOKEN_KEY_PARAMETER`, `WAKE_CONFIG`
//! (the spec's `wake` section as JSON), optionally `STATE_KEY` (default `<env>/state.json`) and
//! `AWS_ENDPOINT_URL` (a local AWS; S3 is then addressed path-style).

use std::process::ExitCode;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use clap::{Parser, Subcommand};
use lambda_runtime::{service_fn, LambdaEvent};

use runtime_scheduler::aws::store::S3Store;
use runtime_scheduler::front::{backend, AwsBackend, Front, Settings};
use runtime_scheduler::spec::WakeSpec;

#[derive(Parser)]
#[command(
    name = "wake-front",
    version,
    about = "The wake page of a sleeping runtime tier (API Gateway + Lambda)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Subcommand)]
enum Sub {
    /// Answer plain HTTP on a local port, as the page would for the app name `--name`.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The app name the page is for (what API Gateway's custom domain would be).
        #[arg(long)]
        name: String,
    },
    /// Run as the Lambda function (the default inside Lambda).
    Lambda,
}

/// Reads the configuration, naming every problem at once.
fn settings_from_env() -> Result<(Settings, Env), String> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    let mut need = |k: &str| {
        let v = get(k);
        if v.is_none() {
            problems.push(format!("{k} is not set"));
        }
        v.unwrap_or_default()
    };
    let environment = need("ENVIRONMENT");
    let bucket = need("STATE_BUCKET");
    let function = need("SCHEDULER_FUNCTION");
    let parameter = need("TOKEN_KEY_PARAMETER");
    let wake_json = need("WAKE_CONFIG");
    let wake: Option<WakeSpec> = match serde_json::from_str(&wake_json) {
        Ok(w) => Some(w),
        Err(e) if !wake_json.is_empty() => {
            problems.push(format!("WAKE_CONFIG is not the spec's wake section: {e}"));
            None
        }
        Err(_) => None,
    };
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let state_key = get("STATE_KEY").unwrap_or_else(|| format!("{environment}/state.json"));
    Ok((
        Settings {
            environment,
            wake: wake.expect("parsed above"),
            key: Vec::new(),
        },
        Env {
            bucket,
            state_key,
            function,
            parameter,
            path_style: get("AWS_ENDPOINT_URL").is_some(),
        },
    ))
}

/// Where the front's effects go.
struct Env {
    bucket: String,
    state_key: String,
    function: String,
    parameter: String,
    path_style: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if in_lambda {
        lambda_runtime::tracing::init_default_subscriber();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }
    let (mut settings, env) = match settings_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wake-front configuration:\n{e}");
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
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        settings.key = match backend::token_key(&ssm, &env.parameter).await {
            Ok(k) => k,
            Err(e) => {
                eprintln!("wake-front: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = settings.check() {
            eprintln!("wake-front configuration: {e}");
            return ExitCode::from(2);
        }
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(env.path_style)
                .build(),
        );
        let front = Arc::new(Front {
            settings,
            backend: Arc::new(AwsBackend {
                store: Arc::new(S3Store::new(s3, &env.bucket)),
                state_key: env.state_key,
                lambda: aws_sdk_lambda::Client::new(&sdk),
                function: env.function,
            }),
        });
        match cli.command {
            Some(Sub::Serve { listen, name }) => {
                let listener = match tokio::net::TcpListener::bind(&listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("wake-front: cannot listen on {listen}: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                eprintln!("wake-front: serving the page for {name} on http://{listen}/");
                match runtime_scheduler::front::local::serve(front, listener, name).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("wake-front: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Some(Sub::Lambda) | None if in_lambda => lambda(front).await,
            _ => {
                eprintln!("wake-front runs inside Lambda; locally use `wake-front serve --name <app name>`");
                ExitCode::from(2)
            }
        }
    })
}

async fn lambda(front: Arc<Front>) -> ExitCode {
    let result = lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let front = front.clone();
            async move {
                let response: ApiGatewayV2httpResponse =
                    front.handle_event(&event.payload, chrono::Utc::now()).await;
                Ok::<_, lambda_runtime::Error>(response)
            }
        },
    ))
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wake-front: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
