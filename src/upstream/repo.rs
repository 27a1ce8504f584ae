//! Queries on linked upstream identities.

use entity::upstream_identity;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::Identity;

/// The linked identity (provider, subject), if any.
pub async fn find(
    db: &impl ConnectionTrait,
    provider: &str,
    subject: &str,
) -> Result<Option<upstream_identity::Model>, DbErr> {
    upstream_identity::Entity::find()
        .filter(upstream_identity::Column::Provider.eq(provider))
        .filter(upstream_identity::Column::Subject.eq(subject))
        .one(db)
        .await
}

/// The user's linked identities, oldest first.
pub async fn of_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<upstream_identity::Model>, DbErr> {
    upstream_identity::Entity::find()
        .filter(upstream_identity::Column::UserId.eq(user_id))
        .order_by_asc(upstream_identity::Column::CreatedAt)
        .all(db)
        .await
}

/// Links `identity` to the user.
pub async fn insert(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    identity: &Identity,
) -> Result<upstream_identity::Model, DbErr> {
    let now = chrono::Utc::now();
    upstream_identity::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        provider: Set(identity.provider.clone()),
        subject: Set(identity.subject.clone()),
        email: Set(identity.email.clone()),
        name: Set(identity.name.clone()),
        created_at: Set(now),
        last_used_at: Set(Some(now)),
    }
    .insert(db)
    .await
}

/// Records a sign-in with the identity and what the provider states now.
pub async fn touch(db: &impl ConnectionTrait, id: Uuid, identity: &Identity) -> Result<(), DbErr> {
    upstream_identity::ActiveModel {
        id: Set(id),
        email: Set(identity.email.clone()),
        name: Set(identity.name.clone()),
        last_used_at: Set(Some(chrono::Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

/// Removes the user's identity `id`; true if it was there.
pub async fn delete(db: &impl ConnectionTrait, user_id: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let res = upstream_identity::Entity::delete_many()
        .filter(upstream_identity::Column::Id.eq(id))
        .filter(upstream_identity::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How many passkeys the user has (another way to sign in).
pub async fn passkey_count(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    entity::second_factor::Entity::find()
        .filter(entity::second_factor::Column::UserId.eq(user_id))
        .filter(entity::second_factor::Column::Kind.eq("passkey"))
        .count(db)
        .await
}

/// Fills the empty profile of a new account from the provider's names.
pub async fn prefill_profile(db: &impl ConnectionTrait, user_id: Uuid, identity: &Identity) -> Result<(), DbErr> {
    // A provider that sends only a display name (GitHub, Discord, Facebook): its first
    // word is the given name, the rest the family name (as Keycloak splits it).
    let (given, family) = match (&identity.given_name, &identity.family_name) {
        (None, None) => match identity.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => match n.split_once(char::is_whitespace) {
                Some((g, f)) => (Some(g.to_string()), Some(f.trim().to_string())),
                None => (Some(n.to_string()), None),
            },
            None => (None, None),
        },
        (g, f) => (g.clone(), f.clone()),
    };
    entity::user_profile::ActiveModel {
        user_id: Set(user_id),
        given_name: Set(given),
        family_name: Set(family),
        preferred_username: Set(identity.username.clone()),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

/// Takes the user's row lock for the rest of the transaction and reads the row: a no-op
/// write (`UPDATE … SET id = id`), which makes SQLite take its write lock at once and
/// PostgreSQL lock the row, so two unlinks of one user run one after the other and the
/// second sees what the first left.
pub async fn lock_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Option<entity::user::Model>, DbErr> {
    use sea_orm::sea_query::Expr;
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::Id, Expr::col(entity::user::Column::Id))
        .filter(entity::user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    entity::user::Entity::find_by_id(user_id).one(db).await
}
