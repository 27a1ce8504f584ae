//! Sign-in links by mail, for users who turned them on: a first factor (`amr`
//! `["email"]`) that goes on through the same pipeline as a password.
//!
//! A link is a random token (stored only as its keyed hash, `magic_links.lifetime_secs`
//! long, single use) and a 6-digit code, both in the mail. Only the newest link of a user
//! works, and turning the preference off ends it. A GET never spends a link; spending it
//! takes either the binding cookie of the browser that asked for it (one click there) or
//! the code from the mail (anywhere else), so a mail scanner that opens links, runs
//! scripts and presses buttons still cannot use one. The asking browser's waiting page
//! takes the code too. A refused attempt leaves the link usable, up to
//! [`MAX_CODE_ATTEMPTS`] wrong codes. With `magic_links.pin_ip`, only the network the
//! link was asked from (compared by prefix) may use it.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Ctx, FirstFactor, Origin};
use crate::accounts::{Email, Error};

/// Wrong codes a link survives; the next one ends it.
pub const MAX_CODE_ATTEMPTS: u8 = 5;
/// Wrong codes per user per [`CODE_WINDOW`], across links: past it, codes are refused
/// unchecked, so guessing over many links gets nowhere. The owner is not locked out: in
/// the browser that asked, the link signs in with one click, no code needed.
pub const MAX_WRONG_CODES_PER_DAY: u64 = 10;
const CODE_WINDOW: Duration = Duration::from_secs(86_400);
/// What a link is bound to: the user's address and password (a change of either ends it).
const BINDING: &str = "magic-link-binding";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    user_id: Uuid,
    code_hash: String,
    binding_hash: String,
    ip: IpAddr,
    /// Where the sign-in continues (a local path), in the browser that asked only.
    then: String,
    /// The user's address and password when it was sent (`links::binding`).
    bound_to: String,
    created_ms: i64,
    attempts: u8,
}

fn lifetime(ctx: &Ctx<'_>) -> Duration {
    Duration::from_secs(ctx.config.magic_links.lifetime_secs)
}

fn code_hash(ctx: &Ctx<'_>, token_hash: &str, code: &str) -> String {
    ctx.hasher.hash(&format!("magic-code\0{token_hash}\0{code}"))
}

fn binding_hash(ctx: &Ctx<'_>, binding: &str) -> String {
    ctx.hasher.hash(&format!("magic-binding\0{binding}"))
}

/// Whether the browser's binding cookie is the one of the browser that asked for `e`.
fn holds_binding(ctx: &Ctx<'_>, binding: Option<&str>, e: &Entry) -> bool {
    binding.is_some_and(|b| crate::crypto::constant_time_eq(binding_hash(ctx, b).as_bytes(), e.binding_hash.as_bytes()))
}

/// A new binding-cookie value for a browser asking for a link.
pub fn new_binding() -> String {
    crate::crypto::random_token::<32>()
}

/// Whether `a` and `b` are in the same network at the configured prefix lengths.
fn same_network(ctx: &Ctx<'_>, a: IpAddr, b: IpAddr) -> bool {
    let m = &ctx.config.magic_links;
    let norm = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match (norm(a), norm(b)) {
        (IpAddr::V4(a), IpAddr::V4(b)) => ipnet::Ipv4Net::new(a, m.pin_ipv4_prefix)
            .map(|n| n.trunc().contains(&b))
            .unwrap_or(false),
        (IpAddr::V6(a), IpAddr::V6(b)) => ipnet::Ipv6Net::new(a, m.pin_ipv6_prefix)
            .map(|n| n.trunc().contains(&b))
            .unwrap_or(false),
        _ => false,
    }
}

