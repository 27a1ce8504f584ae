//! PKCE (RFC 7636) with S256 only: `plain` exposes the verifier and is refused
//! (RFC 9700 §2.1.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Whether `s` is a syntactically valid code verifier or S256 challenge:
/// 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1–4.2).
pub fn valid_syntax(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Whether `verifier` matches the S256 `challenge`, compared in constant time.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    valid_syntax(verifier) && crate::crypto::constant_time_eq(s256(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(verify(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!verify(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!valid_syntax("short"));
        assert!(!valid_syntax(&"a".repeat(129)));
        assert!(!valid_syntax(&format!("{}+", "a".repeat(43))));
    }
}
