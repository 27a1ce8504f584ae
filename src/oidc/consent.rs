//! Consent: which scopes a user granted an application, given on the consent screen,
//! listed and withdrawn on the security page.

use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::repo;

/// The scopes `user` granted `client` before (empty when none).
pub async fn granted(db: &DatabaseConnection, user: Uuid, client: &str) -> Result<Vec<String>, DbErr> {
    repo::consent(db, user, client).await
}

/// Adds `scopes` to what `user` granted `client`, in one transaction, so two consents
/// given at once both stand.
pub async fn grant<'a>(
    db: &DatabaseConnection,
    user: Uuid,
    client: &str,
    scopes: impl IntoIterator<Item = &'a String>,
    ip: Option<String>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin(db).await?;
    let mut all = repo::consent(&txn, user, client).await?;
    let mut added = Vec::new();
    // The admin API's scope is asked for each time: a consent to it must not outlast the
    // sign-in, nor wait for the user to become a superuser.
    for s in scopes.into_iter().filter(|s| *s != crate::admin::ADMIN_SCOPE) {
        if !all.contains(s) {
            all.push(s.clone());
            added.push(s.clone());
        }
    }
    all.sort();
    repo::save_consent(&txn, user, client, &all).await?;
    // Only a grant that adds something is news.
    if !added.is_empty() {
        let detail = serde_json::json!({ "client_id": client, "scopes": added });
        record(&txn, user, "consent.granted", ip, detail).await?;
    }
    txn.commit().await
}

async fn record(
    txn: &impl sea_orm::ConnectionTrait,
    user: Uuid,
    kind: &str,
    ip: Option<String>,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    let actor = format!("user:{user}");
    crate::audit::record(
        txn,
        crate::audit::Event {
            actor: &actor,
            user_id: Some(user),
            kind,
            ip,
            detail: Some(detail),
        },
    )
    .await
}

/// The applications connected to `user`, with the scopes granted (see
/// [`repo::applications_of`]).
pub async fn applications_of(
    db: &DatabaseConnection,
    user: Uuid,
) -> Result<Vec<(entity::client::Model, Vec<String>)>, DbErr> {
    repo::applications_of(db, user).await
}

/// Withdraws the consent given to `client` and revokes the refresh tokens it holds for
/// `user`.
pub async fn withdraw(db: &DatabaseConnection, user: Uuid, client: &str, ip: Option<String>) -> Result<(), DbErr> {
    let txn = crate::db::begin(db).await?;
    // Recorded only when something was withdrawn: the client id comes from a form.
    if repo::revoke_consent(&txn, user, client, chrono::Utc::now()).await? > 0 {
        let detail = serde_json::json!({ "client_id": client });
        record(&txn, user, "consent.withdrawn", ip, detail).await?;
    }
    txn.commit().await
}
