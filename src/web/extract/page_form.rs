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
