//! Second factors: authenticator apps (TOTP, secret sealed), backup codes (keyed hashes),
//! and the per-client demand for multi-factor sign-in.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_create_second_factors"
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Client {
    Table,
    RequireMfa,
}

#[derive(DeriveIden)]
enum SecondFactor {
    Table,
    Id,
    UserId,
    Kind,
    Name,
    Secret,
    LastStep,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum BackupCode {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SecondFactor::Table)
                .col(pk_uuid(SecondFactor::Id))
                .col(uuid(SecondFactor::UserId))
                .col(text(SecondFactor::Kind))
                .col(text(SecondFactor::Name))
                .col(blob(SecondFactor::Secret))
                .col(big_integer_null(SecondFactor::LastStep))
                .col(timestamp_with_time_zone(SecondFactor::CreatedAt))
                .col(timestamp_with_time_zone_null(SecondFactor::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_second_factor_user")
                        .from(SecondFactor::Table, SecondFactor::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_second_factor_user")
                .table(SecondFactor::Table)
                .col(SecondFactor::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BackupCode::Table)
                .col(pk_uuid(BackupCode::Id))
                .col(uuid(BackupCode::UserId))
                .col(text(BackupCode::CodeHash))
                .col(timestamp_with_time_zone_null(BackupCode::UsedAt))
                .col(timestamp_with_time_zone(BackupCode::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_backup_code_user")
                        .from(BackupCode::Table, BackupCode::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_backup_code_user_hash")
                .table(BackupCode::Table)
                .col(BackupCode::UserId)
                .col(BackupCode::CodeHash)
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(boolean(Client::RequireMfa).default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::RequireMfa)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(BackupCode::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(SecondFactor::Table).to_owned()).await
    }
}
