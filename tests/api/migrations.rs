//! Migrations on SQLite and PostgreSQL: from empty, re-run, concurrent, down and up, and
//! agreement between the entities and the migrated schema.

use entity::prelude::*;
use gatehouse::db;
use migration::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::helpers::{TestDb, notice, random_key};

async fn connect(db: &TestDb) -> DatabaseConnection {
    let config = gatehouse::Config::load_from(
        None,
        vec![
            ("GATEHOUSE_DATABASE_URL".to_string(), db.url.clone()),
            ("GATEHOUSE_SECRET_KEY".to_string(), random_key()),
        ],
    )
    .unwrap();
    db::connect(&config).await.unwrap()
}

/// Every entity can be read back from the migrated schema (a missing or mistyped
/// column fails the SELECT of all its columns).
async fn entities_match_schema(conn: &DatabaseConnection) {
    User::find().all(conn).await.expect("user");
    UserProfile::find().all(conn).await.expect("user_profile");
    UserPreference::find().all(conn).await.expect("user_preference");
    Client::find().all(conn).await.expect("client");
    SigningKey::find().all(conn).await.expect("signing_key");
    AuditEvent::find().all(conn).await.expect("audit_event");
    MailOutbox::find().all(conn).await.expect("mail_outbox");
    EphemeralEntry::find().all(conn).await.expect("ephemeral_entry");
    EphemeralCounter::find().all(conn).await.expect("ephemeral_counter");
    SystemSetting::find().all(conn).await.expect("system_setting");
    RefreshToken::find().all(conn).await.expect("refresh_token");
    Consent::find().all(conn).await.expect("consent");
    BackchannelLogout::find().all(conn).await.expect("backchannel_logout");
    UserImage::find().all(conn).await.expect("user_image");
    UpstreamIdentity::find().all(conn).await.expect("upstream_identity");
}

async fn migrate_fresh_rerun_down_up(test_db: TestDb) {
    let conn = connect(&test_db).await;
    assert_eq!(
        db::pending_migrations(&conn).await.unwrap().len(),
        Migrator::migrations().len()
    );
    db::migrate(&conn).await.expect("from empty");
    assert!(db::pending_migrations(&conn).await.unwrap().is_empty());
    db::migrate(&conn).await.expect("re-run is a no-op");
    entities_match_schema(&conn).await;
    refresh_tokens_are_found_by_session_through_an_index(&conn).await;

    // Data written through the entities survives a re-run.
    let hasher = gatehouse::accounts::PasswordHasher::new(&gatehouse::config::Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 1,
        max_waiting: 64,
    })
    .unwrap();
    let user = gatehouse::accounts::create_user(
        &conn,
        &hasher,
        &Default::default(),
        gatehouse::accounts::NewUser {
            email: gatehouse::accounts::Email::parse("Mig@Example.com").unwrap(),
            password: None,
            verified: false,
            superuser: false,
        },
        "test",
    )
    .await
    .unwrap();
    db::migrate(&conn).await.unwrap();
    let back = User::find_by_id(user.id).one(&conn).await.unwrap().unwrap();
    assert_eq!(back.email_canonical, "mig@example.com");
    let prefs = UserPreference::find_by_id(user.id).one(&conn).await.unwrap().unwrap();
    assert!(!prefs.magic_links_enabled, "magic links are off by default");
    assert!(prefs.login_notifications, "login notifications are on by default");

    // Down to empty and up again.
    Migrator::down(&conn, None).await.expect("down");
    assert_eq!(
        db::pending_migrations(&conn).await.unwrap().len(),
        Migrator::migrations().len()
    );
    db::migrate(&conn).await.expect("up again");
    entities_match_schema(&conn).await;
}

/// Logout and login end a session's refresh tokens by `sid`: through an index.
async fn refresh_tokens_are_found_by_session_through_an_index(conn: &DatabaseConnection) {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let backend = conn.get_database_backend();
    let (sql, column) = match backend {
        DatabaseBackend::Sqlite => (
            "EXPLAIN QUERY PLAN SELECT id FROM refresh_token WHERE sid = 'x'",
            "detail",
        ),
        _ => (
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'refresh_token' AND indexname = 'idx_refresh_token_sid'",
            "indexdef",
        ),
    };
    let rows = conn.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    let text: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", column).unwrap_or_default())
        .collect();
    let expected = if backend == DatabaseBackend::Sqlite {
        "USING INDEX idx_refresh_token_sid"
    } else {
        "(sid)"
    };
    assert!(
        text.iter().any(|l| l.contains(expected)),
        "refresh_token.sid is not indexed: {text:?}"
    );
}

#[tokio::test]
async fn migrations_on_sqlite() {
    migrate_fresh_rerun_down_up(TestDb::sqlite()).await;
}

#[tokio::test]
async fn migrations_on_postgres() {
    let Some(server) = crate::helpers::backend::postgres_url() else {
        notice("SKIPPED migrations on PostgreSQL: set GATEHOUSE_TEST_DATABASE_URL to run them");
        return;
    };
    migrate_fresh_rerun_down_up(TestDb::create_postgres(&server).await).await;
}

#[tokio::test]
async fn concurrent_starts_migrate_once() {
    // Several instances starting at once on one database all succeed.
    let test_db = TestDb::create().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let conn = connect(&test_db).await;
        tasks.push(tokio::spawn(async move { db::migrate(&conn).await }));
    }
    for t in tasks {
        t.await.unwrap().expect("concurrent migrate");
    }
    let conn = connect(&test_db).await;
    assert!(db::pending_migrations(&conn).await.unwrap().is_empty());
    entities_match_schema(&conn).await;
}

#[tokio::test]
async fn email_is_unique_case_insensitively() {
    let test_db = TestDb::create().await;
    let conn = connect(&test_db).await;
    db::migrate(&conn).await.unwrap();
    let hasher = gatehouse::accounts::PasswordHasher::new(&gatehouse::config::Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 1,
        max_waiting: 64,
    })
    .unwrap();
    let new = |e: &str| gatehouse::accounts::NewUser {
        email: gatehouse::accounts::Email::parse(e).unwrap(),
        password: None,
        verified: true,
        superuser: false,
    };
    gatehouse::accounts::create_user(&conn, &hasher, &Default::default(), new("dup@example.com"), "test")
        .await
        .unwrap();
    let err = gatehouse::accounts::create_user(&conn, &hasher, &Default::default(), new("DUP@example.COM"), "test")
        .await
        .unwrap_err();
    assert!(matches!(err, gatehouse::accounts::Error::DuplicateEmail(_)), "{err}");
    // User ids are time-ordered UUIDv7.
    let users = User::find().all(&conn).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].id.get_version_num(), 7);
}
