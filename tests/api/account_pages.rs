//! The account pages after sign-in (profile, images, custom fields, email change, the
//! security page, login notifications) and the robot check, each judged by what the
//! user sees and what the mail says.

use std::time::Duration;

use crate::accounts::{GOOD, app_with_mail, link_in, post_token_form, signup, wait_subject};
use crate::helpers::flow::{self, browser, input, location};
use crate::helpers::smtp::{Received, SmtpSink};
use crate::helpers::{Options, TestApp};

#[tokio::test]
async fn keep_me_signed_in_throttle_wait_and_rehash_on_login() {
    use sea_orm::EntityTrait;
    let (app, _sink) = app_with_mail().await;
    // A hash made with other argon2 parameters than the server's (m=64,t=1).
    let user = flow::user_hashed_by(&app, "legacy@example.com", &flow::older_hasher(32, 2)).await;
    assert!(user.password_hash.as_deref().unwrap().contains("m=32,t=2,p=1"));

    let b = browser();
    let html = flow::text(&app, &b, "/login").await;
    let form = [
        ("email", "legacy@example.com"),
        ("password", flow::PASSWORD),
        ("csrf", &input(&html, "csrf").unwrap()),
        ("remember", "yes"),
    ];
    let r = b.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gh_session="))
        .unwrap();
    assert!(cookie.contains("Max-Age="), "persistent when asked: {cookie}");
    let stored = entity::user::Entity::find_by_id(user.id)
        .one(app.state.db())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.password_hash.unwrap().contains("m=64,t=1,p=1"),
        "re-hashed with the current parameters"
    );

    // Without "keep me signed in": a cookie that ends with the browser.
    let r = flow::login(&app, &browser(), "/login", "legacy@example.com", flow::PASSWORD).await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gh_session="))
        .unwrap();
    assert!(!cookie.contains("Max-Age=") && !cookie.contains("Expires="), "{cookie}");

    // Throttling says how long to wait.
    let t = browser();
    let mut last = String::new();
    for _ in 0..11 {
        last = flow::login(&app, &t, "/login", "someone@example.com", "wrong wrong wrong")
            .await
            .text()
            .await
            .unwrap();
    }
    assert!(last.contains("Try again in 15 minutes."), "{last}");
}

