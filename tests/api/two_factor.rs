//! Second factors end to end: an authenticator app enrolled from what the setup page
//! shows (codes computed here from the secret on the page), backup codes, the lockout,
//! the policy that requires enrolment, and what relying parties see (`amr`, `acr`) and
//! can ask for (`acr_values`, a client that requires multi-factor).

use std::time::Duration;

use serde_json::Value;

use crate::accounts::{app_with_mail, wait_subject};
use crate::helpers::flow::{self, authorize_url, browser, input, location, query};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp};

fn unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The current 30-second step, waiting first if fewer than 10 seconds are left in it, so
/// a test's codes for this step and its neighbours stay within the server's window.
pub(crate) async fn fresh_step() -> u64 {
    let now = unix();
    if now % 30 > 20 {
        tokio::time::sleep(Duration::from_secs(31 - now % 30)).await;
    }
    unix() / 30
}

/// The authenticator app's code for `step`, from the base32 secret the page showed.
pub(crate) fn code(secret: &str, step: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let t = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    t.generate(step * 30).to_string()
}

/// The text of the element with `id` in a page.
pub(crate) fn element(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap() + open;
    rest[open..close].trim().to_string()
}

/// The backup codes shown on a page.
pub(crate) fn backup_codes(html: &str) -> Vec<String> {
    html.split("class=\"backup-code")
        .skip(1)
        .map(|s| {
            let open = s.find('>').unwrap() + 1;
            let close = s[open..].find('<').unwrap() + open;
            s[open..close].trim().to_string()
        })
        .collect()
}

