//! Profile images: the upload page and the images themselves, served to anyone with an
//! ETag (the avatar is the `picture` claim).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::PageUpload;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::page;

async fn images_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    status: StatusCode,
    error: Option<(&str, String)>,
) -> Result<Response, PageError> {
    let images = crate::accounts::images::of_user(state.db(), me.session.user_id).await?;
    let url = |kind: &str| {
        images
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, id)| format!("/images/{id}"))
    };
    let (error_kind, error_text) = error.map_or((None, None), |(k, t)| (Some(k.to_string()), Some(t)));
    Ok(page(
        state,
        jar,
        status,
        "templates/account_images.html",
        json!({ "avatar": url("avatar"), "cover": url("cover"), "error_kind": error_kind, "error": error_text }),
    ))
}

pub async fn images_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    images_page(&state, jar, &me, StatusCode::OK, None).await
}

/// Receives an avatar or cover upload (multipart: `csrf`, `kind`, `image`).
pub async fn images_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    upload: PageUpload,
) -> Result<Response, PageError> {
    if upload.too_large {
        let error = crate::accounts::images::ImageError::TooLarge.to_string();
        return images_page(&state, jar, &me, StatusCode::PAYLOAD_TOO_LARGE, Some(("avatar", error))).await;
    }
    let kind = upload.fields.get("kind").map(String::as_str);
    let Some(kind) = kind.and_then(crate::accounts::images::Kind::parse) else {
        return Err(PageError::BadRequest("Unknown image kind.".into()));
    };
    let processed = match state.images().process(upload.file, kind).await {
        Ok(p) => p,
        Err(e) => {
            let status = match e {
                crate::accounts::images::ImageError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return images_page(&state, jar, &me, status, Some((kind.as_str(), e.to_string()))).await;
        }
    };
    let issuer = &state.config().issuer_id;
    crate::accounts::images::save(state.db(), issuer, me.session.user_id, kind, processed).await?;
    Ok(Redirect::to("/account/images").into_response())
}

/// Serves a profile image, with an ETag so browsers and relying parties can revalidate.
pub async fn image(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let id = id.parse::<uuid::Uuid>().map_err(|_| PageError::NotFound)?;
    let img = crate::accounts::images::find(state.db(), id)
        .await?
        .ok_or(PageError::NotFound)?;
    // Relying parties show the avatar (the `picture` claim) on their own pages.
    let cache = [
        (axum::http::header::ETAG, img.etag.clone()),
        (axum::http::header::CACHE_CONTROL, "public, max-age=86400".to_string()),
        (
            axum::http::header::HeaderName::from_static("cross-origin-resource-policy"),
            "cross-origin".to_string(),
        ),
    ];
    if headers
        .get(axum::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(img.etag.as_str())
    {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((
        StatusCode::OK,
        cache,
        [(axum::http::header::CONTENT_TYPE, img.content_type.clone())],
        img.data,
    )
        .into_response())
}
