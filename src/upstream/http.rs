//! Every call to an upstream provider goes through [`send`]: the app's one HTTP client
//! (timeouts, no redirects followed, Gatehouse's User-Agent) and a bound on what a
//! response may make us hold in memory.

use openidconnect::{HttpRequest, HttpResponse};

/// The largest upstream response read (discovery, keys, tokens, profiles): larger ones
/// are refused, not buffered.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// The largest profile picture fetched (then decoded under the image pipeline's limits).
pub const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;

/// An outbound call that failed.
#[derive(Debug, thiserror::Error)]
pub enum Outbound {
    #[error("request failed: {0}")]
    Http(reqwest::Error),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Build(String),
}

/// The error without its URL: Facebook's carry `appsecret_proof`, and no log gets one.
impl From<reqwest::Error> for Outbound {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(e.without_url())
    }
}

/// Sends `req` and reads at most `limit` bytes of the answer.
pub async fn send_limited(http: &reqwest::Client, req: HttpRequest, limit: usize) -> Result<HttpResponse, Outbound> {
    let req = reqwest::Request::try_from(req)?;
    let mut resp = http.execute(req).await?;
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Outbound::TooLarge(limit));
    }
    let mut builder = openidconnect::http::Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(Outbound::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    builder.body(body).map_err(|e| Outbound::Build(e.to_string()))
}

/// [`send_limited`] at [`MAX_BODY_BYTES`]: the client handed to openidconnect and oauth2.
pub async fn send(http: &reqwest::Client, req: HttpRequest) -> Result<HttpResponse, Outbound> {
    send_limited(http, req, MAX_BODY_BYTES).await
}

/// A GET with these headers, its body read under `limit`.
pub async fn get(
    http: &reqwest::Client,
    url: &url::Url,
    headers: &[(&str, &str)],
    limit: usize,
) -> Result<HttpResponse, Outbound> {
    let mut b = openidconnect::http::Request::builder().method("GET").uri(url.as_str());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Vec::new()).map_err(|e| Outbound::Build(e.to_string()))?;
    send_limited(http, req, limit).await
}

/// The client handed to openidconnect and oauth2: [`send`] behind their trait, with a
/// future that is `Send` for every borrow (a closure's is not provably so).
pub struct Client<'a>(pub &'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Client<'_> {
    type Error = Outbound;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, Outbound>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}