/// Mails a sign-in link for `email` if its account may sign in and turned links on;
/// otherwise does nothing (the caller answers alike either way, and runs this off the
/// request path so the timing says nothing either). `binding` is the asking browser's
/// cookie value.
pub async fn request(ctx: &Ctx<'_>, email: &Email, origin: &Origin, then: String, binding: &str) -> Result<(), Error> {
    let Some(user) = crate::accounts::find_by_email(ctx.db, email).await? else {
        return Ok(());
    };
    let grace = ctx.config.accounts.deletion_grace_days;
    if !crate::accounts::lifecycle::may_begin(&user, grace) || !crate::accounts::magic_links(ctx.db, user.id).await? {
        return Ok(());
    }
    let token = crate::crypto::random_token::<32>();
    let token_hash = ctx.hasher.hash(&token);
    let n = u32::from_le_bytes(crate::crypto::random_bytes::<4>()) % 1_000_000;
    let code = format!("{n:06}");
    let entry = Entry {
        user_id: user.id,
        code_hash: code_hash(ctx, &token_hash, &code),
        binding_hash: binding_hash(ctx, binding),
        ip: origin.ip,
        then,
        bound_to: crate::accounts::links::binding(ctx.hasher, BINDING, &user),
        created_ms: chrono::Utc::now().timestamp_millis(),
        attempts: 0,
    };
    let ttl = lifetime(ctx);
    let value = serde_json::to_vec(&entry).map_err(|e| Error::Mail(format!("magic link: {e}")))?;
    let s = ctx.store;
    s.put(&crate::store::keys::magic_link(&token_hash), &value, ttl).await?;
    // Only the newest link works.
    s.put(
        &crate::store::keys::magic_link_latest(user.id),
        token_hash.as_bytes(),
        ttl,
    )
    .await?;
    s.put(
        &crate::store::keys::magic_link_waiting(&entry.binding_hash),
        token_hash.as_bytes(),
        ttl,
    )
    .await?;
    let device = crate::accounts::notify::device(&origin.user_agent);
    let mail = serde_json::json!({
        "link": format!("{}/login/magic-link/confirm?token={token}", ctx.mail.issuer_id),
        "code": code,
        "minutes": ttl.as_secs().div_ceil(60).max(1),
        "browser": device.browser,
        "os": device.os,
        "ip": origin.ip.to_string(),
        "location": origin.location.clone().unwrap_or_else(|| "unknown".into()),
    });
    ctx.mail.queue(ctx.db, &user.email, "magic_link", mail).await?;
    Ok(())
}

/// What a link looks like to the browser opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// This browser asked for it: one click signs in.
    Here,
    /// Another browser: the code from the mail is needed.
    Elsewhere,
}

async fn live(ctx: &Ctx<'_>, token_hash: &str) -> Result<Option<Entry>, Error> {
    let Some(raw) = ctx.store.get(&crate::store::keys::magic_link(token_hash)).await? else {
        return Ok(None);
    };
    let Ok(entry) = serde_json::from_slice::<Entry>(&raw) else {
        return Ok(None);
    };
    let latest = ctx
        .store
        .get(&crate::store::keys::magic_link_latest(entry.user_id))
        .await?;
    Ok(latest
        .is_some_and(|l| crate::crypto::constant_time_eq(&l, token_hash.as_bytes()))
        .then_some(entry))
}

fn token_ok(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128
}

/// Whether the link `token` still works, and how this browser may use it. Spends nothing.
pub async fn peek(ctx: &Ctx<'_>, token: &str, binding: Option<&str>) -> Result<Option<Seen>, Error> {
    if !token_ok(token) {
        return Ok(None);
    }
    Ok(live(ctx, &ctx.hasher.hash(token)).await?.map(|e| {
        let here = holds_binding(ctx, binding, &e);
        if here { Seen::Here } else { Seen::Elsewhere }
    }))
}

/// What using a link did.
#[derive(Debug)]
pub enum Used {
    /// Signed in as far as the first factor: on to the pipeline, then to `then`.
    SignedIn(FirstFactor, String),
    /// Another browser without a code: ask for it (the link still works).
    NeedCode,
    /// A wrong code; the link still works.
    WrongCode,
    /// From another network than the one that asked, with `magic_links.pin_ip` (the link
    /// still works from there).
    OtherNetwork,
    /// Unknown, used, expired, replaced by a newer one, or ended by too many wrong codes.
    Expired,
}

/// Uses the link `token`: with this browser's binding cookie, or with the code.
pub async fn use_link(
    ctx: &Ctx<'_>,
    token: &str,
    code: Option<&str>,
    binding: Option<&str>,
    ip: IpAddr,
) -> Result<Used, Error> {
    if !token_ok(token) {
        return Ok(Used::Expired);
    }
    spend(ctx, &ctx.hasher.hash(token), code, binding, false, ip).await
}

/// Uses the link this browser waits for, with the code from its mail (read elsewhere).
pub async fn use_code_here(ctx: &Ctx<'_>, binding: &str, code: &str, ip: IpAddr) -> Result<Used, Error> {
    if !token_ok(binding) {
        return Ok(Used::Expired);
    }
    let waiting = crate::store::keys::magic_link_waiting(&binding_hash(ctx, binding));
    let Some(token_hash) = ctx.store.get(&waiting).await? else {
        return Ok(Used::Expired);
    };
    let Ok(token_hash) = String::from_utf8(token_hash) else {
        return Ok(Used::Expired);
    };
    // The code is what proves the mail was read: the cookie alone does not do here.
    spend(ctx, &token_hash, Some(code), None, true, ip).await
}

