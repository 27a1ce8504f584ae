//! The initial schema: users and their profiles and preferences, OAuth clients,
//! signing keys, audit events, the mail outbox, the SQL-backed ephemeral store and
//! instance settings.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_create_initial_schema"
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Email,
    EmailCanonical,
    EmailVerifiedAt,
    PasswordHash,
    IsActive,
    IsSuperuser,
    DeletedAt,
    LastLoginAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserProfile {
    Table,
    UserId,
    GivenName,
    FamilyName,
    Nickname,
    PreferredUsername,
    Bio,
    Location,
    Birthdate,
    Zoneinfo,
    Locale,
    Picture,
    Extra,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserPreference {
    Table,
    UserId,
    MagicLinksEnabled,
    LoginNotifications,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Client {
    Table,
    Id,
    Name,
    SecretHash,
    TokenEndpointAuthMethod,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    AllowedScopes,
    FirstParty,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SigningKey {
    Table,
    Kid,
    Alg,
    PrivateKeySealed,
    PublicJwk,
    CreatedAt,
    ActivatesAt,
    RetiredAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    CreatedAt,
    Actor,
    UserId,
    Kind,
    Ip,
    Detail,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    Recipient,
    Template,
    Subject,
    BodyText,
    BodyHtml,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    SentAt,
    FailedAt,
}

#[derive(DeriveIden)]
enum EphemeralEntry {
    Table,
    Key,
    Value,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum EphemeralCounter {
    Table,
    Key,
    Count,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SystemSetting {
    Table,
    Name,
    Value,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(User::Table)
                .col(pk_uuid(User::Id))
                .col(text(User::Email))
                .col(text_uniq(User::EmailCanonical))
                .col(timestamp_with_time_zone_null(User::EmailVerifiedAt))
                .col(text_null(User::PasswordHash))
                .col(boolean(User::IsActive).default(false))
                .col(boolean(User::IsSuperuser).default(false))
                .col(timestamp_with_time_zone_null(User::DeletedAt))
                .col(timestamp_with_time_zone_null(User::LastLoginAt))
                .col(timestamp_with_time_zone(User::CreatedAt))
                .col(timestamp_with_time_zone(User::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_deleted_at")
                .table(User::Table)
                .col(User::DeletedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(UserProfile::Table)
                .col(uuid(UserProfile::UserId).primary_key())
                .col(text_null(UserProfile::GivenName))
                .col(text_null(UserProfile::FamilyName))
                .col(text_null(UserProfile::Nickname))
                .col(text_null(UserProfile::PreferredUsername).unique_key())
                .col(text_null(UserProfile::Bio))
                .col(text_null(UserProfile::Location))
                .col(text_null(UserProfile::Birthdate))
                .col(text_null(UserProfile::Zoneinfo))
                .col(text_null(UserProfile::Locale))
                .col(text_null(UserProfile::Picture))
                .col(json_binary_null(UserProfile::Extra))
                .col(timestamp_with_time_zone(UserProfile::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_profile_user")
                        .from(UserProfile::Table, UserProfile::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(UserPreference::Table)
                .col(uuid(UserPreference::UserId).primary_key())
                .col(boolean(UserPreference::MagicLinksEnabled).default(false))
                .col(boolean(UserPreference::LoginNotifications).default(true))
                .col(timestamp_with_time_zone(UserPreference::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_preference_user")
                        .from(UserPreference::Table, UserPreference::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Client::Table)
                .col(text(Client::Id).primary_key())
                .col(text(Client::Name))
                .col(text_null(Client::SecretHash))
                .col(text(Client::TokenEndpointAuthMethod))
                .col(json_binary(Client::RedirectUris))
                .col(json_binary(Client::PostLogoutRedirectUris))
                .col(json_binary(Client::GrantTypes))
                .col(json_binary(Client::AllowedScopes))
                .col(boolean(Client::FirstParty).default(false))
                .col(timestamp_with_time_zone(Client::CreatedAt))
                .col(timestamp_with_time_zone(Client::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SigningKey::Table)
                .col(text(SigningKey::Kid).primary_key())
                .col(text(SigningKey::Alg))
                .col(blob(SigningKey::PrivateKeySealed))
                .col(json_binary(SigningKey::PublicJwk))
                .col(timestamp_with_time_zone(SigningKey::CreatedAt))
                .col(timestamp_with_time_zone(SigningKey::ActivatesAt))
                .col(timestamp_with_time_zone_null(SigningKey::RetiredAt))
                .col(timestamp_with_time_zone_null(SigningKey::ExpiresAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvent::Table)
                .col(pk_uuid(AuditEvent::Id))
                .col(timestamp_with_time_zone(AuditEvent::CreatedAt))
                .col(text(AuditEvent::Actor))
                .col(uuid_null(AuditEvent::UserId))
                .col(text(AuditEvent::Kind))
                .col(text_null(AuditEvent::Ip))
                .col(json_binary_null(AuditEvent::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_event_user")
                .table(AuditEvent::Table)
                .col(AuditEvent::UserId)
                .col(AuditEvent::CreatedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MailOutbox::Table)
                .col(pk_uuid(MailOutbox::Id))
                .col(text(MailOutbox::Recipient))
                .col(text(MailOutbox::Template))
                .col(text(MailOutbox::Subject))
                .col(text(MailOutbox::BodyText))
                .col(text(MailOutbox::BodyHtml))
                .col(timestamp_with_time_zone(MailOutbox::CreatedAt))
                .col(integer(MailOutbox::Attempts).default(0))
                .col(big_integer(MailOutbox::NextAttemptAt))
                .col(big_integer_null(MailOutbox::LockedUntil))
                .col(text_null(MailOutbox::LastError))
                .col(timestamp_with_time_zone_null(MailOutbox::SentAt))
                .col(timestamp_with_time_zone_null(MailOutbox::FailedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_mail_outbox_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::SentAt)
                .col(MailOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EphemeralEntry::Table)
                .col(text(EphemeralEntry::Key).primary_key())
                .col(blob(EphemeralEntry::Value))
                .col(big_integer(EphemeralEntry::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ephemeral_entry_expires")
                .table(EphemeralEntry::Table)
                .col(EphemeralEntry::ExpiresAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EphemeralCounter::Table)
                .col(text(EphemeralCounter::Key).primary_key())
                .col(big_integer(EphemeralCounter::Count))
                .col(big_integer(EphemeralCounter::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ephemeral_counter_expires")
                .table(EphemeralCounter::Table)
                .col(EphemeralCounter::ExpiresAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SystemSetting::Table)
                .col(text(SystemSetting::Name).primary_key())
                .col(text(SystemSetting::Value))
                .col(timestamp_with_time_zone(SystemSetting::UpdatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SystemSetting::Table.into_iden(),
            EphemeralCounter::Table.into_iden(),
            EphemeralEntry::Table.into_iden(),
            MailOutbox::Table.into_iden(),
            AuditEvent::Table.into_iden(),
            SigningKey::Table.into_iden(),
            Client::Table.into_iden(),
            UserPreference::Table.into_iden(),
            UserProfile::Table.into_iden(),
            User::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
