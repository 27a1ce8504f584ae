//! User claims by scope (OIDC Core §5.4): `sub` always; `profile` and `email` claims
//! when those scopes were granted. Empty values are left out.

use entity::{user, user_profile};
use serde_json::{Map, Value};

use super::scope::Scopes;

/// The claims of `user` released for `scope`.
pub fn user_claims(
    user: &user::Model,
    profile: Option<&user_profile::Model>,
    scope: &Scopes,
    fields: &[crate::config::ProfileField],
) -> Map<String, Value> {
    let mut c = Map::new();
    // Operator-defined fields, each under its own scope.
    if let Some(extra) = profile.and_then(|p| p.extra.as_ref()).and_then(|e| e.as_object()) {
        for f in fields.iter().filter(|f| scope.contains(&f.scope)) {
            if let Some(v) = extra.get(&f.key) {
                c.insert(f.key.clone(), v.clone());
            }
        }
    }
    c.insert("sub".into(), user.id.to_string().into());
    if scope.contains("profile")
        && let Some(p) = profile
    {
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                c.insert(k.into(), v.into());
            }
        };
        put("given_name", &p.given_name);
        put("family_name", &p.family_name);
        put("nickname", &p.nickname);
        put("preferred_username", &p.preferred_username);
        put("picture", &p.picture);
        put("locale", &p.locale);
        put("zoneinfo", &p.zoneinfo);
        put("birthdate", &p.birthdate);
        put("website", &p.website);
        let name: Vec<&str> = [p.given_name.as_deref(), p.family_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        if !name.is_empty() {
            c.insert("name".into(), name.join(" ").into());
        }
        c.insert("updated_at".into(), p.updated_at.timestamp().into());
    }
    if scope.contains("email") {
        c.insert("email".into(), user.email.clone().into());
        c.insert("email_verified".into(), user.email_verified_at.is_some().into());
    }
    c
}

/// Every claim Gatehouse can release (for discovery).
pub use crate::standard_claims::SUPPORTED;
