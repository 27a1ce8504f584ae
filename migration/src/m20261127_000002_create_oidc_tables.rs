//! OpenID Connect provider tables: per-client token settings, refresh tokens (hashed,
//! grouped in rotation families) and remembered consents.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000002_create_oidc_tables"
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    Id,
    IdTokenSignedResponseAlg,
    AccessTokenSignedAlg,
    BackchannelLogoutUri,
    RequirePar,
    Jwks,
    AccessTokenSecs,
    RefreshTokenIdleSecs,
    RefreshTokenAbsoluteSecs,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    Id,
    TokenHash,
    FamilyId,
    ClientId,
    UserId,
    Scope,
    Sid,
    AuthTime,
    Amr,
    CreatedAt,
    ExpiresAt,
    FamilyExpiresAt,
    ConsumedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum BackchannelLogout {
    Table,
    Id,
    ClientId,
    Uri,
    Payload,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    SentAt,
    FailedAt,
}

#[derive(DeriveIden)]
enum Consent {
    Table,
    UserId,
    ClientId,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(text_null(Client::IdTokenSignedResponseAlg))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(text_null(Client::AccessTokenSignedAlg))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(text_null(Client::BackchannelLogoutUri))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(boolean(Client::RequirePar).default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(json_binary_null(Client::Jwks))
                .to_owned(),
        )
        .await?;
        for col in [
            Client::AccessTokenSecs,
            Client::RefreshTokenIdleSecs,
            Client::RefreshTokenAbsoluteSecs,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Client::Table)
                    .add_column(big_integer_null(col))
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(RefreshToken::Table)
                .col(pk_uuid(RefreshToken::Id))
                .col(text_uniq(RefreshToken::TokenHash))
                .col(uuid(RefreshToken::FamilyId))
                .col(text(RefreshToken::ClientId))
                .col(uuid_null(RefreshToken::UserId))
                .col(text(RefreshToken::Scope))
                .col(text_null(RefreshToken::Sid))
                .col(timestamp_with_time_zone_null(RefreshToken::AuthTime))
                .col(json_binary(RefreshToken::Amr))
                .col(timestamp_with_time_zone(RefreshToken::CreatedAt))
                .col(timestamp_with_time_zone(RefreshToken::ExpiresAt))
                .col(timestamp_with_time_zone(RefreshToken::FamilyExpiresAt))
                .col(timestamp_with_time_zone_null(RefreshToken::ConsumedAt))
                .col(timestamp_with_time_zone_null(RefreshToken::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_refresh_token_user")
                        .from(RefreshToken::Table, RefreshToken::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_refresh_token_client")
                        .from(RefreshToken::Table, RefreshToken::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_refresh_token_family")
                .table(RefreshToken::Table)
                .col(RefreshToken::FamilyId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_refresh_token_user")
                .table(RefreshToken::Table)
                .col(RefreshToken::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Consent::Table)
                .col(uuid(Consent::UserId))
                .col(text(Consent::ClientId))
                .col(json_binary(Consent::Scopes))
                .col(timestamp_with_time_zone(Consent::CreatedAt))
                .col(timestamp_with_time_zone(Consent::UpdatedAt))
                .primary_key(Index::create().col(Consent::UserId).col(Consent::ClientId))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_consent_user")
                        .from(Consent::Table, Consent::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_consent_client")
                        .from(Consent::Table, Consent::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(BackchannelLogout::Table)
                .col(pk_uuid(BackchannelLogout::Id))
                .col(text(BackchannelLogout::ClientId))
                .col(text(BackchannelLogout::Uri))
                .col(text(BackchannelLogout::Payload))
                .col(timestamp_with_time_zone(BackchannelLogout::CreatedAt))
                .col(integer(BackchannelLogout::Attempts).default(0))
                .col(big_integer(BackchannelLogout::NextAttemptAt))
                .col(big_integer_null(BackchannelLogout::LockedUntil))
                .col(text_null(BackchannelLogout::LastError))
                .col(timestamp_with_time_zone_null(BackchannelLogout::SentAt))
                .col(timestamp_with_time_zone_null(BackchannelLogout::FailedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_backchannel_logout_due")
                .table(BackchannelLogout::Table)
                .col(BackchannelLogout::SentAt)
                .col(BackchannelLogout::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BackchannelLogout::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Consent::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(RefreshToken::Table).to_owned())
            .await?;
        for col in [
            Client::RefreshTokenAbsoluteSecs,
            Client::RefreshTokenIdleSecs,
            Client::AccessTokenSecs,
            Client::Jwks,
            Client::RequirePar,
            Client::BackchannelLogoutUri,
            Client::AccessTokenSignedAlg,
            Client::IdTokenSignedResponseAlg,
        ] {
            m.alter_table(Table::alter().table(Client::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
