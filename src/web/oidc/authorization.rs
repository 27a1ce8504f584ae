//! The authorization endpoint: validation, then login, consent and the code, resumed
//! at `/oauth2/authorize/resume` after each page; pending requests bound to the browser.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use crate::oidc::authorize::{self, AuthRequest, Rejection, Reply, ResponseMode};
use crate::oidc::tokens::{self, CodeGrant};
use crate::oidc::{ErrorCode, OAuthError};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::oauth_form::{OAuthForm, OAuthParams};

use super::*;

// ----- authorization endpoint -------------------------------------------------------

pub(super) async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let encoded = serde_urlencoded::to_string(&q).unwrap_or_default();
    authorize(state, jar, OAuthParams::parse(encoded.as_bytes())).await
}

pub(super) async fn authorize_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<OAuthForm, OAuthError>,
) -> Result<Response, PageError> {
    authorize(state, jar, form.map(|f| f.0)).await
}

pub(super) async fn authorize(
    state: AppState,
    jar: CookieJar,
    params: Result<OAuthParams, OAuthError>,
) -> Result<Response, PageError> {
    let params =
        params.map_err(|e| PageError::BadRequest(format!("The sign-in request is malformed: {}.", e.description)))?;
    let (params, pushed) = resolve_pushed(&state, params).await.map_err(PageError::BadRequest)?;
    let p: authorize::Params = params.to();
    let client = match p.client_id.as_deref().filter(|c| !c.is_empty() && c.len() <= 256) {
        Some(id) => state.clients().find(state.db(), id).await?,
        None => None,
    };
    match authorize::validate(&p, client.as_ref(), chrono::Utc::now().timestamp_millis()) {
        Ok(req) if client.as_ref().is_some_and(|c| c.require_par) && !pushed => Ok(reply_error(
            &state,
            &req.reply,
            &OAuthError::invalid_request("this client must use pushed authorization requests"),
        )),
        Ok(mut req) => {
            if let Some(hint) = p.id_token_hint.as_deref() {
                match verify_id_token_hint(&state, hint) {
                    Some(claims) => req.expected_sub = claims["sub"].as_str().map(str::to_string),
                    None => {
                        let e = OAuthError::invalid_request("id_token_hint is not a valid ID token from this server");
                        return Ok(reply_error(&state, &req.reply, &e));
                    }
                }
            }
            proceed(&state, jar, None, req).await
        }
        Err(Rejection::Page(msg)) => Err(PageError::BadRequest(msg)),
        Err(Rejection::Redirect(reply, e)) => Ok(reply_error(&state, &reply, &e)),
    }
}

/// Answers the client that the user denied the request.
pub fn deny(state: &AppState, req: &AuthRequest) -> Response {
    reply_error(
        state,
        &req.reply,
        &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
    )
}

pub(super) fn reply_error(state: &AppState, reply: &Reply, e: &OAuthError) -> Response {
    let params = authorize::response_params(reply, &state.config().issuer_id, authorize::error_params(e));
    deliver(state, reply, &params)
}

