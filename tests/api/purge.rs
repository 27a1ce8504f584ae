//! Erasing deleted accounts for good: `accounts cleanup` removes everything the user
//! owned (profile, images, preferences, factors, backup codes, upstream links, consents,
//! tokens, queued mail, also to the addresses it had before) and keeps the audit events
//! without personal data; one account that cannot be erased stops nothing else; the
//! flags combine; on PostgreSQL only one instance purges at a time.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::accounts::{app_with_mail, link_in, wait_subject};
use crate::helpers::TestApp;
use crate::helpers::flow::{self, browser, input};
use crate::two_factor::{enrol, fresh_step};

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

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Deletes the account signed in in `b` and dates the deletion `days` back.
async fn delete_days_ago(app: &TestApp, b: &reqwest::Client, id: uuid::Uuid, days: i64) {
    use sea_orm::sea_query::Expr;
    let r = flow::submit(app, b, "/account/delete", "/account/delete", &[("confirm", "yes")]).await;
    assert_eq!(r.status(), 200);
    let at = chrono::Utc::now() - chrono::Duration::days(days);
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::DeletedAt, Expr::value(Some(at)))
        .filter(entity::user::Column::Id.eq(id))
        .exec(app.state.db())
        .await
        .unwrap();
}

async fn deleted_user(app: &TestApp, email: &str, days: i64) -> uuid::Uuid {
    let id = flow::user(app, email).await;
    let b = browser();
    flow::login(app, &b, "/login", email, flow::PASSWORD).await;
    delete_days_ago(app, &b, id, days).await;
    id
}

async fn exists(app: &TestApp, id: uuid::Uuid) -> bool {
    entity::user::Entity::find_by_id(id)
        .one(app.state.db())
        .await
        .unwrap()
        .is_some()
}

async fn count<E: EntityTrait>(app: &TestApp, col: E::Column, id: uuid::Uuid) -> usize
where
    E::Column: ColumnTrait,
{
    E::find().filter(col.eq(id)).all(app.state.db()).await.unwrap().len()
}

#[tokio::test]
async fn cleanup_erases_everything_the_user_owned_and_mail_to_earlier_addresses() {
    let (app, sink) = app_with_mail().await;
    let id = flow::user(&app, "first@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "first@example.com", flow::PASSWORD).await;
    // A profile, a preference, a second factor with backup codes, a connected
    // application with a refresh token, a linked provider, an image.
    let r = flow::submit(&app, &b, "/account/edit", "/account/edit", &[("given_name", "Pat")]).await;
    assert!(r.status().is_redirection() || r.status().is_success());
    flow::submit(
        &app,
        &b,
        "/account/security",
        "/account/security/magic-links",
        &[("magic_links", "on")],
    )
    .await;
    let s = fresh_step().await;
    enrol(&app, &b, s).await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let back = flow::authorize(
        &app,
        &b,
        &flow::authorize_url(&c, &[("scope", "openid offline_access")]),
        "first@example.com",
    )
    .await;
    let t = flow::redeem(&app, &c, &back).await;
    assert!(t["refresh_token"].is_string());
    entity::upstream_identity::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(id),
        provider: Set("github".into()),
        subject: Set("12345".into()),
        email: Set(Some("pat@github.example".into())),
        name: Set(Some("Pat".into())),
        created_at: Set(chrono::Utc::now()),
        last_used_at: Set(None),
    }
    .insert(app.state.db())
    .await
    .unwrap();
    entity::user_image::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(id),
        kind: Set("picture".into()),
        content_type: Set("image/png".into()),
        data: Set(vec![1, 2, 3]),
        etag: Set("e".into()),
        width: Set(1),
        height: Set(1),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(app.state.db())
    .await
    .unwrap();
    // A new address: the notice of the change goes to the old one.
    let html = flow::text(&app, &b, "/account/email").await;
    let form = [
        ("email", "second@example.com".to_string()),
        ("password", flow::PASSWORD.to_string()),
        ("csrf", input(&html, "csrf").unwrap()),
    ];
    b.post(app.url("/account/email")).form(&form).send().await.unwrap();
    let confirm = wait_subject(&sink, "Confirm your new email address for Gatehouse").await;
    let html = flow::text(&app, &b, &link_in(&confirm, "/account/email/confirm?token=")).await;
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("token", input(&html, "token").unwrap()),
    ];
    let r = b
        .post(app.url("/account/email/confirm"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_subject(&sink, "The email address of your Gatehouse account was changed").await;
    delete_days_ago(&app, &b, id, 40).await;
    // Someone else's mail is not touched.
    let other = flow::user(&app, "bystander@example.com").await;
    let outbox = |addr: &'static str| {
        let db = app.state.db().clone();
        async move {
            entity::mail_outbox::Entity::find()
                .filter(entity::mail_outbox::Column::Recipient.eq(addr))
                .all(&db)
                .await
                .unwrap()
                .len()
        }
    };
    assert!(outbox("first@example.com").await > 0 && outbox("second@example.com").await > 0);
    let bystander_mail = outbox("bystander@example.com").await;

    let o = cleanup(&app, &["--no-input"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!exists(&app, id).await);
    use entity::*;
    assert_eq!(
        count::<user_profile::Entity>(&app, user_profile::Column::UserId, id).await,
        0
    );
    assert_eq!(
        count::<user_image::Entity>(&app, user_image::Column::UserId, id).await,
        0
    );
    assert_eq!(
        count::<user_preference::Entity>(&app, user_preference::Column::UserId, id).await,
        0
    );
    assert_eq!(
        count::<second_factor::Entity>(&app, second_factor::Column::UserId, id).await,
        0
    );
    assert_eq!(
        count::<backup_code::Entity>(&app, backup_code::Column::UserId, id).await,
        0
    );
    assert_eq!(
        count::<upstream_identity::Entity>(&app, upstream_identity::Column::UserId, id).await,
        0
    );
    assert_eq!(count::<consent::Entity>(&app, consent::Column::UserId, id).await, 0);
    assert_eq!(
        count::<refresh_token::Entity>(&app, refresh_token::Column::UserId, id).await,
        0
    );
    assert_eq!(outbox("first@example.com").await, 0, "mail to the earlier address");
    assert_eq!(outbox("second@example.com").await, 0);
    assert_eq!(outbox("bystander@example.com").await, bystander_mail);
    assert!(exists(&app, other).await);
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::UserId.eq(id))
        .all(app.state.db())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "user.email_changed"), "events are kept");
    assert!(
        events
            .iter()
            .filter(|e| e.kind != "user.purged")
            .all(|e| e.ip.is_none() && e.detail.is_none()),
        "without personal data"
    );
}

