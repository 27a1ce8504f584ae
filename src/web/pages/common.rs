//! What the hosted pages share: rendering a page (CSRF token and robot-check settings
//! added), the message page, the robot check, the mail limit and "mail me a link" forms,
//! the mail context, and `safe_next` for local redirects.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::Email;
use crate::accounts::signup::MailCtx;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;

const HOUR: Duration = Duration::from_secs(3600);

/// A path on this site that is safe to redirect to; made only by [`safe_next`], so a
/// redirect built from one can never leave the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct LocalPath<'a>(&'a str);

impl LocalPath<'_> {
    pub fn as_str(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for LocalPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// `next` as a [`LocalPath`] if it is one: one leading `/`, no second slash or backslash
/// after it, no control characters, nothing that decodes into those.
pub fn safe_next(next: &str) -> Option<LocalPath<'_>> {
    let decoded: String = url::form_urlencoded::parse(format!("x={}", next.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let ok = |s: &str| {
        s.starts_with('/')
            && !s.starts_with("//")
            && !s.starts_with("/\\")
            && !s.contains('\\')
            && !s.chars().any(char::is_control)
            && s.len() <= 2048
    };
    (ok(next) && ok(&decoded)).then_some(LocalPath(next))
}

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
        Err(e) => PageError::from(e).render(state.theme()),
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
        sealer: state.mail_sealer(),
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
    let by_ip = state
        .store()
        .incr(&crate::store::keys::mail_by_ip(kind, &ip.to_string()), HOUR)
        .await?;
    let who = state.token_hasher().hash(&email.trim().to_lowercase());
    let by_address = state
        .store()
        .incr(&crate::store::keys::mail_by_address(kind, &who), HOUR)
        .await?;
    // Per IP a little more room: several people may share an address.
    Ok(by_ip > limit * 4 || by_address > limit)
}

/// Shows a "mail me a link" form again: state, cookies, status, the address, the error.
pub type RenderForm = dyn Fn(&AppState, CookieJar, StatusCode, &str, Option<&str>) -> Response + Sync;

/// A form that asks for a link by mail: password reset, activation resend.
#[derive(Debug, Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    pub email: String,
    #[serde(flatten)]
    pub extra: std::collections::HashMap<String, String>,
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
    render: &RenderForm,
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
        Err(e) => return Err(PageError::from(e).render(state.theme())),
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

/// Where a sign-in continues the pending authorization request `id`.
pub fn resume_url(id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/oauth2/authorize/resume?authreq={id}")
}

/// The request's User-Agent header ("" when missing or not text).
pub fn user_agent(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The sign-in pipeline's view of the app.
pub fn auth_ctx(state: &AppState) -> crate::auth::Ctx<'_> {
    crate::auth::Ctx {
        db: state.db(),
        store: state.store(),
        hasher: state.token_hasher(),
        mail: mail_ctx(state),
        config: state.config(),
        webauthn: state.webauthn(),
    }
}

/// How a first factor's browser is judged: whether its trusted-browser cookie may spare
/// the second factor (never for a re-authentication or a passkey, which needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Honour,
    Ignore,
}

/// Takes a first factor into the sign-in pipeline with what this browser holds (its
/// session, its trusted-browser cookie for the user), and answers where it leads.
pub async fn begin_sign_in(
    state: &AppState,
    jar: CookieJar,
    first: crate::auth::FirstFactor,
    origin: crate::auth::Origin,
    then: String,
    trust: Trust,
) -> Result<Response, crate::web::error::PageError> {
    let current = cookies::session(state.config(), &jar);
    let suffix = crate::accounts::throttle::device_cookie_suffix(state.token_hasher(), first.user.id);
    let trusted = cookies::trusted(state.config(), &jar, &suffix).filter(|_| trust == Trust::Honour);
    let browser = crate::auth::Browser {
        session: current.as_deref(),
        trusted: trusted.as_deref(),
    };
    let next = crate::auth::begin(&auth_ctx(state), first, origin, then, browser).await?;
    Ok(continue_sign_in(state, jar, next))
}

/// Where a sign-in goes after a factor: signed in (the session cookie set, the pending
/// sign-in's cookie gone) and on to where it was headed, or to the second-factor step.
pub fn continue_sign_in(state: &AppState, jar: CookieJar, next: crate::auth::Next) -> Response {
    use crate::auth::Next;
    match next {
        Next::Finished(done) => signed_in(state, jar, &done),
        Next::SecondFactor(token) => {
            let jar = cookies::set_pending_sign_in(state.config(), jar, token);
            (jar, Redirect::to("/login/second-factor")).into_response()
        }
        Next::Enrol(token) => {
            let jar = cookies::set_pending_sign_in(state.config(), jar, token);
            (jar, Redirect::to("/login/second-factor/setup")).into_response()
        }
        Next::Restore(token) => {
            let jar = cookies::set_pending_sign_in(state.config(), jar, token);
            (jar, Redirect::to("/login/restore")).into_response()
        }
    }
}

/// The browser of a finished sign-in: its session cookie set, on to where it was headed.
pub fn signed_in(state: &AppState, jar: CookieJar, done: &crate::auth::Finished) -> Response {
    let jar = cookies::set_session(state.config(), jar, done.token.clone(), done.session.remember);
    let jar = cookies::clear_pending_sign_in(state.config(), jar);
    (jar, Redirect::to(&done.then)).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_accepts_only_local_paths() {
        for ok in [
            "/",
            "/account",
            "/account?tab=security",
            "/a/b#c",
            "/caf%C3%A9",
            "/oauth2/authorize?client_id=x",
        ] {
            assert_eq!(safe_next(ok).map(|p| p.to_string()).as_deref(), Some(ok), "{ok}");
        }
        let hostile = [
            "https://evil.example",
            "http://evil.example/",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil",
            "/\\/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "%5C%5Cevil",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/a\r\nb",
            "/%0d%0aSet-Cookie:x",
            "/%0D%0ALocation:%20https://evil",
            "/\tevil",
            "/%09/evil.example",
            "/%00",
            "\u{0}/x",
            "",
            "evil",
            " /x",
            "evil.example/path",
            "//%65vil.example",
            "/%2F%2Fevil.example",
            "/\u{7f}",
        ];
        assert!(hostile.len() >= 25);
        for bad in hostile {
            assert_eq!(safe_next(bad), None, "{bad:?} accepted");
        }
    }
}
