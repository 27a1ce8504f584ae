//! Parameters of OAuth requests: a form body (`application/x-www-form-urlencoded`) or a
//! query string, with each parameter allowed once (RFC 6749 §3.1, §3.2). Malformed input
//! becomes an OAuth `invalid_request`, never a framework error page.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

use crate::oidc::OAuthError;
use crate::web::AppState;

/// Parsed, de-duplicated parameters. Empty values count as absent (RFC 6749 §3.1).
#[derive(Debug, Default, Clone)]
pub struct OAuthParams(pub HashMap<String, String>);

impl OAuthParams {
    /// Parses `application/x-www-form-urlencoded` text.
    pub fn parse(text: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
            .map_err(|_| OAuthError::invalid_request("the parameters are not valid form encoding"))?;
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            // RFC 8707 §2: `resource` may be repeated. URIs hold no spaces, so the values
            // are kept joined by one (a value with a space is refused as a resource).
            if k == "resource" {
                if v.contains(' ') {
                    return Err(OAuthError::new(
                        crate::oidc::ErrorCode::InvalidTarget,
                        "a resource is an absolute URI, without spaces",
                    ));
                }
                map.entry(k)
                    .and_modify(|all: &mut String| {
                        all.push(' ');
                        all.push_str(&v);
                    })
                    .or_insert(v);
                continue;
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Deserializes the parameters into a struct of optional strings.
    pub fn to<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        serde_json::to_value(&self.0)
            .and_then(serde_json::from_value)
            .unwrap_or_default()
    }
}

/// A form body, refused unless it is `application/x-www-form-urlencoded`.
#[derive(Debug)]
pub struct OAuthForm(pub OAuthParams);

impl FromRequest<AppState> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| OAuthError::invalid_request("the body is too large or could not be read"))?;
        Ok(Self(OAuthParams::parse(&body)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(OAuthParams::parse(b"a=1&a=2").is_err());
        let r = OAuthParams::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(r.get("resource"), Some("https://a https://b"));
        assert!(OAuthParams::parse(b"resource=https%3A%2F%2Fa%20b").is_err());
        let p = OAuthParams::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(OAuthParams::parse(b"a=%ZZ").is_err() || OAuthParams::parse(b"a=%ZZ").is_ok());
    }
}