/// Enrols an authenticator app in signed-in browser `b`, confirming it with the code for
/// `step`; returns the secret the page showed and the backup codes shown after.
pub(crate) async fn enrol(app: &TestApp, b: &reqwest::Client, step: u64) -> (String, Vec<String>) {
    let html = flow::text(app, b, "/account/two-factor/totp").await;
    let secret = element(&html, "totp-secret");
    assert!(
        html.contains("data:image/png;base64,"),
        "a QR code rendered by the server"
    );
    assert!(
        html.replace("&#x2f;", "/").contains("href=\"otpauth://totp/"),
        "an otpauth:// link"
    );
    let setup = input(&html, "setup").unwrap();
    let fields = [
        ("setup", setup.as_str()),
        ("name", "Phone"),
        ("code", &code(&secret, step)),
    ];
    let r = flow::submit(app, b, "/account/two-factor/totp", "/account/two-factor/totp", &fields).await;
    assert_eq!(r.status(), 200, "enrolled, backup codes shown");
    let codes = backup_codes(&r.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Signs in with the password in a fresh browser; returns it at the second-factor step.
pub(crate) async fn password_step(app: &TestApp, email: &str) -> reqwest::Client {
    let b = browser();
    let r = flow::login(app, &b, "/login", email, flow::PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/second-factor", "the password alone is not enough");
    b
}

pub(crate) async fn second_factor(app: &TestApp, b: &reqwest::Client, code: &str) -> reqwest::Response {
    flow::submit(
        app,
        b,
        "/login/second-factor",
        "/login/second-factor",
        &[("code", code)],
    )
    .await
}

pub(crate) async fn signed_in(app: &TestApp, b: &reqwest::Client) -> bool {
    b.get(app.url("/account")).send().await.unwrap().status() == 200
}

/// The claims of a JWT (the signature is checked by the interop tests).
pub(crate) fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub(crate) async fn signed_in_user(app: &TestApp, email: &str) -> reqwest::Client {
    flow::user(app, email).await;
    let b = browser();
    let r = flow::login(app, &b, "/login", email, flow::PASSWORD).await;
    assert_eq!(location(&r), "/account");
    b
}

#[tokio::test]
async fn an_authenticator_app_guards_sign_in_and_each_code_works_once() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "tara@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let added = wait_subject(&sink, "Two-step verification: a second factor was added").await;
    assert!(added.decoded().contains("\"Phone\""));
    let overview = flow::text(&app, &b, "/account/two-factor").await;
    assert!(overview.contains("Phone"), "listed by name");
    assert!(!overview.contains(&secret), "the secret is never shown again");

    // The password now leads to the second step; no session before it.
    let other = password_step(&app, "tara@example.com").await;
    assert!(!signed_in(&app, &other).await);
    let r = second_factor(&app, &other, "000000").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("4 more tries"));
    // The code used to enrol cannot be used again.
    let r = second_factor(&app, &other, &code(&secret, s - 1)).await;
    assert_eq!(r.status(), 422, "replay of the enrolment code");
    let r = second_factor(&app, &other, &code(&secret, s)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert!(signed_in(&app, &other).await);

    // The same code, or an older one, in another browser: refused.
    let third = password_step(&app, "tara@example.com").await;
    for old in [s, s - 1] {
        let r = second_factor(&app, &third, &code(&secret, old)).await;
        assert_eq!(r.status(), 422, "step {old} was used");
    }
    // The next step's code is within the allowed skew.
    let r = second_factor(&app, &third, &code(&secret, s + 1)).await;
    assert_eq!(r.status(), 303);
    assert!(signed_in(&app, &third).await);
    // Without the pending sign-in's cookie, a code leads nowhere.
    let r = browser().get(app.url("/login/second-factor")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
}

#[tokio::test]
async fn backup_codes_work_once_and_a_new_set_replaces_the_old() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "uma@example.com").await;
    let s = fresh_step().await;
    let (_, codes) = enrol(&app, &b, s).await;
    let security = flow::text(&app, &b, "/account/security").await;
    assert!(security.contains("10 backup codes left"), "{security}");

    let c = password_step(&app, "uma@example.com").await;
    let r = second_factor(&app, &c, &codes[0].to_uppercase()).await;
    assert_eq!(r.status(), 303, "a backup code, as typed");
    assert!(signed_in(&app, &c).await);
    let used = wait_subject(&sink, "A backup code was used to sign in").await;
    assert!(used.decoded().contains("9 unused codes are left"));
    let c = password_step(&app, "uma@example.com").await;
    let r = second_factor(&app, &c, &codes[0]).await;
    assert_eq!(r.status(), 422, "each code works once");

    // A new set: the old codes stop working.
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor/backup-codes",
        "/account/two-factor/backup-codes",
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let fresh = backup_codes(&r.text().await.unwrap());
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    wait_subject(&sink, "New backup codes were made").await;
    let r = second_factor(&app, &c, &codes[1]).await;
    assert_eq!(r.status(), 422, "an old code");
    let r = second_factor(&app, &c, &fresh[1]).await;
    assert_eq!(r.status(), 303, "a new code");
}

#[tokio::test]
async fn wrong_codes_pause_only_the_second_step_and_the_owner_is_told() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "vic@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;

    let attacker = password_step(&app, "vic@example.com").await;
    for left in (1..=4).rev() {
        let r = second_factor(&app, &attacker, "123456").await;
        assert_eq!(r.status(), 422);
        let expected = if left == 1 {
            "1 more try".to_string()
        } else {
            format!("{left} more tries")
        };
        assert!(r.text().await.unwrap().contains(&expected));
    }
    let r = second_factor(&app, &attacker, "123456").await;
    assert_eq!(r.status(), 429);
    let mail = wait_subject(&sink, "Too many wrong sign-in codes").await;
    assert!(mail.decoded().contains("Someone who knows your Gatehouse password"));
    // That pending sign-in is over, and while paused even the right code does not pass.
    let r = attacker.get(app.url("/login/second-factor")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
    let owner = password_step(&app, "vic@example.com").await;
    let r = second_factor(&app, &owner, &code(&secret, s)).await;
    assert_eq!(r.status(), 429);
    // The owner's signed-in browser is untouched.
    assert!(signed_in(&app, &b).await);
}

#[tokio::test]
async fn relying_parties_see_amr_and_acr_and_can_ask_for_a_second_factor() {
    let app = TestApp::spawn().await;
    flow::user(&app, "wes@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "wes@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let first = claims(t["id_token"].as_str().unwrap());
    assert_eq!(first["amr"], serde_json::json!(["pwd"]));
    assert_eq!(first["acr"], "urn:gatehouse:acr:sfa");
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["urn:gatehouse:acr:sfa", "urn:gatehouse:acr:mfa"])
    );

    // Without a second factor, asking for one changes nothing (acr says what was done).
    let ask = authorize_url(&c, &[("acr_values", "urn:gatehouse:acr:mfa")]);
    let back = flow::authorize(&app, &b, &ask, "wes@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    assert_eq!(claims(t["id_token"].as_str().unwrap())["acr"], "urn:gatehouse:acr:sfa");

    // With one, the same request steps the session up, keeping it (same sid).
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let r = b.get(app.url(&ask)).send().await.unwrap();
    assert_eq!(
        location(&r),
        format!("/login/step-up?authreq={}", query(&location(&r))["authreq"])
    );
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(location(&r), "/login/second-factor");
    let r = second_factor(&app, &b, &code(&secret, s)).await;
    assert_eq!(r.status(), 303);
    let back = flow::authorize(&app, &b, &location(&r), "wes@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let stepped = claims(t["id_token"].as_str().unwrap());
    assert_eq!(stepped["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(stepped["acr"], "urn:gatehouse:acr:mfa");
    assert_eq!(stepped["sid"], first["sid"], "the SSO session was kept");
    // prompt=none cannot step up.
    let fresh = browser();
    let r = flow::login(&app, &fresh, "/login", "wes@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor");
    let none = authorize_url(&c, &[("acr_values", "urn:gatehouse:acr:mfa"), ("prompt", "none")]);
    let r = fresh.get(app.url(&none)).send().await.unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required", "not signed in yet");
}

#[tokio::test]
async fn a_client_that_requires_multi_factor_gets_no_code_without_it() {
    let app = TestApp::spawn().await;
    let b = signed_in_user(&app, "xia@example.com").await;
    let c = flow::client_with(&app, false, &["authorization_code"], |n| {
        gatehouse::clients::NewClient { require_mfa: true, ..n }
    })
    .await;
    // No second factor: told how to get one, no code.
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("needs two-step verification"));
    // prompt=none: interaction_required.
    let r = b
        .get(app.url(&authorize_url(&c, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "interaction_required");
    // With one: the step-up, then the code.
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(location(&r), "/login/second-factor");
    let r = second_factor(&app, &b, &code(&secret, s)).await;
    let back = flow::authorize(&app, &b, &location(&r), "xia@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    assert_eq!(claims(t["id_token"].as_str().unwrap())["acr"], "urn:gatehouse:acr:mfa");
}

#[tokio::test]
async fn the_policy_walks_users_without_a_factor_through_enrolment() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MFA__REQUIRED", "everyone"),
    )
    .await;
    flow::user(&app, "yan@example.com").await;
    let b = browser();
    let r = flow::login(&app, &b, "/login", "yan@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor/setup");
    assert!(!signed_in(&app, &b).await, "no session before enrolment");
    let html = flow::text(&app, &b, "/login/second-factor/setup").await;
    assert!(html.contains("Your account needs two-step verification"));
    let secret = element(&html, "totp-secret");
    let s = fresh_step().await;
    let setup = input(&html, "setup").unwrap();
    let wrong = [("setup", setup.as_str()), ("code", "000000")];
    let r = flow::submit(
        &app,
        &b,
        "/login/second-factor/setup",
        "/login/second-factor/setup",
        &wrong,
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text().await.unwrap().contains(&secret),
        "the same secret, to try again"
    );
    let right = [("setup", setup.as_str()), ("code", &code(&secret, s))];
    let r = flow::submit(
        &app,
        &b,
        "/login/second-factor/setup",
        "/login/second-factor/setup",
        &right,
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert_eq!(backup_codes(&html).len(), 10, "backup codes, once");
    assert!(
        html.contains("href=\"/account\""),
        "then on to where the sign-in was going"
    );
    assert!(signed_in(&app, &b).await);
    wait_subject(&sink, "Two-step verification: a second factor was added").await;
    // From now on the sign-in asks for the code.
    password_step(&app, "yan@example.com").await;
}

#[tokio::test]
async fn factor_changes_need_a_recent_sign_in_and_removing_the_last_turns_it_off() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MFA__RECENT_AUTH_SECS", "4"),
    )
    .await;
    // The step first: waiting for it after signing in could outlast the recent sign-in.
    let s = fresh_step().await;
    let b = signed_in_user(&app, "zed@example.com").await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let r = b.get(app.url("/account/two-factor/totp")).send().await.unwrap();
    assert_eq!(location(&r), "/login?next=%2Faccount%2Ftwo-factor%2Ftotp&reauth=1");
    let html = flow::text(&app, &b, "/account/two-factor").await;
    let id = input(&html, "id").unwrap();
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor",
        "/account/two-factor/totp/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(r.status(), 303, "an old sign-in cannot remove a factor");
    let fields = [
        ("current", flow::PASSWORD),
        ("password", "another long passphrase"),
        ("password_confirm", "another long passphrase"),
    ];
    let p = flow::submit(&app, &b, "/account/password", "/account/password", &fields).await;
    assert_eq!(
        location(&p),
        "/login?next=%2Faccount%2Fpassword&reauth=1",
        "nor change the password"
    );
    // Signing in again (password and code) makes it recent.
    let r = flow::login(&app, &b, &location(&r), "zed@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor");
    let r = second_factor(&app, &b, &code(&secret, s)).await;
    assert_eq!(location(&r), "/account/two-factor");
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor",
        "/account/two-factor/totp/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("The authenticator app was removed."));
    wait_subject(&sink, "Two-step verification: a second factor was removed").await;
    let fresh = browser();
    let r = flow::login(&app, &fresh, "/login", "zed@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "the password alone again");
}

#[tokio::test]
async fn an_operator_can_reset_a_lost_second_factor() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "abe@example.com").await;
    let s = fresh_step().await;
    enrol(&app, &b, s).await;
    password_step(&app, "abe@example.com").await;
    let run = |email: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["user", "mfa", "reset", "--email", email])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_DATABASE_URL", app.db_url())
            .env("GATEHOUSE_SECRET_KEY", &app.key)
            .env("GATEHOUSE_LOG_LEVEL", "warn")
            // The operator's CLI uses the server's store: that is where the sessions are.
            .envs(app.store_env.iter().cloned())
            .output()
            .unwrap()
    };
    let out = run("nobody@example.com");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with the address nobody@example.com"));
    let out = run("abe@example.com");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("1 second factors of abe@example.com were removed, their sessions and tokens ended"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!signed_in(&app, &b).await, "the sessions of whoever held them end");
    wait_subject(&sink, "Two-step verification was reset").await;
    let fresh = browser();
    let r = flow::login(&app, &fresh, "/login", "abe@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "the password alone again");
    let events = gatehouse::audit::list_recent(app.state.db(), 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "mfa.reset" && e.actor == "cli"));
    assert!(events.iter().any(|e| e.kind == "mfa.factor_added"));
}

