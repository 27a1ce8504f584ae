//! The names of the claims Gatehouse releases: a leaf, so the configuration can refuse
//! operator-defined profile fields that would shadow one without importing the protocol
//! layer.

/// Every claim Gatehouse can release (for discovery).
pub const SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "preferred_username",
    "picture",
    "locale",
    "zoneinfo",
    "birthdate",
    "website",
    "updated_at",
    "email",
    "email_verified",
];