#[tokio::test]
async fn profile_edit_validates_fields_and_feeds_the_claims() {
    let (app, _sink) = app_with_mail().await;
    flow::user(&app, "ada@example.com").await;
    flow::user(&app, "taken-name@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "ada@example.com", flow::PASSWORD).await;
    let save = |pairs: Vec<(&'static str, &'static str)>| {
        let b = b.clone();
        let app = &app;
        async move {
            let r = flow::submit(app, &b, "/account/edit", "/account/edit", &pairs).await;
            (
                r.status().as_u16(),
                r.headers().get("location").map(|v| v.to_str().unwrap().to_string()),
                r.text().await.unwrap(),
            )
        }
    };
    // The other user takes a username first.
    let other = browser();
    flow::login(&app, &other, "/login", "taken-name@example.com", flow::PASSWORD).await;
    let html = flow::text(&app, &other, "/account/edit").await;
    other
        .post(app.url("/account/edit"))
        .form(&[
            ("csrf", input(&html, "csrf").unwrap().as_str()),
            ("preferred_username", "lovelace"),
        ])
        .send()
        .await
        .unwrap();

    let (status, _, html) = save(vec![
        ("given_name", "Ada"),
        ("birthdate", "not a date"),
        ("zoneinfo", "Mars"),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Use a past date as YYYY-MM-DD.") && html.contains("zoneinfo-error"),
        "{html}"
    );
    assert!(html.contains("value=\"Ada\""), "typed values are kept");
    assert!(html.contains("aria-describedby=\"birthdate-error\""));
    let (status, _, html) = save(vec![("website", "javascript:alert(1)")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("Use a web address"));
    let (status, _, html) = save(vec![("preferred_username", "Lovelace")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("This username is taken."));
    let (status, loc, _) = save(vec![
        ("given_name", "Ada"),
        ("family_name", "Lovelace"),
        ("preferred_username", "ada"),
        ("locale", "en-GB"),
        ("zoneinfo", "Europe/London"),
        ("birthdate", "1815-12-10"),
        ("website", "https://ada.example.org"),
    ])
    .await;
    assert_eq!((status, loc.as_deref()), (303, Some("/account")));
    let html = flow::text(&app, &b, "/account").await;
    assert!(html.contains("Ada Lovelace"));

    // Relying parties see the profile through the profile scope.
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let t = flow::code_tokens(&app, &b, &c, &[], "ada@example.com").await;
    let u = flow::userinfo(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(u["name"], "Ada Lovelace");
    assert_eq!(u["preferred_username"], "ada");
    assert_eq!(u["birthdate"], "1815-12-10");
    assert_eq!(u["zoneinfo"], "Europe/London");
    assert_eq!(u["website"], "https://ada.example.org");
}

#[tokio::test]
async fn login_notifications_are_mailed_unless_turned_off() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "watchful@example.com").await;
    let b = browser();
    let html = flow::text(&app, &b, "/login").await;
    let chrome =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    let form = [
        ("email", "watchful@example.com"),
        ("password", flow::PASSWORD),
        ("csrf", &input(&html, "csrf").unwrap()),
    ];
    let r = b
        .post(app.url("/login"))
        .header("user-agent", chrome)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let m = wait_subject(&sink, "New sign-in to your Gatehouse account").await;
    let body = m.decoded();
    assert!(body.contains("Browser: Chrome 126"), "{body}");
    assert!(body.contains("Operating system: Linux"), "{body}");
    assert!(body.contains("IP address: 127.0.0.1"), "{body}");
    assert!(body.contains("Approximate location: unknown"), "{body}");
    assert!(body.contains("/account/security"), "{body}");

    // Turning them off shows a warning, and the next login sends nothing.
    let html = flow::text(&app, &b, "/account/security").await;
    assert!(
        html.contains("name=\"login_notifications\" value=\"on\" checked"),
        "on by default"
    );
    let r = b
        .post(app.url("/account/security"))
        .form(&[("csrf", input(&html, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("notifications-warning"), "{html}");
    flow::login(&app, &browser(), "/login", "watchful@example.com", flow::PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let count = sink
        .messages()
        .await
        .iter()
        .filter(|m| m.header("Subject").as_deref() == Some("New sign-in to your Gatehouse account"))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn email_change_is_confirmed_by_the_new_address_and_told_to_the_old() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "old@example.com").await;
    flow::user(&app, "occupied@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "old@example.com", flow::PASSWORD).await;
    let ask = |email: &'static str, pw: &'static str| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = flow::text(app, &b, "/account/email").await;
            let r = b
                .post(app.url("/account/email"))
                .form(&[
                    ("email", email),
                    ("password", pw),
                    ("csrf", &input(&html, "csrf").unwrap()),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = ask("new@example.com", "wrong password").await;
    assert_eq!(status, 422);
    assert!(html.contains("The password is not correct."));
    // An address of another account: the same answer, its owner is told, nothing changes.
    let (s1, taken) = ask("occupied@example.com", flow::PASSWORD).await;
    let (s2, fresh) = ask("new@example.com", flow::PASSWORD).await;
    assert_eq!((s1, s2), (200, 200));
    let strip = |h: &str| h.lines().filter(|l| !l.contains("csrf")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&taken), strip(&fresh));
    let confirm_mail = wait_subject(&sink, "Confirm your new email address for Gatehouse").await;
    assert_eq!(confirm_mail.to, vec!["<new@example.com>".to_string()]);
    let notice = wait_subject(&sink, "Someone tried to sign up with your address at Gatehouse").await;
    assert_eq!(notice.to, vec!["<occupied@example.com>".to_string()]);

    // Until confirmed, the old address stays in force.
    assert!(flow::text(&app, &b, "/account").await.contains("old@example.com"));
    let link = link_in(&confirm_mail, "/account/email/confirm?token=");
    let html = flow::text(&app, &b, &link).await;
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
    assert!(r.text().await.unwrap().contains("new@example.com"));
    let told = wait_subject(&sink, "The email address of your Gatehouse account was changed").await;
    assert_eq!(told.to, vec!["<old@example.com>".to_string()]);
    // Sign in with the new address; the old one is gone; the link is spent.
    assert_eq!(
        flow::login(&app, &browser(), "/login", "new@example.com", flow::PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(
        flow::login(&app, &browser(), "/login", "old@example.com", flow::PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(b.get(app.url(&link)).send().await.unwrap().status(), 410);
}

#[tokio::test]
async fn whoever_holds_the_mailbox_sets_the_password() {
    let (app, sink) = app_with_mail().await;
    // Someone else signs up with the victim's address first.
    let attacker = browser();
    signup(
        &app,
        &attacker,
        "victim@example.com",
        "attacker chosen secret phrase",
        "attacker chosen secret phrase",
    )
    .await;
    // The victim signs up too and activates from the second mail.
    let victim = browser();
    signup(&app, &victim, "victim@example.com", GOOD, GOOD).await;
    let msgs = sink.wait_for(2, Duration::from_secs(10)).await;
    // Both links reached the mailbox; only the newest (the victim's) works.
    let mut statuses = Vec::new();
    for m in &msgs[..2] {
        let link = link_in(m, "/signup/activate?token=");
        statuses.push(post_token_form(&app, &victim, &link).await.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410], "exactly one link activates");
    assert_eq!(
        flow::login(&app, &browser(), "/login", "victim@example.com", GOOD)
            .await
            .status(),
        303
    );
    assert_eq!(
        flow::login(
            &app,
            &browser(),
            "/login",
            "victim@example.com",
            "attacker chosen secret phrase"
        )
        .await
        .status(),
        401,
        "the first signup's password is gone"
    );

    // Activating through a resent link (no password with it) asks for a new password.
    signup(
        &app,
        &browser(),
        "second@example.com",
        "attacker chosen secret phrase",
        "attacker chosen secret phrase",
    )
    .await;
    let b = browser();
    let html = flow::text(&app, &b, "/signup/resend").await;
    b.post(app.url("/signup/resend"))
        .form(&[
            ("email", "second@example.com"),
            ("csrf", &input(&html, "csrf").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let both = crate::helpers::eventually(Duration::from_secs(10), "the resent activation mail", || async {
        let to_second: Vec<Received> = sink
            .messages()
            .await
            .into_iter()
            .filter(|m| m.to[0].contains("second@"))
            .collect();
        (to_second.len() >= 2).then_some(to_second)
    })
    .await;
    // Mail may arrive in any order; only the newest link (the resent one) works, and it
    // comes without a password.
    let mut outcomes = Vec::new();
    for m in &both[..2] {
        let r = post_token_form(&app, &b, &link_in(m, "/signup/activate?token=")).await;
        let status = r.status().as_u16();
        outcomes.push((status, r.text().await.unwrap().contains("Choose a password")));
    }
    outcomes.sort_unstable();
    assert_eq!(outcomes, [(200, true), (410, false)]);
    assert_eq!(
        flow::login(
            &app,
            &browser(),
            "/login",
            "second@example.com",
            "attacker chosen secret phrase"
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn security_page_lists_sessions_and_applications_and_revokes_them() {
    use crate::helpers::flow::authorize_url;
    let (app, _sink) = app_with_mail().await;
    flow::user(&app, "careful@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let a = browser();
    let t = flow::code_tokens(&app, &a, &c, &[], "careful@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "careful@example.com", flow::PASSWORD).await;
    let c3 = browser();
    flow::login(&app, &c3, "/login", "careful@example.com", flow::PASSWORD).await;

    let html = flow::text(&app, &a, "/account/security").await;
    assert_eq!(html.matches("data-sid=").count(), 3, "three sessions listed");
    assert_eq!(html.matches("this browser").count(), 1);
    assert!(html.contains("Example RP"), "the connected application is listed");
    let csrf = input(&html, "csrf").unwrap();

    // Sign out one other session by its id (B's is the newest, listed first).
    let first_sid = html
        .split("data-sid=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = a
        .post(app.url("/account/security/sessions"))
        .form(&[("csrf", csrf.as_str()), ("sid", first_sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let signed_out = [&b, &c3];
    let mut still_in = 0;
    for br in signed_out {
        if br.get(app.url("/account")).send().await.unwrap().status() == 200 {
            still_in += 1;
        }
    }
    assert_eq!(still_in, 1, "exactly one of the other two was signed out");
    // Everywhere else: the remaining other session goes, this one stays.
    let r = a
        .post(app.url("/account/security/sessions"))
        .form(&[("csrf", csrf.as_str()), ("others", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(c3.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(a.get(app.url("/account")).send().await.unwrap().status(), 200);

    // Removing the application's access revokes its refresh token and its consent.
    let r = a
        .post(app.url("/account/security/apps"))
        .form(&[("csrf", csrf.as_str()), ("client_id", c.id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("No application has access"));
    let refreshed: serde_json::Value = flow::refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed["error"], "invalid_grant");
    let r = a.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    assert!(location(&r).starts_with("/consent"), "consent is asked again");
}

#[tokio::test]
async fn robot_check_protects_the_forms_and_fails_closed() {
    use std::sync::{Arc, Mutex};
    // A verifier on loopback with the reCAPTCHA siteverify contract.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let verifier = axum::Router::new().route(
        "/siteverify",
        axum::routing::post(move |body: String| async move {
            log.lock().unwrap().push(body.clone());
            let ok = body.contains("secret=s3cret") && body.contains("response=good-token");
            axum::Json(serde_json::json!({ "success": ok }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let real = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, verifier).await });
    let proxy = crate::helpers::proxy::Proxy::start(real, true).await;
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_CAPTCHA__ENABLED", "true")
            .set("GATEHOUSE_CAPTCHA__SITE_KEY", "site-key-123")
            .set("GATEHOUSE_CAPTCHA__SECRET", "s3cret")
            .set(
                "GATEHOUSE_CAPTCHA__VERIFY_URL",
                format!("http://127.0.0.1:{}/siteverify", proxy.addr.port()),
            ),
    )
    .await;
    flow::user(&app, "human@example.com").await;
    let b = browser();
    let page = b.get(app.url("/login")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("script-src 'self' https://www.google.com https://www.gstatic.com"),
        "{csp}"
    );
    assert!(csp.contains("frame-src https://www.google.com"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("data-sitekey=\"site-key-123\""), "{html}");
    assert!(html.contains("recaptcha"), "the widget script is loaded");
    let csrf = input(&html, "csrf").unwrap();
    let login = |token: Option<&'static str>| {
        let b = b.clone();
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let mut form = vec![
                ("email", "human@example.com"),
                ("password", flow::PASSWORD),
                ("csrf", csrf.as_str()),
            ];
            if let Some(t) = token {
                form.push(("g-recaptcha-response", t));
            }
            let r = b.post(app.url("/login")).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = login(None).await;
    assert_eq!(status, 400);
    assert!(html.contains("Confirm that you are not a robot."));
    let (status, html) = login(Some("bad-token")).await;
    assert_eq!(status, 400);
    assert!(html.contains("The robot check failed."));
    assert_eq!(login(Some("good-token")).await.0, 303);
    assert!(seen.lock().unwrap().iter().any(|b| b.contains("remoteip=127.0.0.1")));

    // Other forms are protected too.
    let html = flow::text(&app, &b, "/password/reset").await;
    let r = b
        .post(app.url("/password/reset"))
        .form(&[("email", "human@example.com"), ("csrf", &input(&html, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = flow::text(&app, &b, "/login/magic-link").await;
    assert!(html.contains("data-sitekey=\"site-key-123\""), "{html}");
    let r = b
        .post(app.url("/login/magic-link"))
        .form(&[("email", "human@example.com"), ("csrf", &input(&html, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Confirm that you are not a robot."));
    let html = flow::text(&app, &b, "/signup").await;
    let form = [
        ("email", "new-human@example.com"),
        ("password", GOOD),
        ("password_confirm", GOOD),
        ("csrf", &input(&html, "csrf").unwrap()),
        ("g-recaptcha-response", "good-token"),
    ];
    assert_eq!(
        b.post(app.url("/signup")).form(&form).send().await.unwrap().status(),
        200
    );

    // The verifier unreachable: fail closed with a clear message.
    proxy.down();
    let (status, html) = login(Some("good-token")).await;
    assert_eq!(status, 400);
    assert!(html.contains("The robot check is unavailable right now."), "{html}");
}

#[tokio::test]
async fn profile_images_are_processed_stored_and_served_with_etags() {
    let (app, _sink) = app_with_mail().await;
    flow::user(&app, "pictured@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "pictured@example.com", flow::PASSWORD).await;
    let png = {
        let img = image::RgbaImage::from_pixel(800, 600, image::Rgba([10, 120, 200, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let upload = |kind: &'static str, bytes: Vec<u8>, name: &'static str| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = flow::text(app, &b, "/account/images").await;
            let form = reqwest::multipart::Form::new()
                .text("csrf", input(&html, "csrf").unwrap())
                .text("kind", kind)
                .part("image", reqwest::multipart::Part::bytes(bytes).file_name(name));
            let r = b.post(app.url("/account/images")).multipart(form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (status, html) = upload(
        "avatar",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>".to_vec(),
        "x.svg",
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("This file is not an image we can read."), "{html}");
    let (status, html) = upload("avatar", vec![0u8; 6 * 1024 * 1024], "big.png").await;
    assert_eq!(status, 413, "{html}");
    assert!(html.contains("at most 5 MB"));
    let (status, _) = upload("avatar", png.clone(), "me.png").await;
    assert_eq!(status, 303);
    assert_eq!(upload("cover", png, "cover.png").await.0, 303);

    let html = flow::text(&app, &b, "/account/images").await;
    let src = html
        .split("id=\"avatar-current\"")
        .next()
        .unwrap()
        .rsplit("src=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(src.starts_with("/images/"), "{src}");
    let r = app.get(&src).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let served = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((served.width(), served.height()), (256, 256));
    let r = app
        .client
        .get(app.url(&src))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(app.get("/images/not-a-uuid").await.status(), 404);

    // The picture claim points at the avatar.
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let t = flow::code_tokens(&app, &b, &c, &[], "pictured@example.com").await;
    let u = flow::userinfo(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(u["picture"], format!("http://127.0.0.1:8080{src}"));
}

#[tokio::test]
async fn operator_defined_profile_fields_are_edited_and_released_under_their_scope() {
    use crate::helpers::flow::authorize_url;
    let dir = crate::helpers::temp_dir();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        r#"
[[profile_fields]]
key = "department"
label = "Department"
type = "select"
options = ["Sales", "Engineering"]
required = true
scope = "profile"

[[profile_fields]]
key = "employee_number"
label = "Employee number"
type = "number"
scope = "hr"
"#,
    )
    .unwrap();
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(Options {
        file: Some(file),
        ..Options::default().set("GATEHOUSE_SMTP_URL", sink.url())
    })
    .await;
    flow::user(&app, "staff@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "staff@example.com", flow::PASSWORD).await;
    let html = flow::text(&app, &b, "/account/edit").await;
    assert!(
        html.contains("<select id=\"department\"") && html.contains("type=\"number\""),
        "{html}"
    );
    let csrf = input(&html, "csrf").unwrap();
    let save = |pairs: Vec<(&'static str, &'static str)>| {
        let b = b.clone();
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
            form.extend(pairs.iter().copied());
            let r = b.post(app.url("/account/edit")).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (status, html) = save(vec![("department", "Marketing"), ("employee_number", "12a")]).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Choose one of the options.") && html.contains("Enter a number."),
        "{html}"
    );
    let (status, html) = save(vec![("employee_number", "42")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("Department is required."));
    assert_eq!(
        save(vec![("department", "Engineering"), ("employee_number", "42")])
            .await
            .0,
        303
    );

    // Released as claims under their scopes only.
    let c = flow::client_with(&app, false, &["authorization_code"], |n| {
        gatehouse::clients::NewClient {
            scopes: vec!["openid".into(), "profile".into(), "hr".into()],
            ..n
        }
    })
    .await;
    let claims_for = |scope: &'static str| {
        let b = b.clone();
        let c = c.clone();
        let app = &app;
        async move {
            let back = flow::authorize(app, &b, &authorize_url(&c, &[("scope", scope)]), "staff@example.com").await;
            let t: serde_json::Value = flow::redeem(app, &c, &back).await;
            app.client
                .get(app.url("/oauth2/userinfo"))
                .bearer_auth(t["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let u = claims_for("openid profile").await;
    assert_eq!(u["department"], "Engineering");
    assert!(u.get("employee_number").is_none(), "{u}");
    let u = claims_for("openid profile hr").await;
    assert_eq!(u["employee_number"], 42.0);
}
