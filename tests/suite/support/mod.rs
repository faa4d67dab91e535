//! Test harness shared by every integration test: a private moto server per test, SDK
//! configuration pointing at it, and moto's request recorder for counting AWS calls.
//!
//! Include it with `mod support;`. Each test starts its own [`Moto`] (tests run in parallel
//! threads); it is killed when dropped.
#![allow(dead_code)]

pub mod fixture;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Region every test uses.
pub const REGION: &str = "us-east-1";

/// How long moto gets to start answering (Python imports are slow on a busy 2-core machine).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// A moto server on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Moto {
    /// Starts `.venv/bin/moto_server` (or `$MOTO_SERVER`) and waits until it answers.
    ///
    /// Panics with a hint to run `make venv` when the server is not installed.
    pub fn start() -> Moto {
        let server = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
            });
        assert!(
            server.exists(),
            "moto_server not found at {}: run `make venv` first (or set MOTO_SERVER to its path)",
            server.display()
        );
        // Ports are picked by binding port 0 and letting go of it; another process could grab it
        // before moto binds, so a server that exits at once is retried on a fresh port.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&server) {
                Ok(moto) => return moto,
                Err(e) => last_error = e,
            }
        }
        panic!("moto did not start: {last_error}");
    }

    fn try_start(server: &std::path::Path) -> Result<Moto, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "runtime-scheduler-moto-{}-{}-{port}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let log = std::fs::File::create(dir.join("moto.log")).map_err(|e| e.to_string())?;
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(&dir)
            // The recorder appends to this file (default `./moto_recording`): one per server, so
            // that parallel tests do not read each other's calls.
            .env("MOTO_RECORDER_FILEPATH", dir.join("recording.jsonl"))
            // Any non-empty value (even "false") turns recording on from boot; recording is
            // switched on per test through /moto-api/recorder/start-recording instead.
            .env_remove("MOTO_ENABLE_RECORDING")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", server.display()))?;
        let mut moto = Moto { child, port, dir };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "moto_server exited with {status}:\n{}",
                    moto.log_tail()
                ));
            }
            if moto
                .request("GET", "/moto-api/recorder/reset-recording", b"", &[])
                .is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not answer within {STARTUP_TIMEOUT:?}:\n{}",
                    moto.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK configuration for this server: its endpoint, `us-east-1` and static test credentials.
    /// Region and credentials are explicit, so no provider chain (and no instance metadata) runs.
    /// Build S3 clients with `force_path_style(true)`.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// Wipes every resource of every service.
    pub fn reset(&self) {
        self.expect_ok("POST", "/moto-api/reset");
    }

    /// Forgets what was recorded so far and records every AWS call from now on.
    pub fn start_recording(&self) {
        self.expect_ok("POST", "/moto-api/recorder/reset-recording");
        self.expect_ok("POST", "/moto-api/recorder/start-recording");
    }

    /// Stops recording (what was recorded stays available).
    pub fn stop_recording(&self) {
        self.expect_ok("POST", "/moto-api/recorder/stop-recording");
    }

    /// Every AWS call recorded since [`Moto::start_recording`], in order.
    pub fn recorded_calls(&self) -> Vec<RecordedCall> {
        let body = self.expect_ok("GET", "/moto-api/recorder/download-recording");
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| {
                let entry: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("unreadable recording line {l:?}: {e}"));
                RecordedCall::from_recording(&entry)
            })
            .collect()
    }

    /// The Lambda `Invoke` calls recorded since [`Moto::start_recording`]: the function, the
    /// `X-Amz-Invocation-Type` header and the payload.
    pub fn recorded_invocations(&self) -> Vec<RecordedInvoke> {
        let body = self.expect_ok("GET", "/moto-api/recorder/download-recording");
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| {
                let entry: serde_json::Value = serde_json::from_str(l).ok()?;
                let url = entry["url"].as_str()?;
                let path = url.split_once("://").map_or(url, |(_, r)| r);
                let path = &path[path.find('/')?..];
                let function = path
                    .strip_prefix("/2015-03-31/functions/")?
                    .strip_suffix("/invocations")?
                    .to_string();
                let invocation_type = entry["headers"]
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-invocation-type"))
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or("RequestResponse")
                    .to_string();
                let payload = match (entry["body"].as_str(), entry["body_encoded"].as_bool()) {
                    (Some(b), Some(true)) => aws_smithy_types::base64::decode(b).ok()?,
                    (Some(b), _) => b.as_bytes().to_vec(),
                    (None, _) => Vec::new(),
                };
                Some(RecordedInvoke {
                    function,
                    invocation_type,
                    payload,
                })
            })
            .collect()
    }

    /// Lets Lambda `Invoke` answer without Docker (moto otherwise runs the function in a
    /// container), and creates an IAM role functions can be created with; returns its ARN.
    pub fn prepare_lambda(&self) -> String {
        let (status, body) = self
            .request(
                "POST",
                "/moto-api/config",
                br#"{"lambda":{"use_docker":false}}"#,
                &[("Content-Type", "application/json")],
            )
            .expect("moto config");
        assert!(
            (200..300).contains(&status),
            "moto config: {status} {body:?}"
        );
        let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        let form = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=wake-test&AssumeRolePolicyDocument={policy}"
        );
        let (status, body) = self
            .request(
                "POST",
                "/",
                form.as_bytes(),
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    (
                        "Authorization",
                        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                    ),
                ],
            )
            .expect("IAM CreateRole");
        assert!(
            (200..300).contains(&status),
            "CreateRole: {status} {}",
            String::from_utf8_lossy(&body)
        );
        "arn:aws:iam::123456789012:role/wake-test".to_string()
    }

    /// The recorded calls that change something: everything but `Describe*`, `List*`, `Get*`
    /// and `Head*` (so S3 `PutObject` counts).
    pub fn mutating_calls(&self) -> Vec<RecordedCall> {
        self.recorded_calls()
            .into_iter()
            .filter(RecordedCall::is_mutating)
            .collect()
    }

    fn expect_ok(&self, method: &str, path: &str) -> Vec<u8> {
        match self.request(method, path, b"", &[]) {
            Ok((status, body)) if (200..300).contains(&status) => body,
            Ok((status, body)) => {
                panic!(
                    "moto {method} {path} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )
            }
            Err(e) => panic!("moto {method} {path} failed: {e}\n{}", self.log_tail()),
        }
    }

    /// One HTTP/1.1 request to this server.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        http_request(
            &format!("127.0.0.1:{}", self.port),
            method,
            path,
            body,
            headers,
        )
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("moto.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.1 client (the crate has no HTTP client dependency of its own to spare).
/// `host_port` is `host:port`; `Connection: close` lets the body run to the end of the stream.
pub fn http_request(
    host_port: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(host_port)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut payload = raw[split + 4..].to_vec();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        payload = dechunk(&payload).ok_or_else(|| invalid("bad chunked body"))?;
    }
    Ok((status, payload))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// One Lambda invocation as moto recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedInvoke {
    pub function: String,
    /// `Event` (asynchronous) or `RequestResponse`.
    pub invocation_type: String,
    pub payload: Vec<u8>,
}

