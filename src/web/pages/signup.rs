//! Signup, activation (the mailed link opens a confirmation page; only its POST consumes
//! the link, so mail scanners cannot burn it) and resending the activation mail. Answers
//! are the same whether or not an address has an account.

use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::login::safe_next;
use crate::accounts::signup::{self, LinkCtx, MailCtx};
use crate::accounts::{Email, Error};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::ClientIp;
use crate::web::extract::PageForm;

const HOUR: Duration = Duration::from_secs(3600);

/// The robot-check widget settings for templates (null when disabled).
pub fn captcha_ctx(state: &AppState) -> Value {
    match &state.config().captcha {
        Some(c) => {
            json!({ "site_key": c.site_key, "script_url": c.script_url.as_str(), "widget_class": c.widget_class })
        }
        None => Value::Null,
    }
}

/// Runs the robot check (when configured) on a submitted form; the error is the message
/// to show.
pub async fn robot_check(
    state: &AppState,
    fields: &std::collections::HashMap<String, String>,
    ip: std::net::IpAddr,
) -> Result<(), String> {
    let Some(c) = &state.config().captcha else {
        return Ok(());
    };
    crate::captcha::verify(state.http(), c, fields.get(&c.response_field).map(String::as_str), ip)
        .await
        .map_err(|e| e.to_string())
}

/// Renders `template` with a CSRF token (and the robot-check settings) added to `ctx`.
pub fn page(state: &AppState, jar: CookieJar, status: StatusCode, template: &str, mut ctx: Value) -> Response {
    let (jar, csrf) = cookies::csrf(state.config(), jar);
    if let Value::Object(m) = &mut ctx {
        m.insert("csrf".into(), csrf.into());
        m.insert("captcha".into(), captcha_ctx(state));
    }
    match state.theme().render(template, ctx) {
        Ok(html) => (
            status,
            jar,
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Html(html),
        )
            .into_response(),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
}

/// The generic message page.
pub fn message(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let link = link.map(|(href, label)| json!({ "href": href, "label": label }));
    page(
        state,
        jar,
        status,
        "templates/message.html",
        json!({ "title": title, "message": text, "link": link }),
    )
}

pub fn mail_ctx(state: &AppState) -> MailCtx<'_> {
    MailCtx {
        theme: state.theme(),
        issuer: &state.config().issuer,
        issuer_id: &state.config().issuer_id,
    }
}

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
        (None, Some(n)) => format!("next={}", enc(n)),
        (None, None) => String::new(),
    }
}

