//! The optional robot check (reCAPTCHA v2 and the compatible hCaptcha and Turnstile):
//! the widget's answer is verified server to server; when the verifier cannot be reached
//! the check fails closed.

use std::net::IpAddr;
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::Captcha;

/// Why a check failed; each has a message for the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptchaError {
    #[error("Confirm that you are not a robot.")]
    Missing,
    #[error("The robot check failed. Try it again.")]
    Rejected,
    #[error("The robot check is unavailable right now. Try again in a moment.")]
    Unavailable,
}

#[derive(serde::Deserialize)]
struct Answer {
    success: bool,
}

/// Verifies the widget's `response` for a request from `ip`.
pub async fn verify(
    http: &reqwest::Client,
    c: &Captcha,
    response: Option<&str>,
    ip: IpAddr,
) -> Result<(), CaptchaError> {
    let response = response
        .filter(|r| !r.is_empty() && r.len() <= 4096)
        .ok_or(CaptchaError::Missing)?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", c.secret.expose_secret())
        .append_pair("response", response)
        .append_pair("remoteip", &ip.to_string())
        .finish();
    let sent = http
        .post(c.verify_url.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let answer = match sent {
        Ok(r) if r.status().is_success() => r
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Answer>(&b).ok()),
        Ok(r) => {
            tracing::warn!(status = %r.status(), "robot check verifier answered with an error");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "robot check verifier unreachable");
            None
        }
    };
    match answer {
        Some(Answer { success: true }) => Ok(()),
        Some(Answer { success: false }) => Err(CaptchaError::Rejected),
        None => Err(CaptchaError::Unavailable),
    }
}
