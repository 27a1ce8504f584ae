//! Profile images (avatar, cover), stored in the database so every instance serves them;
//! and the `website` profile claim.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_create_user_image"
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum UserProfile {
    Table,
    Website,
}

#[derive(DeriveIden)]
enum UserImage {
    Table,
    Id,
    UserId,
    Kind,
    ContentType,
    Data,
    Etag,
    Width,
    Height,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UserImage::Table)
                .col(pk_uuid(UserImage::Id))
                .col(uuid(UserImage::UserId))
                .col(text(UserImage::Kind))
                .col(text(UserImage::ContentType))
                .col(blob(UserImage::Data))
                .col(text(UserImage::Etag))
                .col(integer(UserImage::Width))
                .col(integer(UserImage::Height))
                .col(timestamp_with_time_zone(UserImage::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_image_user")
                        .from(UserImage::Table, UserImage::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_image_user_kind")
                .table(UserImage::Table)
                .col(UserImage::UserId)
                .col(UserImage::Kind)
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(UserProfile::Table)
                .add_column(text_null(UserProfile::Website))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(UserProfile::Table)
                .drop_column(UserProfile::Website)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(UserImage::Table).to_owned()).await
    }
}
