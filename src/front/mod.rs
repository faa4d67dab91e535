//! The wake front: what a sleeping tier's names answer with. API Gateway (an HTTP API with a
//! regional custom domain per app name) sends every request here while the alias records point
//! at it; the scheduler moves them back to the ALB when the tier wakes.
//!
//! This code faces the internet, so it trusts nothing it receives:
//! - a plain GET never wakes anything; it renders the page (or, for API clients, a 503 with
//!   `Retry-After`);
//! - a wake is a POST to [`WAKE_PATH`] carrying either a token this front issued to the same
//!   client address for the same name less than [`token::VALIDITY`] ago (the page's button), or
//!   the API clients' shared secret in `X-Wake-Secret` (compared by SHA-256, constant time);
//! - optional allowed source ranges apply to both; the client address is API Gateway's
//!   `sourceIp` (the TCP peer), never a header the client can set;
//! - everything rendered from the state document or the request is escaped ([`page`]);
//! - the only effects are reading the state document and one asynchronous `start` of the
//!   scheduler ([`Backend`]), under a role that can do nothing else.
//!
//! Repeated presses during a wake send nothing more: the page sees the start in the state and
//! answers "waking"; two presses racing both invoke, and the scheduler's lease makes the second
//! a no-op.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spec::WakeSpec;
use crate::state::{Phase, State};

pub mod backend;
pub mod local;
pub mod page;
pub mod token;

pub use backend::{AwsBackend, Backend};

/// Where the page's button posts.
pub const WAKE_PATH: &str = "/.wake";
/// What the page polls while the tier wakes.
pub const STATUS_PATH: &str = "/.wake/status";
/// The header API clients put the shared secret in.
pub const SECRET_HEADER: &str = "x-wake-secret";
/// How long a wake is expected to take before any was measured.
pub const DEFAULT_WAKE_SECONDS: i64 = 300;
/// The largest request body read (a form with a token and a number).
const MAX_BODY: usize = 4096;

/// What the front knows at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: String,
    /// `wake` from the spec, as Terraform passes it (`WAKE_CONFIG`).
    pub wake: WakeSpec,
    /// The token key, from SSM at cold start.
    pub key: Vec<u8>,
}

impl Settings {
    /// Checks the parts of `wake` the front uses; every problem at once.
    pub fn check(&self) -> Result<(), String> {
        let w = &self.wake;
        let mut problems = Vec::new();
        if !crate::config::is_environment_name(&self.environment) {
            problems.push(format!(
                "ENVIRONMENT '{}' is not an environment name",
                self.environment
            ));
        }
        if w.title.trim().is_empty() || w.title.chars().count() > 120 {
            problems.push("WAKE_CONFIG title: 1 to 120 characters".to_string());
        }
        if !(1..=168).contains(&w.max_hours) || !(1..=w.max_hours).contains(&w.default_hours) {
            problems.push(format!(
                "WAKE_CONFIG hours: 1 <= default_hours ({}) <= max_hours ({}) <= 168",
                w.default_hours, w.max_hours
            ));
        }
        if let Some(h) = &w.api_secret_sha256 {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                problems.push("WAKE_CONFIG api_secret_sha256: 64 hex digits".to_string());
            }
        }
        if self.key.len() < 16 {
            problems.push("the token key is shorter than 16 bytes".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The front: settings and the two effects it may have.
pub struct Front {
    pub settings: Settings,
    pub backend: Arc<dyn Backend>,
}

/// What the tier is doing, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierStatus {
    Asleep,
    Waking,
    Running,
    /// Going to sleep right now.
    Stopping,
}

/// The page's view of the state document.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub environment: String,
    pub status: TierStatus,
    pub phase: Phase,
    pub since: Option<DateTime<Utc>>,
    /// The last transition's reason (as recorded; escaped when rendered).
    pub reason: Option<String>,
    /// When the tier starts next on its own.
    pub next_start: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    /// Waking: steps finished and planned.
    pub steps_done: Option<usize>,
    pub steps_total: Option<usize>,
    pub running_steps: Vec<String>,
    /// Waking: seconds since the start began.
    pub elapsed_seconds: Option<i64>,
    /// The median of recent starts, or [`DEFAULT_WAKE_SECONDS`].
    pub expected_seconds: i64,
    /// How many measured starts the expectation comes from.
    pub measured_starts: usize,
    /// The last run's failure, if it failed.
    pub failure: Option<String>,
    /// A person's stop holds the tier asleep until then (a visitor cannot wake it), and why.
    pub held_asleep: Option<(DateTime<Utc>, String)>,
}

impl View {
    /// What the state document says, as of `now`.
    pub fn of(state: Option<&State>, environment: &str, now: DateTime<Utc>) -> View {
        let fresh = State::new(environment);
        let state = state.unwrap_or(&fresh);
        let lease = state.live_lease(now);
        let status = match (state.phase, lease.map(|l| l.action.as_str())) {
            (Phase::Starting, _) | (_, Some("start")) => TierStatus::Waking,
            (Phase::Running, _) => TierStatus::Running,
            (Phase::Stopping, _) | (_, Some("stop")) => TierStatus::Stopping,
            _ => TierStatus::Asleep,
        };
        let waking = status == TierStatus::Waking;
        let progress = state.progress.as_ref().filter(|_| waking);
        View {
            environment: environment.to_string(),
            status,
            phase: state.phase,
            since: state.since,
            reason: state.last_transition.as_ref().map(|t| t.reason.clone()),
            next_start: state.next_start.filter(|t| *t > now),
            timezone: state.timezone.clone(),
            steps_done: progress.map(|p| p.done),
            steps_total: progress.map(|p| p.total),
            running_steps: progress.map(|p| p.running.clone()).unwrap_or_default(),
            elapsed_seconds: lease
                .filter(|_| waking)
                .map(|l| (now - l.acquired_at).num_seconds().max(0)),
            expected_seconds: state
                .expected_start()
                .map_or(DEFAULT_WAKE_SECONDS, |d| d.num_seconds().max(1)),
            measured_starts: state.start_seconds.len(),
            failure: (state.phase == Phase::Failed)
                .then(|| state.last_transition.as_ref()?.error.as_ref())
                .flatten()
                .map(|e| e.message.clone()),
            held_asleep: state
                .hold
                .as_ref()
                .filter(|h| {
                    h.until > now
                        && h.desired == crate::schedule::Desired::Stopped
                        && h.kind == crate::schedule::HoldKind::Manual
                })
                .map(|h| (h.until, h.reason.clone())),
        }
    }

