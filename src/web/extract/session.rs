//! The signed-in user of a page. Pages that need one take [`SignedIn`]; without a session
//! the browser is sent to `/login?next=<this page>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use crate::accounts::sessions::{self, Session};
use crate::web::AppState;
use crate::web::cookies;

/// A browser with a live session, and its cookie value.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    pub token: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let login = || {
            let here = parts.uri.path_and_query().map_or("/account", |p| p.as_str());
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        match Self::of(state, &jar).await {
            Ok(Some(me)) => Ok(me),
            Ok(None) => Err(login()),
            Err(e) => Err(crate::web::error::PageError::from(e).render(state.theme())),
        }
    }
}

impl SignedIn {
    /// The one decision whether a browser is signed in: its session cookie names a live
    /// session (also used where signing in is optional: the protocol endpoints, consent).
    pub async fn of(state: &AppState, jar: &CookieJar) -> Result<Option<Self>, crate::store::StoreError> {
        let Some(token) = cookies::session(state.config(), jar) else {
            return Ok(None);
        };
        let Some(session) = sessions::load(state.store(), state.token_hasher(), &token).await? else {
            return Ok(None);
        };
        state.mark_seen(&session).await;
        Ok(Some(Self { session, token }))
    }

    /// Whether the sign-in is recent enough for a sensitive change (`mfa.recent_auth_secs`).
    pub fn recent(&self, config: &crate::config::Config) -> bool {
        let age = chrono::Utc::now().timestamp() - self.session.auth_time;
        age <= i64::try_from(config.mfa.recent_auth_secs).unwrap_or(i64::MAX)
    }

    /// Whether the sign-in may make a sensitive change (a factor added or removed, new
    /// backup codes, the password or email changed): recent, and made with the strongest
    /// factor the user had then: multi-factor if they had a second factor when signing in
    /// (a trusted browser's password-only sign-in is not enough); a factor enrolled since
    /// counts from the next sign-in.
    pub async fn fresh(&self, state: &AppState) -> Result<bool, sea_orm::DbErr> {
        if !self.recent(state.config()) {
            return Ok(false);
        }
        if crate::auth::is_multi_factor(&self.session.amr) {
            return Ok(true);
        }
        // Sessions from before `auth_time_ms` existed fall back to the seconds.
        let ms = if self.session.auth_time_ms > 0 {
            self.session.auth_time_ms
        } else {
            self.session.auth_time.saturating_mul(1000)
        };
        let Some(signed_in_at) = chrono::DateTime::from_timestamp_millis(ms) else {
            return Ok(false);
        };
        Ok(!crate::auth::had_second_factor_at(state.db(), self.session.user_id, signed_in_at).await?)
    }

    /// Sends the browser to sign in again before coming back to `here`.
    pub fn reauthenticate(here: &str) -> Response {
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        Redirect::to(&format!("/login?next={next}&reauth=1")).into_response()
    }
}

/// A superuser signed in with multi-factor strength: the caller of the admin pages.
/// Anyone else gets the not-found page (the area does not say it exists); a superuser
/// whose session is weaker is sent to strengthen it: to sign in again with the second
/// factor, or to enrol one first.
#[derive(Debug, Clone)]
pub struct Admin {
    pub me: SignedIn,
    pub user: entity::user::Model,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        use crate::web::error::PageError;
        let theme = state.theme();
        let jar = CookieJar::from_headers(&parts.headers);
        let me = match SignedIn::of(state, &jar).await {
            Ok(Some(me)) => me,
            Ok(None) => return Err(PageError::NotFound.render(theme)),
            Err(e) => return Err(PageError::from(e).render(theme)),
        };
        let user = match crate::accounts::find(state.db(), me.session.user_id).await {
            Ok(Some(u)) if u.is_superuser && crate::accounts::state::of(&u).is_usable() => u,
            Ok(_) => return Err(PageError::NotFound.render(theme)),
            Err(e) => return Err(PageError::from(e).render(theme)),
        };
        // A change needs a recent sign-in (`mfa.recent_auth_secs`), as account changes do:
        // an old session may look, not act. The sign-in returns to a page (a change's
        // own address may take only a POST).
        if parts.method != axum::http::Method::GET
            && parts.method != axum::http::Method::HEAD
            && !me.recent(state.config())
        {
            let path = parts.uri.path();
            let back = if path.starts_with("/admin/users/") || path.starts_with("/admin/clients") {
                path.trim_end_matches("/rotate-secret")
            } else if path.starts_with("/admin/keys") {
                "/admin/keys"
            } else if path.starts_with("/admin/outbox") {
                "/admin/outbox"
            } else {
                "/admin"
            };
            return Err(SignedIn::reauthenticate(back));
        }
        if !crate::auth::is_multi_factor(&me.session.amr) {
            let here = parts.uri.path_and_query().map_or("/admin", |p| p.as_str());
            return Err(match crate::auth::has_second_factor(state.db(), user.id).await {
                Ok(true) => SignedIn::reauthenticate(here),
                Ok(false) => Redirect::to("/account/two-factor?for=admin").into_response(),
                Err(e) => PageError::from(e).render(theme),
            });
        }
        Ok(Self { me, user })
    }
}
