//! Where a webhook may point: no loopback, private, link-local, metadata, unspecified,
//! multicast or broadcast address (IPv4-mapped IPv6 forms included), unless the operator
//! allow-listed the host in `[notifications] allow_internal_hosts`. A trader's URL is checked
//! when it is saved (after resolving its name) and again at every send: the HTTP client that
//! sends resolves names through [`Resolver`], which drops refused addresses, so the address
//! checked is the address connected to (a name that changes its answer cannot slip through).
//! Redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What the resolver's error says when it drops every address of a name.
pub const REFUSED: &str = "resolves only to refused addresses";

/// The longest a name lookup may take when a URL is saved.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Why `ip` may not be a webhook's address, or `None` when it may.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        () if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        () if a == 0 => "unspecified",
        () if a == 127 => "loopback",
        () if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) => "private",
        () if a == 100 && (64..128).contains(&b) => "shared (CGNAT)",
        () if a == 169 && b == 254 => "link-local",
        () if a == 192 && b == 0 && c == 0 => "IETF protocol assignment",
        () if ip == Ipv4Addr::BROADCAST => "broadcast",
        () if (224..240).contains(&a) => "multicast",
        () if a >= 240 => "reserved",
        () => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d)
    // forms reach the IPv4 address inside.
    let embedded = match segments {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => true,
        [0, 0, 0, 0, 0, 0, hi, _] => hi != 0,
        _ => false,
    };
    if embedded {
        let [.., a, b, c, d] = ip.octets();
        return refused_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(match segments[0] {
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "cloud metadata",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        first if first & 0xfe00 == 0xfc00 => "private (unique local)",
        first if first & 0xffc0 == 0xfe80 => "link-local",
        first if first & 0xffc0 == 0xfec0 => "site-local",
        first if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// The hosts an operator lets webhooks reach although their addresses are internal: `host`,
/// `host:port`, an IP address, or `[v6]:port`.
#[derive(Clone, Debug, Default)]
pub struct AllowList(Vec<(String, Option<u16>)>);

impl AllowList {
    /// Parses the configured entries; the message names the one that is not a host.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for entry in entries {
            let parsed = url::Url::parse(&format!("http://{entry}/"))
                .ok()
                .filter(|url| url.path() == "/" && url.username().is_empty())
                .and_then(|url| Some((host_of(&url)?, url.port())));
            match parsed {
                Some(host) => allowed.push(host),
                None => {
                    return Err(format!(
                        "[notifications] allow_internal_hosts: {entry:?} is not a host, \
                         host:port or IP address"
                    ));
                }
            }
        }
        Ok(Self(allowed))
    }

    /// Whether the URL's host (and port) is allow-listed.
    pub fn allows(&self, url: &url::Url) -> bool {
        let (Some(host), port) = (host_of(url), url.port_or_known_default()) else {
            return false;
        };
        self.0
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port))
    }

    fn allows_name(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.0.iter().any(|(h, _)| *h == name)
    }
}

/// A URL's host as compared: lower case, an IPv6 address without brackets.
fn host_of(url: &url::Url) -> Option<String> {
    Some(match url.host()? {
        url::Host::Domain(name) => name.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    })
}

/// Why a webhook URL may not be used, checked against the address its host has now: `Ok`
/// for an allow-listed host, a public address, or a name that does not resolve now (it is
/// checked again when sending).
pub async fn check_url(url: &str, allow: &AllowList) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
    if allow.allows(&parsed) {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(url::Host::Domain(name)) => {
            match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await
            {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
        None => return Err(format!("{url:?} has no host")),
    };
    for ip in addresses {
        if let Some(reason) = refused(ip) {
            return Err(format!(
                "{} is {ip}, a {reason} address: webhooks may only reach public addresses \
                 (an operator can allow an internal host in [notifications] \
                 allow_internal_hosts)",
                parsed.host_str().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Resolves names for the webhook client, keeping only addresses a webhook may reach (all of
/// them for an allow-listed name).
#[derive(Clone, Debug)]
pub struct Resolver {
    allow: Arc<AllowList>,
}

impl Resolver {
    /// A resolver that lets `allow`'s names reach internal addresses.
    pub fn new(allow: AllowList) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if allow.allows_name(&name) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            let mut reasons = Vec::new();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match refused(addr.ip()) {
                    Some(reason) => {
                        reasons.push(format!("{} ({reason})", addr.ip()));
                        false
                    }
                    None => true,
                })
                .collect();
            if public.is_empty() {
                return Err(format!("{name} {REFUSED}: {}", reasons.join(", ")).into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a webhook may be sent to `url` by the guarded client: an IP address in the URL is
/// checked here (the client connects to it without resolving); a name is checked by
/// [`Resolver`] as it connects.
pub fn check_literal(url: &url::Url) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".to_owned()),
    };
    match refused(ip) {
        Some(reason) => Err(format!("{ip} is a {reason} address")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        for refused_ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "169.254.1.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = refused_ip.parse().expect(refused_ip);
            assert!(refused(ip).is_some(), "{refused_ip} must be refused");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().expect(public);
            assert_eq!(refused(ip), None, "{public}");
        }
        assert_eq!(
            refused("169.254.169.254".parse().expect("ip")),
            Some("cloud metadata")
        );
    }

    #[test]
    fn the_allow_list_matches_host_and_port() {
        let allow = AllowList::parse(&[
            "hooks.internal:8080".to_owned(),
            "10.0.0.5".to_owned(),
            "[fd00::1]:9000".to_owned(),
        ])
        .expect("allow list");
        let url = |u: &str| url::Url::parse(u).expect(u);
        assert!(allow.allows(&url("http://Hooks.Internal:8080/x")));
        assert!(!allow.allows(&url("http://hooks.internal:8081/x")));
        assert!(allow.allows(&url("https://10.0.0.5/x")));
        assert!(allow.allows(&url("http://10.0.0.5:1234/x")));
        assert!(allow.allows(&url("http://[fd00::1]:9000/")));
        assert!(!allow.allows(&url("http://[fd00::1]:9001/")));
        assert!(!allow.allows(&url("http://10.0.0.6/")));
        assert!(AllowList::parse(&["a b".to_owned()]).is_err());
        assert!(AllowList::parse(&["host/path".to_owned()]).is_err());
    }

    #[tokio::test]
    async fn urls_on_refused_addresses_are_refused_when_saved() {
        let none = AllowList::default();
        for url in [
            "http://127.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:5432/",
            "http://localhost:6379/",
        ] {
            let error = check_url(url, &none).await.expect_err(url);
            assert!(error.contains("public addresses"), "{error}");
        }
        check_url("https://93.184.215.14/hook", &none)
            .await
            .expect("a public address");
    }
}