#[tokio::test]
async fn parallel_guesses_cannot_pass_the_attempt_limit() {
    let app = TestApp::spawn().await;
    let b = signed_in_user(&app, "cy@example.com").await;
    let s = fresh_step().await;
    enrol(&app, &b, s).await;
    // Twelve pending sign-ins (the password is known), one wrong code each, all at once.
    let mut browsers = Vec::new();
    for _ in 0..12 {
        let c = password_step(&app, "cy@example.com").await;
        let html = flow::text(&app, &c, "/login/second-factor").await;
        browsers.push((c, input(&html, "csrf").unwrap()));
    }
    let answers = futures_util::future::join_all(browsers.iter().map(|(c, csrf)| {
        c.post(app.url("/login/second-factor"))
            .form(&[("code", "999999"), ("csrf", csrf.as_str())])
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 8, "{statuses:?}");
}

#[tokio::test]
async fn signing_out_everywhere_ends_sign_ins_waiting_for_their_code() {
    let app = TestApp::spawn().await;
    let b = signed_in_user(&app, "dee@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let thief = password_step(&app, "dee@example.com").await;
    // The owner changes the password and signs out every other session.
    let fields = [
        ("current", flow::PASSWORD),
        ("password", "an entirely new passphrase here"),
        ("password_confirm", "an entirely new passphrase here"),
        ("sign_out_others", "yes"),
    ];
    let r = flow::submit(&app, &b, "/account/password", "/account/password", &fields).await;
    assert_eq!(r.status(), 200);
    // Even the right code no longer finishes the waiting sign-in.
    let r = second_factor(&app, &thief, &code(&secret, s)).await;
    assert_eq!(location(&r), "/login");
    assert!(!signed_in(&app, &thief).await);
}

/// The 6-digit code in a code mail.
pub(crate) fn mailed_code(m: &crate::helpers::smtp::Received) -> String {
    let body = m.decoded();
    let at = body.find("sign-in code is ").expect("a code") + "sign-in code is ".len();
    body[at..at + 6].to_string()
}

#[tokio::test]
async fn codes_by_email_are_a_factor_the_user_turns_on() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "eve@example.com").await;
    let s = fresh_step().await;
    enrol(&app, &b, s).await;
    // Not offered until turned on; asking anyway sends nothing.
    let c = password_step(&app, "eve@example.com").await;
    assert!(
        !flow::text(&app, &c, "/login/second-factor")
            .await
            .contains("Email me a code")
    );
    let r = flow::submit(&app, &c, "/login/second-factor", "/login/second-factor/email", &[]).await;
    assert_eq!(r.status(), 200);
    let r = flow::submit(&app, &b, "/account/two-factor", "/account/two-factor/email", &[]).await;
    assert!(r.text().await.unwrap().contains("Codes by email are on"));
    wait_subject(&sink, "Two-step verification: a second factor was added").await;

    let c = password_step(&app, "eve@example.com").await;
    assert!(
        flow::text(&app, &c, "/login/second-factor")
            .await
            .contains("Email me a code")
    );
    let r = flow::submit(&app, &c, "/login/second-factor", "/login/second-factor/email", &[]).await;
    assert!(r.text().await.unwrap().contains("We mailed you a code"));
    let mail = wait_subject(&sink, "Your Gatehouse sign-in code").await;
    let code = mailed_code(&mail);
    assert!(
        !mail.header("Subject").unwrap().contains(&code),
        "the code is not in the subject"
    );
    let r = second_factor(&app, &c, &code).await;
    assert_eq!(r.status(), 303);
    assert!(signed_in(&app, &c).await);
    // Single use, and only for the sign-in it was sent for.
    let other = password_step(&app, "eve@example.com").await;
    let r = second_factor(&app, &other, &code).await;
    assert_eq!(r.status(), 422);
    // At most three mails per ten minutes.
    let mut last = 0;
    for _ in 0..3 {
        let r = flow::submit(&app, &other, "/login/second-factor", "/login/second-factor/email", &[]).await;
        last = r.status().as_u16();
    }
    assert_eq!(last, 429, "the fourth mail in ten minutes is refused");
}

#[tokio::test]
async fn new_authenticator_setups_are_bounded_per_user() {
    let app = TestApp::spawn().await;
    let b = signed_in_user(&app, "fay@example.com").await;
    for _ in 0..30 {
        let r = b.get(app.url("/account/two-factor/totp")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = b.get(app.url("/account/two-factor/totp")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many new authenticator setups"));
}
