//! Database migrations for Gatehouse.
//!
//! One migration set runs on SQLite and PostgreSQL. Each migration defines its own
//! identifiers and never imports the `entity` crate, so a shipped migration keeps its
//! meaning when entities change. A shipped migration is never edited: add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_initial_schema;
mod m20261127_000002_create_oidc_tables;
mod m20261128_000001_create_user_image;
mod m20261128_000002_create_ephemeral_member;
mod m20261201_000001_add_resources_and_sid_index;
mod m20261202_000001_create_second_factors;
mod m20261202_000002_add_passkeys;
mod m20261203_000001_create_upstream_identity;
mod m20261204_000001_add_audit_time_index;

/// The ordered list of every migration.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_initial_schema::Migration),
            Box::new(m20261127_000002_create_oidc_tables::Migration),
            Box::new(m20261128_000001_create_user_image::Migration),
            Box::new(m20261128_000002_create_ephemeral_member::Migration),
            Box::new(m20261201_000001_add_resources_and_sid_index::Migration),
            Box::new(m20261202_000001_create_second_factors::Migration),
            Box::new(m20261202_000002_add_passkeys::Migration),
            Box::new(m20261203_000001_create_upstream_identity::Migration),
            Box::new(m20261204_000001_add_audit_time_index::Migration),
        ]
    }
}
