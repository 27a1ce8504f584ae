//! Every key of the ephemeral store, named in one place: a namespace, a colon, and an
//! identifier (for secrets, always their keyed hash, never the secret). A new kind of
//! entry gets its function here, so two features can never share a namespace by accident.

use uuid::Uuid;

/// A pending authorization request while the user signs in and consents.
pub fn authreq(id: &str) -> String {
    format!("authreq:{id}")
}

/// A pushed authorization request (RFC 9126), by its `request_uri` id.
pub fn par(id: &str) -> String {
    format!("par:{id}")
}

/// The parameters of a logout posted cross-site, waiting for the same-site GET.
pub fn logout_post(id: &str) -> String {
    format!("logout-post:{id}")
}

/// An authorization code, by its keyed hash.
pub fn code(code_hash: &str) -> String {
    format!("code:{code_hash}")
}

/// The revocation generation: rewritten on every access-token revocation, polled by
/// every instance to know when its cache of verified tokens is out of date.
pub const REVOCATIONS: &str = "gen:revocations";

/// A revoked access token, by its `jti`, until it would have expired.
pub fn revoked_jti(jti: &str) -> String {
    format!("revoked-jti:{jti}")
}

/// A rotation's sealed response, kept for the refresh-token reuse grace.
pub fn refresh_grace(token_hash: &str) -> String {
    format!("refresh-grace:{token_hash}")
}

/// A `private_key_jwt` assertion already used (single use).
pub fn assertion_jti(client_id: &str, jti: &str) -> String {
    format!("assertion-jti:{client_id}:{jti}")
}

/// The set of relying parties that got tokens in session `sid`.
pub fn session_clients(sid: &str) -> String {
    format!("sid-rps:{sid}")
}

/// A browser session, by the keyed hash of its cookie.
pub fn session(token_hash: &str) -> String {
    format!("session:{token_hash}")
}

/// When session `sid` was last used.
pub fn session_seen(sid: &str) -> String {
    format!("session-seen:{sid}")
}

/// The set of a user's session keys.
pub fn user_sessions(user: Uuid) -> String {
    format!("user-session-set:{user}")
}

/// The user's revocation time: sessions created before it are dead.
pub fn user_sessions_revoked(user: Uuid) -> String {
    format!("user-sessions-revoked:{user}")
}

/// Wrong second-factor codes of a user (a counter).
pub fn mfa_failures(user: Uuid) -> String {
    format!("mfa-failures:{user}")
}

/// A user locked out of second-factor attempts.
pub fn mfa_lockout(user: Uuid) -> String {
    format!("mfa-lockout:{user}")
}

/// A sign-in between its first and its second factor, by the keyed hash of its cookie.
pub fn pending_sign_in(token_hash: &str) -> String {
    format!("pending-sign-in:{token_hash}")
}

/// The keyed hash of the mailed code of a pending sign-in (by its cookie's hash).
pub fn email_code(pending_hash: &str) -> String {
    format!("email-code:{pending_hash}")
}

/// Code mails sent to a user (a counter).
pub fn email_code_sends(user: Uuid) -> String {
    format!("email-code-sends:{user}")
}

/// Authenticator setups a user started lately (a counter).
pub fn totp_setups(user: Uuid) -> String {
    format!("totp-setups:{user}")
}

/// A trusted browser, by the keyed hash of its cookie's id (its handle).
pub fn trusted_browser(id_hash: &str) -> String {
    format!("trusted-browser:{id_hash}")
}

/// The set of a user's trusted browsers.
pub fn trusted_browsers(user: Uuid) -> String {
    format!("trusted-browsers:{user}")
}

/// An authenticator secret waiting for its confirming code, by the keyed hash of its id.
pub fn totp_setup(id_hash: &str) -> String {
    format!("totp-setup:{id_hash}")
}

/// The hash of a user's one live activation link.
pub fn activation_latest(user: Uuid) -> String {
    format!("activation-latest:{user}")
}

/// A single-use link of one purpose (`activate`, `reset`, `email`), by its keyed hash.
pub fn link(purpose: &str, token_hash: &str) -> String {
    format!("link:{purpose}:{token_hash}")
}

/// Failed sign-ins from an address (IPv6 by /64).
pub fn login_ip(ip: &str) -> String {
    format!("login-ip:{ip}")
}

/// Sign-in attempts of any outcome from an address.
pub fn login_ip_all(ip: &str) -> String {
    format!("login-ip-all:{ip}")
}

