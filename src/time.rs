//! Durations and instants with documented bounds. Every duration a person types is parsed here
//! (`3h`, `90m`, `1h30m`, `2d`), checked against the bounds of what it is for, and every instant
//! computed from one uses checked arithmetic, so no input can overflow a date.

use chrono::{DateTime, Duration, Utc};

/// The longest hold a manual start or stop may leave (`hold_for`, `hold_until`, `DEFAULT_HOLD`).
pub const MAX_HOLD: Duration = Duration::days(31);
/// The longest an override may be set for (`override` with `for` or `until`).
pub const MAX_OVERRIDE: Duration = Duration::days(366);
/// The shortest hold or override: anything shorter is a typo, not an intention.
pub const MIN_SPAN: Duration = Duration::minutes(1);
/// How far from now a dry run may ask "what would happen at": ten years either way.
pub const MAX_AT_DISTANCE: Duration = Duration::days(3653);

/// Parses a duration such as `3h`, `90m`, `1h30m`, `1h 30m`, `2d` and checks it lies within
/// `[MIN_SPAN, max]`.
pub fn parse_span(text: &str, max: Duration) -> Result<Duration, String> {
    let std = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("'{text}' is not a duration such as \"3h\", \"90m\" or \"1h30m\" ({e})")
    })?;
    let span = Duration::from_std(std).map_err(|_| too_long(text, max))?;
    if span < MIN_SPAN {
        return Err(format!("'{text}' is shorter than a minute"));
    }
    if span > max {
        return Err(too_long(text, max));
    }
    Ok(span)
}

fn too_long(text: &str, max: Duration) -> String {
    format!(
        "'{text}' is longer than the maximum of {} days",
        max.num_days()
    )
}

/// Parses an RFC 3339 instant.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{text}' is not an RFC 3339 timestamp such as 2030-01-31T18:00:00-05:00 ({e})")
        })
}

/// Checks that `t` is after `now` and at most `max` later.
pub fn check_future(t: DateTime<Utc>, now: DateTime<Utc>, max: Duration) -> Result<(), String> {
    if t <= now {
        return Err(format!("{} is in the past", t.to_rfc3339()));
    }
    if t - now > max {
        return Err(format!(
            "{} is more than {} days away",
            t.to_rfc3339(),
            max.num_days()
        ));
    }
    Ok(())
}

/// `now + span`, or `None` if that does not fit a date (never with bounded spans).
pub fn after(now: DateTime<Utc>, span: Duration) -> Option<DateTime<Utc>> {
    now.checked_add_signed(span)
}

/// An instant in a time zone, to the second, with its offset: `2026-12-02T18:00:00-05:00`.
pub fn local_text(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A duration for people: `2h 30m`, `45s`.
pub fn span_text(span: Duration) -> String {
    let secs = span.num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_accept_compact_and_spaced_forms() {
        assert_eq!(parse_span("1h30m", MAX_HOLD), Ok(Duration::minutes(90)));
        assert_eq!(parse_span("1h 30m", MAX_HOLD), Ok(Duration::minutes(90)));
        assert_eq!(parse_span("2d", MAX_HOLD), Ok(Duration::days(2)));
    }

    #[test]
    fn spans_outside_their_bounds_are_refused_without_overflow() {
        assert!(parse_span("30s", MAX_HOLD).unwrap_err().contains("shorter"));
        assert!(parse_span("32d", MAX_HOLD).unwrap_err().contains("31 days"));
        assert!(parse_span("9999999999999d", MAX_HOLD).is_err());
        assert!(parse_span("three hours", MAX_HOLD).is_err());
        assert!(parse_span("", MAX_HOLD).is_err());
    }

    #[test]
    fn local_text_is_to_the_second_with_the_offset() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T23:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            local_text(t, chrono_tz::America::New_York),
            "2026-12-02T18:00:00-05:00"
        );
    }
}
