//! Identities at upstream providers linked to local accounts: keyed by (provider,
//! subject), never by email, so an address that changes upstream (or that an upstream
//! profile merely claims) never moves an identity to another account.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_create_upstream_identity"
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum UpstreamIdentity {
    Table,
    Id,
    UserId,
    Provider,
    Subject,
    Email,
    Name,
    CreatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UpstreamIdentity::Table)
                .col(pk_uuid(UpstreamIdentity::Id))
                .col(uuid(UpstreamIdentity::UserId))
                .col(text(UpstreamIdentity::Provider))
                .col(text(UpstreamIdentity::Subject))
                .col(text_null(UpstreamIdentity::Email))
                .col(text_null(UpstreamIdentity::Name))
                .col(timestamp_with_time_zone(UpstreamIdentity::CreatedAt))
                .col(timestamp_with_time_zone_null(UpstreamIdentity::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_upstream_identity_user")
                        .from(UpstreamIdentity::Table, UpstreamIdentity::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_upstream_identity_subject")
                .table(UpstreamIdentity::Table)
                .col(UpstreamIdentity::Provider)
                .col(UpstreamIdentity::Subject)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_upstream_identity_user")
                .table(UpstreamIdentity::Table)
                .col(UpstreamIdentity::UserId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UpstreamIdentity::Table).to_owned())
            .await
    }
}
