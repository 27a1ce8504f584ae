//! Protocol endpoints: thin adapters between HTTP and `crate::oidc`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use super::AppState;
use super::cookies;
use super::error::PageError;
use super::extract::oauth_form::{OAuthForm, OAuthParams};
use crate::accounts::sessions::{self, Session};
use crate::oidc::authorize::{self, AuthRequest, Rejection, Reply, ResponseMode};
use crate::oidc::client_auth::{self, Presented};
use crate::oidc::discovery::{self, paths};
use crate::oidc::tokens::{self, CodeGrant, Ctx};
use crate::oidc::{ErrorCode, OAuthError, repo, scope};

/// How long a pending authorization request waits for login and consent.
const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(1800);

pub fn router() -> Router<AppState> {
    // CORS only where RFC 9700 §2.6 allows it: metadata, keys and back-channel endpoints
    // called from browsers; never on the authorization endpoint or pages.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let api = Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(paths::JWKS, get(jwks))
        .route(paths::TOKEN, post(token))
        .route(paths::USERINFO, get(userinfo).post(userinfo))
        .route(paths::INTROSPECT, post(introspect))
        .route(paths::REVOKE, post(revoke))
        .route(paths::PAR, post(par))
        .layer(cors);
    Router::new()
        .merge(api)
        .route(paths::AUTHORIZE, get(authorize_get).post(authorize_post))
        .route("/oauth2/authorize/resume", get(resume))
        .route(paths::END_SESSION, get(logout).post(logout_post))
}

fn ctx(state: &AppState) -> Ctx<'_> {
    Ctx {
        config: state.config(),
        db: state.db(),
        store: state.store(),
        keys: state.keys(),
        hasher: state.token_hasher(),
    }
}

/// Authenticates the client of a back-channel request.
async fn authenticate(
    state: &AppState,
    p: &Presented,
    endpoint: &str,
) -> Result<(entity::client::Model, client_auth::Method), OAuthError> {
    let issuer = &state.config().issuer_id;
    // RFC 7523 §3 and the 2025 audience-injection advisory: the issuer, the token
    // endpoint, or the endpoint the assertion is presented to.
    let audiences = [
        issuer.clone(),
        format!("{issuer}{}", paths::TOKEN),
        format!("{issuer}{endpoint}"),
    ];
    let check = client_auth::AssertionCheck {
        audiences: &audiences,
        store: state.store(),
    };
    client_auth::authenticate(state.db(), state.token_hasher(), p, &check).await
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

async fn metadata(State(state): State<AppState>) -> Response {
    let mut res = Json(discovery::metadata(state.config())).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}

async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.keys().jwks();
    let mut res = (StatusCode::OK, body.as_str().to_string()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}

/// Client credentials from `Authorization: Basic` and the form (RFC 6749 §2.3.1: the
/// id and secret are form-encoded before base64).
fn presented(headers: &HeaderMap, form: &OAuthParams) -> Result<Presented, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") => {
            let bad = || OAuthError::invalid_client("malformed Basic credentials");
            let decoded = STANDARD.decode(v[6..].trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = text.split_once(':').ok_or_else(bad)?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id).ok_or_else(bad)?, dec(secret).ok_or_else(bad)?))
        }
        _ => None,
    };
    let assertion = match (form.get("client_assertion_type"), form.get("client_assertion")) {
        (Some(t), Some(a)) => Some((t.to_string(), a.to_string())),
        (None, None) => None,
        _ => {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        }
    };
    Ok(Presented {
        assertion,
        basic,
        client_id: form.get("client_id").map(str::to_string),
        client_secret: form.get("client_secret").map(str::to_string),
    })
}

