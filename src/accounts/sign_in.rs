//! The password as a first factor of sign-in (`auth` takes it from there): checked
//! against a dummy hash for unknown addresses, and a failure against a cheaper, older
//! hash pays the difference, so timing says nothing about the address; a hash made with
//! other parameters is replaced after a success.

use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use super::PasswordHasher;

/// Whether `password` matches `stored` (a dummy hash is checked when there is none).
/// [`HashError::Busy`](super::password::HashError::Busy) when hashing is at capacity: the
/// caller answers "try again", and the attempt counts as nothing, neither way.
pub async fn check_password(
    passwords: &PasswordHasher,
    dummy: String,
    stored: Option<&str>,
    password: &str,
) -> Result<bool, super::password::HashError> {
    use super::password::HashError;
    let against = stored.map_or(dummy.clone(), str::to_string);
    let verified = match passwords
        .verify(SecretString::from(password.to_string()), against)
        .await
    {
        Ok(v) => v,
        Err(HashError::Busy) => return Err(HashError::Busy),
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            false
        }
    };
    if !verified && stored.is_some_and(|h| !passwords.is_current(h)) {
        let _ = passwords.verify(SecretString::from(password.to_string()), dummy).await;
    }
    Ok(verified)
}

/// After a successful check: re-hashes with the current parameters if `hash` was made
/// with others, only over the hash just verified (a password changed meanwhile stands).
/// Returns the hash stored afterwards.
pub async fn upgrade_hash(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    user_id: Uuid,
    hash: &str,
    password: &str,
) -> String {
    if passwords.is_current(hash) {
        return hash.to_string();
    }
    match passwords.hash(SecretString::from(password.to_string())).await {
        Ok(new) => match super::upgrade_password_hash(db, user_id, hash, new.clone()).await {
            Ok(true) => new,
            Ok(false) => hash.to_string(),
            Err(e) => {
                tracing::warn!(error = %e, "password re-hash not stored");
                hash.to_string()
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "password re-hash failed");
            hash.to_string()
        }
    }
}