/// One AWS call as moto recorded it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordedCall {
    /// The signing name, which is also the IAM prefix: `ec2`, `elasticloadbalancing`, `s3`...
    pub service: String,
    /// The API operation: `CreateNatGateway`, `PutObject`...
    pub operation: String,
}

impl RecordedCall {
    /// `service:Operation`, as in an IAM policy (which authorises ListObjectsV2 as ListBucket).
    pub fn action(&self) -> String {
        match (self.service.as_str(), self.operation.as_str()) {
            ("s3", "ListObjectsV2") => "s3:ListBucket".to_string(),
            (service, operation) => format!("{service}:{operation}"),
        }
    }

    /// Anything but `Describe*`, `List*`, `Get*` and `Head*`.
    pub fn is_mutating(&self) -> bool {
        !["Describe", "List", "Get", "Head"]
            .iter()
            .any(|p| self.operation.starts_with(p))
    }

    /// Reads one line of moto's recording (`{"headers", "method", "url", "body", "body_encoded"}`);
    /// `None` for moto's own API.
    fn from_recording(entry: &serde_json::Value) -> Option<RecordedCall> {
        let header = |name: &str| {
            entry["headers"]
                .as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string)
        };
        let method = entry["method"].as_str().unwrap_or("GET").to_string();
        let url = entry["url"].as_str().unwrap_or_default();
        // `url` is absolute (`http://127.0.0.1:port/path?query`).
        let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
        let path_and_query = after_scheme
            .find('/')
            .map(|i| &after_scheme[i..])
            .unwrap_or("/");
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        if path.starts_with("/moto-api") {
            return None;
        }
        let body = match (entry["body"].as_str(), entry["body_encoded"].as_bool()) {
            (Some(b), Some(true)) => aws_smithy_types::base64::decode(b).unwrap_or_default(),
            (Some(b), _) => b.as_bytes().to_vec(),
            (None, _) => Vec::new(),
        };
        let target = header("X-Amz-Target");
        let service = header("Authorization")
            .and_then(|auth| {
                // `AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/ec2/aws4_request, ...`
                let scope = auth
                    .split("Credential=")
                    .nth(1)?
                    .split([',', ' '])
                    .next()?
                    .to_string();
                scope.split('/').nth(3).map(str::to_string)
            })
            .unwrap_or_else(|| "unknown".into());
        let operation = target
            .as_deref()
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_string)
            .or_else(|| form_param(query, "Action"))
            .or_else(|| form_param(&String::from_utf8_lossy(&body), "Action"))
            .or_else(|| form_param(query, "x-id"))
            .or_else(|| match service.as_str() {
                "route53" => route53_operation(&method, path),
                "s3" => s3_operation(&method, path, query, header("x-amz-copy-source").is_some()),
                _ => None,
            })
            .unwrap_or_else(|| format!("{method} {path}"));
        Some(RecordedCall { service, operation })
    }
}

