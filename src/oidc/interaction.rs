//! What an authorization request needs next (OIDC Core §3.1.2.3–§3.1.2.6): a login, the
//! user's consent, or nothing more, so the code can be issued; `prompt=none` turns each
//! needed interaction into its error. Pure: the caller brings the session and, when
//! [`needs_consent_record`] says so, the stored consent.

use super::authorize::AuthRequest;
use super::error::{ErrorCode, OAuthError};
use crate::accounts::sessions::Session;

/// The next step of an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The user must sign in (again): no session, `prompt=login`, `max_age` passed, or
    /// another user than the `id_token_hint` names.
    Login,
    /// The user is signed in with one factor, but the client or the request's
    /// `acr_values` ask for more: the second factor, keeping the SSO session.
    StepUp,
    /// The user must consent to the scopes.
    Consent,
    /// Nothing more: issue the code.
    Issue,
    /// An interaction is needed but `prompt=none` forbids it: sent back to the client.
    Refuse(OAuthError),
}

/// What the client and the stored consent say.
#[derive(Debug, Clone, Copy)]
pub struct ConsentFacts<'a> {
    /// A trusted first-party application: no consent screen unless `prompt=consent`.
    pub first_party: bool,
    /// The scopes the user consented to before (None when not looked up).
    pub granted: Option<&'a [String]>,
    /// The client is registered to require multi-factor sign-in.
    pub require_mfa: bool,
}

/// Whether the session is too weak for the request: the client requires multi-factor,
/// or `acr_values` asks for it (unless the user was found to have no second factor).
pub fn step_up_needed(req: &AuthRequest, session: &Session, require_mfa: bool) -> bool {
    let waived = req.mfa_waived_for.as_deref() == Some(session.user_id.to_string().as_str());
    let asked = req.acr_values.iter().any(|a| a == crate::auth::ACR_MULTI) && !waived;
    (require_mfa || asked) && !crate::auth::is_multi_factor(&session.amr)
}

fn login_needed(req: &AuthRequest, session: Option<&Session>, now_ms: i64) -> bool {
    match session {
        None => true,
        Some(s) => {
            // A login after the request was made satisfies prompt=login and max_age.
            let before_request = s.auth_time_ms < req.created_at_ms;
            (req.prompt.contains("login") && before_request)
                || req
                    .max_age
                    .is_some_and(|m| before_request && now_ms - s.auth_time_ms > m.saturating_mul(1000))
                || req
                    .expected_sub
                    .as_ref()
                    .is_some_and(|sub| *sub != s.user_id.to_string())
        }
    }
}

/// Consent given in this request counts only for the session that gave it.
fn consented_here(req: &AuthRequest, session: &Session) -> bool {
    req.consent_given && req.consented_sid.as_deref() == Some(session.sid.as_str())
}

/// Whether [`next_step`] needs the stored consent of the session's user.
pub fn needs_consent_record(req: &AuthRequest, session: Option<&Session>, first_party: bool, now_ms: i64) -> bool {
    match session {
        Some(s) if !login_needed(req, session, now_ms) => {
            !consented_here(req, s) && (!first_party || req.prompt.contains("consent"))
        }
        _ => false,
    }
}

