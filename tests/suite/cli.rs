//! The two binaries as people and scripts run them: `--help` and `--version` without any
//! configuration, configuration errors that name what is wrong, exit codes per outcome, and no
//! colour codes on a stderr that is not a terminal.

use crate::support;

use std::process::{Command, Output};

use support::fixture::demo_environment;
use support::Moto;

const SCHEDULER: &str = env!("CARGO_BIN_EXE_runtime-scheduler");
const FRONT: &str = env!("CARGO_BIN_EXE_wake-front");

fn bare(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_need_no_configuration() {
    for bin in [SCHEDULER, FRONT] {
        let help = bare(bin, &["--help"]);
        assert!(
            help.status.success(),
            "{bin} --help: {}",
            text(&help.stderr)
        );
        assert!(
            text(&help.stdout).contains("Usage:"),
            "{}",
            text(&help.stdout)
        );
        let version = bare(bin, &["--version"]);
        assert!(version.status.success());
        assert!(text(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
    let sub = bare(SCHEDULER, &["override", "--help"]);
    assert!(sub.status.success() && text(&sub.stdout).contains("keep-running"));
}

#[test]
fn a_missing_configuration_names_what_is_missing_and_exits_2() {
    let out = bare(SCHEDULER, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("STATE_BUCKET") && err.contains("ENVIRONMENT"),
        "{err}"
    );
    assert!(!err.contains("SPEC_KEY"), "nobody set SPEC_KEY: {err}");

    let front = bare(FRONT, &["serve", "--name", "demo.example.com"]);
    assert_eq!(front.status.code(), Some(2));
    let err = text(&front.stderr);
    for var in [
        "ENVIRONMENT",
        "STATE_BUCKET",
        "SCHEDULER_FUNCTION",
        "TOKEN_KEY_PARAMETER",
        "WAKE_CONFIG",
    ] {
        assert!(err.contains(var), "{var} in {err}");
    }
    let outside = bare(SCHEDULER, &[]);
    assert_eq!(outside.status.code(), Some(2), "no command outside Lambda");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_the_outcome_and_stderr_has_no_colour() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let env = demo_environment(&sdk, "demo").await;
    let run = |args: &[&str], stdin: Option<&str>| -> Output {
        let mut c = Command::new(SCHEDULER);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("STATE_BUCKET", &env.bucket)
            .env("ENVIRONMENT", "demo")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info");
        if let Some(input) = stdin {
            use std::io::Write;
            let mut child = c
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        } else {
            c.output().unwrap()
        }
    };
    let cases: [(&[&str], Option<&str>, i32, &str); 5] = [
        (&["status"], None, 0, "\"outcome\": \"reported\""),
        (&["start", "--dry-run"], None, 0, "\"outcome\": \"dry-run\""),
        (
            &["invoke", "-"],
            Some(r#"{"action": "stop", "environment": "prod"}"#),
            4,
            "\"outcome\": \"skipped\"",
        ),
        (
            &["invoke", "-"],
            Some(r#"{"action": "stop", "dry_run": null}"#),
            2,
            "",
        ),
        (&["invoke", "-"], Some(r#"{"action": "idle"}"#), 2, ""),
    ];
    for (args, stdin, code, says) in cases {
        let out = tokio::task::block_in_place(|| run(args, stdin));
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?} {stdin:?}: {stdout} {stderr}"
        );
        assert!(stdout.contains(says), "{args:?}: {stdout}");
        assert!(
            !stderr.contains('\u{1b}'),
            "no colour codes off a terminal: {stderr:?}"
        );
        if code == 2 {
            assert!(
                stdout.is_empty() && !stderr.is_empty(),
                "{args:?}: the error goes to stderr"
            );
        }
    }
}
