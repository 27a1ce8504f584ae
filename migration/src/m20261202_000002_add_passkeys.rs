//! Passkeys are second factors too (`kind = "passkey"`, the credential sealed in
//! `secret`); their WebAuthn credential id is unique across all users, so a credential
//! registered to one account can never be registered to another. `added_with_mfa` says
//! whether the sign-in that added a factor was multi-factor: a password reset removes the
//! passkeys that the password alone could have added.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000002_add_passkeys"
    }
}

#[derive(DeriveIden)]
enum SecondFactor {
    Table,
    CredentialId,
    AddedWithMfa,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SecondFactor::Table)
                .add_column(text_null(SecondFactor::CredentialId))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SecondFactor::Table)
                .add_column(boolean(SecondFactor::AddedWithMfa).default(false))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_second_factor_credential")
                .table(SecondFactor::Table)
                .col(SecondFactor::CredentialId)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_second_factor_credential")
                .table(SecondFactor::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SecondFactor::Table)
                .drop_column(SecondFactor::AddedWithMfa)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SecondFactor::Table)
                .drop_column(SecondFactor::CredentialId)
                .to_owned(),
        )
        .await
    }
}
