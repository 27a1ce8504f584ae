//! Signing keys, the audit log and the mail outbox in the admin pages.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::{admin_page, refusal, when};
use crate::admin::{self, Actor};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::session::Admin;
use crate::web::extract::{ClientIp, PageForm};

async fn keys_page(
    state: &AppState,
    jar: CookieJar,
    me: &Admin,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let list = match admin::keys::list(state.db()).await {
        Ok(l) => l,
        Err(e) => return Err(refusal(e).map_or_else(|e| e, |(_, m)| PageError::BadRequest(m))),
    };
    let rows: Vec<_> = list
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid, "alg": k.alg, "state": k.state, "created": when(&k.created_at),
                "activates": when(&k.activates_at), "retired": k.retired_at.as_ref().map(when),
                "expires": k.expires_at.as_ref().map(when),
            })
        })
        .collect();
    Ok(admin_page(
        state,
        jar,
        status,
        "templates/admin_keys.html",
        "keys",
        me,
        json!({ "keys": rows, "notice": notice, "publish_secs": state.config().keys.publish_secs }),
    ))
}

pub async fn keys(State(state): State<AppState>, jar: CookieJar, me: Admin) -> Result<Response, PageError> {
    keys_page(&state, jar, &me, StatusCode::OK, None).await
}

pub async fn rotate(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    PageForm(_): PageForm<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let from = admin::Source::http(ip, crate::web::pages::common::user_agent(&headers));
    match admin::keys::rotate(&state.admin_ops(), &Actor::User(me.user.id), None, &from).await {
        Ok(created) => {
            let kids: Vec<String> = created.iter().map(|(alg, kid)| format!("{alg} {kid}")).collect();
            let notice = format!(
                "Published {}; they sign after {} seconds.",
                kids.join(", "),
                state.config().keys.publish_secs
            );
            keys_page(&state, jar, &me, StatusCode::OK, Some(notice)).await
        }
        Err(e) => {
            let (status, msg) = refusal(e)?;
            keys_page(&state, jar, &me, status, Some(msg)).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    cursor: Option<String>,
}

/// A date (`2026-12-01`, from the start of that day, UTC) or an RFC 3339 time.
fn day_or_time(s: &str, end_of_day: bool) -> Option<chrono::DateTime<chrono::Utc>> {
    admin::parse_time(s).or_else(|| {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let t = if end_of_day {
            d.and_hms_opt(23, 59, 59)?
        } else {
            d.and_hms_opt(0, 0, 0)?
        };
        Some(t.and_utc())
    })
}

pub async fn audit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let ops = state.admin_ops();
    let mut error = None;
    let user = match q.user.trim() {
        "" => None,
        u => match u.parse::<uuid::Uuid>() {
            Ok(id) => Some(id),
            Err(_) => match admin::users::find_by_email(&ops, u).await {
                Ok(found) => Some(found.id),
                Err(_) => {
                    error = Some(format!("No account has the address {u}."));
                    None
                }
            },
        },
    };
    let mut time = |name: &str, v: &str, end: bool| match v.trim() {
        "" => None,
        v => day_or_time(v, end).or_else(|| {
            error = Some(format!("{name} is not a date (2026-12-01) or an RFC 3339 time."));
            None
        }),
    };
    let since = time("From", &q.since, false);
    let until = time("To", &q.until, true);
    let filter = crate::audit::Filter {
        user,
        actor: Some(q.actor.trim().to_string()).filter(|a| !a.is_empty()),
        kind: Some(q.kind.trim().to_string()).filter(|k| !k.is_empty()),
        since,
        until,
    };
    let (status, events, next) = if error.is_some() {
        (StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), None)
    } else {
        match admin::logs::events(
            &ops,
            &filter,
            q.cursor.as_deref().filter(|c| c.len() <= 100),
            admin::DEFAULT_PAGE,
        )
        .await
        {
            Ok(p) => (StatusCode::OK, p.items, p.next),
            Err(e) => {
                let (status, msg) = refusal(e)?;
                error = Some(msg);
                (status, Vec::new(), None)
            }
        }
    };
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            json!({
                "at": when(&e.at), "kind": e.kind, "actor": e.actor,
                "user": e.user_id.map(|u| u.to_string()), "ip": e.ip, "device": e.device,
                "detail": e.detail.as_ref().map(|d| d.to_string()),
            })
        })
        .collect();
    // The filters again, for the form and the next page's link.
    let filters = json!({ "user": q.user, "actor": q.actor, "kind": q.kind, "since": q.since, "until": q.until });
    let next_query = next.map(|n| {
        let pairs = [
            ("user", &q.user),
            ("actor", &q.actor),
            ("kind", &q.kind),
            ("since", &q.since),
            ("until", &q.until),
        ];
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("cursor", &n);
        s.finish()
    });
    Ok(admin_page(
        &state,
        jar,
        status,
        "templates/admin_audit.html",
        "audit",
        &me,
        json!({ "events": rows, "f": filters, "next": next_query, "error": error }),
    ))
}

#[derive(Debug, Deserialize, Default)]
pub struct OutboxQuery {
    state: Option<String>,
    cursor: Option<String>,
}

async fn outbox_page(
    state: &AppState,
    jar: CookieJar,
    me: &Admin,
    failed: bool,
    cursor: Option<&str>,
    status: StatusCode,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let page = match admin::logs::mails(
        &state.admin_ops(),
        failed,
        cursor.filter(|c| c.len() <= 100),
        admin::DEFAULT_PAGE,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return Err(refusal(e).map_or_else(|e| e, |(_, m)| PageError::BadRequest(m))),
    };
    let rows: Vec<_> = page
        .items
        .iter()
        .map(|m| {
            json!({
                "id": m.id.to_string(), "recipient": m.recipient, "template": m.template,
                "created": when(&m.created_at), "attempts": m.attempts, "last_error": m.last_error,
                "failed": m.failed_at.as_ref().map(when), "retryable": m.retryable,
            })
        })
        .collect();
    Ok(admin_page(
        state,
        jar,
        status,
        "templates/admin_outbox.html",
        "outbox",
        me,
        json!({ "mails": rows, "failed": failed, "next": page.next, "notice": notice }),
    ))
}

pub async fn outbox(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Query(q): Query<OutboxQuery>,
) -> Result<Response, PageError> {
    let failed = q.state.as_deref() == Some("failed");
    outbox_page(&state, jar, &me, failed, q.cursor.as_deref(), StatusCode::OK, None).await
}

pub async fn retry(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    PageForm(_): PageForm<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let id: uuid::Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let from = admin::Source::http(ip, crate::web::pages::common::user_agent(&headers));
    match admin::logs::retry_mail(&state.admin_ops(), &Actor::User(me.user.id), id, &from).await {
        Ok(m) => {
            let notice = format!("The mail to {} is queued again.", m.recipient);
            outbox_page(&state, jar, &me, true, None, StatusCode::OK, Some(&notice)).await
        }
        Err(e) => {
            let (status, msg) = refusal(e)?;
            outbox_page(&state, jar, &me, true, None, status, Some(&msg)).await
        }
    }
}
