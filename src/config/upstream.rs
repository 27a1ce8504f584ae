//! `[[upstream]]`: the identity providers Gatehouse brokers, validated into [`Upstream`]
//! with each kind's defaults. Every error names the provider's entry and key.

use std::collections::BTreeSet;

use secrecy::SecretString;
use url::Url;

use super::validate::is_loopback_url;
use super::*;

/// The providers one configuration may list: each adds a button to the sign-in page.
pub const MAX_UPSTREAMS: usize = 16;

/// What kind of provider an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    Google,
    Github,
    Discord,
    Facebook,
    Oidc,
}

impl UpstreamKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "google" => Self::Google,
            "github" => Self::Github,
            "discord" => Self::Discord,
            "facebook" => Self::Facebook,
            "oidc" => Self::Oidc,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Github => "github",
            Self::Discord => "discord",
            Self::Facebook => "facebook",
            Self::Oidc => "oidc",
        }
    }

    /// Whether the provider speaks OpenID Connect (discovery, ID tokens).
    pub fn is_oidc(self) -> bool {
        matches!(self, Self::Google | Self::Oidc)
    }

    fn default_name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Github => "GitHub",
            Self::Discord => "Discord",
            Self::Facebook => "Facebook",
            Self::Oidc => "",
        }
    }

    fn default_scopes(self) -> &'static [&'static str] {
        match self {
            Self::Google | Self::Oidc => &["openid", "email", "profile"],
            Self::Github => &["read:user", "user:email"],
            Self::Discord => &["identify", "email"],
            Self::Facebook => &["email", "public_profile"],
        }
    }

    /// The real endpoints: authorize, token, API base.
    fn default_urls(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Self::Github => Some((
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
                "https://api.github.com",
            )),
            Self::Discord => Some((
                "https://discord.com/oauth2/authorize",
                "https://discord.com/api/oauth2/token",
                "https://discord.com/api/v10",
            )),
            Self::Facebook => Some((
                "https://www.facebook.com/v26.0/dialog/oauth",
                "https://graph.facebook.com/v26.0/oauth/access_token",
                "https://graph.facebook.com/v26.0",
            )),
            Self::Google | Self::Oidc => None,
        }
    }

    fn default_endpoint_hosts(self) -> &'static [&'static str] {
        match self {
            Self::Google => &[".googleapis.com"],
            _ => &[],
        }
    }

    fn default_picture_hosts(self) -> &'static [&'static str] {
        match self {
            Self::Google => &[".googleusercontent.com"],
            Self::Github => &["avatars.githubusercontent.com"],
            Self::Discord => &["cdn.discordapp.com"],
            Self::Facebook => &["platform-lookaside.fbsbx.com", ".fbcdn.net"],
            Self::Oidc => &[],
        }
    }
}

/// A validated upstream provider.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub id: String,
    pub kind: UpstreamKind,
    pub name: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    /// `google` and `oidc`: the issuer whose discovery document is read.
    pub issuer: Option<Url>,
    /// `github`, `discord`, `facebook`: the endpoints called.
    pub authorize_url: Option<Url>,
    pub token_url: Option<Url>,
    pub api_url: Option<Url>,
    /// Hosts a profile picture may come from (`.suffix` matches subdomains).
    pub picture_hosts: Vec<String>,
    /// OpenID Connect kinds: the hosts besides the issuer's that discovery may name.
    pub endpoint_hosts: Vec<String>,
}

impl Upstream {
    /// The redirect URI to register at the provider.
    pub fn callback_url(&self, issuer_id: &str) -> String {
        format!("{issuer_id}/login/upstream/{}/callback", self.id)
    }

    /// The issuer as providers write it (`iss`, discovery): `Url` adds a slash to a bare
    /// host, issuers are compared as strings.
    pub fn issuer_str(&self) -> Option<&str> {
        self.issuer.as_ref().map(|i| {
            if i.path() == "/" {
                i.as_str().trim_end_matches('/')
            } else {
                i.as_str()
            }
        })
    }

