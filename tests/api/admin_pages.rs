//! The admin pages (`/admin`): silence for everyone but a superuser, a second factor
//! before anything, confirmation steps, and each action's effect where the user, a
//! relying party or the audit log shows it.

use serde_json::Value;

use crate::helpers::flow::{self, TestClient, browser, input, location};
use crate::helpers::{Options, TestApp};
use crate::two_factor::{code, enrol, fresh_step, password_step, second_factor, signed_in};
use crate::two_factor_more::superuser;

/// A superuser signed in with the password and an authenticator app: a browser at /admin.
pub(crate) async fn admin_browser(app: &TestApp, email: &str) -> reqwest::Client {
    superuser(app, email).await;
    let b = browser();
    flow::login(app, &b, "/login", email, flow::PASSWORD).await;
    let step = fresh_step().await;
    let (secret, _) = enrol(app, &b, step).await;
    let b = password_step(app, email).await;
    let r = second_factor(app, &b, &code(&secret, step + 1)).await;
    assert_eq!(location(&r), "/account");
    b
}

/// The id in the first link to a user's admin page on `html`.
fn first_user(html: &str) -> String {
    let at = html.find("href=\"/admin/users/").expect("a user link") + "href=\"/admin/users/".len();
    html[at..at + 36].to_string()
}

