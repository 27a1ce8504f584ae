//! Linked accounts from the account's side: linking another provider after a recent
//! sign-in, unlinking with the last way to sign in kept, a password set through the
//! reset flow by an upstream-only user, and the user's own second factor still asked
//! after an upstream sign-in, and an upstream sign-in to a deleted account leading to
//! "restore it?".

use crate::accounts::{reset_link, reset_with, wait_subject};
use crate::helpers::Options;
use crate::helpers::fake_upstream::Persona;
use crate::helpers::flow::{self, browser, location};
use crate::two_factor::{code, enrol, fresh_step, second_factor, signed_in, signed_in_user};
use crate::upstream::{sign_in_with, through_provider, upstream_user, with_providers};

/// The id of the first Unlink form's link on `/account/linked`.
fn first_link_id(html: &str) -> String {
    crate::helpers::flow::input(html, "id").expect("a linked provider to unlink")
}

#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_a_provider() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    let b = signed_in_user(app, "linker@example.com").await;
    // Another address at the provider: linking from the account page is the user's word.
    u.fake
        .set_persona(Persona::new("3003", "linker.elsewhere@example.org", false));
    let r = flow::submit(
        app,
        &b,
        "/account/linked",
        "/account/linked/link",
        &[("provider", "discord")],
    )
    .await;
    let r = through_provider(app, &b, r).await;
    assert_eq!(location(&r), "/account/linked?done=linked&provider=discord");
    let html = flow::text(app, &b, "/account/linked").await;
    assert!(html.contains("Discord · linker.elsewhere@example.org"), "{html}");
    wait_subject(&u.sink, "A sign-in with Discord was linked to your account").await;

    let other = browser();
    assert_eq!(location(&sign_in_with(app, &other, "discord").await), "/account");

    // The same Discord account cannot be linked to a second account here.
    let b2 = signed_in_user(app, "second@example.com").await;
    let r = flow::submit(
        app,
        &b2,
        "/account/linked",
        "/account/linked/link",
        &[("provider", "discord")],
    )
    .await;
    let r = through_provider(app, &b2, r).await;
    assert_eq!(location(&r), "/account/linked?done=other&provider=discord");

    // Unlinking: the password remains, so it goes; the identity no longer signs in.
    let r = flow::submit(
        app,
        &b,
        "/account/linked",
        "/account/linked/unlink",
        &[("id", &first_link_id(&html))],
    )
    .await;
    assert_eq!(location(&r), "/account/linked?done=unlinked&provider=discord");
    wait_subject(&u.sink, "A sign-in with Discord was unlinked from your account").await;
    let again = browser();
    assert_eq!(
        location(&sign_in_with(app, &again, "discord").await),
        "/login/upstream/email"
    );
    assert!(!signed_in(app, &again).await);

    // Linking needs a recent sign-in: an unrelated form post is no way around it.
    let r = b
        .post(app.url("/account/linked/link"))
        .form(&[("provider", "discord")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no link");
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked_until_a_password_is_set() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    let b = upstream_user(&u, "github", Persona::new("6006", "only@example.com", true)).await;
    let html = flow::text(app, &b, "/account/linked").await;
    let id = first_link_id(&html);
    let r = flow::submit(app, &b, "/account/linked", "/account/linked/unlink", &[("id", &id)]).await;
    assert_eq!(r.status(), 409);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This is the only way to sign in to this account")
    );
    assert!(
        flow::text(app, &b, "/account/linked")
            .await
            .contains("GitHub · only@example.com")
    );

    // The reset flow gives the account a password; then GitHub may go.
    let link = reset_link(app, &u.sink, "only@example.com", 1).await;
    assert_eq!(reset_with(app, &link, "a sturdy new pass phrase").await, 303);
    let b = browser();
    let r = flow::login(app, &b, "/login", "only@example.com", "a sturdy new pass phrase").await;
    assert_eq!(location(&r), "/account");
    let r = flow::submit(app, &b, "/account/linked", "/account/linked/unlink", &[("id", &id)]).await;
    assert_eq!(location(&r), "/account/linked?done=unlinked&provider=github");
}

#[tokio::test]
async fn the_users_second_factor_is_asked_after_an_upstream_sign_in() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    let b = upstream_user(&u, "corp", Persona::new("8008", "guarded@example.com", true)).await;
    let step = fresh_step().await;
    let (secret, _) = enrol(app, &b, step).await;

    let b = browser();
    let r = sign_in_with(app, &b, "corp").await;
    assert_eq!(location(&r), "/login/second-factor", "the provider alone is not enough");
    assert!(!signed_in(app, &b).await);
    let r = second_factor(app, &b, &code(&secret, step + 1)).await;
    assert_eq!(location(&r), "/account");
    assert!(signed_in(app, &b).await);
}

#[tokio::test]
async fn two_unlinks_at_once_cannot_remove_every_way_in() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    let b = upstream_user(&u, "github", Persona::new("7007", "twice@example.com", true)).await;
    u.fake.set_persona(Persona::new("7008", "twice@example.com", true));
    let r = flow::submit(
        app,
        &b,
        "/account/linked",
        "/account/linked/link",
        &[("provider", "discord")],
    )
    .await;
    assert_eq!(
        location(&through_provider(app, &b, r).await),
        "/account/linked?done=linked&provider=discord"
    );

    let html = flow::text(app, &b, "/account/linked").await;
    let ids: Vec<String> = html
        .split("name=\"id\" value=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{html}");
    let csrf = flow::input(&html, "csrf").unwrap();
    let unlink = |id: String| {
        let form = [("csrf", csrf.clone()), ("id", id)];
        let req = b.post(app.url("/account/linked/unlink")).form(&form);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let (a, c) = tokio::join!(unlink(ids[0].clone()), unlink(ids[1].clone()));
    let mut got = [a, c];
    got.sort();
    assert_eq!(got, [303, 409], "one goes, the last way in stays");
    let left = flow::text(app, &b, "/account/linked").await;
    assert_eq!(left.matches("name=\"id\" value=\"").count(), 1, "{left}");
}

#[tokio::test]
async fn an_upstream_sign_in_to_a_deleted_account_offers_to_restore_it() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    let b = upstream_user(&u, "corp", Persona::new("9009", "gone@example.com", true)).await;
    let r = flow::submit(app, &b, "/account/delete", "/account/delete", &[("confirm", "yes")]).await;
    assert_eq!(r.status(), 200);
    assert!(!signed_in(app, &b).await);

    let c = browser();
    let r = sign_in_with(app, &c, "corp").await;
    assert_eq!(location(&r), "/login/restore", "the provider leads to the question");
    assert!(!signed_in(app, &c).await, "not signed in before the answer");
    let r = flow::submit(app, &c, "/login/restore", "/login/restore", &[]).await;
    assert_eq!(location(&r), "/account");
    assert!(signed_in(app, &c).await);
    wait_subject(&u.sink, "Your Gatehouse account was restored").await;
}
