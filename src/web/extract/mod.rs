//! Extractors that carry cross-cutting rules.

pub mod client_ip;
pub mod oauth_form;
pub mod page_form;
pub mod session;

pub use client_ip::ClientIp;
pub use page_form::{PageForm, PageUpload};
