//! "Is this account usable?", decided in one place from the user row: every sign-in,
//! token grant, UserInfo answer, signup, reset and resend asks [`of`].

use entity::user;

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Verified and enabled: it may sign in and hold tokens.
    Active,
    /// Its email address is not verified yet (activation pending).
    Unverified,
    /// Verified, but disabled by an operator.
    Disabled,
    /// Deleted (or scheduled for deletion): nothing works for it.
    Deleted,
}

/// The state of `user`.
pub fn of(user: &user::Model) -> AccountState {
    if user.deleted_at.is_some() {
        AccountState::Deleted
    } else if user.email_verified_at.is_none() {
        AccountState::Unverified
    } else if !user.is_active {
        AccountState::Disabled
    } else {
        AccountState::Active
    }
}

impl AccountState {
    /// Whether the account may sign in, hold tokens and have its claims released.
    pub fn is_usable(self) -> bool {
        self == Self::Active
    }

    /// Whether mail for the account's owner (reset links) may be sent: a verified
    /// account that exists, enabled or not.
    pub fn is_verified(self) -> bool {
        matches!(self, Self::Active | Self::Disabled)
    }

    /// Whether the account is waiting for activation (resends go only to these).
    pub fn awaits_activation(self) -> bool {
        self == Self::Unverified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(verified: bool, active: bool, deleted: bool) -> user::Model {
        let now = chrono::Utc::now();
        user::Model {
            id: uuid::Uuid::nil(),
            email: "a@example.com".into(),
            email_canonical: "a@example.com".into(),
            email_verified_at: verified.then_some(now),
            password_hash: None,
            is_active: active,
            is_superuser: false,
            deleted_at: deleted.then_some(now),
            last_login_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_state_table() {
        use AccountState::*;
        for (verified, active, deleted, want) in [
            (true, true, false, Active),
            (false, false, false, Unverified),
            (false, true, false, Unverified),
            (true, false, false, Disabled),
            (true, true, true, Deleted),
            (false, false, true, Deleted),
        ] {
            let s = of(&user(verified, active, deleted));
            assert_eq!(s, want, "verified={verified} active={active} deleted={deleted}");
            assert_eq!(s.is_usable(), want == Active);
        }
        assert!(Disabled.is_verified() && !Unverified.is_verified() && !Deleted.is_verified());
        assert!(Unverified.awaits_activation() && !Active.awaits_activation());
    }
}
