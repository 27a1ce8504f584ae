//! A form posted by one of the hosted pages: decoded like axum's `Form`, and its `csrf`
//! field checked against this browser's CSRF cookie. A malformed form gets the themed
//! 400 page, a missing or wrong token the themed 403, before the handler runs.

use axum::extract::{FromRequest, RawForm, Request};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;

/// The decoded form of a page whose CSRF token matched.
#[derive(Debug, Clone)]
pub struct PageForm<T>(pub T);

#[derive(serde::Deserialize)]
struct Token {
    csrf: Option<String>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(req.headers());
        let malformed = || PageError::BadRequest("The form was malformed.".into()).render(state.theme());
        let Ok(RawForm(bytes)) = RawForm::from_request(req, state).await else {
            return Err(malformed());
        };
        let (Ok(value), Ok(token)) = (
            serde_urlencoded::from_bytes::<T>(&bytes),
            serde_urlencoded::from_bytes::<Token>(&bytes),
        ) else {
            return Err(malformed());
        };
        if !cookies::csrf_ok(state.config(), &jar, token.csrf.as_deref()) {
            return Err(PageError::Csrf.render(state.theme()));
        }
        Ok(Self(value))
    }
}

/// At most this many text fields in an upload form, each at most [`UPLOAD_FIELD_BYTES`];
/// the file itself is bounded by the route's body limit.
const UPLOAD_FIELDS: usize = 8;
const UPLOAD_FIELD_BYTES: usize = 1024;

/// A multipart form posted by one of the hosted pages: its text fields, its one file, and
/// its `csrf` field checked like [`PageForm`]'s. A body over the route's limit is not an
/// error here: `too_large` is set (and nothing checked, as nothing will be changed) so
/// the page can say so beside the file field.
#[derive(Debug, Default)]
pub struct PageUpload {
    pub fields: std::collections::HashMap<String, String>,
    pub file: Vec<u8>,
    pub too_large: bool,
}

impl FromRequest<AppState> for PageUpload {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(req.headers());
        let malformed = || PageError::BadRequest("The upload was malformed.".into()).render(state.theme());
        let Ok(mut multipart) = axum::extract::Multipart::from_request(req, state).await else {
            return Err(malformed());
        };
        let mut upload = Self::default();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(_) => {
                    upload.too_large = true;
                    return Ok(upload);
                }
            };
            let name = field.name().unwrap_or_default().to_string();
            let is_file = field.file_name().is_some();
            let Ok(bytes) = field.bytes().await else {
                upload.too_large = true;
                return Ok(upload);
            };
            if is_file {
                upload.file = bytes.to_vec();
            } else if bytes.len() > UPLOAD_FIELD_BYTES || upload.fields.len() >= UPLOAD_FIELDS {
                return Err(malformed());
            } else {
                upload.fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        let csrf = upload.fields.get("csrf").map(String::as_str);
        if !cookies::csrf_ok(state.config(), &jar, csrf) {
            return Err(PageError::Csrf.render(state.theme()));
        }
        Ok(upload)
    }
}