async fn token(State(state): State<AppState>, headers: HeaderMap, form: Result<OAuthForm, OAuthError>) -> Response {
    let result = async {
        let OAuthForm(form) = form?;
        let p = presented(&headers, &form)?;
        let (client, _) = authenticate(&state, &p, paths::TOKEN).await?;
        let ctx = ctx(&state);
        match form.get("grant_type") {
            Some("authorization_code") => {
                tokens::exchange_code(
                    &ctx,
                    &client,
                    form.get("code"),
                    form.get("redirect_uri"),
                    form.get("code_verifier"),
                    form.get("resource"),
                )
                .await
            }
            Some("refresh_token") => {
                tokens::refresh(
                    &ctx,
                    &client,
                    form.get("refresh_token"),
                    form.get("scope"),
                    form.get("resource"),
                )
                .await
            }
            Some("client_credentials") => {
                tokens::client_credentials(&ctx, &client, form.get("scope"), form.get("resource")).await
            }
            Some(other) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            )),
            None => Err(OAuthError::invalid_request("grant_type is missing")),
        }
    }
    .await;
    match result {
        Ok(t) => no_store(Json(t).into_response()),
        Err(e) => e.into_response(),
    }
}

/// The bearer token of a userinfo request (RFC 6750 §2.1 header, §2.2 form body).
fn bearer(headers: &HeaderMap, form: Option<&OAuthParams>) -> Result<Option<String>, OAuthError> {
    let header_token = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") => Some(v[7..].trim().to_string()),
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "the Authorization header is not a Bearer token",
            ));
        }
        None => None,
    };
    let body_token = form.and_then(|f| f.get("access_token")).map(str::to_string);
    match (header_token, body_token) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the access token only once")),
        (h, b) => Ok(h.or(b)),
    }
}

