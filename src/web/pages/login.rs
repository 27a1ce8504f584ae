//! The hosted sign-in page (the consent screen is in `consent.rs`).
//!
//! Login: CSRF-protected form; argon2id on the bounded pool, with a dummy verification
//! for unknown emails so both take the same time; one generic error message; failures
//! throttled per IP, per account and per device cookie (`accounts::throttle`); a new
//! session token on every login.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::common::*;
use crate::accounts::{Email, sign_in, throttle};
use crate::auth;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::ClientIp;
use crate::web::extract::PageForm;

/// Failed-password audit writes running at once (each a few milliseconds; the login
/// throttle bounds how many can be asked for).
const FAILED_SIGN_IN_WRITES_MAX: usize = 32;
static FAILED_SIGN_IN_WRITES: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(FAILED_SIGN_IN_WRITES_MAX)));

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    authreq: Option<String>,
    next: Option<String>,
    activated: Option<String>,
    reset: Option<String>,
    /// A sensitive change asked for a fresh sign-in.
    reauth: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    authreq: Option<String>,
    next: Option<String>,
    /// "Keep me signed in": a persistent cookie instead of one that ends with the browser.
    remember: Option<String>,
    /// A sensitive change asked for this sign-in: a trusted browser does not skip the
    /// second factor.
    reauth: Option<String>,
    #[serde(flatten)]
    extra: std::collections::HashMap<String, String>,
}

struct View<'a> {
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    unverified: bool,
    authreq: Option<&'a str>,
    next: Option<LocalPath<'a>>,
    client_name: Option<String>,
    reauth: bool,
}

async fn render(state: &AppState, jar: CookieJar, status: StatusCode, v: View<'_>) -> Response {
    let (jar, csrf) = cookies::csrf(state.config(), jar);
    // A passwordless ceremony for every view: sealed into the page, nothing stored.
    let passkey =
        auth::passkeys::start_sign_in(&auth_ctx(state)).map(|c| json!({ "options": c.options, "state": c.state }));
    let ctx = json!({
        "passkey": passkey,
        "reauth": v.reauth,
        "csrf": csrf,
        "email": v.email,
        "error": v.error,
        "notice": v.notice,
        "unverified": v.unverified,
        "captcha": super::common::captcha_ctx(state),
        "authreq": v.authreq,
        "next": v.next,
        "client_name": v.client_name,
        "upstream": state.upstream().buttons(),
    });
    match state.theme().render("templates/login.html", ctx) {
        Ok(html) => (
            status,
            jar,
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Html(html),
        )
            .into_response(),
        Err(e) => PageError::from(e).render(state.theme()),
    }
}

async fn client_name(state: &AppState, authreq: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(id) = authreq else { return (None, None) };
    let Some(req) = crate::web::oidc::load_pending(state, id).await else {
        return (None, None);
    };
    // Only a courtesy on the page: a failed lookup shows no name, and is logged.
    let name = match state.clients().find(state.db(), &req.client_id).await {
        Ok(c) => c.map(|c| c.name),
        Err(e) => {
            tracing::warn!(error = %e, "client name for the sign-in page not read");
            None
        }
    };
    (name, req.login_hint)
}

/// The sign-in page with an error from elsewhere (an upstream provider's answer), going
/// on to `next` afterwards.
pub(super) async fn with_error(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    error: &str,
    next: Option<&str>,
) -> Response {
    let view = View {
        email: "",
        error: Some(error),
        notice: None,
        unverified: false,
        authreq: None,
        next: next.and_then(safe_next),
        client_name: None,
        reauth: false,
    };
    render(state, jar, status, view).await
}

