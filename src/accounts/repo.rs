//! Queries on users, profiles and preferences.

use entity::{user, user_preference, user_profile};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{Email, NewUser};

/// The user with this email (compared case-insensitively), if any.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &Email) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::EmailCanonical.eq(email.canonical()))
        .one(db)
        .await
}

/// Inserts the user row with an empty profile and default preferences.
pub async fn insert_user(
    db: &impl ConnectionTrait,
    new: &NewUser,
    password_hash: Option<String>,
) -> Result<user::Model, DbErr> {
    insert_user_as(db, Uuid::now_v7(), new, password_hash).await
}

/// Like [`insert_user`], with the id chosen by the caller.
pub async fn insert_user_as(
    db: &impl ConnectionTrait,
    id: Uuid,
    new: &NewUser,
    password_hash: Option<String>,
) -> Result<user::Model, DbErr> {
    let now = chrono::Utc::now();
    let user = user::ActiveModel {
        id: Set(id),
        email: Set(new.email.as_str().to_string()),
        email_canonical: Set(new.email.canonical()),
        email_verified_at: Set(new.verified.then_some(now)),
        password_hash: Set(password_hash),
        // An account is active once its email is verified.
        is_active: Set(new.verified),
        is_superuser: Set(new.superuser),
        deleted_at: Set(None),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    user_profile::ActiveModel {
        user_id: Set(id),
        given_name: Set(None),
        family_name: Set(None),
        nickname: Set(None),
        preferred_username: Set(None),
        bio: Set(None),
        location: Set(None),
        birthdate: Set(None),
        zoneinfo: Set(None),
        locale: Set(None),
        picture: Set(None),
        website: Set(None),
        extra: Set(None),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    user_preference::ActiveModel {
        user_id: Set(id),
        magic_links_enabled: Set(false),
        login_notifications: Set(true),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(user)
}

/// The preferences of a user.
pub async fn preferences(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Option<user_preference::Model>, DbErr> {
    user_preference::Entity::find_by_id(user_id).one(db).await
}

/// Whether the error is a unique-constraint violation.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// A user by id.
pub async fn find_by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

/// Replaces the password hash only if it is still `old` (and, when given, the address is
/// still `email_canonical`); false when either changed meanwhile.
pub async fn replace_password_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    old: Option<&str>,
    email_canonical: Option<&str>,
    new: String,
) -> Result<bool, DbErr> {
    let q = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, sea_orm::sea_query::Expr::value(Some(new)))
        .col_expr(
            user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(user::Column::Id.eq(id));
    let q = match old {
        Some(h) => q.filter(user::Column::PasswordHash.eq(h)),
        None => q.filter(user::Column::PasswordHash.is_null()),
    };
    let q = match email_canonical {
        Some(e) => q.filter(user::Column::EmailCanonical.eq(e)),
        None => q,
    };
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// A user and their profile.
pub async fn find_with_profile(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(user::Model, Option<user_profile::Model>)>, DbErr> {
    let Some(u) = user::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let p = user_profile::Entity::find_by_id(id).one(db).await?;
    Ok(Some((u, p)))
}

/// Records a successful login.
pub async fn touch_last_login(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    user::ActiveModel {
        id: Set(id),
        last_login_at: Set(Some(chrono::Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

/// Marks the email verified and the account active; returns the user (None for an
/// unknown, deleted or already verified one). An account verified already is past
/// activation, so its links do nothing: a late one must not set the password it carries
/// over one chosen since. Conditional, so of two concurrent activations one wins.
pub async fn mark_verified(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    use sea_orm::sea_query::Expr;
    let now = chrono::Utc::now();
    let res = user::Entity::update_many()
        .col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(now)))
        .col_expr(user::Column::IsActive, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::DeletedAt.is_null())
        .filter(user::Column::EmailVerifiedAt.is_null())
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    user::Entity::find_by_id(id).one(db).await
}

/// Sets (or clears) the password hash.
pub async fn set_password(db: &impl ConnectionTrait, id: Uuid, hash: Option<String>) -> Result<(), DbErr> {
    user::ActiveModel {
        id: Set(id),
        password_hash: Set(hash),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

/// Revokes every refresh token of a user.
/// Marks the user deleted now (soft delete); false if they were already.
pub async fn mark_deleted(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let res = user::Entity::update_many()
        .col_expr(user::Column::DeletedAt, Expr::value(Some(at)))
        .col_expr(user::Column::UpdatedAt, Expr::value(at))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Clears the deletion mark of an account deleted after `since`; false if there was
/// none (or its grace period ended meanwhile).
pub async fn mark_restored(
    db: &impl ConnectionTrait,
    id: Uuid,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let now = chrono::Utc::now();
    let res = user::Entity::update_many()
        .col_expr(
            user::Column::DeletedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::DeletedAt.gt(since))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Accounts deleted before `before`, oldest first, at most `limit`.
pub async fn deleted_before(
    db: &impl ConnectionTrait,
    before: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    user::Entity::find()
        .filter(user::Column::DeletedAt.lt(before))
        .order_by_asc(user::Column::DeletedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Erases a deleted account: its mail in the outbox, the personal data of its audit
/// events (the events stay, without IP or details), and the user row, which takes its
/// profile, images, preferences, factors, consents and tokens with it (foreign keys on
/// delete cascade). False when the row is gone or was restored meanwhile.
pub async fn purge(db: &impl ConnectionTrait, u: &user::Model) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    // Mail to the address and to the addresses it had before (recorded by its
    // `user.email_changed` events), unless another account has one of them now.
    let mut addresses = vec![u.email.clone()];
    let changes = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::UserId.eq(u.id))
        .filter(entity::audit_event::Column::Kind.eq("user.email_changed"))
        .all(db)
        .await?;
    for e in changes {
        if let Some(old) = e.detail.as_ref().and_then(|d| d["old"].as_str())
            && !addresses.iter().any(|a| a == old)
            && user::Entity::find()
                .filter(user::Column::EmailCanonical.eq(old.to_lowercase()))
                .one(db)
                .await?
                .is_none()
        {
            addresses.push(old.to_string());
        }
    }
    entity::mail_outbox::Entity::delete_many()
        .filter(entity::mail_outbox::Column::Recipient.is_in(addresses))
        .exec(db)
        .await?;
    entity::audit_event::Entity::update_many()
        .col_expr(entity::audit_event::Column::Ip, Expr::value(Option::<String>::None))
        .col_expr(
            entity::audit_event::Column::Detail,
            Expr::value(Option::<serde_json::Value>::None),
        )
        .filter(entity::audit_event::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    // Only the deletion that was due: one restored and deleted again since is not.
    let res = user::Entity::delete_many()
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::DeletedAt.eq(u.deleted_at))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// On PostgreSQL, takes the purge's advisory lock for the transaction `txn`: false when
/// another instance holds it.
pub async fn try_purge_lock(txn: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock(7277001) AS locked",
        ))
        .await?;
    Ok(row.and_then(|r| r.try_get::<bool>("", "locked").ok()).unwrap_or(false))
}

/// Removes every consent the user gave.
pub async fn delete_consents(db: &impl ConnectionTrait, id: Uuid) -> Result<u64, DbErr> {
    let res = entity::consent::Entity::delete_many()
        .filter(entity::consent::Column::UserId.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

pub async fn revoke_all_refresh_tokens(db: &impl ConnectionTrait, id: Uuid) -> Result<u64, DbErr> {
    let res = entity::refresh_token::Entity::update_many()
        .set(entity::refresh_token::ActiveModel {
            revoked_at: Set(Some(chrono::Utc::now())),
            ..Default::default()
        })
        .filter(entity::refresh_token::Column::UserId.eq(id))
        .filter(entity::refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Replaces the editable profile claims of a user.
pub async fn update_profile(
    db: &impl ConnectionTrait,
    id: Uuid,
    p: &super::profile::ProfileInput,
) -> Result<(), DbErr> {
    user_profile::ActiveModel {
        user_id: Set(id),
        given_name: Set(p.given_name.clone()),
        family_name: Set(p.family_name.clone()),
        nickname: Set(p.nickname.clone()),
        preferred_username: Set(p.preferred_username.clone()),
        locale: Set(p.locale.clone()),
        zoneinfo: Set(p.zoneinfo.clone()),
        birthdate: Set(p.birthdate.clone()),
        website: Set(p.website.clone()),
        extra: Set(Some(serde_json::Value::Object(p.extra.clone()))),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

/// Sets whether the user gets a mail at each login.
pub async fn set_login_notifications(db: &impl ConnectionTrait, id: Uuid, on: bool) -> Result<(), DbErr> {
    user_preference::ActiveModel {
        user_id: Set(id),
        login_notifications: Set(on),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

pub async fn set_magic_links(db: &impl ConnectionTrait, id: Uuid, on: bool) -> Result<(), DbErr> {
    user_preference::ActiveModel {
        user_id: Set(id),
        magic_links_enabled: Set(on),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

/// Moves a user to a new (verified) address; returns the old one.
pub async fn change_email(db: &impl ConnectionTrait, u: &user::Model, new: &Email) -> Result<Option<String>, DbErr> {
    use sea_orm::sea_query::Expr;
    let now = chrono::Utc::now();
    let q = user::Entity::update_many()
        .col_expr(user::Column::Email, Expr::value(new.as_str()))
        .col_expr(user::Column::EmailCanonical, Expr::value(new.canonical()))
        .col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(now)))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::EmailCanonical.eq(u.email_canonical.as_str()))
        .filter(user::Column::DeletedAt.is_null());
    let q = match u.password_hash.as_deref() {
        Some(h) => q.filter(user::Column::PasswordHash.eq(h)),
        None => q.filter(user::Column::PasswordHash.is_null()),
    };
    Ok((q.exec(db).await?.rows_affected == 1).then(|| u.email.clone()))
}

/// Stores an image of `user_id`, replacing the previous one of that kind; returns its id.
pub async fn store_image(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: super::images::Kind,
    p: super::images::Processed,
) -> Result<Uuid, DbErr> {
    entity::user_image::Entity::delete_many()
        .filter(entity::user_image::Column::UserId.eq(user_id))
        .filter(entity::user_image::Column::Kind.eq(kind.as_str()))
        .exec(db)
        .await?;
    let id = Uuid::now_v7();
    let etag = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &ring::digest::digest(&ring::digest::SHA256, &p.data).as_ref()[..16],
    );
    entity::user_image::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        kind: Set(kind.as_str().to_string()),
        content_type: Set(p.content_type.to_string()),
        data: Set(p.data),
        etag: Set(format!("\"{etag}\"")),
        width: Set(i32::try_from(p.width).unwrap_or(0)),
        height: Set(i32::try_from(p.height).unwrap_or(0)),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// An image by its public id.
pub async fn find_image(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<entity::user_image::Model>, DbErr> {
    entity::user_image::Entity::find_by_id(id).one(db).await
}

/// The ids of a user's current images.
pub async fn images_of(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<(String, Uuid)>, DbErr> {
    Ok(entity::user_image::Entity::find()
        .filter(entity::user_image::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|i| (i.kind, i.id))
        .collect())
}

/// Points the `picture` claim at a URL.
pub async fn set_picture(db: &impl ConnectionTrait, id: Uuid, url: &str) -> Result<(), DbErr> {
    user_profile::ActiveModel {
        user_id: Set(id),
        picture: Set(Some(url.to_string())),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}