#[tokio::test]
async fn one_account_that_cannot_be_erased_stops_nothing_else_and_fails_the_run() {
    let app = TestApp::spawn().await;
    let stuck = deleted_user(&app, "stuck@example.com", 40).await;
    let gone = deleted_user(&app, "gone@example.com", 40).await;
    // An operator's own table refers to one account (and does not cascade).
    let db = app.state.db();
    db.execute_unprepared(
        "CREATE TABLE operator_note (user_id uuid NOT NULL REFERENCES \"user\"(id), note text NOT NULL)",
    )
    .await
    .unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "INSERT INTO operator_note (user_id, note) VALUES ($1, 'keep')",
        _ => "INSERT INTO operator_note (user_id, note) VALUES (?, 'keep')",
    };
    db.execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [stuck.into()]))
        .await
        .unwrap();
    let o = cleanup(&app, &["--no-input", "--verbose"]);
    assert!(!o.status.success(), "a failure fails the run");
    let said = out(&o);
    assert!(said.contains("erased 1 accounts, 1 failed"), "{said}");
    assert!(said.contains("erased gone@example.com"), "{said}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("failed stuck@example.com"), "{err}");
    assert!(err.contains("1 accounts could not be erased"), "{err}");
    assert!(!exists(&app, gone).await);
    assert!(exists(&app, stuck).await, "left as it was");
}

#[tokio::test]
async fn the_flags_combine() {
    let app = TestApp::spawn().await;
    let old = deleted_user(&app, "forty@example.com", 40).await;
    let five = deleted_user(&app, "five@example.com", 5).await;
    let today = deleted_user(&app, "today@example.com", 0).await;
    // --dry-run --days --verbose: the line moves; nothing is erased; each is described.
    let o = cleanup(&app, &["--dry-run", "--days", "3", "--verbose"]);
    assert!(o.status.success());
    let said = out(&o);
    assert!(
        said.contains("2 accounts deleted more than 3 days ago would be erased"),
        "{said}"
    );
    assert!(
        said.contains(&format!("forty@example.com (id {old}, deleted ")),
        "{said}"
    );
    assert!(said.contains("five@example.com") && !said.contains("today@example.com"));
    // --dry-run needs no terminal and no --no-input.
    let o = cleanup(&app, &["--dry-run", "--no-input"]);
    assert!(out(&o).contains("1 accounts deleted more than 30 days ago would be erased"));
    assert!(exists(&app, old).await && exists(&app, five).await);
    // --days without --no-input and without a terminal: refused, nothing erased.
    let o = cleanup(&app, &["--days", "3"]);
    assert!(!o.status.success());
    assert!(exists(&app, five).await);
    // --days --no-input without --verbose: a summary only.
    let o = cleanup(&app, &["--days", "3", "--no-input"]);
    assert!(o.status.success());
    let said = out(&o);
    assert_eq!(said.trim(), "erased 2 accounts, 0 failed");
    assert!(!exists(&app, old).await && !exists(&app, five).await);
    assert!(exists(&app, today).await);
    // --days 0 reaches today's.
    let o = cleanup(&app, &["--days", "0", "--no-input", "--verbose"]);
    assert!(out(&o).contains("erased today@example.com"));
}

#[tokio::test]
async fn on_postgres_only_one_instance_purges_at_a_time() {
    let app = TestApp::spawn().await;
    let db = app.state.db();
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        eprintln!("skipped: the purge lock is PostgreSQL's (set GATEHOUSE_TEST_DATABASE_URL)");
        return;
    }
    let id = deleted_user(&app, "locked@example.com", 40).await;
    // Another instance holds the lock for its run.
    let other = sea_orm::Database::connect(app.db_url()).await.unwrap();
    let held = sea_orm::TransactionTrait::begin(&other).await.unwrap();
    let row = held
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock(7277001) AS locked",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(row.try_get::<bool>("", "locked").unwrap());
    let run = gatehouse::accounts::lifecycle::scheduled_purge(db, 30).await.unwrap();
    assert!(run.is_none(), "this instance leaves it to the other");
    assert!(exists(&app, id).await);
    held.commit().await.unwrap();
    let run = gatehouse::accounts::lifecycle::scheduled_purge(db, 30)
        .await
        .unwrap()
        .expect("the lock is free");
    assert_eq!(run.purged, vec!["locked@example.com".to_string()]);
    assert!(!exists(&app, id).await);
}