async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = if method == Method::POST && !body.is_empty() {
            Some(OAuthParams::parse(&body)?)
        } else {
            None
        };
        let Some(token) = bearer(&headers, form.as_ref())? else {
            // RFC 6750 §3.1: no credentials, no error code.
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
            return Ok(res);
        };
        let ctx = ctx(&state);
        let claims = tokens::verify_access(&ctx, &token).await?;
        // A token meant for another resource server (RFC 8707) is no key to UserInfo:
        // only one for the client itself, or one naming this endpoint.
        if !claims.aud.contains(&claims.client_id) && !claims.aud.contains(&tokens::userinfo_url(&ctx)) {
            return Err(OAuthError::invalid_token("the access token is not meant for UserInfo"));
        }
        let scope = scope::parse(&claims.scope)?;
        if !scope.contains("openid") {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| OAuthError::invalid_token("the token has no user"))?;
        let Some((user, profile)) = crate::accounts::repo::find_with_profile(state.db(), user_id).await? else {
            return Err(OAuthError::invalid_token("the user no longer exists"));
        };
        if !crate::accounts::state::of(&user).is_usable() {
            return Err(OAuthError::invalid_token("the user account is not active"));
        }
        let body = crate::oidc::claims::user_claims(&user, profile.as_ref(), &scope, &state.config().profile_fields);
        Ok(no_store(Json(body).into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let result = async {
        let OAuthForm(form) = form?;
        let p = presented(&headers, &form)?;
        let (client, method) = authenticate(&state, &p, paths::INTROSPECT).await?;
        if method == client_auth::Method::None {
            return Err(OAuthError::invalid_client(
                "introspection needs an authenticated client",
            ));
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let ctx = ctx(&state);
        // Only the client a token was issued to learns about it (resource servers validate
        // access tokens with the JWKS).
        if let Ok(c) = tokens::verify_access(&ctx, token).await
            && c.client_id == client.id
        {
            let mut body = json!({
                "active": true,
                "token_type": "Bearer",
                "client_id": c.client_id,
                "sub": c.sub,
                "aud": c.aud,
                "iss": c.iss,
                "exp": c.exp,
                "iat": c.iat,
                "jti": c.jti,
            });
            // No scope, no member: "" is not a scope (RFC 6749 §3.3).
            if !c.scope.is_empty() {
                body["scope"] = c.scope.into();
            }
            return Ok(body);
        }
        if token.len() <= 256
            && let Some(row) = repo::find_refresh(state.db(), &state.token_hasher().hash(token)).await?
        {
            let now = chrono::Utc::now();
            let live = row.revoked_at.is_none()
                && row.consumed_at.is_none()
                && row.expires_at > now
                && row.family_expires_at > now;
            if live && row.client_id == client.id {
                return Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": row.scope,
                    "client_id": row.client_id,
                    "sub": row.user_id.map(|u| u.to_string()),
                    "iss": state.config().issuer_id,
                    "exp": row.expires_at.timestamp(),
                    "iat": row.created_at.timestamp(),
                }));
            }
        }
        Ok(json!({ "active": false }))
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn revoke(State(state): State<AppState>, headers: HeaderMap, form: Result<OAuthForm, OAuthError>) -> Response {
    let result = async {
        let OAuthForm(form) = form?;
        let p = presented(&headers, &form)?;
        let (client, _) = authenticate(&state, &p, paths::REVOKE).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let ctx = ctx(&state);
        if let Ok(c) = tokens::verify_access(&ctx, token).await {
            if c.client_id == client.id {
                tokens::revoke_access(state.store(), &c.jti, c.exp).await?;
            }
            return Ok(());
        }
        if token.len() <= 256
            && let Some(row) = repo::find_refresh(state.db(), &state.token_hasher().hash(token)).await?
            && row.client_id == client.id
        {
            repo::revoke_family(state.db(), row.family_id, chrono::Utc::now()).await?;
        }
        // RFC 7009 §2.2: unknown tokens are answered 200 as well.
        Ok::<(), OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

// ----- pushed authorization requests (RFC 9126) ---------------------------------------

const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
const PAR_TTL_SECS: u64 = 60;

async fn par(State(state): State<AppState>, headers: HeaderMap, form: Result<OAuthForm, OAuthError>) -> Response {
    let result = async {
        let OAuthForm(mut form) = form?;
        let p = presented(&headers, &form)?;
        let (client, _) = authenticate(&state, &p, paths::PAR).await?;
        if form.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
        }
        for k in ["client_secret", "client_assertion", "client_assertion_type"] {
            form.0.remove(k);
        }
        form.0.insert("client_id".into(), client.id.clone());
        let params: authorize::Params = form.to();
        match authorize::validate(&params, Some(&client), chrono::Utc::now().timestamp_millis()) {
            Ok(_) => {}
            Err(Rejection::Page(msg)) => return Err(OAuthError::invalid_request(msg)),
            Err(Rejection::Redirect(_, e)) => return Err(e),
        }
        let id = crate::crypto::random_token::<24>();
        let value = serde_json::to_vec(&form.0).map_err(OAuthError::server)?;
        state
            .store()
            .put(
                &format!("par:{id}"),
                &value,
                std::time::Duration::from_secs(PAR_TTL_SECS),
            )
            .await?;
        Ok(json!({ "request_uri": format!("{REQUEST_URI_PREFIX}{id}"), "expires_in": PAR_TTL_SECS }))
    }
    .await;
    match result {
        Ok(body) => no_store((StatusCode::CREATED, Json(body)).into_response()),
        Err(e) => e.into_response(),
    }
}

/// Replaces a `request_uri` request by the pushed parameters (single use).
async fn resolve_pushed(state: &AppState, params: OAuthParams) -> Result<(OAuthParams, bool), String> {
    let Some(uri) = params.get("request_uri") else {
        return Ok((params, false));
    };
    let expired = "The sign-in request has expired or was already used. Go back to the application and start again.";
    let id = uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|i| i.len() <= 64)
        .ok_or_else(|| expired.to_string())?;
    let raw = state
        .store()
        .take(&format!("par:{id}"))
        .await
        .map_err(|_| "The server is busy; try again.".to_string())?;
    let pushed: std::collections::HashMap<String, String> = raw
        .and_then(|r| serde_json::from_slice(&r).ok())
        .ok_or_else(|| expired.to_string())?;
    if params.get("client_id") != pushed.get("client_id").map(String::as_str) {
        return Err("The client_id does not match the pushed request.".into());
    }
    Ok((OAuthParams(pushed), true))
}

// ----- authorization endpoint -------------------------------------------------------

async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let encoded = serde_urlencoded::to_string(&q).unwrap_or_default();
    authorize(state, jar, OAuthParams::parse(encoded.as_bytes())).await
}

async fn authorize_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    authorize(state, jar, form.map(|f| f.0)).await
}

