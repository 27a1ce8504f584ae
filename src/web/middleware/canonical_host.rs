//! Pages live under the issuer's host name only: a page asked for under another name
//! (`127.0.0.1` for an issuer on `localhost`, a second DNS name) is redirected there,
//! so that its cookies and passkeys (bound to the issuer's host) work. Only `GET` and
//! `HEAD` of pages are redirected; the protocol endpoints answer under any name, and a
//! form posted elsewhere fails its CSRF check as it would anyway. The target is always
//! the issuer plus the path asked for, never anything taken from the request's headers.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::web::AppState;

/// The host name of a `Host` value, without the port, lower-cased.
fn host_name(value: &str) -> Option<String> {
    let v = value.trim();
    let name = if let Some(rest) = v.strip_prefix('[') {
        rest.split_once(']').map(|(h, _)| h)?
    } else {
        v.rsplit_once(':').map_or(
            v,
            |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) { h } else { v }
            },
        )
    };
    (!name.is_empty()).then(|| name.trim_end_matches('.').to_ascii_lowercase())
}

pub async fn redirect(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = state.config();
    if !config.redirect_to_issuer_host || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    // From a trusted proxy the public name is in X-Forwarded-Host, and when it sends
    // none the name asked for is unknown (its Host is often its own upstream's): no
    // redirect then, never a loop. From anyone else, Host (or the URI's authority under
    // HTTP/2).
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let via_proxy = peer.is_some_and(|ip| crate::web::extract::client_ip::trusted(ip, &config.trusted_proxies));
    let header = if via_proxy {
        match req.headers().get("x-forwarded-host") {
            Some(v) => Some(v),
            None => return next.run(req).await,
        }
    } else {
        req.headers().get(header::HOST)
    };
    let asked = header
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or(v).to_string())
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .and_then(|v| host_name(&v));
    let issuer = config
        .issuer
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase());
    match (asked, issuer) {
        (Some(asked), Some(issuer)) if asked != issuer => {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let base = config.issuer.origin().ascii_serialization();
            Redirect::temporary(&format!("{base}{path}")).into_response()
        }
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_lose_their_port_and_case() {
        assert_eq!(host_name("LocalHost:8080").as_deref(), Some("localhost"));
        assert_eq!(host_name("127.0.0.1:8080").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_name("[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(host_name("id.example.com.").as_deref(), Some("id.example.com"));
        assert_eq!(host_name("id.example.com").as_deref(), Some("id.example.com"));
        assert_eq!(host_name(""), None);
    }
}
