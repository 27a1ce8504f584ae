//! Deleting an account: everything stops at once (sessions, refresh and access tokens,
//! consents; relying parties are told), the owner is mailed the purge date, the address
//! stays taken, and within the grace period only a sign-in's "restore it?" brings the
//! account back — after the second factor, when it has one.

use crate::accounts::{app_with_mail, signup, wait_subject};
use crate::helpers::TestApp;
use crate::helpers::flow::{self, browser, location};
use crate::two_factor::signed_in;

/// Deletes the account signed in in `b` from the account pages.
async fn delete(app: &TestApp, b: &reqwest::Client) -> reqwest::Response {
    let r = flow::submit(app, b, "/account/delete", "/account/delete", &[]).await;
    assert_eq!(r.status(), 422, "the box must be ticked");
    flow::submit(app, b, "/account/delete", "/account/delete", &[("confirm", "yes")]).await
}

#[tokio::test]
async fn deleting_stops_sessions_and_tokens_at_once_and_tells_the_relying_parties() {
    use std::sync::{Arc, Mutex};
    let (app, sink) = app_with_mail().await;
    let user_id = flow::user(&app, "zed@example.com").await;
    // The relying party's back-channel logout endpoint.
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = got.clone();
    let rp = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |body: String| async move {
            seen.lock().unwrap().push(body);
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, rp).await });
    let c = flow::client_with(&app, false, &["authorization_code", "refresh_token"], |n| {
        gatehouse::clients::NewClient {
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/bcl")),
            ..n
        }
    })
    .await;
    let b = browser();
    let t = flow::code_tokens(&app, &b, &c, &[("scope", "openid offline_access")], "zed@example.com").await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().expect("a refresh token").to_string();
    assert_eq!(flow::introspect(&app, &c, &access).await["active"], true);
    let other = browser();
    flow::login(&app, &other, "/login", "zed@example.com", flow::PASSWORD).await;
    assert!(signed_in(&app, &other).await);

    let security = flow::text(&app, &b, "/account/security").await;
    assert!(
        security.contains("href=\"/account/delete\""),
        "linked from the security page"
    );
    let page = flow::text(&app, &b, "/account/delete").await;
    assert!(page.contains("For 30 days you can still restore it"), "{page}");
    let r = delete(&app, &b).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("will be erased for good on"));
    let mail = wait_subject(&sink, "Your Gatehouse account is scheduled for deletion").await;
    let purge = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    assert!(mail.decoded().contains(&purge), "the purge date");

    assert!(!signed_in(&app, &b).await, "this browser is signed out");
    assert!(!signed_in(&app, &other).await, "and every other one");
    assert_eq!(flow::introspect(&app, &c, &access).await["active"], false);
    let ui = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 401);
    assert_eq!(flow::refresh(&app, &c, &refresh).await["error"], "invalid_grant");
    let body = crate::helpers::eventually(std::time::Duration::from_secs(15), "logout token delivered", || {
        let got = got.clone();
        async move { got.lock().unwrap().first().cloned() }
    })
    .await;
    let token = flow::query(&format!("http://x/?{body}"))["logout_token"].clone();
    let logout = crate::two_factor::claims(&token);
    assert_eq!(logout["sub"], user_id.to_string(), "the relying party is told who");
    let aud = &logout["aud"];
    assert!(
        *aud == serde_json::json!(c.id) || *aud == serde_json::json!([c.id]),
        "{aud}"
    );
    assert!(logout["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    use sea_orm::EntityTrait;
    let consents = entity::consent::Entity::find().all(app.state.db()).await.unwrap();
    assert!(consents.is_empty(), "consents are revoked");
}

#[tokio::test]
async fn signing_in_offers_to_restore_and_only_that_restores() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "amy@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "amy@example.com", flow::PASSWORD).await;
    assert_eq!(delete(&app, &b).await.status(), 200);

    // The address stays taken: a signup answers as usual and mails the owner instead.
    let r = signup(
        &app,
        &browser(),
        "amy@example.com",
        "another fine passphrase",
        "another fine passphrase",
    )
    .await;
    assert_eq!(r.status(), 200);
    wait_subject(&sink, "Someone tried to sign up with your address at Gatehouse").await;

    let c = browser();
    let r = flow::login(&app, &c, "/login", "amy@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/restore");
    let page = flow::text(&app, &c, "/login/restore").await;
    let purge = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    assert!(page.contains(&purge), "{page}");
    assert!(!signed_in(&app, &c).await, "not signed in before the answer");
    let r = flow::submit(&app, &c, "/login/restore", "/login/restore", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert!(signed_in(&app, &c).await);
    wait_subject(&sink, "Your Gatehouse account was restored").await;
    let events = gatehouse::audit::list_recent(app.state.db(), 50).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"user.deleted") && kinds.contains(&"user.restored"),
        "{kinds:?}"
    );
    // It works as before.
    let r = flow::login(&app, &browser(), "/login", "amy@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account");
}

