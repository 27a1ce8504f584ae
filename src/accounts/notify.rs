//! Login notifications: when the user wants them (the default), each login queues a mail
//! with the time, device, browser, operating system, IP address and approximate location.

use sea_orm::ConnectionTrait;

use super::Error;
use super::signup::MailCtx;

/// What is known about the device a login came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    pub kind: String,
    pub browser: String,
    pub os: String,
}

impl Device {
    /// "Browser on OS", as sessions and the audit log show a device.
    pub fn label(&self) -> String {
        format!("{} on {}", self.browser, self.os)
    }
}

/// Parses a User-Agent header; unknown parts say "unknown".
pub fn device(user_agent: &str) -> Device {
    let unknown = || "unknown".to_string();
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) => {
            let known = |s: &str| {
                if s.is_empty() || s == "UNKNOWN" {
                    unknown()
                } else {
                    s.to_string()
                }
            };
            let kind = match r.category {
                "pc" => "computer".to_string(),
                "smartphone" => "phone".to_string(),
                "mobilephone" => "mobile phone".to_string(),
                "appliance" => "appliance".to_string(),
                "crawler" => "crawler".to_string(),
                other => known(other),
            };
            let browser = if r.version.is_empty() || r.version == "UNKNOWN" {
                known(r.name)
            } else {
                format!("{} {}", known(r.name), r.version)
            };
            Device {
                kind,
                browser,
                os: known(r.os),
            }
        }
        None => Device {
            kind: unknown(),
            browser: unknown(),
            os: unknown(),
        },
    }
}

/// Where a login came from.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub device: &'a Device,
    pub ip: std::net::IpAddr,
    /// From the GeoIP database, when one is configured and knows the address.
    pub location: Option<&'a str>,
}

/// Queues the login notification for `user` if they have it on.
pub async fn login(
    db: &impl ConnectionTrait,
    m: &MailCtx<'_>,
    user: &entity::user::Model,
    seen: &Seen<'_>,
) -> Result<bool, Error> {
    let on = super::repo::preferences(db, user.id)
        .await?
        .is_none_or(|p| p.login_notifications);
    if !on {
        return Ok(false);
    }
    let d = seen.device;
    let ctx = serde_json::json!({
        "time": chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        "device": d.kind,
        "browser": d.browser,
        "os": d.os,
        "ip": seen.ip.to_string(),
        "location": seen.location.unwrap_or("unknown"),
        "security": format!("{}/account/security", m.issuer_id),
    });
    m.queue(db, &user.email, "login_notification", ctx).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_agents_are_described() {
        let d = super::device(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        );
        assert_eq!(d.kind, "computer");
        assert!(d.browser.starts_with("Chrome"), "{d:?}");
        assert!(d.os.starts_with("Windows"), "{d:?}");
        let d = super::device("");
        assert_eq!(d.browser, "unknown");
    }
}
