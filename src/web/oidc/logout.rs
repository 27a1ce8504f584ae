//! RP-initiated logout (OIDC RP-Initiated Logout 1.0), by GET or by POST.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use crate::oidc::OAuthError;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::oauth_form::{OAuthForm, OAuthParams};

use super::*;

// ----- RP-initiated logout ------------------------------------------------------------

/// The checked parameters of a logout request.
pub(super) struct LogoutRequest {
    /// Where to send the browser afterwards (registered for the client), with `state`.
    target: Option<String>,
    /// The hint identified the user of the current session (or there is no session).
    trusted: bool,
}

/// The claims of an ID token this server issued (expired ones included, as hints may be old).
pub(super) fn verify_id_token_hint(state: &AppState, hint: &str) -> Option<serde_json::Value> {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[&state.config().issuer_id]);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_required_spec_claims(&["iss", "sub", "aud"]);
    // Only ID tokens: not access tokens (which resource servers hold) or logout tokens.
    let typ = jsonwebtoken::decode_header(hint).ok()?.typ;
    if !matches!(typ.as_deref(), None | Some("JWT")) {
        return None;
    }
    state.keys().verify(hint, v).ok()
}

pub(super) async fn check_logout(state: &AppState, jar: &CookieJar, p: &OAuthParams) -> Result<LogoutRequest, String> {
    let mut client_id = p.get("client_id").map(str::to_string);
    let mut hint_sub = None;
    if let Some(hint) = p.get("id_token_hint") {
        let claims = verify_id_token_hint(state, hint)
            .ok_or_else(|| "The id_token_hint is not a valid ID token from this server.".to_string())?;
        let aud = match &claims["aud"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_string),
            _ => None,
        };
        if client_id.is_some() && client_id != aud {
            return Err("client_id does not match the id_token_hint.".into());
        }
        client_id = aud;
        hint_sub = claims["sub"].as_str().map(str::to_string);
    }
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(id) = client_id.as_deref() else {
                return Err("post_logout_redirect_uri needs client_id or id_token_hint.".into());
            };
            let client = state
                .clients()
                .find(state.db(), id)
                .await
                .map_err(|_| "The server is busy; try again.".to_string())?
                .ok_or_else(|| "The application is not registered here.".to_string())?;
            if !crate::clients::strings(&client.post_logout_redirect_uris)
                .iter()
                .any(|r| r == uri)
            {
                return Err("The post_logout_redirect_uri is not registered for this application.".into());
            }
            let mut url = url::Url::parse(uri).map_err(|_| "Malformed post_logout_redirect_uri.".to_string())?;
            if let Some(s) = p.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
    };
    let session_user = current_session(state, jar).await.map(|(_, s)| s.user_id.to_string());
    let trusted = hint_sub.is_some() && (session_user.is_none() || session_user == hint_sub);
    Ok(LogoutRequest { target, trusted })
}

pub(super) async fn end_session(state: &AppState, jar: CookieJar) -> CookieJar {
    if let Some((token, _)) = current_session(state, &jar).await {
        crate::oidc::backchannel::end_browser_session(state.db(), state.store(), state.token_hasher(), &token).await;
    }
    cookies::clear_session(state.config(), jar)
}

pub(super) fn logged_out(state: &AppState, jar: CookieJar, target: Option<String>) -> Result<Response, PageError> {
    Ok(match target {
        Some(t) => (jar, see_other(&t)).into_response(),
        None => {
            let html = state.theme().render("templates/logged_out.html", json!({}))?;
            (jar, no_store(Html(html).into_response())).into_response()
        }
    })
}

/// How long a logout posted cross-site waits for the browser's same-site GET.
pub(super) const LOGOUT_CONTINUE_SECS: u64 = 60;

pub(super) async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut encoded = serde_urlencoded::to_string(&q).unwrap_or_default();
    // The same-site step of a logout that was posted cross-site (see `logout_post`).
    if let [(k, id)] = q.as_slice()
        && k == "continue"
    {
        let taken = if id.len() <= 64 {
            state.store().take(&crate::store::keys::logout_post(id)).await?
        } else {
            None
        };
        let Some(body) = taken else {
            return Err(PageError::BadRequest(
                "This sign-out request has expired. Go back to the application and sign out again.".into(),
            ));
        };
        encoded = String::from_utf8(body).unwrap_or_default();
    }
    let params = OAuthParams::parse(encoded.as_bytes()).map_err(|e| PageError::BadRequest(e.description))?;
    logout_flow(state, jar, params).await
}

pub(super) async fn logout_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<OAuthForm, OAuthError>,
) -> Result<Response, PageError> {
    let OAuthForm(params) = form.map_err(|e| PageError::BadRequest(e.description))?;
    // A cross-site POST (the form-post style of many RPs) arrives without the SameSite=Lax
    // session cookie, so it cannot say which session to end. Answer with the same request
    // as a same-site GET: the browser follows it as a top-level navigation, with the
    // cookie, and that request ends the session.
    // The parameters wait in the store (60 s, single use) rather than in the URL, so the
    // ID token in the hint stays out of history and access logs.
    if cookies::session(state.config(), &jar).is_none() {
        let id = crate::crypto::random_token::<16>();
        let body = serde_urlencoded::to_string(&params.0).unwrap_or_default();
        let ttl = std::time::Duration::from_secs(LOGOUT_CONTINUE_SECS);
        let key = crate::store::keys::logout_post(&id);
        state.store().put(&key, body.as_bytes(), ttl).await?;
        return Ok(see_other(&format!("/oauth2/logout?continue={id}")));
    }
    logout_flow(state, jar, params).await
}

/// The fields of the confirmation form that are carried back from the logout request.
#[derive(Debug, serde::Deserialize, serde::Serialize, Default)]
pub(super) struct LogoutConfirm {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// The user pressed "Sign out" on the confirmation page (its CSRF token checked by
/// `PageForm`): the request is checked again, then the session ends.
pub(super) async fn logout_confirm(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<LogoutConfirm>,
) -> Result<Response, PageError> {
    let encoded = serde_urlencoded::to_string(&f).unwrap_or_default();
    let params = OAuthParams::parse(encoded.as_bytes()).map_err(|e| PageError::BadRequest(e.description))?;
    let req = check_logout(&state, &jar, &params)
        .await
        .map_err(PageError::BadRequest)?;
    let jar = end_session(&state, jar).await;
    logged_out(&state, jar, req.target)
}

pub(super) async fn logout_flow(state: AppState, jar: CookieJar, params: OAuthParams) -> Result<Response, PageError> {
    let req = check_logout(&state, &jar, &params)
        .await
        .map_err(PageError::BadRequest)?;
    if req.trusted || current_session(&state, &jar).await.is_none() {
        let jar = end_session(&state, jar).await;
        return logged_out(&state, jar, req.target);
    }
    // Not provably from the RP of this session: ask the user (OIDC RP-Initiated Logout §2).
    let (jar, csrf) = cookies::csrf(state.config(), jar);
    let fields: Vec<_> = params
        .0
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "id_token_hint" | "post_logout_redirect_uri" | "state" | "client_id"
            )
        })
        .map(|(k, v)| json!({ "name": k, "value": v }))
        .collect();
    let html = state.theme().render(
        "templates/logout_confirm.html",
        json!({ "csrf": csrf, "fields": fields }),
    )?;
    Ok((jar, no_store(Html(html).into_response())).into_response())
}