async fn authorize(state: AppState, jar: CookieJar, params: Result<OAuthParams, OAuthError>) -> Response {
    let params = match params {
        Ok(p) => p,
        Err(e) => {
            return PageError::BadRequest(format!("The sign-in request is malformed: {}.", e.description))
                .render(state.theme());
        }
    };
    let (params, pushed) = match resolve_pushed(&state, params).await {
        Ok(v) => v,
        Err(msg) => return PageError::BadRequest(msg).render(state.theme()),
    };
    let p: authorize::Params = params.to();
    let client = match p.client_id.as_deref().filter(|c| !c.is_empty() && c.len() <= 256) {
        Some(id) => match crate::clients::repo::find(state.db(), id).await {
            Ok(c) => c,
            Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
        },
        None => None,
    };
    match authorize::validate(&p, client.as_ref(), chrono::Utc::now().timestamp_millis()) {
        Ok(req) if client.as_ref().is_some_and(|c| c.require_par) && !pushed => reply_error(
            &state,
            &req.reply,
            &OAuthError::invalid_request("this client must use pushed authorization requests"),
        ),
        Ok(mut req) => {
            if let Some(hint) = p.id_token_hint.as_deref() {
                match verify_id_token_hint(&state, hint) {
                    Some(claims) => req.expected_sub = claims["sub"].as_str().map(str::to_string),
                    None => {
                        let e = OAuthError::invalid_request("id_token_hint is not a valid ID token from this server");
                        return reply_error(&state, &req.reply, &e);
                    }
                }
            }
            proceed(&state, jar, None, req).await
        }
        Err(Rejection::Page(msg)) => PageError::BadRequest(msg).render(state.theme()),
        Err(Rejection::Redirect(reply, e)) => reply_error(&state, &reply, &e),
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

fn reply_error(state: &AppState, reply: &Reply, e: &OAuthError) -> Response {
    let params = authorize::response_params(reply, &state.config().issuer_id, authorize::error_params(e));
    deliver(state, reply, &params)
}

/// Sends an authorization response: a 303 redirect (query) or an auto-submitted form.
fn deliver(state: &AppState, reply: &Reply, params: &[(&'static str, String)]) -> Response {
    match reply.mode {
        ResponseMode::Query => no_store(Redirect::to(&authorize::query_redirect(reply, params)).into_response()),
        ResponseMode::FormPost => {
            let fields: Vec<_> = params.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
            let ctx = json!({ "action": reply.redirect_uri, "fields": fields });
            match state.theme().render("templates/form_post.html", ctx) {
                Ok(html) => no_store(Html(html).into_response()),
                Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
            }
        }
    }
}

async fn current_session(state: &AppState, jar: &CookieJar) -> Option<(String, Session)> {
    let token = cookies::session(state.config(), jar)?;
    match sessions::load(state.store(), state.token_hasher(), &token).await {
        Ok(Some(s)) => {
            state.mark_seen(&s).await;
            Some((token, s))
        }
        _ => None,
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

async fn save_pending(state: &AppState, id: Option<&str>, req: &AuthRequest) -> Result<String, OAuthError> {
    let id = id.map_or_else(crate::crypto::random_token::<24>, str::to_string);
    let value = serde_json::to_vec(req).map_err(OAuthError::server)?;
    state.store().put(&format!("authreq:{id}"), &value, PENDING_TTL).await?;
    Ok(id)
}

/// Loads a pending authorization request.
pub async fn load_pending(state: &AppState, id: &str) -> Option<AuthRequest> {
    if id.len() > 64 {
        return None;
    }
    let raw = state.store().get(&format!("authreq:{id}")).await.ok()??;
    serde_json::from_slice(&raw).ok()
}

/// Stores a pending request again (after consent).
pub async fn update_pending(state: &AppState, id: &str, req: &AuthRequest) -> Result<(), OAuthError> {
    save_pending(state, Some(id), req).await.map(|_| ())
}

fn see_other(location: &str) -> Response {
    no_store(Redirect::to(location).into_response())
}

/// Takes a validated request as far as it can go: login, consent, then the code.
async fn proceed(state: &AppState, jar: CookieJar, pending_id: Option<&str>, mut req: AuthRequest) -> Response {
    let (jar, binding) = browser_binding(state, jar);
    match &req.browser {
        Some(b) if *b != binding => {
            return PageError::BadRequest(
                "This sign-in request was started in another browser. Go back to the application and start again."
                    .into(),
            )
            .render(state.theme());
        }
        Some(_) => {}
        None => req.browser = Some(binding),
    }
    let response = proceed_bound(state, &jar, pending_id, req).await;
    (jar, response).into_response()
}

async fn proceed_bound(state: &AppState, jar: &CookieJar, pending_id: Option<&str>, req: AuthRequest) -> Response {
    let result: Result<Response, OAuthError> = async {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let session = current_session(state, jar).await.map(|(_, s)| s);
        let needs_login = match &session {
            None => true,
            Some(s) => {
                (req.prompt.contains("login") && s.auth_time_ms < req.created_at_ms)
                    || req.max_age.is_some_and(|m| {
                        s.auth_time_ms < req.created_at_ms && now_ms - s.auth_time_ms > m.saturating_mul(1000)
                    })
                    || req
                        .expected_sub
                        .as_ref()
                        .is_some_and(|sub| *sub != s.user_id.to_string())
            }
        };
        if needs_login {
            if req.prompt.contains("none") {
                return Ok(reply_error(
                    state,
                    &req.reply,
                    &OAuthError::new(ErrorCode::LoginRequired, "the user is not logged in"),
                ));
            }
            let id = save_pending(state, pending_id, &req).await?;
            return Ok(see_other(&format!("/login?authreq={id}")));
        }
        let Some(session) = session else {
            return Err(OAuthError::server("session vanished"));
        };
        let Some(client) = crate::clients::repo::find(state.db(), &req.client_id).await? else {
            return Ok(PageError::BadRequest("The application is no longer registered.".into()).render(state.theme()));
        };
        // Consent given in this request counts only for the session that gave it.
        let consented_here = req.consent_given && req.consented_sid.as_deref() == Some(session.sid.as_str());
        if !consented_here && (!client.first_party || req.prompt.contains("consent")) {
            let granted = repo::consent(state.db(), session.user_id, &client.id).await?;
            let covered = client.first_party || req.scope.iter().all(|s| granted.contains(s));
            if !covered || req.prompt.contains("consent") {
                if req.prompt.contains("none") {
                    return Ok(reply_error(
                        state,
                        &req.reply,
                        &OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented"),
                    ));
                }
                let id = save_pending(state, pending_id, &req).await?;
                return Ok(see_other(&format!("/consent?authreq={id}")));
            }
        }
        let code = tokens::issue_code(
            &ctx(state),
            &CodeGrant {
                client_id: client.id.clone(),
                redirect_uri: req.reply.redirect_uri.clone(),
                user_id: session.user_id,
                scope: req.scope.clone(),
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
            state.store().delete(&format!("authreq:{id}")).await?;
        }
        let session_ttl = std::time::Duration::from_secs(state.config().tokens.session_secs);
        crate::oidc::backchannel::remember_client(state.store(), &session.sid, &client.id, session_ttl).await?;
        let params = authorize::response_params(&req.reply, &state.config().issuer_id, vec![("code", code)]);
        Ok(deliver(state, &req.reply, &params))
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) if e.code == ErrorCode::ServerError => reply_error(
            state,
            &req.reply,
            &OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again in a moment"),
        ),
        Err(e) => reply_error(state, &req.reply, &e),
    }
}

#[derive(serde::Deserialize)]
struct ResumeQuery {
    authreq: Option<String>,
}

async fn resume(State(state): State<AppState>, jar: CookieJar, Query(q): Query<ResumeQuery>) -> Response {
    let Some(id) = q.authreq else {
        return PageError::BadRequest("The sign-in request is missing.".into()).render(state.theme());
    };
    match load_pending(&state, &id).await {
        Some(req) => proceed(&state, jar, Some(&id), req).await,
        None => PageError::BadRequest(
            "This sign-in request has expired. Go back to the application and start again.".into(),
        )
        .render(state.theme()),
    }
}

// ----- RP-initiated logout ------------------------------------------------------------

/// The checked parameters of a logout request.
struct LogoutRequest {
    /// Where to send the browser afterwards (registered for the client), with `state`.
    target: Option<String>,
    /// The hint identified the user of the current session (or there is no session).
    trusted: bool,
}

/// The claims of an ID token this server issued (expired ones included, as hints may be old).
fn verify_id_token_hint(state: &AppState, hint: &str) -> Option<serde_json::Value> {
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

async fn check_logout(state: &AppState, jar: &CookieJar, p: &OAuthParams) -> Result<LogoutRequest, String> {
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
            let client = crate::clients::repo::find(state.db(), id)
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

async fn end_session(state: &AppState, jar: CookieJar) -> CookieJar {
    if let Some((token, _)) = current_session(state, &jar).await {
        crate::oidc::backchannel::end_browser_session(state.db(), state.store(), state.token_hasher(), &token).await;
    }
    cookies::clear_session(state.config(), jar)
}

fn logged_out(state: &AppState, jar: CookieJar, target: Option<String>) -> Response {
    match target {
        Some(t) => (jar, see_other(&t)).into_response(),
        None => match state.theme().render("templates/logged_out.html", json!({})) {
            Ok(html) => (jar, no_store(Html(html).into_response())).into_response(),
            Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
        },
    }
}

/// How long a logout posted cross-site waits for the browser's same-site GET.
const LOGOUT_CONTINUE_SECS: u64 = 60;

async fn logout(State(state): State<AppState>, jar: CookieJar, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut encoded = serde_urlencoded::to_string(&q).unwrap_or_default();
    // The same-site step of a logout that was posted cross-site (see `logout_post`).
    if let [(k, id)] = q.as_slice()
        && k == "continue"
    {
        let taken = if id.len() <= 64 {
            state.store().take(&format!("logout-post:{id}")).await
        } else {
            Ok(None)
        };
        encoded = match taken {
            Ok(Some(body)) => String::from_utf8(body).unwrap_or_default(),
            Ok(None) => {
                return PageError::BadRequest(
                    "This sign-out request has expired. Go back to the application and sign out again.".into(),
                )
                .render(state.theme());
            }
            Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
        };
    }
    let params = match OAuthParams::parse(encoded.as_bytes()) {
        Ok(p) => p,
        Err(e) => return PageError::BadRequest(e.description).render(state.theme()),
    };
    logout_flow(state, jar, params).await
}

async fn logout_post(State(state): State<AppState>, jar: CookieJar, form: Result<OAuthForm, OAuthError>) -> Response {
    let params = match form {
        Ok(OAuthForm(p)) => p,
        Err(e) => return PageError::BadRequest(e.description).render(state.theme()),
    };
    // A cross-site POST (the form-post style of many RPs) arrives without the SameSite=Lax
    // session cookie, so it cannot say which session to end. Answer with the same request
    // as a same-site GET: the browser follows it as a top-level navigation, with the
    // cookie, and that request ends the session.
    // The parameters wait in the store (60 s, single use) rather than in the URL, so the
    // ID token in the hint stays out of history and access logs.
    if params.get("confirm").is_none() && cookies::session(state.config(), &jar).is_none() {
        let id = crate::crypto::random_token::<16>();
        let body = serde_urlencoded::to_string(&params.0).unwrap_or_default();
        let ttl = std::time::Duration::from_secs(LOGOUT_CONTINUE_SECS);
        if let Err(e) = state
            .store()
            .put(&format!("logout-post:{id}"), body.as_bytes(), ttl)
            .await
        {
            return PageError::Internal(e.to_string()).render(state.theme());
        }
        return see_other(&format!("/oauth2/logout?continue={id}"));
    }
    // The confirmation form posts back here with its CSRF token.
    if params.get("confirm").is_some() {
        if !cookies::csrf_ok(state.config(), &jar, params.get("csrf")) {
            return PageError::Csrf.render(state.theme());
        }
        return match check_logout(&state, &jar, &params).await {
            Ok(req) => {
                let jar = end_session(&state, jar).await;
                logged_out(&state, jar, req.target)
            }
            Err(msg) => PageError::BadRequest(msg).render(state.theme()),
        };
    }
    logout_flow(state, jar, params).await
}

async fn logout_flow(state: AppState, jar: CookieJar, params: OAuthParams) -> Response {
    let req = match check_logout(&state, &jar, &params).await {
        Ok(r) => r,
        Err(msg) => return PageError::BadRequest(msg).render(state.theme()),
    };
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
    match state.theme().render(
        "templates/logout_confirm.html",
        json!({ "csrf": csrf, "fields": fields }),
    ) {
        Ok(html) => (jar, no_store(Html(html).into_response())).into_response(),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
}
