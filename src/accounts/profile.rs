//! Profile claims a user edits (OIDC Core §5.1 standard claims), parsed at the edge:
//! every field is optional, trimmed, bounded, and checked for its format.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbErr};

use crate::config::ProfileField;
use uuid::Uuid;

/// A profile as submitted; `None` clears a field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProfileInput {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub preferred_username: Option<String>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub birthdate: Option<String>,
    /// An https (or http) URL.
    pub website: Option<String>,
    /// Operator-defined fields, by key.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Field name → message, for the form.
pub type FieldErrors = BTreeMap<String, String>;

fn clean(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Parses the operator-defined fields of a form.
fn parse_custom(
    fields: &[ProfileField],
    raw: &BTreeMap<String, String>,
    errors: &mut FieldErrors,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for f in fields {
        let v = raw.get(&f.key).and_then(|v| clean(v));
        let value = match (f.kind.as_str(), v) {
            ("boolean", v) => Some(Value::Bool(v.is_some())),
            (_, None) => {
                if f.required {
                    errors.insert(f.key.clone(), format!("{} is required.", f.label));
                }
                None
            }
            ("number", Some(v)) => match v.parse::<f64>() {
                Ok(n) if n.is_finite() => serde_json::Number::from_f64(n).map(Value::Number),
                _ => {
                    errors.insert(f.key.clone(), "Enter a number.".into());
                    None
                }
            },
            ("date", Some(v)) => match chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
                Ok(_) => Some(Value::String(v)),
                Err(_) => {
                    errors.insert(f.key.clone(), "Use a date as YYYY-MM-DD.".into());
                    None
                }
            },
            ("select", Some(v)) => {
                if f.options.contains(&v) {
                    Some(Value::String(v))
                } else {
                    errors.insert(f.key.clone(), "Choose one of the options.".into());
                    None
                }
            }
            (_, Some(v)) => {
                if v.chars().count() > 200 || v.chars().any(char::is_control) {
                    errors.insert(f.key.clone(), "Use at most 200 characters.".into());
                    None
                } else {
                    Some(Value::String(v))
                }
            }
        };
        if let Some(value) = value {
            out.insert(f.key.clone(), value);
        }
    }
    out
}

/// Parses raw form values into a profile, or the errors of each bad field.
pub fn parse(raw: &BTreeMap<String, String>) -> Result<ProfileInput, FieldErrors> {
    parse_with(&[], raw)
}

/// Parses raw form values, including the operator-defined `fields`.
pub fn parse_with(fields: &[ProfileField], raw: &BTreeMap<String, String>) -> Result<ProfileInput, FieldErrors> {
    let get = |k: &str| raw.get(k).and_then(|v| clean(v));
    let mut errors = FieldErrors::new();
    let mut text = |key: &'static str, max: usize| {
        let v = get(key);
        if v.as_ref()
            .is_some_and(|s| s.chars().count() > max || s.chars().any(char::is_control))
        {
            errors.insert(
                key.to_string(),
                format!("Use at most {max} characters, without control characters."),
            );
        }
        v
    };
    let given_name = text("given_name", 100);
    let family_name = text("family_name", 100);
    let nickname = text("nickname", 100);
    let preferred_username = get("preferred_username").map(|s| s.to_lowercase());
    if preferred_username.as_ref().is_some_and(|u| {
        !(2..=40).contains(&u.len()) || !u.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }) {
        errors.insert(
            "preferred_username".to_string(),
            "Use 2 to 40 letters, digits, dots, dashes or underscores.".into(),
        );
    }
    let locale = get("locale");
    if locale.as_ref().is_some_and(|l| {
        let mut parts = l.split(['-', '_']);
        let lang_ok = parts
            .next()
            .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
        !lang_ok || !parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    }) {
        errors.insert(
            "locale".to_string(),
            "Use a language tag such as en, en-GB or pt-BR.".into(),
        );
    }
    let zoneinfo = get("zoneinfo");
    if zoneinfo.as_ref().is_some_and(|z| {
        z.len() > 64 || !z.contains('/') || !z.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
    }) {
        errors.insert(
            "zoneinfo".to_string(),
            "Use a time zone such as Europe/Paris or America/New_York.".into(),
        );
    }
    let website = get("website");
    if website.as_ref().is_some_and(|w| {
        w.len() > 500 || !url::Url::parse(w).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
    }) {
        errors.insert(
            "website".to_string(),
            "Use a web address such as https://example.com.".into(),
        );
    }
    let birthdate = get("birthdate");
    if let Some(d) = &birthdate
        && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_or(true, |date| date > chrono::Utc::now().date_naive())
    {
        errors.insert("birthdate".to_string(), "Use a past date as YYYY-MM-DD.".into());
    }
    let extra = parse_custom(fields, raw, &mut errors);
    if errors.is_empty() {
        Ok(ProfileInput {
            extra,
            website,
            given_name,
            family_name,
            nickname,
            preferred_username,
            locale,
            zoneinfo,
            birthdate,
        })
    } else {
        Err(errors)
    }
}

/// Why a profile was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("invalid fields")]
    Fields(FieldErrors),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Saves a profile; a username taken by someone else is a field error.
pub async fn save(db: &impl ConnectionTrait, user_id: Uuid, p: &ProfileInput) -> Result<(), SaveError> {
    match super::repo::update_profile(db, user_id, p).await {
        Ok(()) => Ok(()),
        Err(e) if super::repo::is_unique_violation(&e) => {
            let mut f = FieldErrors::new();
            f.insert("preferred_username".into(), "This username is taken.".into());
            Err(SaveError::Fields(f))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_rejects_per_field() {
        let p = parse(&raw(&[
            ("given_name", " Ada "),
            ("preferred_username", "Ada.L"),
            ("locale", "en-GB"),
            ("zoneinfo", "Europe/London"),
            ("birthdate", "1815-12-10"),
        ]))
        .unwrap();
        assert_eq!(p.given_name.as_deref(), Some("Ada"));
        assert_eq!(p.preferred_username.as_deref(), Some("ada.l"));
        assert_eq!(p.family_name, None);
        let e = parse(&raw(&[
            ("preferred_username", "a b"),
            ("locale", "english!"),
            ("zoneinfo", "Paris"),
            ("birthdate", "2999-01-01"),
            ("nickname", &"x".repeat(101)),
        ]))
        .unwrap_err();
        assert_eq!(
            e.keys().cloned().collect::<Vec<_>>(),
            ["birthdate", "locale", "nickname", "preferred_username", "zoneinfo"]
        );
    }
}