/// Counts a mail-sending request per IP and per address; true when over the limit.
pub async fn over_mail_limit(
    state: &AppState,
    kind: &str,
    ip: std::net::IpAddr,
    email: &str,
) -> Result<bool, crate::store::StoreError> {
    let limit = state.config().accounts.mail_requests_per_hour;
    let by_ip = state.store().incr(&format!("{kind}-ip:{ip}"), HOUR).await?;
    let who = state.token_hasher().hash(&email.trim().to_lowercase());
    let by_address = state.store().incr(&format!("{kind}-addr:{who}"), HOUR).await?;
    // Per IP a little more room: several people may share an address.
    Ok(by_ip > limit * 4 || by_address > limit)
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
        json!({ "email": "", "errors": {}, "next": next, "authreq": q.authreq }),
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
    csrf: Option<String>,
    next: Option<String>,
    authreq: Option<String>,
    #[serde(flatten)]
    extra: std::collections::HashMap<String, String>,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    form: Result<Form<SignupForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return PageError::BadRequest("The signup form was malformed.".into()).render(state.theme());
    };
    if !cookies::csrf_ok(state.config(), &jar, f.csrf.as_deref()) {
        return PageError::Csrf.render(state.theme());
    }
    let next = f.next.as_deref().and_then(safe_next);
    let again = |jar, errors: Value, error: Option<&str>, status| {
        page(
            &state,
            jar,
            status,
            "templates/signup.html",
            json!({ "email": f.email, "errors": errors, "error": error, "next": next, "authreq": f.authreq }),
        )
    };
    if let Err(msg) = robot_check(&state, &f.extra, ip).await {
        return again(jar, json!({}), Some(&msg), StatusCode::BAD_REQUEST);
    }
    match over_mail_limit(&state, "signup", ip, &f.email).await {
        Ok(true) => {
            return again(
                jar,
                json!({}),
                Some("Too many attempts. Try again in an hour."),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Ok(false) => {}
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
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
        return again(
            jar,
            json!({ "password_confirm": "The passwords do not match." }),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
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
            carry(f.authreq.as_deref(), next),
        ),
        email,
        SecretString::from(f.password.clone()),
    )
    .await;
    match result {
        Ok(()) => message(
            &state,
            jar,
            StatusCode::OK,
            "Check your inbox",
            "We sent a link to confirm your email address. Open it to activate your account.",
            None,
        ),
        Err(Error::Password(e)) => again(
            jar,
            json!({ "password": e.to_string() }),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
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

pub async fn activate_show(State(state): State<AppState>, jar: CookieJar, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    let live = crate::accounts::links::peek(
        state.store(),
        state.token_hasher(),
        crate::accounts::links::Purpose::Activation,
        &token,
    )
    .await;
    match live {
        Ok(Some(_)) => page(
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
        ),
        Ok(None) => message(
            &state,
            jar,
            StatusCode::GONE,
            "Link expired",
            LINK_EXPIRED,
            Some(("/signup/resend", "Send a new link")),
        ),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
}

pub async fn activate_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<TokenForm>,
) -> Response {
    let c = state.config();
    let then = carry(f.authreq.as_deref(), f.next.as_deref());
    let links = link_ctx(&state, c.accounts.activation_ttl_secs, String::new());
    match signup::activate(state.db(), &mail_ctx(&state), &links, &f.token.unwrap_or_default()).await {
        Ok(Some(a)) if a.needs_password => message(
            &state,
            jar,
            StatusCode::OK,
            "Your account is active",
            "Your email address is confirmed. Choose a password to sign in.",
            Some(("/password/reset", "Choose a password")),
        ),
        Ok(Some(_)) if then.is_empty() => Redirect::to("/login?activated=1").into_response(),
        Ok(Some(_)) => Redirect::to(&format!("/login?activated=1&{then}")).into_response(),
        Ok(None) => message(
            &state,
            jar,
            StatusCode::GONE,
            "Link expired",
            LINK_EXPIRED,
            Some(("/signup/resend", "Send a new link")),
        ),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
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

/// A form that asks for a link by mail: password reset, activation resend.
#[derive(Debug, Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(flatten)]
    extra: std::collections::HashMap<String, String>,
}

/// What every "mail me a link" form checks before anything is sent (its shape and CSRF
/// token were checked by [`PageForm`]): the robot check, the mail limit and the address. `Err` is the page to answer with; `render`
/// shows the form again with an error.
pub async fn mail_request(
    state: &AppState,
    ip: std::net::IpAddr,
    jar: &CookieJar,
    f: EmailForm,
    kind: &str,
    render: fn(&AppState, CookieJar, StatusCode, &str, Option<&str>) -> Response,
) -> Result<Email, Response> {
    if let Err(msg) = robot_check(state, &f.extra, ip).await {
        return Err(render(
            state,
            jar.clone(),
            StatusCode::BAD_REQUEST,
            &f.email,
            Some(&msg),
        ));
    }
    match over_mail_limit(state, kind, ip, &f.email).await {
        Ok(true) => {
            return Err(render(
                state,
                jar.clone(),
                StatusCode::TOO_MANY_REQUESTS,
                &f.email,
                Some("Too many requests. Try again in an hour."),
            ));
        }
        Ok(false) => {}
        Err(e) => return Err(PageError::Internal(e.to_string()).render(state.theme())),
    }
    Email::parse(&f.email).map_err(|_| {
        render(
            state,
            jar.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &f.email,
            Some("Enter a valid email address."),
        )
    })
}

pub async fn resend_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<EmailForm>,
) -> Response {
    let email = match mail_request(&state, ip, &jar, f, "resend", resend_form).await {
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
