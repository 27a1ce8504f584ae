//! Scope values (RFC 6749 §3.3).

use std::collections::BTreeSet;

use super::error::OAuthError;

/// A parsed, de-duplicated scope.
pub type Scopes = BTreeSet<String>;

/// Parses a space-separated scope; every token must be NQCHARs.
pub fn parse(s: &str) -> Result<Scopes, OAuthError> {
    let mut out = Scopes::new();
    for token in s.split(' ').filter(|t| !t.is_empty()) {
        if token.len() > 128
            || !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        {
            return Err(OAuthError::invalid_scope(format!("malformed scope value {token:?}")));
        }
        out.insert(token.to_string());
    }
    Ok(out)
}

/// The scope as a space-separated string.
pub fn join(s: &Scopes) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(" ")
}

/// Checks that every requested scope is allowed.
pub fn check_allowed(requested: &Scopes, allowed: &[String]) -> Result<(), OAuthError> {
    match requested.iter().find(|s| !allowed.contains(s)) {
        Some(s) => Err(OAuthError::invalid_scope(format!(
            "scope {s:?} is not allowed for this client"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let s = parse("openid  email openid profile").unwrap();
        assert_eq!(join(&s), "email openid profile");
        assert!(parse("open\"id").is_err());
        assert!(parse("a\\b").is_err());
        assert!(parse("caf\u{e9}").is_err());
        assert!(check_allowed(&s, &["openid".into(), "email".into()]).is_err());
    }
}