/// Failed sign-ins from one device cookie, by the keyed hash of its nonce.
pub fn login_device(nonce_hash: &str) -> String {
    format!("login-dev:{nonce_hash}")
}

/// Failed sign-ins to an account from unknown browsers, by the keyed hash of the address.
pub fn login_account(address_hash: &str) -> String {
    format!("login-acct:{address_hash}")
}

/// Wrong current-password answers on the account pages.
pub fn password_check(user: Uuid) -> String {
    format!("password-check:{user}")
}

/// Mail requests of one kind (`reset`, `resend`, `signup`, `email-change`) from an address.
pub fn mail_by_ip(kind: &str, ip: &str) -> String {
    format!("{kind}-ip:{ip}")
}

/// Mail requests of one kind to one address, by its keyed hash.
pub fn mail_by_address(kind: &str, address_hash: &str) -> String {
    format!("{kind}-addr:{address_hash}")
}

/// When every access token of a user issued until then stopped counting (Unix seconds).
pub fn user_tokens_revoked(user: Uuid) -> String {
    format!("user-tokens-revoked:{user}")
}

/// A sign-in link by mail, by the keyed hash of its token.
pub fn magic_link(token_hash: &str) -> String {
    format!("magic-link:{token_hash}")
}

/// Wrong sign-in-link codes of a user in the current day, across links.
pub fn magic_link_wrong_codes(user: Uuid) -> String {
    format!("magic-wrong:{user}")
}

/// The newest sign-in link of a user (only it works).
pub fn magic_link_latest(user: Uuid) -> String {
    format!("magic-latest:{user}")
}

/// The sign-in link a browser waits for, by the keyed hash of its binding cookie.
pub fn magic_link_waiting(binding_hash: &str) -> String {
    format!("magic-waiting:{binding_hash}")
}

/// A passkey sign-in ceremony that completed, by the keyed hash of its sealed state:
/// each ceremony signs in once.
pub fn webauthn_spent(state_hash: &str) -> String {
    format!("webauthn-spent:{state_hash}")
}

/// An upstream sign-in under way (state, nonce, PKCE verifier), by the keyed hash of its
/// `state`: taken once by the callback.
pub fn upstream_flow(state_hash: &str) -> String {
    format!("upstream-flow:{state_hash}")
}

/// Upstream sign-ins started from one network (an IPv4 address or an IPv6 /64).
pub fn upstream_starts(ip_key: &str) -> String {
    format!("upstream-starts:{ip_key}")
}

/// An upstream identity waiting for this browser's answer (create an account, link it
/// after signing in), by the keyed hash of the browser's binding cookie.
pub fn upstream_pending(binding_hash: &str) -> String {
    format!("upstream-pending:{binding_hash}")
}

/// An address confirmation for an account made through an upstream provider, by the
/// keyed hash of the mailed token.
pub fn upstream_verify(token_hash: &str) -> String {
    format!("upstream-verify:{token_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_namespace_is_its_own() {
        let u = Uuid::nil();
        let keys = [
            authreq("x"),
            par("x"),
            logout_post("x"),
            code("x"),
            revoked_jti("x"),
            refresh_grace("x"),
            assertion_jti("c", "x"),
            session_clients("x"),
            session("x"),
            session_seen("x"),
            user_sessions(u),
            user_sessions_revoked(u),
            mfa_failures(u),
            mfa_lockout(u),
            pending_sign_in("x"),
            totp_setup("x"),
            totp_setups(u),
            trusted_browser("x"),
            email_code("x"),
            email_code_sends(u),
            trusted_browsers(u),
            activation_latest(u),
            link("reset", "x"),
            login_ip("x"),
            login_ip_all("x"),
            login_device("x"),
            login_account("x"),
            password_check(u),
            mail_by_ip("reset", "x"),
            mail_by_address("reset", "x"),
            webauthn_spent("x"),
            magic_link("x"),
            user_tokens_revoked(u),
            magic_link_latest(u),
            magic_link_wrong_codes(u),
            magic_link_waiting("x"),
            upstream_flow("x"),
            upstream_starts("x"),
            upstream_pending("x"),
            upstream_verify("x"),
        ];
        let mut namespaces: Vec<&str> = keys.iter().filter_map(|k| k.split(':').next()).collect();
        let n = namespaces.len();
        namespaces.sort_unstable();
        namespaces.dedup();
        assert_eq!(
            namespaces.len(),
            n,
            "two kinds of entry share a namespace: {namespaces:?}"
        );
    }
}
