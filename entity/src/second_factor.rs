//! A second factor of a user: an authenticator app (`kind = "totp"`), codes by email
//! (`"email"`) or a passkey (`"passkey"`); its secret sealed with a key derived from the
//! master key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "second_factor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    /// The user's name for it ("Phone").
    pub name: String,
    /// Sealed; opens only under the context `<kind>:<id>`: the TOTP secret, or the
    /// passkey's credential (public key, counter) as JSON.
    pub secret: Vec<u8>,
    /// The last TOTP step accepted (only later steps are accepted: no replay), or a
    /// passkey's last signature counter (only higher ones are accepted: no clones).
    pub last_step: Option<i64>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    /// A passkey's WebAuthn credential id (base64url), unique across all users.
    pub credential_id: Option<String>,
    /// Whether the sign-in that added it was multi-factor (a password reset removes the
    /// passkeys the password alone could have added).
    pub added_with_mfa: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
