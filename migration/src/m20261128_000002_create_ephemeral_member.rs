//! Sets in the SQL ephemeral store: members of a key, each with its own expiry (Unix
//! milliseconds), so adding to a set is one atomic upsert instead of a read-modify-write.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000002_create_ephemeral_member"
    }
}

#[derive(DeriveIden)]
enum EphemeralMember {
    Table,
    Key,
    Member,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(EphemeralMember::Table)
                .col(text(EphemeralMember::Key))
                .col(text(EphemeralMember::Member))
                .col(big_integer(EphemeralMember::ExpiresAt))
                .primary_key(Index::create().col(EphemeralMember::Key).col(EphemeralMember::Member))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ephemeral_member_expires")
                .table(EphemeralMember::Table)
                .col(EphemeralMember::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EphemeralMember::Table).to_owned())
            .await
    }
}
