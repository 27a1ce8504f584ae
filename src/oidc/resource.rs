//! Resource indicators (RFC 8707): which resource servers an access token is for.
//!
//! A client is registered with the resources it may use. It names them with `resource`
//! (repeatable) on the authorization request and at the token endpoint; the access
//! token's `aud` is what it named, else the server's `tokens.default_resource`, else the
//! client itself. A resource that is malformed or not registered for the client is
//! refused with `invalid_target` (§2).

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError};

/// Resources a client may be registered with.
pub const MAX_PER_CLIENT: usize = 20;
/// Resources one request may name.
pub const MAX_PER_REQUEST: usize = 10;
/// The longest resource URI accepted.
pub const MAX_LEN: usize = 512;

fn invalid_target(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// Checks that `uri` can be a resource: an absolute URI without a fragment (§2).
pub fn validate(uri: &str) -> Result<(), OAuthError> {
    let bad = || {
        invalid_target(format!(
            "the resource {uri:?} is not an absolute URI without a fragment"
        ))
    };
    if uri.is_empty() || uri.len() > MAX_LEN || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let url = url::Url::parse(uri).map_err(|_| bad())?;
    if url.fragment().is_some() || url.cannot_be_a_base() && !uri.starts_with("urn:") {
        return Err(bad());
    }
    Ok(())
}

/// The resources a request named (`resource` parameters, joined by spaces when
/// repeated), each checked against what `allowed` registers. None named: empty.
pub fn requested(joined: Option<&str>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for r in joined.unwrap_or_default().split(' ').filter(|r| !r.is_empty()) {
        validate(r)?;
        if !allowed.iter().any(|a| a == r) {
            return Err(invalid_target(format!("the client may not ask for the resource {r}")));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    }
    if out.len() > MAX_PER_REQUEST {
        return Err(invalid_target(format!(
            "at most {MAX_PER_REQUEST} resources per request"
        )));
    }
    Ok(out)
}

/// Narrows `granted` to what a token request named (§2.2: only resources of the grant).
/// A grant made without resources may name any resource the client may use.
pub fn narrow(joined: Option<&str>, granted: &[String], allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let pool = if granted.is_empty() { allowed } else { granted };
    let asked = requested(joined, pool).map_err(|e| {
        if granted.is_empty() {
            e
        } else {
            invalid_target("the resource was not part of the original grant")
        }
    })?;
    Ok(if asked.is_empty() { granted.to_vec() } else { asked })
}

/// An access token's `aud`: one string, or an array of several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// The audience of a token for `resources`, or the default, or the client.
    pub fn of(resources: &[String], default: Option<&str>, client_id: &str) -> Self {
        match resources {
            [] => Self::One(default.unwrap_or(client_id).to_string()),
            [one] => Self::One(one.clone()),
            many => Self::Many(many.to_vec()),
        }
    }

    /// This audience and `also` (when it is not there yet).
    pub fn and(self, also: &str) -> Self {
        if self.contains(also) {
            return self;
        }
        match self {
            Self::One(a) => Self::Many(vec![a, also.to_string()]),
            Self::Many(mut v) => {
                v.push(also.to_string());
                Self::Many(v)
            }
        }
    }

    /// Whether `aud` is one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(a) => a == aud,
            Self::Many(v) => v.iter().any(|a| a == aud),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_checked_and_narrowed() {
        let allowed = vec![
            "https://api.example.com".to_string(),
            "https://b.example.com/x".to_string(),
        ];
        assert_eq!(requested(None, &allowed).unwrap(), Vec::<String>::new());
        assert_eq!(
            requested(Some("https://api.example.com https://api.example.com"), &allowed).unwrap(),
            vec!["https://api.example.com".to_string()]
        );
        for bad in [
            "https://evil.example",
            "/relative",
            "https://api.example.com#f",
            "not a uri",
        ] {
            let e = requested(Some(bad), &allowed).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidTarget, "{bad}");
        }
        let granted = vec!["https://api.example.com".to_string()];
        assert_eq!(narrow(None, &granted, &allowed).unwrap(), granted);
        assert_eq!(
            narrow(Some("https://b.example.com/x"), &granted, &allowed)
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            narrow(Some("https://b.example.com/x"), &[], &allowed).unwrap(),
            vec!["https://b.example.com/x".to_string()]
        );
        assert!(validate("urn:example:api").is_ok());
        assert!(validate("mailto:x").is_err());
        assert_eq!(serde_json::to_value(Audience::of(&[], None, "c")).unwrap(), "c");
        assert_eq!(
            serde_json::to_value(Audience::of(&[], Some("https://r"), "c").and("https://u")).unwrap(),
            serde_json::json!(["https://r", "https://u"])
        );
        assert_eq!(Audience::One("c".into()).and("c"), Audience::One("c".into()));
        assert_eq!(
            serde_json::to_value(Audience::of(&allowed, None, "c")).unwrap(),
            serde_json::json!(allowed)
        );
    }
}
