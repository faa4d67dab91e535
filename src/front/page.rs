//! The page a sleeping tier's names answer with. Every value from the state document, the spec
//! or the request goes through [`escape`]; the inline style and script carry the response's CSP
//! nonce, and the script only ever sets `textContent`.

use chrono::{DateTime, Utc};

use super::{TierStatus, View, STATUS_PATH, WAKE_PATH};
use crate::spec::WakeSpec;

/// What one rendering needs.
pub struct PageInput<'a> {
    pub view: &'a View,
    pub wake: &'a WakeSpec,
    /// The app name the visitor asked for.
    pub host: &'a str,
    /// The wake button's token (`None`: no client address, so no button).
    pub token: Option<&'a str>,
    pub nonce: &'a str,
    /// Why the last press was refused, if it was.
    pub notice: Option<&'a str>,
}

/// HTML-escapes text for element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "about 4 min", "45 s".
pub fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s < 90 => format!("{s} s"),
        s if s < 5400 => format!("about {} min", (s + 30) / 60),
        s => format!("about {} h", (s + 1800) / 3600),
    }
}

/// An instant in the environment's time zone (UTC when it has none), in a `<time>` element.
fn when(t: DateTime<Utc>, zone: Option<&str>) -> String {
    let tz: chrono_tz::Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC);
    let local = t
        .with_timezone(&tz)
        .format("%a %-d %b %H:%M %Z")
        .to_string();
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(&t.to_rfc3339()),
        escape(&local)
    )
}

/// The whole page.
pub fn render(p: &PageInput) -> String {
    let v = p.view;
    let title = escape(&p.wake.title);
    let zone = v.timezone.as_deref();
    let mut body = String::new();
    if let Some(notice) = p.notice {
        body.push_str(&format!(
            "<p class=\"notice\" role=\"alert\">{}</p>",
            escape(notice)
        ));
    }
    let expected = format!(
        "{}{}",
        duration_text(v.expected_seconds),
        match v.measured_starts {
            0 => String::new(),
            1 => " (the last wake took that long)".to_string(),
            n => format!(" (the median of the last {n} wakes)"),
        }
    );
    match v.status {
        TierStatus::Asleep => {
            body.push_str("<h2 id=\"status\">Asleep</h2>");
            if let Some(since) = v.since {
                body.push_str(&format!("<p>Asleep since {}", when(since, zone)));
                if let Some(reason) = &v.reason {
                    body.push_str(&format!(" <span class=\"why\">({})</span>", escape(reason)));
                }
                body.push_str(".</p>");
            }
            if let Some(failure) = &v.failure {
                body.push_str(&format!(
                    "<p class=\"notice\">The last run did not finish: {}. Waking retries it.</p>",
                    escape(failure)
                ));
            }
            body.push_str(&match (v.next_start, p.wake.on_demand) {
                (Some(t), _) => format!("<p>It wakes on its own {}.</p>", when(t, zone)),
                (None, true) => "<p>It wakes only when someone asks.</p>".to_string(),
                (None, false) => "<p>No start is scheduled in the next two weeks.</p>".to_string(),
            });
            match (&v.held_asleep, p.token) {
                (Some((until, reason)), _) => body.push_str(&format!(
                    "<p class=\"notice\">Someone put it to sleep until {}{}; it cannot be woken \
                     from here before then.</p>",
                    when(*until, zone),
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", escape(reason))
                    }
                )),
                (None, Some(token)) => body.push_str(&wake_form(p, token, &expected)),
                (None, None) => {
                    body.push_str("<p>This page cannot wake it (no client address).</p>")
                }
            }
        }
        TierStatus::Waking => {
            let done = v.steps_done.unwrap_or(0);
            let total = v.steps_total.unwrap_or(0);
            body.push_str("<h2 id=\"status\">Waking up</h2>");
            body.push_str(&format!(
                "<progress id=\"bar\" max=\"{}\" value=\"{}\"></progress>",
                total.max(1),
                done
            ));
            body.push_str(&format!(
                "<p id=\"steps\">{}</p>",
                if total > 0 {
                    format!("Step {done} of {total} done.")
                } else {
                    "Starting.".to_string()
                }
            ));
            if !v.running_steps.is_empty() {
                body.push_str("<ul id=\"running\">");
                for s in &v.running_steps {
                    body.push_str(&format!("<li>{}</li>", escape(s)));
                }
                body.push_str("</ul>");
            }
            body.push_str(&format!(
                "<p id=\"eta\">{} so far; a wake takes {}.</p>",
                duration_text(v.elapsed_seconds.unwrap_or(0)),
                escape(&expected)
            ));
            body.push_str("<p>This page follows the progress and tells you when to reload.</p>");
        }
        TierStatus::Running => {
            body.push_str("<h2 id=\"status\">Awake</h2>");
            body.push_str(&format!(
                "<p>{} is running again. <strong>Reload this page</strong>: your browser may \
                 still be pointed here for up to a minute while DNS catches up.</p>",
                escape(p.host)
            ));
        }
        TierStatus::Stopping => {
            body.push_str("<h2 id=\"status\">Going to sleep</h2>");
            body.push_str(
                "<p>It is going to sleep right now; you can wake it again in a minute.</p>",
            );
        }
    }
    let refresh = match v.status {
        TierStatus::Asleep => "",
        _ => "<noscript><meta http-equiv=\"refresh\" content=\"15\"></noscript>",
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">{refresh}\
         <title>{title} is {state}</title><style nonce=\"{nonce}\">{STYLE}</style></head>\
         <body><main><p class=\"env\">{host} &middot; environment {env}</p><h1>{title}</h1>{body}\
         <p class=\"foot\">This environment sleeps when nobody uses it, to save money.</p></main>\
         <script nonce=\"{nonce}\">{script}</script></body></html>\n",
        state = match v.status {
            TierStatus::Asleep => "asleep",
            TierStatus::Waking => "waking up",
            TierStatus::Running => "awake",
            TierStatus::Stopping => "going to sleep",
        },
        nonce = escape(p.nonce),
        host = escape(p.host),
        env = escape(&v.environment),
        script = script(v.status),
    )
}