    /// Whether a picture at `url` may be fetched: https (or loopback) on a listed host.
    pub fn picture_allowed(&self, url: &Url) -> bool {
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback_url(url));
        scheme_ok && on_hosts(url, &self.picture_hosts)
    }

    /// Whether discovery may send Gatehouse (with the client secret, a code or a token)
    /// to `url`: the issuer's own host or a listed one, over https; plain http only when
    /// the issuer itself is on loopback (tests, a provider on the same machine).
    pub fn endpoint_allowed(&self, url: &Url) -> bool {
        let Some(issuer) = &self.issuer else { return false };
        let scheme_ok =
            url.scheme() == "https" || (url.scheme() == "http" && is_loopback_url(url) && is_loopback_url(issuer));
        let same_host = url.host_str().is_some_and(|h| Some(h) == issuer.host_str());
        scheme_ok && (same_host || on_hosts(url, &self.endpoint_hosts))
    }
}

/// A URL Gatehouse calls or sends browsers to: https, or http on loopback only.
fn outbound_url(o: &Origins, key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && u.fragment().is_none())
        .ok_or_else(|| o.invalid(key, value, "is not an absolute http(s) URL without a fragment"))?;
    if url.scheme() == "http" && !is_loopback_url(&url) {
        return Err(o.invalid(key, value, "must use https (http only on loopback)"));
    }
    Ok(url)
}

/// Whether `url`'s host is one of `hosts` (`.suffix` matches subdomains).
fn on_hosts(url: &Url, hosts: &[String]) -> bool {
    let Some(host) = url.host_str() else { return false };
    hosts.iter().any(|h| match h.strip_prefix('.') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(h.as_str()),
        None => host == h,
    })
}

/// A host list: at most 10 names, lower-cased (URL hosts are).
fn host_list(list: Vec<String>) -> Option<Vec<String>> {
    let list: Vec<String> = list.into_iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let ok = list.len() <= 10
        && !list
            .iter()
            .any(|h| h.is_empty() || h == "." || h.contains(['/', ':', ' ']));
    ok.then_some(list)
}

