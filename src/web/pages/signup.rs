//! Signup, activation (the mailed link opens a confirmation page; only its POST consumes
//! the link, so mail scanners cannot burn it) and resending the activation mail. Answers
//! are the same whether or not an address has an account.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use super::common::{LocalPath, safe_next};
use crate::accounts::signup::{self, LinkCtx};
use crate::accounts::{Email, Error};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::ClientIp;
use crate::web::extract::PageForm;

fn link_ctx(state: &AppState, ttl_secs: u64, carry: String) -> LinkCtx<'_> {
    LinkCtx {
        store: state.store(),
        hasher: state.token_hasher(),
        ttl: Duration::from_secs(ttl_secs),
        carry,
    }
}

/// Where to continue after activation and login: the pending authorization request, or a
/// local `next` path, as query parameters.
fn carry(authreq: Option<&str>, next: Option<&str>) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    match (
        authreq.filter(|a| !a.is_empty() && a.len() <= 64),
        next.and_then(safe_next),
    ) {
        (Some(a), _) => format!("authreq={}", enc(a)),
        (None, Some(n)) => format!("next={}", enc(n.as_str())),
        (None, None) => String::new(),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
    authreq: Option<String>,
}

pub async fn show(State(state): State<AppState>, jar: CookieJar, Query(q): Query<NextQuery>) -> Response {
    let next = q.next.as_deref().and_then(safe_next);
    page(
        &state,
        jar,
        StatusCode::OK,
        "templates/signup.html",
        json!({ "email": "", "errors": {}, "next": next, "authreq": q.authreq, "upstream": state.upstream().buttons() }),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    next: Option<String>,
    authreq: Option<String>,
    #[serde(flatten)]
    extra: std::collections::HashMap<String, String>,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<SignupForm>,
) -> Result<Response, PageError> {
    let next = f.next.as_deref().and_then(safe_next);
    let again = |jar, errors: Value, error: Option<&str>, status| {
        Ok(page(
            &state,
            jar,
            status,
            "templates/signup.html",
            json!({ "email": f.email, "errors": errors, "error": error, "next": next, "authreq": f.authreq, "upstream": state.upstream().buttons() }),
        ))
    };
    if let Err(msg) = robot_check(&state, &f.extra, ip).await {
        return again(jar, json!({}), Some(&msg), StatusCode::BAD_REQUEST);
    }
    if over_mail_limit(&state, "signup", ip, &f.email).await? {
        let error = Some("Too many attempts. Try again in an hour.");
        return again(jar, json!({}), error, StatusCode::TOO_MANY_REQUESTS);
    }
    let email = match Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => {
            return again(
                jar,
                json!({ "email": e.to_string() }),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if f.password != f.password_confirm {
        let errors = json!({ "password_confirm": "The passwords do not match." });
        return again(jar, errors, None, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let c = state.config();
    let result = signup::signup(
        state.db(),
        state.passwords(),
        &c.password,
        &mail_ctx(&state),
        &link_ctx(
            &state,
            c.accounts.activation_ttl_secs,
            carry(f.authreq.as_deref(), next.as_ref().map(LocalPath::as_str)),
        ),
        email,
        SecretString::from(f.password.clone()),
    )
    .await;
    match result {
        Ok(()) => Ok(message(
            &state,
            jar,
            StatusCode::OK,
            "Check your inbox",
            "We sent a link to confirm your email address. Open it to activate your account.",
            None,
        )),
        Err(Error::Password(e)) => again(
            jar,
            json!({ "password": e.to_string() }),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenQuery {
    token: Option<String>,
    next: Option<String>,
    authreq: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenForm {
    token: Option<String>,
    next: Option<String>,
    authreq: Option<String>,
}

const LINK_EXPIRED: &str = "This link has expired or was already used.";

fn link_expired(state: &AppState, jar: CookieJar) -> Response {
    message(
        state,
        jar,
        StatusCode::GONE,
        "Link expired",
        LINK_EXPIRED,
        Some(("/signup/resend", "Send a new link")),
    )
}

pub async fn activate_show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    let live = crate::accounts::links::peek(
        state.store(),
        state.token_hasher(),
        crate::accounts::links::Purpose::Activation,
        &token,
    )
    .await?;
    if live.is_none() {
        return Ok(link_expired(&state, jar));
    }
    Ok(page(
        &state,
        jar,
        StatusCode::OK,
        "templates/confirm_link.html",
        json!({
            "title": "Confirm your email address",
            "message": "Press the button to activate your account.",
            "action": "/signup/activate",
            "token": token,
            "button": "Activate my account",
            "next": q.next.as_deref().and_then(safe_next),
            "authreq": q.authreq,
        }),
    ))
}

pub async fn activate_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    let c = state.config();
    let then = carry(f.authreq.as_deref(), f.next.as_deref());
    let links = link_ctx(&state, c.accounts.activation_ttl_secs, String::new());
    let token = f.token.unwrap_or_default();
    Ok(
        match signup::activate(state.db(), &mail_ctx(&state), &links, &token).await? {
            Some(a) if a.needs_password => message(
                &state,
                jar,
                StatusCode::OK,
                "Your account is active",
                "Your email address is confirmed. Choose a password to sign in.",
                Some(("/password/reset", "Choose a password")),
            ),
            Some(_) if then.is_empty() => Redirect::to("/login?activated=1").into_response(),
            Some(_) => Redirect::to(&format!("/login?activated=1&{then}")).into_response(),
            None => link_expired(&state, jar),
        },
    )
}

fn resend_form(state: &AppState, jar: CookieJar, status: StatusCode, email: &str, error: Option<&str>) -> Response {
    page(
        state,
        jar,
        status,
        "templates/email_form.html",
        json!({
            "title": "Resend the activation link",
            "message": "Enter the address you signed up with.",
            "action": "/signup/resend",
            "button": "Send a new link",
            "email": email,
            "error": error,
        }),
    )
}

pub async fn resend_show(State(state): State<AppState>, jar: CookieJar) -> Response {
    resend_form(&state, jar, StatusCode::OK, "", None)
}

pub async fn resend_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<EmailForm>,
) -> Response {
    let email = match mail_request(&state, ip, &jar, f, "resend", &resend_form).await {
        Ok(email) => email,
        Err(page) => return page,
    };
    // Off the request path, so the answer takes the same time for every address.
    let worker = state.clone();
    tokio::spawn(async move {
        let ttl = worker.config().accounts.activation_ttl_secs;
        if let Err(e) = signup::resend(
            worker.db(),
            &mail_ctx(&worker),
            &link_ctx(&worker, ttl, String::new()),
            &email,
        )
        .await
        {
            tracing::warn!(error = %e, "activation mail could not be prepared");
        }
    });
    message(
        &state,
        jar,
        StatusCode::OK,
        "Check your inbox",
        "If an account with this address is waiting for activation, we sent it a new link.",
        None,
    )
}
