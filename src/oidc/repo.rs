//! Queries on refresh tokens and consents.

use chrono::{DateTime, Utc};
use entity::{consent, refresh_token};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// Inserts a refresh token row.
pub async fn insert_refresh(db: &impl ConnectionTrait, row: refresh_token::Model) -> Result<(), DbErr> {
    refresh_token::ActiveModel {
        id: Set(row.id),
        token_hash: Set(row.token_hash),
        family_id: Set(row.family_id),
        client_id: Set(row.client_id),
        user_id: Set(row.user_id),
        scope: Set(row.scope),
        sid: Set(row.sid),
        auth_time: Set(row.auth_time),
        amr: Set(row.amr),
        created_at: Set(row.created_at),
        expires_at: Set(row.expires_at),
        family_expires_at: Set(row.family_expires_at),
        consumed_at: Set(None),
        revoked_at: Set(None),
        resources: Set(row.resources),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The refresh token with this hash.
pub async fn find_refresh(db: &impl ConnectionTrait, hash: &str) -> Result<Option<refresh_token::Model>, DbErr> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash))
        .one(db)
        .await
}

/// Marks a token consumed unless it already was; true when this call consumed it.
pub async fn consume_refresh(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let res = refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            consumed_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(refresh_token::Column::Id.eq(id))
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes every token of a family.
pub async fn revoke_family(db: &impl ConnectionTrait, family: Uuid, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            revoked_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Revokes the refresh-token families issued in session `sid`, except those granted
/// `offline_access` (which are meant to outlive the session).
pub async fn revoke_session_families(db: &impl ConnectionTrait, sid: &str, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let rows = refresh_token::Entity::find()
        .filter(refresh_token::Column::Sid.eq(sid))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    let mut n = 0;
    for family in rows
        .iter()
        .filter(|r| !r.scope.split(' ').any(|s| s == "offline_access"))
        .map(|r| r.family_id)
        .collect::<std::collections::BTreeSet<_>>()
    {
        n += revoke_family(db, family, now).await?;
    }
    Ok(n)
}

/// The scopes `user` has granted `client`.
pub async fn consent(db: &impl ConnectionTrait, user: Uuid, client: &str) -> Result<Vec<String>, DbErr> {
    Ok(consent::Entity::find_by_id((user, client.to_string()))
        .one(db)
        .await?
        .map(|c| crate::clients::strings(&c.scopes))
        .unwrap_or_default())
}

/// Stores the scopes `user` has granted `client` (replacing the previous set).
pub async fn save_consent(db: &impl ConnectionTrait, user: Uuid, client: &str, scopes: &[String]) -> Result<(), DbErr> {
    let now = Utc::now();
    consent::Entity::insert(consent::ActiveModel {
        user_id: Set(user),
        client_id: Set(client.to_string()),
        scopes: Set(serde_json::json!(scopes)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
            .update_columns([consent::Column::Scopes, consent::Column::UpdatedAt])
            .to_owned(),
    )
    .exec(db)
    .await
    .map(|_| ())
}

/// The applications connected to a user: those consented to, and those holding a live
/// refresh token for the user (first-party applications ask no consent, yet must be
/// listed so the user can remove them), with the scopes granted, sorted by name.
pub async fn applications_of(
    db: &impl ConnectionTrait,
    user: Uuid,
) -> Result<Vec<(entity::client::Model, Vec<String>)>, DbErr> {
    let mut scopes: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for c in consent::Entity::find()
        .filter(consent::Column::UserId.eq(user))
        .all(db)
        .await?
    {
        scopes
            .entry(c.client_id.clone())
            .or_default()
            .extend(crate::clients::strings(&c.scopes));
    }
    let now = Utc::now();
    for t in refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(user))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now))
        .filter(refresh_token::Column::FamilyExpiresAt.gt(now))
        .all(db)
        .await?
    {
        scopes
            .entry(t.client_id.clone())
            .or_default()
            .extend(t.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
    }
    let clients = entity::client::Entity::find()
        .filter(entity::client::Column::Id.is_in(scopes.keys().cloned()))
        .all(db)
        .await?;
    let mut out: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let s = scopes.remove(&c.id).unwrap_or_default().into_iter().collect();
            (c, s)
        })
        .collect();
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(out)
}

/// Withdraws a user's consent to a client and revokes the refresh tokens it holds for them.
pub async fn revoke_consent(
    db: &impl ConnectionTrait,
    user: Uuid,
    client: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let consents = consent::Entity::delete_by_id((user, client.to_string()))
        .exec(db)
        .await?
        .rows_affected;
    let tokens = refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            revoked_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(refresh_token::Column::UserId.eq(user))
        .filter(refresh_token::Column::ClientId.eq(client))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    Ok(consents + tokens)
}
