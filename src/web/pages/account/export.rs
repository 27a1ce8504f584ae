//! "Download my data": everything Gatehouse holds about the signed-in user, as one JSON
//! file — the account, profile, preferences, second factors and passkeys (names and
//! dates), linked providers, sessions, connected applications and the recent security log. Nothing secret:
//! no password hash, factor secret, token or code.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::session::SignedIn;

/// Security-log events in the export.
const AUDIT_EVENTS: u64 = 200;

pub async fn export(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let id = me.session.user_id;
    let db = state.db();
    let Some((user, profile)) = crate::accounts::with_profile(db, id).await? else {
        return Err(PageError::NotFound);
    };
    let factors: Vec<_> = crate::auth::factors(db, id)
        .await?
        .iter()
        .map(|f| json!({ "kind": f.kind, "name": f.name, "added": f.created_at, "last_used": f.last_used_at }))
        .collect();
    let (codes_left, _) = crate::auth::backup_codes::counts(db, id).await?;
    let sessions: Vec<_> = crate::accounts::sessions::list(state.store(), id)
        .await?
        .iter()
        .map(|s| {
            let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms);
            json!({ "device": s.device, "ip": s.ip, "location": s.location, "since": at(s.created_ms), "last_seen": at(s.last_seen_ms) })
        })
        .collect();
    let apps: Vec<_> = crate::oidc::consent::applications_of(db, id)
        .await?
        .iter()
        .map(|(c, scopes)| json!({ "client_id": c.id, "name": c.name, "scopes": scopes }))
        .collect();
    let linked: Vec<_> = crate::upstream::linked_identities(db, id)
        .await?
        .iter()
        .map(|l| json!({ "provider": l.provider, "subject": l.subject, "email": l.email, "name": l.name, "linked": l.created_at, "last_used": l.last_used_at }))
        .collect();
    let events: Vec<_> = crate::audit::list_for_user(db, id, AUDIT_EVENTS)
        .await?
        .iter()
        .map(|e| json!({ "at": e.created_at, "event": e.kind, "actor": e.actor, "ip": e.ip }))
        .collect();
    let profile = profile.map(|p| {
        json!({
            "given_name": p.given_name, "family_name": p.family_name, "nickname": p.nickname,
            "preferred_username": p.preferred_username, "bio": p.bio, "location": p.location,
            "birthdate": p.birthdate, "zoneinfo": p.zoneinfo, "locale": p.locale, "picture": p.picture,
            "website": p.website, "custom": p.extra, "updated": p.updated_at,
        })
    });
    let body = json!({
        "exported_at": chrono::Utc::now(),
        "account": {
            "id": user.id, "email": user.email, "email_verified_at": user.email_verified_at,
            "created_at": user.created_at, "last_sign_in_at": user.last_login_at,
        },
        "profile": profile,
        "preferences": {
            "login_notifications": crate::accounts::login_notifications(db, id).await?,
            "sign_in_links": crate::accounts::magic_links(db, id).await?,
        },
        "second_factors": factors,
        "backup_codes_left": codes_left,
        "linked_providers": linked,
        "sessions": sessions,
        "applications": apps,
        "security_log": events,
    });
    let bytes = serde_json::to_vec_pretty(&body).map_err(|e| PageError::Internal(e.to_string()))?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gatehouse-my-data.json\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
