//! The hot paths' shortcuts keep every guarantee: prebuilt discovery and JWKS answer
//! conditional requests and change when the keys do; the client and verified-token
//! caches never outlive a change made on another instance by more than the documented
//! bound (one poll, about a second); and a login storm past the hashing queue is told to
//! wait without counting against anyone.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::flow::{self, token};
use crate::helpers::{Options, TestApp, TestDb, eventually, random_key};

/// Two instances on one database and one store, as a deployment runs them.
async fn pair() -> (TestApp, TestApp) {
    let db = TestDb::create().await;
    let key = random_key();
    let opts = Options::default().set(
        "GATEHOUSE_REDIS_KEY_PREFIX",
        format!("gh-test:{}:", uuid::Uuid::new_v4()),
    );
    let a = TestApp::start_on(db.clone(), &key, opts.clone()).await;
    a.wait_ready().await;
    let b = TestApp::start_on(db, &key, opts).await;
    b.wait_ready().await;
    (a, b)
}

/// Well beyond the one-second poll, for a loaded machine; the point is that it happens
/// without a restart or a cache lifetime.
const ACROSS: Duration = Duration::from_secs(5);

#[tokio::test]
async fn discovery_and_jwks_answer_conditional_requests_and_follow_the_keys() {
    let app = TestApp::spawn().await;
    for path in ["/.well-known/openid-configuration", "/oauth2/jwks"] {
        let first = app.get(path).await;
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: a strong tag: {etag}");
        let body: Value = first.json().await.unwrap();
        assert!(body.is_object());
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}: unchanged document");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
        let other = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{path}: another tag gets the document");
    }

    let before = app.get("/oauth2/jwks").await;
    let old_tag = before.headers()["etag"].to_str().unwrap().to_string();
    let s = &app.state;
    let created = s
        .keys()
        .rotate(s.db(), Some(gatehouse::crypto::signing::Alg::ES256))
        .await
        .unwrap();
    s.keys().reload(s.db()).await.unwrap();
    let after = app
        .client
        .get(app.url("/oauth2/jwks"))
        .header("if-none-match", &old_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "a rotation changes the document and its tag");
    assert_ne!(after.headers()["etag"].to_str().unwrap(), old_tag);
    let jwks: Value = after.json().await.unwrap();
    let new_kid = &created[0].1;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == new_kid.as_str()),
        "the new key is published"
    );
}

#[tokio::test]
async fn a_revocation_on_one_instance_reaches_the_other() {
    let (a, b) = pair().await;
    let c = flow::client(&a, false, &["client_credentials"]).await;
    let t: Value = token(&a, &c, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let at = t["access_token"].as_str().unwrap().to_string();
    // Both instances have now seen (and cached) the token as active.
    assert_eq!(flow::introspect(&b, &c, &at).await["active"], true);
    assert_eq!(flow::introspect(&a, &c, &at).await["active"], true);

    let r = a
        .client
        .post(a.url("/oauth2/revoke"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        flow::introspect(&a, &c, &at).await["active"],
        false,
        "inactive at once where it was revoked"
    );
    eventually(ACROSS, "the revocation seen by the other instance", || async {
        (flow::introspect(&b, &c, &at).await["active"] == false).then_some(())
    })
    .await;
    let ui = b
        .client
        .get(b.url("/oauth2/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 401, "and by its UserInfo");
}

#[tokio::test]
async fn a_client_change_on_one_instance_reaches_the_other() {
    let (a, b) = pair().await;
    let c = flow::client(&a, false, &["client_credentials"]).await;
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(
        token(&b, &c, &cc).await.status(),
        200,
        "Basic works, and B caches the client"
    );

    // What `gatehouse client set-auth-method` does, from outside both instances.
    gatehouse::clients::set_auth_method(a.state.db(), &c.id, "client_secret_post", "test")
        .await
        .unwrap();
    eventually(ACROSS, "B refusing Basic after the change", || async {
        (token(&b, &c, &cc).await.status() == 401).then_some(())
    })
    .await;
    let post = b
        .client
        .post(b.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.id.as_str()),
            ("client_secret", c.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200, "the new method works at B");
}

#[tokio::test]
async fn a_login_storm_past_the_hashing_queue_is_told_to_wait_and_counts_against_no_one() {
    const LIMIT: usize = 5;
    // One hashing thread, one waiting place, and hashes slow enough to pile up.
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_ARGON2__MAX_CONCURRENT", "1")
            .set("GATEHOUSE_ARGON2__MAX_WAITING", "1")
            .set("GATEHOUSE_ARGON2__MEMORY_KIB", "32768")
            .set("GATEHOUSE_ARGON2__ITERATIONS", "3")
            .set("GATEHOUSE_ACCOUNTS__LOGIN_IP_LIMIT", LIMIT.to_string()),
    )
    .await;
    let email = "storm@example.com";
    flow::user(&app, email).await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let url = flow::authorize_url(&c, &[]);

    // Rounds of browsers that first open their login form, then all submit at once
    // (throttling counts attempts in flight, so a round stays within the budget).
    let mut results = Vec::new();
    for _ in 0..3 {
        let mut forms = Vec::new();
        for _ in 0..LIMIT {
            let b = flow::browser();
            let r = b.get(flow::absolute(&app, &url)).send().await.unwrap();
            let page = b.get(flow::absolute(&app, &flow::location(&r))).send().await.unwrap();
            let html = page.text().await.unwrap();
            let mut form = vec![
                ("email".to_string(), email.to_string()),
                ("password".to_string(), flow::PASSWORD.to_string()),
                ("csrf".to_string(), flow::input(&html, "csrf").unwrap()),
            ];
            if let Some(v) = flow::input(&html, "authreq") {
                form.push(("authreq".into(), v));
            }
            forms.push((b, form));
        }
        let tries = forms.iter().map(|(b, form)| {
            let app = &app;
            async move {
                let r = b.post(app.url("/login")).form(form).send().await.unwrap();
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                let body = r.text().await.unwrap();
                (status, retry, body)
            }
        });
        results.extend(futures_util::future::join_all(tries).await);
    }
    let busy: Vec<_> = results.iter().filter(|(s, _, _)| *s == 503).collect();
    let ok = results.iter().filter(|(s, _, _)| *s == 303).count();
    let brief = |r: &[(u16, Option<String>, String)]| r.iter().map(|(s, _, _)| *s).collect::<Vec<_>>();
    assert!(ok >= 3, "some sign-ins get through: {:?}", brief(&results));
    assert!(
        busy.len() > LIMIT,
        "more are refused at once than the failure budget: {:?}",
        brief(&results)
    );
    assert_eq!(ok + busy.len(), results.len(), "nothing else: {:?}", brief(&results));
    for (_, retry, body) in &busy {
        assert_eq!(retry.as_deref(), Some("2"));
        assert!(body.contains("very busy"), "the page says why");
        assert!(body.contains("name=\"password\""), "and offers the form again");
    }
    // More refusals than the per-IP failure budget, yet the owner signs in: a busy
    // refusal is no failed guess. (Sixteen attempts stay within the budget of attempts
    // of any outcome, 4 × LIMIT.)
    let b = flow::browser();
    let back = flow::authorize(&app, &b, &url, email).await;
    assert!(flow::query(&back).contains_key("code"));
}
