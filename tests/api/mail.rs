//! The mail outbox against a real SMTP listener on loopback.

use std::time::Duration;

use entity::mail_outbox;
use gatehouse::mail;
use sea_orm::{EntityTrait, TransactionTrait};

use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp, TestDb, eventually, random_key, temp_dir};

async fn enqueue_test_mail(app: &TestApp, to: &str) -> uuid::Uuid {
    let state = &app.state;
    let rendered = mail::render(state.theme(), &state.config().issuer, to, "test", serde_json::json!({})).unwrap();
    let txn = state.db().begin().await.unwrap();
    let id = mail::enqueue(&txn, app.state.mail_sealer(), &rendered).await.unwrap();
    txn.commit().await.unwrap();
    id
}

async fn row(app: &TestApp, id: uuid::Uuid) -> mail_outbox::Model {
    mail_outbox::Entity::find_by_id(id)
        .one(app.state.db())
        .await
        .unwrap()
        .expect("outbox row")
}

#[tokio::test]
async fn mail_is_delivered_over_smtp_with_text_and_html_parts() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MAIL_FROM", "Gatehouse <id@example.test>"),
    )
    .await;
    let id = enqueue_test_mail(&app, "alice@example.com").await;
    let msgs = sink.wait_for(1, Duration::from_secs(10)).await;
    let m = &msgs[0];
    assert_eq!(m.to, vec!["<alice@example.com>".to_string()]);
    assert_eq!(m.from, "<id@example.test>");
    assert_eq!(m.header("Subject").as_deref(), Some("Gatehouse test mail"));
    assert!(
        m.header("Content-Type").unwrap().starts_with("multipart/alternative"),
        "{}",
        m.data
    );
    let body = m.decoded();
    assert!(body.contains("Content-Type: text/plain"), "{body}");
    assert!(body.contains("Content-Type: text/html"), "{body}");
    assert!(body.contains("If you can read it, mail delivery works."), "{body}");
    assert!(body.contains("<strong>"), "html part is HTML: {body}");

    let r = eventually(Duration::from_secs(5), "row marked sent", || async {
        let r = row(&app, id).await;
        r.sent_at.is_some().then_some(r)
    })
    .await;
    assert_eq!(r.attempts, 1);
    assert!(
        r.body_text.is_empty() && r.body_html.is_empty(),
        "bodies are cleared once delivered"
    );
}

#[tokio::test]
async fn mail_of_a_rolled_back_change_is_never_sent() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    let state = &app.state;
    let rendered = mail::render(
        state.theme(),
        &state.config().issuer,
        "bob@example.com",
        "test",
        serde_json::json!({}),
    )
    .unwrap();
    let txn = state.db().begin().await.unwrap();
    mail::enqueue(&txn, app.state.mail_sealer(), &rendered).await.unwrap();
    txn.rollback().await.unwrap();
    // A committed one afterwards proves the worker is running.
    enqueue_test_mail(&app, "carol@example.com").await;
    let msgs = sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = if msgs.len() == 1 { sink.messages().await } else { msgs };
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].to, vec!["<carol@example.com>".to_string()]);
}

