//! The client's IP address. Forwarding headers (`Forwarded`, `X-Forwarded-For`) are
//! believed only when the connection comes from a configured trusted proxy, and then
//! read from the right: the first address that is not itself a trusted proxy is the
//! client (RFC 9700 §4.13; RFC 7239). From anyone else, the socket address is the client.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::config::ForwardedHeader;
use crate::web::AppState;

/// The resolved client IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Whether `ip` is one of the trusted proxies.
pub fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

/// Parses one `for=` value of a `Forwarded` element (`192.0.2.1`, `"[2001:db8::1]:443"`).
fn parse_forwarded_for(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse::<IpAddr>()
        .ok()
        .or_else(|| v.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The raw hop entries (client first) of the configured forwarding header. Only that
/// header is read: a client could add the other one, and proxies pass it through.
fn claimed_hops(headers: &HeaderMap, which: ForwardedHeader) -> Vec<String> {
    let lines = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    match which {
        ForwardedHeader::XForwardedFor => lines("x-forwarded-for")
            .iter()
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
            .collect(),
        ForwardedHeader::Forwarded => lines("forwarded")
            .iter()
            .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// Resolves the client address for a connection from `peer` with `headers`. Hops are
/// walked from the right; the first one that is not a trusted proxy is the client. If
/// that entry is malformed, the nearest trusted hop stands in for it.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet], which: ForwardedHeader) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let mut client = peer;
    for hop in claimed_hops(headers, which).iter().rev() {
        let Some(ip) = parse_forwarded_for(hop) else { break };
        client = ip;
        if !trusted(ip, proxies) {
            break;
        }
    }
    client
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let c = state.config();
        Ok(Self(resolve(
            peer,
            &parts.headers,
            &c.trusted_proxies,
            c.forwarded_header,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn resolution_table() {
        use ForwardedHeader::{Forwarded as Fwd, XForwardedFor as Xff};
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        type Case<'a> = (&'a str, ForwardedHeader, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            // Untrusted peers are the client whatever they claim.
            ("203.0.113.9", Xff, &[("x-forwarded-for", "1.2.3.4")], "203.0.113.9"),
            ("203.0.113.9", Fwd, &[("forwarded", "for=1.2.3.4")], "203.0.113.9"),
            // A trusted proxy's claim is believed.
            ("10.0.0.2", Xff, &[("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
            // Read from the right: a spoofed left-most entry is ignored.
            (
                "10.0.0.2",
                Xff,
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.7")],
                "198.51.100.7",
            ),
            // Chains of trusted proxies are skipped.
            (
                "10.0.0.2",
                Xff,
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")],
                "198.51.100.7",
            ),
            // Several header lines form one list.
            (
                "10.0.0.2",
                Xff,
                &[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.8")],
                "198.51.100.8",
            ),
            // Only the configured header is read: a client-supplied Forwarded is ignored.
            (
                "10.0.0.2",
                Xff,
                &[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.7")],
                "198.51.100.7",
            ),
            (
                "10.0.0.2",
                Fwd,
                &[("forwarded", "for=198.51.100.9"), ("x-forwarded-for", "6.6.6.6")],
                "198.51.100.9",
            ),
            // Forwarded (RFC 7239) with quoting, ports, IPv6 and other parameters.
            (
                "10.0.0.2",
                Fwd,
                &[("forwarded", "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https")],
                "2001:db8::1",
            ),
            (
                "10.0.0.2",
                Fwd,
                &[("forwarded", "For=\"198.51.100.9:80\"")],
                "198.51.100.9",
            ),
            // Garbage left of the client entry does not matter ...
            (
                "10.0.0.2",
                Xff,
                &[("x-forwarded-for", "garbage, 198.51.100.7")],
                "198.51.100.7",
            ),
            // ... but a malformed client entry leaves the nearest trusted hop.
            (
                "10.0.0.2",
                Xff,
                &[("x-forwarded-for", "198.51.100.7, garbage")],
                "10.0.0.2",
            ),
            ("10.0.0.2", Fwd, &[("forwarded", "for=unknown")], "10.0.0.2"),
            // No header: the proxy itself.
            ("10.0.0.2", Xff, &[], "10.0.0.2"),
            // Everything trusted: the left-most address.
            ("::1", Xff, &[("x-forwarded-for", "10.0.0.5, 10.0.0.6")], "10.0.0.5"),
            // IPv4-mapped IPv6 peers match IPv4 networks.
            (
                "::ffff:10.0.0.2",
                Xff,
                &[("x-forwarded-for", "198.51.100.7")],
                "198.51.100.7",
            ),
        ];
        for (peer, which, hs, want) in cases {
            assert_eq!(
                resolve(ip(peer), &headers(hs), &proxies, *which),
                ip(want),
                "peer {peer} headers {hs:?}"
            );
        }
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers(&[("x-forwarded-for", "1.2.3.4")]), &[], Xff),
            ip("10.0.0.2")
        );
    }
}
