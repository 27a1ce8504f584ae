//! The consent screen of the authorization flow: which application asks for what, and
//! the user's answer, remembered per user, application and scopes.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;

const EXPIRED: &str =
    "This sign-in request has expired or was started in another browser. Go back to the application and start again.";

#[derive(Debug, Deserialize, Default)]
pub struct ConsentQuery {
    authreq: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct ConsentForm {
    authreq: Option<String>,
    decision: Option<String>,
}

fn scope_label(s: &str) -> &str {
    match s {
        "openid" => "Sign you in with your account",
        "profile" => "Read your profile: name, username, picture, locale",
        "email" => "Read your email address",
        "offline_access" => "Stay connected when you are not using it",
        other => other,
    }
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ConsentQuery>,
) -> Result<Response, PageError> {
    let id = q
        .authreq
        .ok_or_else(|| PageError::BadRequest("The request is missing.".into()))?;
    let req = crate::web::oidc::pending_for_browser(&state, &jar, &id)
        .await
        .ok_or_else(|| PageError::BadRequest(EXPIRED.into()))?;
    if cookies::session(state.config(), &jar).is_none() {
        return Ok(Redirect::to(&format!("/login?authreq={id}")).into_response());
    }
    let client = state
        .clients()
        .find(state.db(), &req.client_id)
        .await?
        .ok_or_else(|| PageError::BadRequest("The application is no longer registered.".into()))?;
    let (jar, csrf) = cookies::csrf(state.config(), jar);
    // `openid` (signing in) first, then the rest alphabetically.
    let mut ordered: Vec<&String> = req.scope.iter().collect();
    ordered.sort_by_key(|s| (s.as_str() != "openid", s.as_str()));
    let scopes: Vec<_> = ordered
        .iter()
        .map(|s| json!({ "name": s, "label": scope_label(s) }))
        .collect();
    let ctx = json!({ "csrf": csrf, "authreq": id, "client_name": client.name, "scopes": scopes });
    let html = state.theme().render("templates/consent.html", ctx)?;
    Ok((jar, [(axum::http::header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    crate::web::extract::ClientIp(ip): crate::web::extract::ClientIp,
    PageForm(f): PageForm<ConsentForm>,
) -> Result<Response, PageError> {
    let id = f
        .authreq
        .ok_or_else(|| PageError::BadRequest("The request is missing.".into()))?;
    let Some(mut req) = crate::web::oidc::pending_for_browser(&state, &jar, &id).await else {
        return Err(PageError::BadRequest(EXPIRED.into()));
    };
    let login = || Ok(Redirect::to(&format!("/login?authreq={id}")).into_response());
    let Some(me) = crate::web::extract::session::SignedIn::of(&state, &jar).await? else {
        return login();
    };
    let session = me.session;
    if f.decision.as_deref() != Some("allow") {
        if let Err(e) = state.store().delete(&crate::store::keys::authreq(&id)).await {
            tracing::warn!(error = %e, "denied authorization request not removed (it expires by itself)");
        }
        return Ok(crate::web::oidc::deny(&state, &req));
    }
    crate::oidc::consent::grant(
        state.db(),
        session.user_id,
        &req.client_id,
        &req.scope,
        Some(ip.to_string()),
    )
    .await?;
    req.consent_given = true;
    req.consented_sid = Some(session.sid.clone());
    crate::web::oidc::update_pending(&state, &id, &req).await?;
    Ok(Redirect::to(&crate::web::pages::common::resume_url(&id)).into_response())
}
