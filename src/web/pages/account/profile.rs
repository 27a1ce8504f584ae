//! The profile page: the standard claims and the operator-defined fields.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::page;

const PROFILE_FIELDS: &[(&str, &str, &str)] = &[
    ("given_name", "Given name", "given-name"),
    ("family_name", "Family name", "family-name"),
    ("nickname", "Nickname", "nickname"),
    ("preferred_username", "Username", "username"),
    ("locale", "Language (e.g. en-GB)", "language"),
    ("zoneinfo", "Time zone (e.g. Europe/Paris)", "off"),
    ("birthdate", "Birth date (YYYY-MM-DD)", "bday"),
    ("website", "Website", "url"),
];

fn profile_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    values: &std::collections::BTreeMap<String, String>,
    errors: &std::collections::BTreeMap<String, String>,
) -> Response {
    let fields: Vec<_> = PROFILE_FIELDS
        .iter()
        .map(|(name, label, auto)| {
            json!({
                "name": name,
                "label": label,
                "autocomplete": auto,
                "type": "text",
                "value": values.get(*name).cloned().unwrap_or_default(),
                "error": errors.get(*name),
            })
        })
        .chain(state.config().profile_fields.iter().map(|f| {
            json!({
                "name": f.key,
                "label": f.label,
                "autocomplete": "off",
                "type": f.kind,
                "options": f.options,
                "required": f.required,
                "value": values.get(&f.key).cloned().unwrap_or_default(),
                "error": errors.get(&f.key),
            })
        }))
        .collect();
    page(
        state,
        jar,
        status,
        "templates/account_edit.html",
        json!({ "fields": fields }),
    )
}

pub async fn edit_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    let Some((_, profile)) = crate::accounts::with_profile(state.db(), me.session.user_id).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let mut values = std::collections::BTreeMap::new();
    if let Some(p) = profile {
        for (k, v) in [
            ("given_name", p.given_name),
            ("family_name", p.family_name),
            ("nickname", p.nickname),
            ("preferred_username", p.preferred_username),
            ("locale", p.locale),
            ("zoneinfo", p.zoneinfo),
            ("birthdate", p.birthdate),
            ("website", p.website),
        ] {
            if let Some(v) = v {
                values.insert(k.to_string(), v);
            }
        }
        if let Some(extra) = p.extra.as_ref().and_then(|e| e.as_object()) {
            for (k, v) in extra {
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Bool(true) => "on".into(),
                    serde_json::Value::Bool(false) => String::new(),
                    other => other.to_string(),
                };
                values.insert(k.clone(), shown);
            }
        }
    }
    Ok(profile_page(&state, jar, StatusCode::OK, &values, &Default::default()))
}

pub async fn edit_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(raw): PageForm<std::collections::BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let refused = |errors| {
        Ok(profile_page(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            &raw,
            errors,
        ))
    };
    let input = match crate::accounts::profile::parse_with(&state.config().profile_fields, &raw) {
        Ok(p) => p,
        Err(errors) => return refused(&errors),
    };
    match crate::accounts::profile::save(state.db(), me.session.user_id, &input).await {
        Ok(()) => Ok(Redirect::to("/account").into_response()),
        Err(crate::accounts::profile::SaveError::Fields(errors)) => refused(&errors),
        Err(crate::accounts::profile::SaveError::Db(e)) => Err(e.into()),
    }
}
