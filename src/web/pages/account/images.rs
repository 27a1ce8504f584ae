//! Profile images: the upload page and the images themselves, served to anyone with an
//! ETag (the avatar is the `picture` claim).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::page;

async fn images_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    status: StatusCode,
    error: Option<(&str, String)>,
) -> Response {
    let images = match crate::accounts::images::of_user(state.db(), me.session.user_id).await {
        Ok(i) => i,
        Err(e) => return PageError::from(e).render(state.theme()),
    };
    let url = |kind: &str| {
        images
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, id)| format!("/images/{id}"))
    };
    let (error_kind, error_text) = error.map_or((None, None), |(k, t)| (Some(k.to_string()), Some(t)));
    page(
        state,
        jar,
        status,
        "templates/account_images.html",
        json!({ "avatar": url("avatar"), "cover": url("cover"), "error_kind": error_kind, "error": error_text }),
    )
}

pub async fn images_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Response {
    images_page(&state, jar, &me, StatusCode::OK, None).await
}

/// Receives an avatar or cover upload (multipart: `csrf`, `kind`, `image`).
pub async fn images_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(mut multipart) = multipart else {
        return PageError::BadRequest("The upload was malformed.".into()).render(state.theme());
    };
    let (mut csrf, mut kind, mut data, mut too_large) = (None, None, Vec::new(), false);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(bytes) => match name.as_str() {
                        "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
                        "kind" => kind = Some(String::from_utf8_lossy(&bytes).into_owned()),
                        "image" => data = bytes.to_vec(),
                        _ => {}
                    },
                    Err(_) => {
                        too_large = true;
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                too_large = true;
                break;
            }
        }
    }
    if too_large {
        return images_page(
            &state,
            jar,
            &me,
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(("avatar", crate::accounts::images::ImageError::TooLarge.to_string())),
        )
        .await;
    }
    if !cookies::csrf_ok(state.config(), &jar, csrf.as_deref()) {
        return PageError::Csrf.render(state.theme());
    }
    let Some(kind) = kind.as_deref().and_then(crate::accounts::images::Kind::parse) else {
        return PageError::BadRequest("Unknown image kind.".into()).render(state.theme());
    };
    let processed = match state.images().process(data, kind).await {
        Ok(p) => p,
        Err(e) => {
            let status = match e {
                crate::accounts::images::ImageError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return images_page(&state, jar, &me, status, Some((kind.as_str(), e.to_string()))).await;
        }
    };
    let saved = crate::accounts::images::save(
        state.db(),
        &state.config().issuer_id,
        me.session.user_id,
        kind,
        processed,
    )
    .await;
    match saved {
        Ok(_) => Redirect::to("/account/images").into_response(),
        Err(e) => PageError::from(e).render(state.theme()),
    }
}

/// Serves a profile image, with an ETag so browsers and relying parties can revalidate.
pub async fn image(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return PageError::NotFound.render(state.theme());
    };
    let img = match crate::accounts::images::find(state.db(), id).await {
        Ok(Some(i)) => i,
        Ok(None) => return PageError::NotFound.render(state.theme()),
        Err(e) => return PageError::from(e).render(state.theme()),
    };
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
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        StatusCode::OK,
        cache,
        [(axum::http::header::CONTENT_TYPE, img.content_type.clone())],
        img.data,
    )
        .into_response()
}
