//! Digests and message authentication for the wake front: SHA-256 of the API clients' shared
//! secret, and HMAC-SHA256 tokens that prove a wake request came from a page the front served.
//! Comparisons of secrets run in constant time.

use aws_lc_rs::{constant_time, digest, hmac};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// HMAC-SHA256 of `message` under `key`, as lower-case hex.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hex(hmac::sign(&key, message).as_ref())
}

/// Whether `tag` (hex) is the HMAC-SHA256 of `message` under `key`, checked in constant time.
pub fn verify(key: &[u8], message: &[u8], tag: &str) -> bool {
    let Some(tag) = unhex(tag) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, message, &tag).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_published_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_tag_verifies_only_for_its_key_and_message() {
        let tag = sign(b"key", b"message");
        assert!(verify(b"key", b"message", &tag));
        assert!(!verify(b"other", b"message", &tag));
        assert!(!verify(b"key", b"messagE", &tag));
        assert!(!verify(b"key", b"message", &tag[..62]));
        assert!(!verify(b"key", b"message", "zz"));
    }
}