#[tokio::test]
async fn a_second_factor_comes_before_the_restore() {
    use crate::two_factor::{code, enrol, fresh_step, second_factor};
    let (app, _sink) = app_with_mail().await;
    flow::user(&app, "bo@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "bo@example.com", flow::PASSWORD).await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    // The enrolling session was password-only: a fresh multi-factor one deletes.
    let d = browser();
    flow::login(&app, &d, "/login", "bo@example.com", flow::PASSWORD).await;
    let r = second_factor(&app, &d, &code(&secret, s)).await;
    assert_eq!(location(&r), "/account");
    assert_eq!(delete(&app, &d).await.status(), 200);

    let c = browser();
    let r = flow::login(&app, &c, "/login", "bo@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "the second factor first");
    let r = c.get(app.url("/login/restore")).send().await.unwrap();
    assert_eq!(location(&r), "/login/second-factor", "no offer before it");
    let r = second_factor(&app, &c, &code(&secret, s + 1)).await;
    assert_eq!(location(&r), "/login/restore");
    let r = flow::submit(&app, &c, "/login/restore", "/login/restore", &[]).await;
    assert_eq!(location(&r), "/account");
    assert!(signed_in(&app, &c).await);
}

#[tokio::test]
async fn after_the_grace_period_nothing_restores_it() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let (app, _sink) = app_with_mail().await;
    let id = flow::user(&app, "cy@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "cy@example.com", flow::PASSWORD).await;
    assert_eq!(delete(&app, &b).await.status(), 200);
    let long_ago = chrono::Utc::now() - chrono::Duration::days(31);
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::DeletedAt, Expr::value(Some(long_ago)))
        .filter(entity::user::Column::Id.eq(id))
        .exec(app.state.db())
        .await
        .unwrap();
    let r = flow::login(&app, &browser(), "/login", "cy@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 401, "like a wrong password");
    let body: String = r.text().await.unwrap();
    assert!(body.contains("Incorrect email or password."));
}

/// Runs `gatehouse accounts cleanup ARGS` against the app's database (no terminal).
fn cleanup(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["accounts", "cleanup"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATABASE_URL", app.db_url())
        .env("GATEHOUSE_SECRET_KEY", &app.key)
        .env("GATEHOUSE_LOG_LEVEL", "warn")
        .output()
        .unwrap()
}

/// Deletes `email`'s account and dates the deletion `days` back.
async fn deleted_days_ago(app: &TestApp, email: &str, days: i64) -> uuid::Uuid {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id = flow::user(app, email).await;
    let b = browser();
    flow::login(app, &b, "/login", email, flow::PASSWORD).await;
    assert_eq!(delete(app, &b).await.status(), 200);
    let at = chrono::Utc::now() - chrono::Duration::days(days);
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::DeletedAt, Expr::value(Some(at)))
        .filter(entity::user::Column::Id.eq(id))
        .exec(app.state.db())
        .await
        .unwrap();
    id
}

async fn exists(app: &TestApp, id: uuid::Uuid) -> bool {
    use sea_orm::EntityTrait;
    entity::user::Entity::find_by_id(id)
        .one(app.state.db())
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn accounts_cleanup_erases_what_the_grace_period_let_go_and_asks_first() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let (app, sink) = app_with_mail().await;
    let old = deleted_days_ago(&app, "old@example.com", 40).await;
    let recent = deleted_days_ago(&app, "recent@example.com", 5).await;
    flow::user(&app, "kept@example.com").await;
    wait_subject(&sink, "Your Gatehouse account is scheduled for deletion").await;

    let out = cleanup(&app, &[]);
    assert!(!out.status.success(), "no terminal, no --no-input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --no-input"));
    assert!(exists(&app, old).await);

    let out = cleanup(&app, &["--dry-run"]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("1 accounts deleted more than 30 days ago would be erased"),
        "{listed}"
    );
    assert!(
        listed.contains("old@example.com") && !listed.contains("recent@example.com"),
        "{listed}"
    );
    assert!(exists(&app, old).await, "a dry run erases nothing");

    let out = cleanup(&app, &["--no-input", "--verbose"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("erased old@example.com") && said.contains("erased 1 accounts, 0 failed"),
        "{said}"
    );
    assert!(!exists(&app, old).await, "erased");
    assert!(exists(&app, recent).await, "still in its grace period");
    // Its events stay, without personal data; its mail is gone from the outbox.
    let events = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::UserId.eq(old))
        .all(app.state.db())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "user.deleted"));
    assert!(events.iter().any(|e| e.kind == "user.purged" && e.actor == "cli"));
    assert!(
        events
            .iter()
            .filter(|e| e.kind != "user.purged")
            .all(|e| e.ip.is_none() && e.detail.is_none())
    );
    let mails = entity::mail_outbox::Entity::find()
        .filter(entity::mail_outbox::Column::Recipient.eq("old@example.com"))
        .all(app.state.db())
        .await
        .unwrap();
    assert!(mails.is_empty());

    // --days moves the line; the address is free again afterwards.
    let out = cleanup(&app, &["--days", "1", "--no-input"]);
    assert!(out.status.success());
    assert!(!exists(&app, recent).await);
    let out = cleanup(&app, &["--no-input"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no account was deleted more than 30 days ago"));
    let r = crate::accounts::signup(
        &app,
        &browser(),
        "old@example.com",
        "a new start for old",
        "a new start for old",
    )
    .await;
    assert_eq!(r.status(), 200);
    wait_subject(&sink, "Confirm your email address for Gatehouse").await;
}

#[tokio::test]
async fn serve_purges_on_a_schedule() {
    let sink = crate::helpers::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with(
        crate::helpers::Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_ACCOUNTS__PURGE_INTERVAL_SECS", "1"),
    )
    .await;
    let old = deleted_days_ago(&app, "dee@example.com", 31).await;
    let recent = deleted_days_ago(&app, "eli@example.com", 1).await;
    for _ in 0..100 {
        if !exists(&app, old).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!exists(&app, old).await, "purged by the schedule");
    assert!(exists(&app, recent).await);
}

#[tokio::test]
async fn serve_purges_soon_after_start_not_a_day_later() {
    let app =
        TestApp::spawn_with(crate::helpers::Options::default().set("GATEHOUSE_ACCOUNTS__PURGE_INTERVAL_SECS", "86400"))
            .await;
    let old = deleted_days_ago(&app, "fin@example.com", 40).await;
    for _ in 0..150 {
        if !exists(&app, old).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!exists(&app, old).await, "the first run comes within seconds of start");
}

#[tokio::test]
async fn the_data_export_holds_what_gatehouse_knows_and_nothing_secret() {
    let (app, _sink) = app_with_mail().await;
    flow::user(&app, "fay@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "fay@example.com", flow::PASSWORD).await;
    assert!(
        flow::text(&app, &b, "/account")
            .await
            .contains("href=\"/account/export\"")
    );
    let r = b.get(app.url("/account/export")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let raw = r.text().await.unwrap();
    let data: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(data["account"]["email"], "fay@example.com");
    assert_eq!(data["preferences"]["login_notifications"], true);
    assert_eq!(data["sessions"].as_array().unwrap().len(), 1);
    assert!(
        data["security_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "user.created"),
        "{data}"
    );
    for secret in ["password_hash", "$argon2", "secret", "token"] {
        assert!(!raw.contains(secret), "{secret} in the export");
    }
    let r = browser().get(app.url("/account/export")).send().await.unwrap();
    assert_eq!(r.status(), 303, "only for the signed-in user");
}

#[tokio::test]
async fn accounts_cleanup_on_a_terminal_erases_only_after_yes() {
    use std::io::Write;
    let (app, _sink) = app_with_mail().await;
    let old = deleted_days_ago(&app, "gus@example.com", 40).await;
    // `script` gives the command a terminal; the answer is typed into it.
    let on_terminal = |answer: &str| {
        let mut child = std::process::Command::new("script")
            .args([
                "-qec",
                &format!("{} accounts cleanup", env!("CARGO_BIN_EXE_gatehouse")),
                "/dev/null",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_DATABASE_URL", app.db_url())
            .env("GATEHOUSE_SECRET_KEY", &app.key)
            .env("GATEHOUSE_LOG_LEVEL", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script(1) from util-linux");
        {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(answer.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = on_terminal("no\n");
    assert!(said.contains("Type \"yes\""), "{said}");
    assert!(said.contains("nothing was erased"), "{said}");
    assert!(exists(&app, old).await);
    let said = on_terminal("yes\n");
    assert!(said.contains("erased 1 accounts, 0 failed"), "{said}");
    assert!(!exists(&app, old).await);
}

#[tokio::test]
async fn deleting_needs_a_recent_sign_in_with_the_second_factor() {
    use crate::helpers::Options;
    use crate::two_factor::{code, enrol, fresh_step, second_factor, signed_in_user};
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_MFA__RECENT_AUTH_SECS", "5")).await;
    // The step first: waiting for a fresh one must not age the sign-in.
    let step = fresh_step().await;
    let b = signed_in_user(&app, "old@example.com").await;
    let (secret, _) = enrol(&app, &b, step).await;
    let page = flow::text(&app, &b, "/account/delete").await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;

    let reauth = "/login?next=%2Faccount%2Fdelete&reauth=1";
    let r = b.get(app.url("/account/delete")).send().await.unwrap();
    assert_eq!(location(&r), reauth, "an old sign-in does not see the page");
    // The form fetched while the sign-in was recent, posted after it no longer is.
    let form = [
        ("csrf", flow::input(&page, "csrf").unwrap()),
        ("confirm", "yes".to_string()),
    ];
    let r = b.post(app.url("/account/delete")).form(&form).send().await.unwrap();
    assert_eq!(location(&r), reauth, "nor deletes");
    assert!(signed_in(&app, &b).await, "the account is still there");

    let r = flow::login(&app, &b, reauth, "old@example.com", flow::PASSWORD).await;
    assert_eq!(
        location(&r),
        "/login/second-factor",
        "the password alone is not recent enough"
    );
    let r = second_factor(&app, &b, &code(&secret, step + 1)).await;
    assert_eq!(location(&r), "/account/delete");
    assert_eq!(delete(&app, &b).await.status(), 200);
    assert!(!signed_in(&app, &b).await);
}