    /// Seconds an API client should wait before asking again.
    pub fn retry_after(&self) -> i64 {
        match self.status {
            TierStatus::Waking => {
                (self.expected_seconds - self.elapsed_seconds.unwrap_or(0)).clamp(10, 600)
            }
            TierStatus::Running | TierStatus::Stopping => 30,
            TierStatus::Asleep => self.expected_seconds.clamp(10, 600),
        }
    }
}

/// A request reduced to what the front reads.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// The app name the request came in on (API Gateway's custom domain).
    pub host: String,
    /// The TCP peer, as API Gateway saw it.
    pub source_ip: Option<IpAddr>,
    /// The page's own origin, which a browser's POST from it names (`https://<host>`).
    pub origin: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Incoming {
    /// From an API Gateway HTTP API (payload 2.0) event. `None` when the event lacks the name
    /// or the body cannot be decoded.
    pub fn from_event(event: &ApiGatewayV2httpRequest) -> Option<Incoming> {
        let context = &event.request_context;
        let host = context.domain_name.clone()?.to_ascii_lowercase();
        let body = match &event.body {
            None => Vec::new(),
            Some(b) if event.is_base64_encoded => aws_smithy_types::base64::decode(b).ok()?,
            Some(b) => b.as_bytes().to_vec(),
        };
        Some(Incoming {
            method: context.http.method.clone(),
            path: event
                .raw_path
                .clone()
                .or_else(|| context.http.path.clone())
                .unwrap_or_else(|| "/".into()),
            query: event.raw_query_string.clone().unwrap_or_default(),
            origin: format!("https://{host}"),
            host,
            source_ip: context
                .http
                .source_ip
                .as_deref()
                .and_then(|s| s.parse().ok()),
            headers: event.headers.clone(),
            body,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A browser navigating: GET or HEAD asking for HTML.
    fn wants_html(&self) -> bool {
        matches!(self.method, Method::GET | Method::HEAD)
            && self
                .header("accept")
                .is_some_and(|a| a.contains("text/html"))
    }
}

/// An answer, before it becomes an API Gateway response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    fn html(status: u16, body: String, nonce: &str) -> Answer {
        let mut headers = security_headers();
        headers.push(("content-type", "text/html; charset=utf-8".into()));
        headers.push((
            "content-security-policy",
            format!(
                "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        ));
        Answer {
            status,
            headers,
            body,
        }
    }

    fn json(status: u16, value: &impl Serialize) -> Answer {
        let mut headers = security_headers();
        headers.push(("content-type", "application/json".into()));
        Answer {
            status,
            headers,
            body: serde_json::to_string(value).unwrap_or_else(|_| "{}".into()),
        }
    }

    fn retry_after(mut self, seconds: i64) -> Answer {
        self.headers.push(("retry-after", seconds.to_string()));
        self
    }

    fn see_other(location: &str) -> Answer {
        let mut headers = security_headers();
        headers.push(("location", location.to_string()));
        Answer {
            status: 303,
            headers,
            body: String::new(),
        }
    }

    /// As API Gateway expects it.
    pub fn into_response(self, head: bool) -> ApiGatewayV2httpResponse {
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = i64::from(self.status);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers.insert(name, v);
            }
        }
        response.body = (!head && !self.body.is_empty()).then_some(Body::Text(self.body));
        response
    }
}

fn security_headers() -> Vec<(&'static str, String)> {
    vec![
        ("cache-control", "no-store".into()),
        ("x-content-type-options", "nosniff".into()),
        ("referrer-policy", "no-referrer".into()),
        ("x-frame-options", "DENY".into()),
    ]
}

/// Why a wake was refused (the visitor sees the text, escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AddressNotAllowed,
    BadToken(&'static str),
    WrongSecret,
    CrossOrigin,
    BadHours(String),
}

impl Refusal {
    fn text(&self) -> String {
        match self {
            Refusal::AddressNotAllowed => {
                "waking this environment is not allowed from your address".into()
            }
            Refusal::BadToken(why) => {
                format!("the wake button's token is {why}: reload the page and press it again")
            }
            Refusal::WrongSecret => "the wake secret is wrong".into(),
            Refusal::CrossOrigin => "a wake must come from this environment's own page".into(),
            Refusal::BadHours(why) => why.clone(),
        }
    }

    fn status(&self) -> u16 {
        match self {
            Refusal::BadHours(_) => 400,
            _ => 403,
        }
    }
}

/// The JSON answer API clients get.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiAnswer {
    pub environment: String,
    pub status: String,
    pub message: String,
    #[serde(default)]
    pub retry_after_seconds: Option<i64>,
}

impl Front {
    /// Answers one API Gateway event.
    pub async fn handle_event(
        &self,
        event: &ApiGatewayV2httpRequest,
        now: DateTime<Utc>,
    ) -> ApiGatewayV2httpResponse {
        let head = event.request_context.http.method == Method::HEAD;
        match Incoming::from_event(event) {
            Some(incoming) => self.handle(&incoming, now).await.into_response(head),
            None => Answer::json(
                400,
                &serde_json::json!({"message": "the request could not be read"}),
            )
            .into_response(head),
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: &Incoming, now: DateTime<Utc>) -> Answer {
        if !is_host_name(&req.host) || req.body.len() > MAX_BODY {
            return Answer::json(400, &serde_json::json!({"message": "bad request"}));
        }
        let state = match self.backend.state().await {
            Ok(state) => state,
            Err(e) => {
                tracing::error!(error = %e, "the state document could not be read");
                None
            }
        };
        let view = View::of(state.as_ref(), &self.settings.environment, now);
        match (&req.method, req.path.as_str()) {
            (&Method::POST, WAKE_PATH) => self.wake(req, &view, now).await,
            (&Method::GET | &Method::HEAD, STATUS_PATH) => {
                Answer::json(200, &view).retry_after(view.retry_after())
            }
            _ if req.wants_html() => self.page(req, &view, now, None),
            _ => self.api_unavailable(&view),
        }
    }

    /// The page, in whatever state the tier is. Always 503: the application is not here.
    fn page(
        &self,
        req: &Incoming,
        view: &View,
        now: DateTime<Utc>,
        notice: Option<&str>,
    ) -> Answer {
        let nonce = crate::secret::sha256_hex(&rand::random::<[u8; 16]>())[..32].to_string();
        let token = req.source_ip.map(|ip| {
            token::issue(
                &self.settings.key,
                &self.settings.environment,
                &req.host,
                ip,
                now,
            )
        });
        let html = page::render(&page::PageInput {
            view,
            wake: &self.settings.wake,
            host: &req.host,
            token: token.as_deref(),
            nonce: &nonce,
            notice,
        });
        Answer::html(503, html, &nonce).retry_after(view.retry_after())
    }

    fn api_unavailable(&self, view: &View) -> Answer {
        let message = match view.status {
            TierStatus::Waking => "the environment is waking up",
            TierStatus::Asleep => "the environment is asleep",
            TierStatus::Running => "the environment is awake; DNS still points here, retry shortly",
            TierStatus::Stopping => "the environment is going to sleep",
        };
        Answer::json(
            503,
            &ApiAnswer {
                environment: view.environment.clone(),
                status: serde_json::to_value(view.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                message: message.into(),
                retry_after_seconds: Some(view.retry_after()),
            },
        )
        .retry_after(view.retry_after())
    }

    /// A POST to [`WAKE_PATH`]: checked, then at most one asynchronous start.
    async fn wake(&self, req: &Incoming, view: &View, now: DateTime<Utc>) -> Answer {
        let from_page = req.header(SECRET_HEADER).is_none();
        let fields = form(&req.body);
        let refused = |r: Refusal| -> Answer {
            tracing::warn!(refusal = ?r, source = ?req.source_ip, "wake refused");
            if from_page {
                let mut a = self.page(req, view, now, Some(&r.text()));
                a.status = r.status();
                a
            } else {
                Answer::json(
                    r.status(),
                    &ApiAnswer {
                        environment: self.settings.environment.clone(),
                        status: "refused".into(),
                        message: r.text(),
                        retry_after_seconds: None,
                    },
                )
            }
        };
        let Some(ip) = req.source_ip else {
            return refused(Refusal::AddressNotAllowed);
        };
        let allowed = &self.settings.wake.allowed_cidrs;
        if !allowed.is_empty() && !allowed.iter().any(|c| c.contains(ip)) {
            return refused(Refusal::AddressNotAllowed);
        }
        if from_page {
            if let Err(r) = same_origin(req) {
                return refused(r);
            }
            let Some(t) = fields.get("token") else {
                return refused(Refusal::BadToken("missing"));
            };
            if let Err(why) = token::verify(
                &self.settings.key,
                &self.settings.environment,
                &req.host,
                ip,
                t,
                now,
            ) {
                return refused(Refusal::BadToken(why));
            }
        } else {
            let secret = req.header(SECRET_HEADER).unwrap_or_default();
            if !self.settings.wake.secret_matches(secret) {
                return refused(Refusal::WrongSecret);
            }
        }
        let query = form(req.query.as_bytes());
        let hours = match fields.get("hours").or_else(|| query.get("hours")) {
            None => self.settings.wake.default_hours,
            Some(h) => match h.parse::<u32>() {
                Ok(n) if (1..=self.settings.wake.max_hours).contains(&n) => n,
                _ => {
                    return refused(Refusal::BadHours(format!(
                        "hours must be a whole number from 1 to {}",
                        self.settings.wake.max_hours
                    )))
                }
            },
        };
        let accepted = |status: &str, message: &str| -> Answer {
            if from_page {
                Answer::see_other("/")
            } else {
                Answer::json(
                    202,
                    &ApiAnswer {
                        environment: self.settings.environment.clone(),
                        status: status.into(),
                        message: message.into(),
                        retry_after_seconds: Some(view.retry_after()),
                    },
                )
                .retry_after(view.retry_after())
            }
        };
        match view.status {
            TierStatus::Waking => return accepted("waking", "already waking"),
            TierStatus::Running => return accepted("running", "already awake"),
            TierStatus::Asleep | TierStatus::Stopping => {}
        }
        if let Some((until, _)) = &view.held_asleep {
            let text = format!(
                "someone put it to sleep until {}; it cannot be woken from here before then",
                until.to_rfc3339()
            );
            return if from_page {
                let mut a = self.page(req, view, now, Some(&text));
                a.status = 409;
                a
            } else {
                Answer::json(
                    409,
                    &ApiAnswer {
                        environment: self.settings.environment.clone(),
                        status: "held".into(),
                        message: text,
                        retry_after_seconds: None,
                    },
                )
            };
        }
        let payload = serde_json::json!({
            "action": "start",
            "trigger": "wake",
            "environment": self.settings.environment,
            "hold_for": format!("{hours}h"),
            "reason": format!("woken from {} by {ip}", req.host),
        });
        match self.backend.wake(payload.to_string().into_bytes()).await {
            Ok(()) => {
                tracing::info!(source = %ip, host = %req.host, hours, "wake sent");
                accepted("waking", "waking up")
            }
            Err(e) => {
                tracing::error!(error = %e, "the scheduler could not be invoked");
                Answer::json(
                    502,
                    &serde_json::json!({"message": "the wake could not be sent; try again"}),
                )
            }
        }
    }
}

/// A browser's POST from the page carries `Origin` (and `Sec-Fetch-Site` in modern browsers);
/// when present they must name this very site.
fn same_origin(req: &Incoming) -> Result<(), Refusal> {
    if let Some(origin) = req.header("origin") {
        if origin != req.origin {
            return Err(Refusal::CrossOrigin);
        }
    }
    if let Some(site) = req.header("sec-fetch-site") {
        if site != "same-origin" {
            return Err(Refusal::CrossOrigin);
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` fields (the first of each name).
pub fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) {
            out.entry(k).or_insert(v);
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A DNS name (no port, no path): what API Gateway passes as the custom domain.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_like_browsers_send_them() {
        let f = form(b"token=v1.1.ab%2Bc&hours=3&hours=9&x");
        assert_eq!(f.get("token").map(String::as_str), Some("v1.1.ab+c"));
        assert_eq!(f.get("hours").map(String::as_str), Some("3"));
        assert_eq!(f.get("x").map(String::as_str), Some(""));
        assert!(form(b"a=%zz").is_empty());
    }

    #[test]
    fn host_names_exclude_ports_paths_and_markup() {
        assert!(is_host_name("app.example.com"));
        for bad in ["", "app.example.com:443", "a/b", "<x>", "a..b"] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}
