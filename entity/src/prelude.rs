//! Entity types under short names.

pub use super::audit_event::Entity as AuditEvent;
pub use super::backchannel_logout::Entity as BackchannelLogout;
pub use super::client::Entity as Client;
pub use super::consent::Entity as Consent;
pub use super::ephemeral_counter::Entity as EphemeralCounter;
pub use super::ephemeral_entry::Entity as EphemeralEntry;
pub use super::ephemeral_member::Entity as EphemeralMember;
pub use super::mail_outbox::Entity as MailOutbox;
pub use super::refresh_token::Entity as RefreshToken;
pub use super::signing_key::Entity as SigningKey;
pub use super::system_setting::Entity as SystemSetting;
pub use super::upstream_identity::Entity as UpstreamIdentity;
pub use super::user::Entity as User;
pub use super::user_image::Entity as UserImage;
pub use super::user_preference::Entity as UserPreference;
pub use super::user_profile::Entity as UserProfile;
