//! The audit log is filtered by time (the admin pages and API) and purged by age (its
//! retention): an index on `created_at`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_add_audit_time_index"
    }
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_audit_event_created")
                .table(AuditEvent::Table)
                .col(AuditEvent::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_audit_event_created")
                .table(AuditEvent::Table)
                .to_owned(),
        )
        .await
    }
}