fn wake_form(p: &PageInput, token: &str, expected: &str) -> String {
    let w = p.wake;
    let options: String = (1..=w.max_hours)
        .map(|h| {
            format!(
                "<option value=\"{h}\"{}>{h}</option>",
                if h == w.default_hours {
                    " selected"
                } else {
                    ""
                }
            )
        })
        .collect();
    let idle = match w.idle_minutes {
        Some(m) => format!(" It goes back to sleep after {m} minutes without a request."),
        None => String::new(),
    };
    format!(
        "<form method=\"post\" action=\"{WAKE_PATH}\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label>Wake it for up to <select name=\"hours\">{options}</select> hours</label> \
         <button type=\"submit\" id=\"wake\">Wake it</button></form>\
         <p class=\"hint\">Waking takes {}.{}</p>",
        escape(token),
        escape(expected),
        escape(&idle),
    )
}

/// Polls the status while the tier wakes (or has just woken), updating text only.
fn script(status: TierStatus) -> String {
    if status == TierStatus::Asleep {
        return String::new();
    }
    format!(
        r#"(function(){{
var steps=document.getElementById("steps"),bar=document.getElementById("bar"),eta=document.getElementById("eta");
function tick(){{fetch("{STATUS_PATH}",{{cache:"no-store"}}).then(function(r){{return r.json();}}).then(function(s){{
if(s.status!=="{current}"){{location.reload();return;}}
if(s.status==="running"){{setTimeout(function(){{location.reload();}},15000);return;}}
if(bar&&s.steps_total){{bar.max=s.steps_total;bar.value=s.steps_done||0;}}
if(steps&&s.steps_total){{steps.textContent="Step "+(s.steps_done||0)+" of "+s.steps_total+" done.";}}
if(eta&&s.elapsed_seconds!=null){{eta.textContent=Math.round(s.elapsed_seconds/6)/10+" min so far; a wake takes about "+Math.round(s.expected_seconds/60)+" min.";}}
setTimeout(tick,5000);}}).catch(function(){{setTimeout(tick,10000);}});}}
setTimeout(tick,5000);}})();"#,
        current = match status {
            TierStatus::Waking => "waking",
            TierStatus::Running => "running",
            TierStatus::Stopping => "stopping",
            TierStatus::Asleep => "asleep",
        }
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f5f2;color:#222;margin:0}\
main{max-width:40rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 1px 4px rgba(0,0,0,.1)}h1{margin:.2rem 0 1rem}.env{color:#666;margin:0;font-size:.9rem}\
h2{font-size:1.2rem}progress{width:100%;height:1.2rem}button{font-size:1rem;padding:.5rem 1.2rem;\
border:0;border-radius:6px;background:#2563eb;color:#fff;cursor:pointer}select{font-size:1rem}\
.notice{background:#fff4e5;border-left:4px solid #f59e0b;padding:.5rem .8rem}.why,.hint,.foot{color:#666}\
.foot{font-size:.8rem;margin-top:2rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(45), "45 s");
        assert_eq!(duration_text(250), "about 4 min");
        assert_eq!(duration_text(7200), "about 2 h");
    }
}