pub(super) fn validate(raw: &RawConfig, o: &Origins) -> Result<Vec<Upstream>, ConfigError> {
    if raw.upstream.len() > MAX_UPSTREAMS {
        return Err(o.invalid(
            "upstream",
            raw.upstream.len(),
            &format!("lists more than {MAX_UPSTREAMS} providers"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.upstream.len());
    for (i, u) in raw.upstream.iter().enumerate() {
        // Entries are named by position and id: `upstream[1] (github).client_secret`.
        let at = |key: &str| {
            format!(
                "upstream[{i}]{}.{key}",
                if u.id.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", u.id)
                }
            )
        };
        let bad = |key: &str, value: &str, expected: &str| ConfigError::Invalid {
            key: format!("{} (in {})", at(key), o.name("upstream")),
            value: format!("\"{}\"", value.escape_debug()),
            expected: expected.to_string(),
        };
        let id_ok = (1..=32).contains(&u.id.len())
            && u.id.starts_with(|c: char| c.is_ascii_lowercase())
            && u.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(bad(
                "id",
                &u.id,
                "must be 1 to 32 lower-case letters, digits and -, starting with a letter",
            ));
        }
        if !seen.insert(u.id.clone()) {
            return Err(bad("id", &u.id, "is used by another provider"));
        }
        let kind = UpstreamKind::parse(&u.kind).ok_or_else(|| {
            bad(
                "kind",
                &u.kind,
                "is not one of: google, github, discord, facebook, oidc",
            )
        })?;
        if u.client_id.trim().is_empty() || u.client_id.len() > 512 {
            return Err(bad("client_id", &u.client_id, "must be given (at most 512 bytes)"));
        }
        let secret = match (&u.client_secret, &u.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "client_secret",
                    "[redacted]",
                    "and client_secret_file: set one of them, not both",
                ));
            }
            (Some(s), None) => s.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    bad(
                        "client_secret_file",
                        &path.display().to_string(),
                        &format!("cannot be read: {e}"),
                    )
                })?;
                text.trim().to_string()
            }
            (None, None) => String::new(),
        };
        if secret.is_empty() || secret.len() > 1024 {
            return Err(bad(
                "client_secret",
                "",
                "must be given (or client_secret_file), at most 1024 bytes",
            ));
        }
        let name = match &u.name {
            Some(n) if n.trim().is_empty() || n.chars().count() > 40 => {
                return Err(bad("name", n, "must be 1 to 40 characters"));
            }
            Some(n) => n.trim().to_string(),
            None if kind == UpstreamKind::Oidc => {
                return Err(bad(
                    "name",
                    "",
                    "must be given for an oidc provider (it is shown on the button)",
                ));
            }
            None => kind.default_name().to_string(),
        };
        let scopes: Vec<String> = match &u.scopes {
            Some(s) => s.clone(),
            None => kind.default_scopes().iter().map(|s| s.to_string()).collect(),
        };
        if scopes.len() > 20
            || scopes.iter().any(|s| {
                s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            })
        {
            return Err(bad("scopes", &scopes.join(" "), "must be at most 20 scope tokens"));
        }
        if kind.is_oidc() && !scopes.iter().any(|s| s == "openid") {
            return Err(bad(
                "scopes",
                &scopes.join(" "),
                "must include openid for an OpenID Connect provider",
            ));
        }
        let url = |key: &str, v: &str| -> Result<Url, ConfigError> {
            outbound_url(o, "upstream", v).map_err(|e| match e {
                ConfigError::Invalid { expected, .. } => bad(key, v, &expected),
                other => other,
            })
        };
        let (issuer, authorize_url, token_url, api_url) = if kind.is_oidc() {
            for (k, v) in [
                ("authorize_url", &u.authorize_url),
                ("token_url", &u.token_url),
                ("api_url", &u.api_url),
            ] {
                if let Some(v) = v {
                    return Err(bad(
                        k,
                        v,
                        "is read from the issuer's discovery document for this kind: set issuer",
                    ));
                }
            }
            let issuer = match (&u.issuer, kind) {
                (Some(i), _) => i.clone(),
                (None, UpstreamKind::Google) => "https://accounts.google.com".to_string(),
                (None, _) => return Err(bad("issuer", "", "must be given for an oidc provider")),
            };
            let parsed = url("issuer", &issuer)?;
            if parsed.query().is_some() {
                return Err(bad("issuer", &issuer, "must not have a query"));
            }
            (Some(parsed), None, None, None)
        } else {
            if let Some(i) = &u.issuer {
                return Err(bad("issuer", i, "is only for google and oidc providers"));
            }
            let (a, t, p) = kind.default_urls().unwrap_or_default();
            (
                None,
                Some(url("authorize_url", u.authorize_url.as_deref().unwrap_or(a))?),
                Some(url("token_url", u.token_url.as_deref().unwrap_or(t))?),
                Some(url("api_url", u.api_url.as_deref().unwrap_or(p))?),
            )
        };
        let hosts = |key: &str, given: &Option<Vec<String>>, default: &[&str]| {
            let list = given
                .clone()
                .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
            let shown = list.join(" ");
            host_list(list).ok_or_else(|| bad(key, &shown, "must be at most 10 host names (.suffix for subdomains)"))
        };
        let picture_hosts = hosts("picture_hosts", &u.picture_hosts, kind.default_picture_hosts())?;
        if u.endpoint_hosts.is_some() && !kind.is_oidc() {
            return Err(bad("endpoint_hosts", "", "is only for google and oidc providers"));
        }
        let endpoint_hosts = hosts("endpoint_hosts", &u.endpoint_hosts, kind.default_endpoint_hosts())?;
        out.push(Upstream {
            id: u.id.clone(),
            kind,
            name,
            client_id: u.client_id.clone(),
            client_secret: SecretString::from(secret),
            scopes,
            issuer,
            authorize_url,
            token_url,
            api_url,
            picture_hosts,
            endpoint_hosts,
        });
    }
    Ok(out)
}
