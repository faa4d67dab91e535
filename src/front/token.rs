//! The wake button's token: `v1.<issued unix seconds>.<HMAC-SHA256 hex>`, over the environment,
//! the app name and the client address, so a token taken from one page works only from the
//! same address, for the same name, for [`VALIDITY`]. A bot that never loaded the page has none;
//! a page fetched elsewhere and replayed from another address is refused.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

/// How long a token works after the page was served.
pub const VALIDITY: Duration = Duration::minutes(15);
/// Clock skew tolerated between Lambda instances.
const SKEW: Duration = Duration::seconds(60);

fn message(environment: &str, host: &str, ip: IpAddr, issued: i64) -> String {
    format!("v1|{environment}|{host}|{ip}|{issued}")
}

/// A token for a page served to `ip` on `host` at `now`.
pub fn issue(key: &[u8], environment: &str, host: &str, ip: IpAddr, now: DateTime<Utc>) -> String {
    let issued = now.timestamp();
    let tag = crate::secret::sign(key, message(environment, host, ip, issued).as_bytes());
    format!("v1.{issued}.{tag}")
}

/// Checks a token; the error says why it is refused (`missing`, `malformed`, `expired`,
/// `not valid`).
pub fn verify(
    key: &[u8],
    environment: &str,
    host: &str,
    ip: IpAddr,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let mut parts = token.splitn(3, '.');
    let (Some("v1"), Some(issued), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("malformed");
    };
    let issued: i64 = issued.parse().map_err(|_| "malformed")?;
    let Some(at) = DateTime::<Utc>::from_timestamp(issued, 0) else {
        return Err("malformed");
    };
    if !crate::secret::verify(key, message(environment, host, ip, issued).as_bytes(), tag) {
        return Err("not valid");
    }
    if at > now + SKEW || now - at > VALIDITY {
        return Err("expired");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_works_for_its_address_and_name_only_while_fresh() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let now = at("2026-12-02T10:00:00Z");
        let t = issue(KEY, "dev", "app.example.com", ip, now);
        assert_eq!(verify(KEY, "dev", "app.example.com", ip, &t, now), Ok(()));
        let later = now + Duration::minutes(14);
        assert_eq!(verify(KEY, "dev", "app.example.com", ip, &t, later), Ok(()));
        let stale = now + Duration::minutes(16);
        assert_eq!(
            verify(KEY, "dev", "app.example.com", ip, &t, stale),
            Err("expired")
        );
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(
            verify(KEY, "dev", "app.example.com", other, &t, now),
            Err("not valid")
        );
        assert_eq!(
            verify(KEY, "dev", "api.example.com", ip, &t, now),
            Err("not valid")
        );
        assert_eq!(
            verify(KEY, "prod", "app.example.com", ip, &t, now),
            Err("not valid")
        );
        assert_eq!(
            verify(
                b"another key, just as long......",
                "dev",
                "app.example.com",
                ip,
                &t,
                now
            ),
            Err("not valid")
        );
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let now = at("2026-12-02T10:00:00Z");
        let t = issue(KEY, "dev", "app.example.com", ip, now);
        // Moving the issue time forward invalidates the tag.
        let (_, tag) = t.rsplit_once('.').unwrap();
        let moved = format!("v1.{}.{tag}", now.timestamp() + 600);
        assert_eq!(
            verify(KEY, "dev", "app.example.com", ip, &moved, now),
            Err("not valid")
        );
        for bad in ["", "v1", "v2.1.aa", "v1.x.aa", "v1.99999999999999999.aa"] {
            assert_eq!(
                verify(KEY, "dev", "app.example.com", ip, bad, now),
                Err("malformed"),
                "{bad}"
            );
        }
        // A token from the future (beyond the skew) is refused.
        let future = issue(
            KEY,
            "dev",
            "app.example.com",
            ip,
            now + Duration::minutes(5),
        );
        assert_eq!(
            verify(KEY, "dev", "app.example.com", ip, &future, now),
            Err("expired")
        );
    }
}
