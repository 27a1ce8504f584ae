//! sea-orm entities for Gatehouse's tables. Depends only on sea-orm and serde; the schema
//! itself is owned by the `migration` crate, and a test checks both agree.

pub mod audit_event;
pub mod backchannel_logout;
pub mod backup_code;
pub mod client;
pub mod consent;
pub mod ephemeral_counter;
pub mod ephemeral_entry;
pub mod ephemeral_member;
pub mod mail_outbox;
pub mod prelude;
pub mod refresh_token;
pub mod second_factor;
pub mod signing_key;
pub mod system_setting;
pub mod upstream_identity;
pub mod user;
pub mod user_image;
pub mod user_preference;
pub mod user_profile;