pub async fn show(State(state): State<AppState>, jar: CookieJar, Query(q): Query<LoginQuery>) -> Response {
    let (client_name, hint) = client_name(&state, q.authreq.as_deref()).await;
    let next = q.next.as_deref().and_then(safe_next);
    let notice = if q.activated.is_some() {
        Some("Your email address is confirmed. Sign in to continue.")
    } else if q.reset.is_some() {
        Some("Your password was changed. Sign in with the new one.")
    } else if q.reauth.is_some() {
        Some("For your security, confirm it is you: sign in again to continue.")
    } else {
        None
    };
    let view = View {
        email: hint.as_deref().unwrap_or_default(),
        error: None,
        notice,
        unverified: false,
        authreq: q.authreq.as_deref(),
        next,
        client_name,
        reauth: q.reauth.is_some(),
    };
    render(&state, jar, StatusCode::OK, view).await
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    let authreq = f.authreq.as_deref().filter(|a| !a.is_empty());
    let next = f.next.as_deref().and_then(safe_next);
    let (client_name, _) = client_name(&state, authreq).await;
    let view = |error| View {
        email: &f.email,
        error: Some(error),
        notice: None,
        unverified: false,
        authreq,
        next,
        client_name: client_name.clone(),
        reauth: f.reauth.is_some(),
    };
    let generic = "Incorrect email or password.";
    if let Err(msg) = super::common::robot_check(&state, &f.extra, ip).await {
        return Ok(render(&state, jar, StatusCode::BAD_REQUEST, view(&msg)).await);
    }

    if f.password.is_empty() || f.password.len() > 4096 {
        return Ok(render(&state, jar, StatusCode::UNAUTHORIZED, view(generic)).await);
    }
    let email = Email::parse(&f.email).ok();
    let user = match &email {
        Some(e) => crate::accounts::find_by_email(state.db(), e).await?,
        None => None,
    };
    // A browser that signed in to this account before holds its device cookie.
    let now = chrono::Utc::now().timestamp();
    let device_cookie = user.as_ref().and_then(|u| {
        let suffix = throttle::device_cookie_suffix(state.token_hasher(), u.id);
        cookies::device(state.config(), &jar, &suffix)
    });
    let device = match (&user, &device_cookie) {
        (Some(u), Some(v)) => u.password_hash.as_deref().and_then(|h| {
            let of = throttle::DeviceOf {
                user: u.id,
                password_hash: h,
            };
            throttle::device_nonce(state.token_hasher(), of, v, now)
        }),
        _ => None,
    };
    let limits = throttle::Limits::from(&state.config().accounts);
    let normalised = f.email.trim().to_lowercase();
    let attempt = match throttle::begin(state.store(), state.token_hasher(), limits, ip, &normalised, device).await? {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(%ip, "login throttled");
            let text = format!(
                "Too many sign-in attempts. Try again in {} minutes.",
                wait.as_secs() / 60
            );
            return Ok(render(&state, jar, StatusCode::TOO_MANY_REQUESTS, view(&text)).await);
        }
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let checked = match state.dummy_hash().await {
        Ok(dummy) => sign_in::check_password(state.passwords(), dummy, stored.as_deref(), &f.password).await,
        Err(e) => Err(e),
    };
    let verified = match checked {
        Ok(v) => v,
        Err(_) => {
            // At capacity: not a failed guess, and nothing to wait long for.
            attempt.succeeded(state.store()).await;
            tracing::warn!("sign-in refused: password hashing at capacity");
            let mut res = render(
                &state,
                jar,
                StatusCode::SERVICE_UNAVAILABLE,
                view("Signing in is very busy right now. Try again in a few seconds."),
            )
            .await;
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("2"),
            );
            return Ok(res);
        }
    };
    if !verified && let Some(u) = &user {
        // Written off the request path: the answer must take as long as for an address
        // nobody has (which is not recorded).
        let d = crate::accounts::notify::device(user_agent(&headers));
        let (db, id, device) = (state.db().clone(), u.id, d.label());
        // At most FAILED_SIGN_IN_WRITES_MAX wait on a slow database; beyond that the event
        // is dropped (and logged) rather than piling up.
        match FAILED_SIGN_IN_WRITES.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let amr = ["pwd".to_string()];
                    let seen = crate::accounts::SignIn {
                        ip,
                        device: &device,
                        amr: &amr,
                    };
                    if let Err(e) = crate::accounts::record_failed_sign_in(&db, id, seen).await {
                        tracing::warn!(error = %e, "failed sign-in not audited");
                    }
                });
            }
            Err(_) => tracing::warn!("failed sign-in not audited: too many writes waiting"),
        }
    }
    let (Some(user), Some(hash)) = (user.filter(|_| verified), stored) else {
        return Ok(render(&state, jar, StatusCode::UNAUTHORIZED, view(generic)).await);
    };
    // The right password is no failed guess, whatever follows.
    attempt.succeeded(state.store()).await;
    let grace = state.config().accounts.deletion_grace_days;
    if user.deleted_at.is_some() && !crate::accounts::lifecycle::restorable(&user, grace) {
        return Ok(render(&state, jar, StatusCode::UNAUTHORIZED, view(generic)).await);
    }
    if !crate::accounts::lifecycle::may_begin(&user, grace) {
        let v = View {
            unverified: true,
            ..view("Your email address is not verified yet. Open the link in the activation mail we sent you.")
        };
        return Ok(render(&state, jar, StatusCode::FORBIDDEN, v).await);
    }
    let stored_hash = sign_in::upgrade_hash(state.db(), state.passwords(), user.id, &hash, &f.password).await;
    // This browser knows the password: its own throttling budget from now on.
    let suffix = throttle::device_cookie_suffix(state.token_hasher(), user.id);
    let of = throttle::DeviceOf {
        user: user.id,
        password_hash: &stored_hash,
    };
    let jar = cookies::set_device(
        state.config(),
        jar,
        &suffix,
        throttle::device_token(state.token_hasher(), of, now),
    );
    let then = then_of(authreq, next);
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), f.remember.is_some());
    let first = auth::FirstFactor {
        user,
        amr: vec!["pwd".to_string()],
    };
    // A trusted browser is never enough when the relying party asked for a fresh
    // authentication (`max_age`, `prompt=login`): the second factor is asked again.
    let demands_fresh = match authreq {
        Some(id) => crate::web::oidc::load_pending(&state, id)
            .await
            .is_some_and(|r| r.max_age.is_some() || r.prompt.contains("login")),
        None => false,
    };
    let trust = if f.reauth.is_some() || demands_fresh {
        Trust::Ignore
    } else {
        Trust::Honour
    };
    begin_sign_in(&state, jar, first, origin, then, trust).await
}