impl std::fmt::Display for RecordedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service, self.operation)
    }
}

/// The value of `name` in a `k=v&k=v` string (names and values here need no decoding).
fn form_param(text: &str, name: &str) -> Option<String> {
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_string())
    })
}

fn route53_operation(method: &str, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    let op = match (method, parts.as_slice()) {
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["change", _]) => "GetChange",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        ("POST", ["tags", ..]) => "ChangeTagsForResource",
        _ => return None,
    };
    Some(op.to_string())
}

fn s3_operation(method: &str, path: &str, query: &str, copy: bool) -> Option<String> {
    let (bucket, key) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path.trim_start_matches('/'), ""));
    let sub = query
        .split('&')
        .map(|p| p.split('=').next().unwrap_or_default())
        .find(|k| {
            [
                "versioning",
                "tagging",
                "encryption",
                "policy",
                "acl",
                "lifecycle",
                "cors",
                "location",
                "versions",
                "uploads",
            ]
            .contains(k)
        });
    let verb = match method {
        "GET" => "Get",
        "PUT" => "Put",
        "DELETE" => "Delete",
        _ => "",
    };
    let op = match (bucket.is_empty(), key.is_empty(), method, sub) {
        (true, _, "GET", _) => "ListBuckets".to_string(),
        (false, true, "GET", Some("versions")) => "ListObjectVersions".to_string(),
        (false, true, "GET", Some("location")) => "GetBucketLocation".to_string(),
        (false, true, _, Some(s)) if !verb.is_empty() => {
            let noun = match s {
                "versioning" => "BucketVersioning",
                "tagging" => "BucketTagging",
                "encryption" => "BucketEncryption",
                "policy" => "BucketPolicy",
                "acl" => "BucketAcl",
                "lifecycle" => "BucketLifecycleConfiguration",
                _ => "BucketCors",
            };
            format!("{verb}{noun}")
        }
        (false, true, "PUT", None) => "CreateBucket".to_string(),
        (false, true, "DELETE", None) => "DeleteBucket".to_string(),
        (false, true, "HEAD", _) => "HeadBucket".to_string(),
        (false, true, "GET", None) => if query.contains("list-type=2") {
            "ListObjectsV2"
        } else {
            "ListObjects"
        }
        .to_string(),
        (false, false, _, Some("tagging")) if !verb.is_empty() => format!("{verb}ObjectTagging"),
        (false, false, "PUT", _) if copy => "CopyObject".to_string(),
        (false, false, "PUT", _) => "PutObject".to_string(),
        (false, false, "GET", _) => "GetObject".to_string(),
        (false, false, "HEAD", _) => "HeadObject".to_string(),
        (false, false, "DELETE", _) => "DeleteObject".to_string(),
        _ => return None,
    };
    Some(op)
}

/// An S3 client for moto (path-style addressing).
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}
