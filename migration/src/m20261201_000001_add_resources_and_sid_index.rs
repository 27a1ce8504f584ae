//! Resource indicators (RFC 8707): the resources a client may ask tokens for, and those a
//! refresh-token family was granted; an index on `refresh_token.sid`, which logout and
//! login use to end a session's tokens.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_add_resources_and_sid_index"
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    AllowedResources,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    Sid,
    Resources,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(json_binary_null(Client::AllowedResources))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .add_column(json_binary_null(RefreshToken::Resources))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_refresh_token_sid")
                .table(RefreshToken::Table)
                .col(RefreshToken::Sid)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_refresh_token_sid")
                .table(RefreshToken::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .drop_column(RefreshToken::Resources)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::AllowedResources)
                .to_owned(),
        )
        .await
    }
}