#[tokio::test]
async fn smtp_down_then_up_delivers_exactly_once() {
    // The sink holds its port while "down", so no other test can take it meanwhile.
    let sink = SmtpSink::start_down().await;
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    let id = enqueue_test_mail(&app, "dave@example.com").await;

    // SMTP is down: the mail waits, with its failures recorded.
    let waiting = eventually(Duration::from_secs(30), "two failed attempts", || async {
        let r = row(&app, id).await;
        (r.attempts >= 2).then_some(r)
    })
    .await;
    assert!(waiting.sent_at.is_none() && waiting.failed_at.is_none());
    assert!(
        waiting.last_error.as_deref().unwrap_or_default().contains("smtp"),
        "{:?}",
        waiting.last_error
    );
    assert!(!waiting.body_text.is_empty(), "the mail is kept while it waits");
    // Sealed while it waits: whoever reads the table learns no link or code from it.
    assert!(!waiting.body_text.contains("test mail") && !waiting.body_html.contains('<'));
    let pending = app.get("/metrics").await.text().await.unwrap();
    assert!(pending.contains("gatehouse_mail_outbox_pending 1"), "{pending}");

    // SMTP comes up: delivered, once.
    sink.set_up();
    sink.wait_for(1, Duration::from_secs(10)).await;
    eventually(Duration::from_secs(5), "row marked sent", || async {
        row(&app, id).await.sent_at.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(sink.messages().await.len(), 1, "delivered exactly once");
    assert!(
        sink.messages().await[0].decoded().contains("test mail"),
        "and opened to send"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gatehouse_mail_outbox_pending 0"), "{metrics}");
}

#[tokio::test]
async fn a_permanent_refusal_ends_delivery_at_once() {
    let sink = SmtpSink::start_on("127.0.0.1:0".parse().unwrap(), true).await;
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    let id = enqueue_test_mail(&app, "nobody@example.com").await;
    let r = eventually(Duration::from_secs(10), "row marked failed", || async {
        let r = row(&app, id).await;
        r.failed_at.is_some().then_some(r)
    })
    .await;
    assert_eq!(r.attempts, 1, "a 5xx is not retried");
    assert!(r.last_error.unwrap_or_default().contains("550"));
    // Kept sealed for an administrator's retry, never in the clear.
    assert!(!r.body_text.is_empty() && !r.body_text.contains("test mail"));
    assert!(r.sent_at.is_none());
}

#[tokio::test]
async fn two_instances_deliver_each_mail_exactly_once() {
    let sink = SmtpSink::start().await;
    let db = TestDb::create().await;
    let key = random_key();
    let opts = Options::default()
        .set("GATEHOUSE_SMTP_URL", sink.url())
        .set("GATEHOUSE_MAIL_POLL_INTERVAL_MS", "20");
    let a = TestApp::start_on(db.clone(), &key, opts.clone()).await;
    a.wait_ready().await;
    let b = TestApp::start_on(db, &key, opts).await;
    b.wait_ready().await;
    let n = 30;
    for i in 0..n {
        let app = if i % 2 == 0 { &a } else { &b };
        enqueue_test_mail(app, &format!("user{i}@example.com")).await;
    }
    sink.wait_for(n, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let msgs = sink.messages().await;
    let mut to: Vec<String> = msgs.iter().map(|m| m.to.join(",")).collect();
    to.sort();
    to.dedup();
    if msgs.len() != n {
        let mut all: Vec<String> = msgs.iter().map(|m| m.to.join(",")).collect();
        all.sort();
        let rows = mail_outbox::Entity::find().all(a.state.db()).await.unwrap();
        let detail: Vec<_> = rows
            .iter()
            .map(|r| (r.recipient.clone(), r.attempts, r.last_error.clone()))
            .collect();
        panic!("a mail was sent twice: {all:?}\noutbox: {detail:?}");
    }
    assert_eq!(to.len(), n, "every mail sent");
}

#[tokio::test]
async fn file_transport_writes_eml_files() {
    let dir = temp_dir();
    let out = dir.path().join("mail");
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_MAIL_FILE_DIR", out.to_str().unwrap())).await;
    let id = enqueue_test_mail(&app, "erin@example.com").await;
    eventually(Duration::from_secs(10), "row marked sent", || async {
        row(&app, id).await.sent_at.map(|_| ())
    })
    .await;
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().filter_map(Result::ok).collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].path().extension().is_some_and(|e| e == "eml"));
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("To: erin@example.com"), "{text}");
    assert!(text.contains("Subject: Gatehouse test mail"), "{text}");
}

#[test]
fn backoff_grows_exponentially_and_is_capped() {
    let i = Duration::from_secs(5);
    let max = Duration::from_secs(3600);
    let b1 = mail::outbox::backoff(1, i, max);
    let b3 = mail::outbox::backoff(3, i, max);
    assert!(b1 >= Duration::from_secs(4) && b1 <= Duration::from_secs(6), "{b1:?}");
    assert!(b3 >= Duration::from_secs(16) && b3 <= Duration::from_secs(24), "{b3:?}");
    assert!(mail::outbox::backoff(40, i, max) <= max);
}

#[tokio::test]
async fn smtp_credentials_from_the_url_are_used() {
    let sink = SmtpSink::start().await;
    let url = format!("smtp://mailer%40example.com:p%40ss%20word@{}", sink.addr);
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_SMTP_URL", url)).await;
    enqueue_test_mail(&app, "frank@example.com").await;
    let msgs = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        msgs[0].auth,
        Some(("mailer@example.com".to_string(), "p@ss word".to_string()))
    );
}