/// The next step of `req` for the browser's `session`.
pub fn next_step(req: &AuthRequest, session: Option<&Session>, consent: ConsentFacts<'_>, now_ms: i64) -> Step {
    let interactive = |step: Step, code: ErrorCode, why: &str| {
        if req.prompt.contains("none") {
            Step::Refuse(OAuthError::new(code, why))
        } else {
            step
        }
    };
    if login_needed(req, session, now_ms) {
        return interactive(Step::Login, ErrorCode::LoginRequired, "the user is not logged in");
    }
    let Some(session) = session else {
        return Step::Login;
    };
    if step_up_needed(req, session, consent.require_mfa) {
        return interactive(
            Step::StepUp,
            ErrorCode::InteractionRequired,
            "a second factor is needed",
        );
    }
    if !consented_here(req, session) && (!consent.first_party || req.prompt.contains("consent")) {
        let granted = consent.granted.unwrap_or_default();
        let covered = consent.first_party || req.scope.iter().all(|s| granted.contains(s));
        if !covered || req.prompt.contains("consent") {
            return interactive(Step::Consent, ErrorCode::ConsentRequired, "the user has not consented");
        }
    }
    Step::Issue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::authorize::{Reply, ResponseMode};

    const T0: i64 = 1_000_000;

    fn request(prompt: &[&str], max_age: Option<i64>) -> AuthRequest {
        AuthRequest {
            client_id: "c".into(),
            reply: Reply {
                redirect_uri: "https://rp.example/cb".into(),
                state: None,
                mode: ResponseMode::Query,
            },
            scope: ["openid", "email"].iter().map(|s| (*s).to_string()).collect(),
            nonce: None,
            code_challenge: None,
            prompt: prompt.iter().map(|s| (*s).to_string()).collect(),
            max_age,
            login_hint: None,
            created_at_ms: T0,
            consent_given: false,
            expected_sub: None,
            browser: None,
            consented_sid: None,
            resources: Vec::new(),
            acr_values: Vec::new(),
            mfa_waived_for: None,
        }
    }

    fn session(auth_time_ms: i64) -> Session {
        let mut s = crate::accounts::sessions::start(uuid::Uuid::nil(), &["pwd"]);
        s.auth_time_ms = auth_time_ms;
        s.sid = "sid-1".into();
        s
    }

    /// A name, the request, the session, the consent facts, and what the step must be.
    type Case<'a> = (
        &'a str,
        AuthRequest,
        Option<&'a Session>,
        ConsentFacts<'a>,
        Box<dyn Fn(&Step) -> bool>,
    );

    fn refused(code: ErrorCode) -> impl Fn(&Step) -> bool {
        move |s| matches!(s, Step::Refuse(e) if e.code == code)
    }

    #[test]
    fn the_step_table() {
        let all = vec!["openid".to_string(), "email".to_string()];
        let some = vec!["openid".to_string()];
        let consented = ConsentFacts {
            first_party: false,
            granted: Some(&all),
            require_mfa: false,
        };
        let partial = ConsentFacts {
            first_party: false,
            granted: Some(&some),
            require_mfa: false,
        };
        let first_party = ConsentFacts {
            first_party: true,
            granted: None,
            require_mfa: false,
        };
        let mfa_client = ConsentFacts {
            require_mfa: true,
            ..consented
        };
        let with_acr = |mut r: AuthRequest, waived: bool| {
            r.acr_values = vec![crate::auth::ACR_MULTI.to_string()];
            r.mfa_waived_for = waived.then(|| uuid::Uuid::nil().to_string());
            r
        };
        let earlier = session(T0 - 60_000);
        let mut strong = session(T0 - 60_000);
        strong.amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
        let later = session(T0 + 10);
        let now = T0 + 1_000;
        let cases: Vec<Case<'_>> = vec![
            (
                "no session",
                request(&[], None),
                None,
                consented,
                Box::new(|s| *s == Step::Login),
            ),
            (
                "no session, prompt=none",
                request(&["none"], None),
                None,
                consented,
                Box::new(refused(ErrorCode::LoginRequired)),
            ),
            (
                "signed in, consented",
                request(&[], None),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "prompt=login, signed in before the request",
                request(&["login"], None),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::Login),
            ),
            (
                "prompt=login, signed in since",
                request(&["login"], None),
                Some(&later),
                consented,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "max_age passed",
                request(&[], Some(30)),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::Login),
            ),
            (
                "max_age not passed",
                request(&[], Some(120)),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "max_age=0, signed in since the request",
                request(&[], Some(0)),
                Some(&later),
                consented,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "scopes not all consented",
                request(&[], None),
                Some(&earlier),
                partial,
                Box::new(|s| *s == Step::Consent),
            ),
            (
                "not consented, prompt=none",
                request(&["none"], None),
                Some(&earlier),
                partial,
                Box::new(refused(ErrorCode::ConsentRequired)),
            ),
            (
                "prompt=consent asks again",
                request(&["consent"], None),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::Consent),
            ),
            (
                "first party: no consent screen",
                request(&[], None),
                Some(&earlier),
                first_party,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "first party, prompt=consent",
                request(&["consent"], None),
                Some(&earlier),
                first_party,
                Box::new(|s| *s == Step::Consent),
            ),
            (
                "the client requires mfa, one factor so far",
                request(&[], None),
                Some(&earlier),
                mfa_client,
                Box::new(|s| *s == Step::StepUp),
            ),
            (
                "the client requires mfa, prompt=none",
                request(&["none"], None),
                Some(&earlier),
                mfa_client,
                Box::new(refused(ErrorCode::InteractionRequired)),
            ),
            (
                "the client requires mfa, multi-factor session",
                request(&[], None),
                Some(&strong),
                mfa_client,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "acr_values asks for mfa",
                with_acr(request(&[], None), false),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::StepUp),
            ),
            (
                "acr_values asks for mfa, the user has no second factor",
                with_acr(request(&[], None), true),
                Some(&earlier),
                consented,
                Box::new(|s| *s == Step::Issue),
            ),
            (
                "a waiver does not override the client's registration",
                with_acr(request(&[], None), true),
                Some(&earlier),
                mfa_client,
                Box::new(|s| *s == Step::StepUp),
            ),
            (
                "the login comes before the step-up",
                with_acr(request(&[], Some(30)), false),
                Some(&earlier),
                mfa_client,
                Box::new(|s| *s == Step::Login),
            ),
        ];
        for (name, req, s, c, ok) in cases {
            let step = next_step(&req, s, c, now);
            assert!(ok(&step), "{name}: {step:?}");
        }
    }

    #[test]
    fn consent_given_counts_for_its_session_only_and_hints_name_the_user() {
        let none: Vec<String> = Vec::new();
        let facts = ConsentFacts {
            first_party: false,
            granted: Some(&none),
            require_mfa: false,
        };
        let s = session(T0 - 1);
        let mut req = request(&[], None);
        req.consent_given = true;
        req.consented_sid = Some("sid-1".into());
        assert_eq!(next_step(&req, Some(&s), facts, T0), Step::Issue);
        assert!(!needs_consent_record(&req, Some(&s), false, T0));
        req.consented_sid = Some("another".into());
        assert_eq!(next_step(&req, Some(&s), facts, T0), Step::Consent);
        assert!(needs_consent_record(&req, Some(&s), false, T0));
        let mut hinted = request(&[], None);
        hinted.expected_sub = Some(uuid::Uuid::new_v4().to_string());
        assert_eq!(
            next_step(&hinted, Some(&s), facts, T0),
            Step::Login,
            "another user than the hint"
        );
        assert!(!needs_consent_record(&hinted, Some(&s), false, T0));
    }
}