/// Where a sign-in continues: the authorization request it interrupted, the local page
/// it was asked from, or the account.
pub(super) fn then_of(authreq: Option<&str>, next: Option<LocalPath<'_>>) -> String {
    match (authreq, next) {
        (Some(id), _) => resume_url(id),
        (None, Some(n)) => n.to_string(),
        (None, None) => "/account".to_string(),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct PasskeyForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    credential: String,
    authreq: Option<String>,
    next: Option<String>,
    /// "Keep me signed in", carried over from the password form by the page's script.
    remember: Option<String>,
}

/// A passwordless sign-in with a passkey: multi-factor by itself, so it finishes at once.
/// Not throttled and never blocked by the second-factor lockout: an assertion cannot be
/// guessed, and a stranger's wrong codes must not keep the owner out.
pub async fn passkey_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<PasskeyForm>,
) -> Result<Response, PageError> {
    let authreq = f.authreq.as_deref().filter(|a| !a.is_empty());
    let next = f.next.as_deref().and_then(safe_next);
    let ctx = auth_ctx(&state);
    let Some(first) = auth::passkeys::sign_in(&ctx, &f.state, &f.credential).await? else {
        let (client_name, _) = client_name(&state, authreq).await;
        let view = View {
            email: "",
            error: Some("That passkey was not accepted. Try again, or sign in with your password."),
            notice: None,
            unverified: false,
            authreq,
            next,
            client_name,
            reauth: false,
        };
        return Ok(render(&state, jar, StatusCode::UNAUTHORIZED, view).await);
    };
    let then = then_of(authreq, next);
    let remember = f.remember.as_deref().is_some_and(|r| !r.is_empty());
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), remember);
    begin_sign_in(&state, jar, first, origin, then, Trust::Ignore).await
}