/// Confirms `action` on the account `id` from its confirmation page; the response.
async fn confirm(app: &TestApp, b: &reqwest::Client, id: &str, action: &str, typed: Option<&str>) -> reqwest::Response {
    let at = format!("/admin/users/{id}/{action}");
    let html = flow::text(app, b, &at).await;
    let mut form = vec![
        ("csrf", input(&html, "csrf").expect("a confirmation form")),
        ("etag", input(&html, "etag").unwrap()),
    ];
    if let Some(t) = typed {
        form.push(("typed", t.to_string()));
    }
    b.post(app.url(&at)).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn the_area_is_silent_to_everyone_but_a_superuser() {
    let app = TestApp::spawn().await;
    let not_found = flow::text(&app, &browser(), "/no-such-page").await;
    let user = crate::two_factor::signed_in_user(&app, "ivy@example.com").await;
    for path in [
        "/admin",
        "/admin/users",
        "/admin/users/00000000-0000-0000-0000-000000000000",
        "/admin/clients",
        "/admin/keys",
        "/admin/audit",
        "/admin/outbox",
    ] {
        for (who, b) in [("a stranger", browser()), ("a user", user.clone())] {
            let r = b.get(app.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 404, "{who} at {path}");
            assert_eq!(
                r.text().await.unwrap(),
                not_found,
                "{who} at {path}: the ordinary not-found page"
            );
        }
    }
    for path in [
        "/admin/keys/rotate",
        "/admin/clients",
        "/admin/users/00000000-0000-0000-0000-000000000000/disable",
    ] {
        let r = user.post(app.url(path)).form(&[("csrf", "x")]).send().await.unwrap();
        assert_eq!(r.status(), 404, "POST {path}");
    }
}

#[tokio::test]
async fn a_superuser_enrols_a_second_factor_and_signs_in_with_it_first() {
    let app = TestApp::spawn().await;
    superuser(&app, "root@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "root@example.com", flow::PASSWORD).await;
    let r = b.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(
        location(&r),
        "/account/two-factor?for=admin",
        "no second factor: enrol one"
    );
    let page = flow::text(&app, &b, "/account/two-factor?for=admin").await;
    assert!(page.contains("The admin area needs two-step verification"), "{page}");
    let step = fresh_step().await;
    let (secret, _) = enrol(&app, &b, step).await;
    let r = b.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(
        location(&r),
        "/login?next=%2Fadmin%2Fusers&reauth=1",
        "a password-only session signs in again with the factor"
    );
    let r = flow::login(&app, &b, &location(&r), "root@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor");
    let r = second_factor(&app, &b, &code(&secret, step + 1)).await;
    assert_eq!(location(&r), "/admin/users");
    let r = b.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("root@example.com"));
}

#[tokio::test]
async fn a_superuser_finds_a_user_disables_them_and_sees_it_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let b = admin_browser(&app, "root@example.com").await;
    flow::user(&app, "kim@example.com").await;
    flow::user(&app, "lee@example.com").await;
    let rp = flow::client(&app, false, &["authorization_code"]).await;
    let t = flow::code_tokens(&app, &browser(), &rp, &[], "kim@example.com").await;
    let kims_token = t["access_token"].as_str().unwrap().to_string();

    let list = flow::text(&app, &b, "/admin/users?q=kim").await;
    assert!(
        list.contains("kim@example.com") && !list.contains("lee@example.com"),
        "{list}"
    );
    let id = first_user(&list);
    let page = flow::text(&app, &b, &format!("/admin/users/{id}")).await;
    assert!(
        page.contains("href=\"/admin/users/{id}/disable\"".replace("{id}", &id).as_str()),
        "{page}"
    );
    assert!(!page.contains("/enable\""), "only the actions that fit: {page}");
    let confirm_page = flow::text(&app, &b, &format!("/admin/users/{id}/disable")).await;
    assert!(confirm_page.contains("it cannot sign in"), "{confirm_page}");

    // A confirmation from a stale page changes nothing.
    let at = format!("/admin/users/{id}/disable");
    let stale = [
        ("csrf", input(&confirm_page, "csrf").unwrap()),
        ("etag", "\"1\"".to_string()),
    ];
    let r = b.post(app.url(&at)).form(&stale).send().await.unwrap();
    assert_eq!(r.status(), 412);
    assert!(r.text().await.unwrap().contains("nothing was done"));
    let r = b
        .post(app.url(&at))
        .form(&[("etag", input(&confirm_page, "etag").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no change");

    let r = confirm(&app, &b, &id, "disable", None).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("kim@example.com is disabled"), "{html}");
    assert!(html.contains("/admin/users/{id}/enable\"".replace("{id}", &id).as_str()));
    let r = flow::login(&app, &browser(), "/login", "kim@example.com", flow::PASSWORD).await;
    assert_ne!(r.status(), 303, "a disabled account cannot sign in");
    let intro: Value = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("token", kims_token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], false, "the user's tokens stop");

    let audit = flow::text(&app, &b, "/admin/audit?user=kim%40example.com&kind=user.disabled").await;
    assert!(audit.contains(">user.disabled<"), "{audit}");
    let root = gatehouse::accounts::find_by_email(
        app.state.db(),
        &gatehouse::accounts::Email::parse("root@example.com").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        audit.contains(&format!(">user:{}<", root.id)),
        "the admin is the actor: {audit}"
    );
    assert!(audit.contains("from 127.0.0.1"), "{audit}");
    let bad = b.get(app.url("/admin/audit?since=last+week")).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("From is not a date"));

    // Deleting, then purging needs the address typed in.
    assert_eq!(confirm(&app, &b, &id, "delete", None).await.status(), 200);
    let r = confirm(&app, &b, &id, "purge", Some("someone@example.com")).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Nothing was erased"));
    let r = confirm(&app, &b, &id, "purge", Some("KIM@example.com")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        b.get(app.url(&format!("/admin/users/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The last superuser is kept.
    let list = flow::text(&app, &b, "/admin/users?q=root").await;
    let r = confirm(&app, &b, &first_user(&list), "revoke-superuser", None).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("last active superuser"));
    assert!(signed_in(&app, &b).await);
}

#[tokio::test]
async fn clients_keys_and_mail_are_managed_from_the_pages() {
    let app = TestApp::spawn_with(Options::default()).await;
    let b = admin_browser(&app, "root@example.com").await;

    // Register: the secret is shown once and works.
    let fields = [
        ("name", "Billing"),
        ("redirect_uris", "https://billing.example.com/cb\r\n"),
        ("client_credentials", "on"),
    ];
    let r = flow::submit(&app, &b, "/admin/clients", "/admin/clients", &fields).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let grab = |id: &str| crate::two_factor::element(&html, id);
    let c = TestClient {
        id: grab("created-id"),
        secret: Some(grab("created-secret")),
        redirect_uri: "https://billing.example.com/cb".into(),
    };
    let cc = |c: TestClient| {
        let app = &app;
        async move {
            flow::token(app, &c, &[("grant_type", "client_credentials")])
                .await
                .status()
        }
    };
    assert_eq!(cc(c.clone()).await, 200);
    assert!(
        !flow::text(&app, &b, "/admin/clients")
            .await
            .contains(c.secret.as_deref().unwrap()),
        "shown once"
    );

    // Bad input re-renders with the reason and keeps the client as it was.
    let at = format!("/admin/clients/{}", c.id);
    let edit = flow::text(&app, &b, &at).await;
    let form = |name: &str, uri: &str| {
        vec![
            ("csrf", input(&edit, "csrf").unwrap()),
            ("etag", input(&edit, "etag").unwrap()),
            ("name", name.to_string()),
            ("redirect_uris", uri.to_string()),
            ("client_credentials", "on".to_string()),
        ]
    };
    let r = b
        .post(app.url(&at))
        .form(&form("Billing", "http://billing.example.com/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("uses http, which is only allowed for loopback hosts")
    );
    let r = b
        .post(app.url(&at))
        .form(&form("Billing 2", "https://billing.example.com/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Billing 2"));
    let r = b
        .post(app.url(&at))
        .form(&form("Billing 3", "https://billing.example.com/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412, "the page's version is old now");

    // Rotate: the old secret stops, the new one works.
    let r = flow::submit(&app, &b, &at, &format!("{at}/rotate-secret"), &[]).await;
    let html = r.text().await.unwrap();
    let rotated = TestClient {
        secret: Some(crate::two_factor::element(&html, "new-secret")),
        ..c.clone()
    };
    assert_eq!(cc(c.clone()).await, 401);
    assert_eq!(cc(rotated.clone()).await, 200);

    // A rotated key appears in JWKS.
    let before: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let r = flow::submit(&app, &b, "/admin/keys", "/admin/keys/rotate", &[]).await;
    assert!(r.text().await.unwrap().contains("Published"));
    let after: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    assert!(after["keys"].as_array().unwrap().len() > before["keys"].as_array().unwrap().len());
    assert!(flow::text(&app, &b, "/admin/keys").await.contains(">pending<"));

    // Delete after a confirmation: its credentials stop.
    let del = format!("{at}/delete");
    let r = flow::submit(&app, &b, &del, &del, &[]).await;
    assert!(r.text().await.unwrap().contains("deleted"));
    assert_eq!(cc(rotated).await, 401);
    assert_eq!(b.get(app.url(&at)).send().await.unwrap().status(), 404);
    let audit = flow::text(&app, &b, "/admin/audit?kind=client.").await;
    for k in [
        "client.created",
        "client.updated",
        "client.secret_rotated",
        "client.deleted",
    ] {
        assert!(audit.contains(&format!(">{k}<")), "{k}: {audit}");
    }
    assert!(
        flow::text(&app, &b, "/admin/outbox?state=failed")
            .await
            .contains("No mail here.")
    );

    // The registration-only settings: refused with the reason and the form kept, then used.
    let mut fields = vec![
        ("name", "Ledger"),
        ("redirect_uris", "https://ledger.example.com/cb"),
        ("client_credentials", "on"),
        ("scopes", "reports:read"),
        ("access_token_secs", "soon"),
    ];
    let r = flow::submit(&app, &b, "/admin/clients", "/admin/clients", &fields).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Access token lifetime must be a whole number of seconds."),
        "{html}"
    );
    assert!(html.contains("value=\"reports:read\""), "what was typed stays: {html}");
    fields.pop();
    fields.push(("access_token_secs", "120"));
    fields.push(("token_endpoint_auth_method", "client_secret_post"));
    let r = flow::submit(&app, &b, "/admin/clients", "/admin/clients", &fields).await;
    let html = r.text().await.unwrap();
    let grab = |id: &str| crate::two_factor::element(&html, id);
    let (id, secret) = (grab("created-id"), grab("created-secret"));
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "client_secret_post, as registered");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["expires_in"], 120);
    assert_eq!(t["scope"], "reports:read");
}

#[tokio::test]
async fn an_old_sign_in_may_look_but_not_change() {
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_MFA__RECENT_AUTH_SECS", "3")).await;
    let b = admin_browser(&app, "root@example.com").await;
    flow::user(&app, "nat@example.com").await;
    let list = flow::text(&app, &b, "/admin/users?q=nat").await;
    let id = first_user(&list);
    let confirm_page = flow::text(&app, &b, &format!("/admin/users/{id}/disable")).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        b.get(app.url("/admin/users")).send().await.unwrap().status(),
        200,
        "looking needs no fresh sign-in"
    );
    let form = [
        ("csrf", input(&confirm_page, "csrf").unwrap()),
        ("etag", input(&confirm_page, "etag").unwrap()),
    ];
    let r = b
        .post(app.url(&format!("/admin/users/{id}/disable")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&r),
        format!("/login?next=%2Fadmin%2Fusers%2F{id}%2Fdisable&reauth=1"),
        "acting does"
    );
    let r = flow::login(&app, &browser(), "/login", "nat@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "nothing was disabled");
    let r = flow::submit(&app, &b, "/admin/keys", "/admin/keys/rotate", &[]).await;
    assert_eq!(location(&r), "/login?next=%2Fadmin%2Fkeys&reauth=1");
}