/// Sends an authorization response: a 303 redirect (query) or an auto-submitted form.
pub(super) fn deliver(state: &AppState, reply: &Reply, params: &[(&'static str, String)]) -> Response {
    match reply.mode {
        ResponseMode::Query => no_store(Redirect::to(&authorize::query_redirect(reply, params)).into_response()),
        ResponseMode::FormPost => {
            let fields: Vec<_> = params.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
            let ctx = json!({ "action": reply.redirect_uri, "fields": fields });
            match state.theme().render("templates/form_post.html", ctx) {
                Ok(html) => no_store(Html(html).into_response()),
                Err(e) => PageError::from(e).into_response(),
            }
        }
    }
}

/// The binding of pending requests to this browser: a keyed hash of its CSRF cookie
/// (created when missing).
pub fn browser_binding(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    let (jar, csrf) = cookies::csrf(state.config(), jar);
    let binding = state.token_hasher().hash(&format!("authreq-browser:{csrf}"));
    (jar, binding)
}

/// A pending request, if it exists and was started in this browser.
pub async fn pending_for_browser(state: &AppState, jar: &CookieJar, id: &str) -> Option<AuthRequest> {
    let req = load_pending(state, id).await?;
    let (_, binding) = browser_binding(state, jar.clone());
    let cookie_present = jar.iter().any(|c| c.name().ends_with("gh_csrf"));
    (cookie_present && req.browser.as_deref() == Some(binding.as_str())).then_some(req)
}

pub(super) async fn save_pending(state: &AppState, id: Option<&str>, req: &AuthRequest) -> Result<String, OAuthError> {
    let id = id.map_or_else(crate::crypto::random_token::<24>, str::to_string);
    let value = serde_json::to_vec(req).map_err(OAuthError::server)?;
    state
        .store()
        .put(&crate::store::keys::authreq(&id), &value, PENDING_TTL)
        .await?;
    Ok(id)
}

/// Loads a pending authorization request.
pub async fn load_pending(state: &AppState, id: &str) -> Option<AuthRequest> {
    if id.len() > 64 {
        return None;
    }
    let raw = state.store().get(&crate::store::keys::authreq(id)).await.ok()??;
    serde_json::from_slice(&raw).ok()
}

/// Stores a pending request again (after consent).
pub async fn update_pending(state: &AppState, id: &str, req: &AuthRequest) -> Result<(), OAuthError> {
    save_pending(state, Some(id), req).await.map(|_| ())
}

/// Takes a validated request as far as it can go: login, consent, then the code.
pub(super) async fn proceed(
    state: &AppState,
    jar: CookieJar,
    pending_id: Option<&str>,
    mut req: AuthRequest,
) -> Result<Response, PageError> {
    let (jar, binding) = browser_binding(state, jar);
    match &req.browser {
        Some(b) if *b != binding => {
            return Err(PageError::BadRequest(
                "This sign-in request was started in another browser. Go back to the application and start again."
                    .into(),
            ));
        }
        Some(_) => {}
        None => req.browser = Some(binding),
    }
    let response = proceed_bound(state, &jar, pending_id, req).await?;
    Ok((jar, response).into_response())
}

pub(super) async fn proceed_bound(
    state: &AppState,
    jar: &CookieJar,
    pending_id: Option<&str>,
    req: AuthRequest,
) -> Result<Response, PageError> {
    let result: Result<Result<Response, PageError>, OAuthError> = async {
        use crate::oidc::interaction::{self, ConsentFacts, Step};
        let now_ms = chrono::Utc::now().timestamp_millis();
        let session = current_session(state, jar).await.map(|(_, s)| s);
        let Some(client) = state.clients().find(state.db(), &req.client_id).await? else {
            return Ok(Err(PageError::BadRequest(
                "The application is no longer registered.".into(),
            )));
        };
        // The stored consent is read only when the decision depends on it.
        let granted = match &session {
            Some(s) if interaction::needs_consent_record(&req, Some(s), client.first_party, now_ms) => {
                Some(crate::oidc::consent::granted(state.db(), s.user_id, &client.id).await?)
            }
            _ => None,
        };
        let facts = ConsentFacts {
            first_party: client.first_party,
            granted: granted.as_deref(),
            require_mfa: client.require_mfa,
        };
        let session = match (interaction::next_step(&req, session.as_ref(), facts, now_ms), session) {
            (Step::Refuse(e), _) => return Ok(Ok(reply_error(state, &req.reply, &e))),
            (Step::Login, _) | (Step::Issue, None) => {
                let id = save_pending(state, pending_id, &req).await?;
                return Ok(Ok(see_other(&format!("/login?authreq={id}"))));
            }
            (Step::StepUp, _) => {
                let id = save_pending(state, pending_id, &req).await?;
                return Ok(Ok(see_other(&format!("/login/step-up?authreq={id}"))));
            }
            (Step::Consent, _) => {
                let id = save_pending(state, pending_id, &req).await?;
                return Ok(Ok(see_other(&format!("/consent?authreq={id}"))));
            }
            (Step::Issue, Some(s)) => s,
        };
        let code = tokens::issue_code(
            &ctx(state),
            &CodeGrant {
                client_id: client.id.clone(),
                redirect_uri: req.reply.redirect_uri.clone(),
                user_id: session.user_id,
                // The admin API's scope only for a multi-factor superuser.
                scope: crate::admin::user_scope(state.db(), req.scope.clone(), session.user_id, &session.amr).await?,
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                sid: session.sid.clone(),
                resources: req.resources.clone(),
            },
        )
        .await?;
        if let Some(id) = pending_id {
            state.store().delete(&crate::store::keys::authreq(id)).await?;
        }
        let session_ttl = std::time::Duration::from_secs(state.config().tokens.session_secs);
        crate::oidc::backchannel::remember_client(state.store(), &session.sid, &client.id, session_ttl).await?;
        let params = authorize::response_params(&req.reply, &state.config().issuer_id, vec![("code", code)]);
        Ok(Ok(deliver(state, &req.reply, &params)))
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) if e.code == ErrorCode::ServerError => Ok(reply_error(
            state,
            &req.reply,
            &OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again in a moment"),
        )),
        Err(e) => Ok(reply_error(state, &req.reply, &e)),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct ResumeQuery {
    authreq: Option<String>,
}

pub(super) async fn resume(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ResumeQuery>,
) -> Result<Response, PageError> {
    let id = q
        .authreq
        .ok_or_else(|| PageError::BadRequest("The sign-in request is missing.".into()))?;
    let Some(req) = load_pending(&state, &id).await else {
        return Err(PageError::BadRequest(
            "This sign-in request has expired. Go back to the application and start again.".into(),
        ));
    };
    proceed(&state, jar, Some(&id), req).await
}