async fn spend(
    ctx: &Ctx<'_>,
    token_hash: &str,
    code: Option<&str>,
    binding: Option<&str>,
    asking_browser: bool,
    ip: IpAddr,
) -> Result<Used, Error> {
    if live(ctx, token_hash).await?.is_none() {
        return Ok(Used::Expired);
    }
    let key = crate::store::keys::magic_link(token_hash);
    // Taken, so of two uses one proceeds; a refused one puts it back.
    let Some(raw) = ctx.store.take(&key).await? else {
        return Ok(Used::Expired);
    };
    let Ok(mut entry) = serde_json::from_slice::<Entry>(&raw) else {
        return Ok(Used::Expired);
    };
    let ends = entry.created_ms + i64::try_from(lifetime(ctx).as_millis()).unwrap_or(0);
    let Some(left) = u64::try_from(ends - chrono::Utc::now().timestamp_millis())
        .ok()
        .filter(|l| *l > 0)
        .map(Duration::from_millis)
    else {
        return Ok(Used::Expired);
    };
    let put_back = async |e: &Entry| -> Result<(), Error> {
        let value = serde_json::to_vec(e).map_err(|err| Error::Mail(format!("magic link: {err}")))?;
        ctx.store.put(&key, &value, left).await?;
        Ok(())
    };
    if ctx.config.magic_links.pin_ip && !same_network(ctx, entry.ip, ip) {
        put_back(&entry).await?;
        return Ok(Used::OtherNetwork);
    }
    let bound = holds_binding(ctx, binding, &entry);
    // Spaces and dashes as typed are fine; anything but exactly six digits is wrong.
    let code: Option<String> = code
        .map(|c| {
            c.chars()
                .filter(|ch| !ch.is_whitespace() && *ch != '-')
                .take(32)
                .collect()
        })
        .filter(|c: &String| !c.is_empty());
    // A code attempt is counted up front (parallel guesses cannot slip past the limit)
    // and refunded when the code was right: only wrong codes count.
    let wrong_key = crate::store::keys::magic_link_wrong_codes(entry.user_id);
    let counted = !bound && code.is_some();
    let window_ends = chrono::Utc::now().timestamp_millis() + i64::try_from(CODE_WINDOW.as_millis()).unwrap_or(0);
    let too_many = counted && ctx.store.incr(&wrong_key, CODE_WINDOW).await? > MAX_WRONG_CODES_PER_DAY;
    let code_right = !too_many
        && code.as_deref().is_some_and(|c| {
            c.len() == 6
                && c.bytes().all(|b| b.is_ascii_digit())
                && crate::crypto::constant_time_eq(code_hash(ctx, token_hash, c).as_bytes(), entry.code_hash.as_bytes())
        });
    if !bound && !code_right {
        if code.is_none() {
            put_back(&entry).await?;
            return Ok(Used::NeedCode);
        }
        entry.attempts = entry.attempts.saturating_add(1);
        if entry.attempts >= MAX_CODE_ATTEMPTS {
            return Ok(Used::Expired);
        }
        put_back(&entry).await?;
        return Ok(Used::WrongCode);
    }
    let s = ctx.store;
    if counted {
        s.decr(&wrong_key, window_ends).await?;
    }
    s.delete(&crate::store::keys::magic_link_latest(entry.user_id)).await?;
    s.delete(&crate::store::keys::magic_link_waiting(&entry.binding_hash))
        .await?;
    let Some(user) = crate::accounts::find(ctx.db, entry.user_id).await? else {
        return Ok(Used::Expired);
    };
    let grace = ctx.config.accounts.deletion_grace_days;
    if !crate::accounts::lifecycle::may_begin(&user, grace)
        || !crate::accounts::magic_links(ctx.db, user.id).await?
        || !crate::accounts::links::still_bound_or_deleted(ctx.hasher, BINDING, &user, &entry.bound_to)
    {
        return Ok(Used::Expired);
    }
    // Where to go on was chosen by whoever asked: honoured in that browser only, so a
    // stranger's request cannot lead the owner into the stranger's authorization request.
    let then = if bound || asking_browser {
        entry.then
    } else {
        "/account".to_string()
    };
    let first = FirstFactor {
        user,
        amr: vec!["email".to_string()],
    };
    Ok(Used::SignedIn(first, then))
}

/// Ends the user's outstanding link (the preference was turned off).
pub async fn end_outstanding(ctx: &Ctx<'_>, user_id: Uuid) -> Result<(), Error> {
    ctx.store
        .delete(&crate::store::keys::magic_link_latest(user_id))
        .await?;
    Ok(())
}
