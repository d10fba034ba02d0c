//! Where a webhook may go. A `callback_url` is a request to make the service call an address of the
//! caller's choosing (server-side request forgery): on AWS it must be `https` and every address its
//! host resolves to must be public — never loopback, private, link-local (the instance metadata
//! service at 169.254.169.254 among them), shared, documentation or multicast ranges. The check runs
//! when the run is created and again at each attempt, against the addresses the attempt connects
//! to, so a name that later resolves elsewhere (DNS rebinding) is refused too. Locally, private
//! addresses and plain `http` are allowed only when the operator says so (`serve
//! --allow-private-webhooks`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How long resolving a callback's host may take.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest callback URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

/// What a deployment lets webhooks reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Loopback and private addresses, and plain http (a local stack's receivers).
    pub allow_private: bool,
}

/// A callback URL, checked: its host and port, and the URL as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// Checks a URL's form (before any lookup): absolute http(s), a host, no credentials, bounded.
pub fn parse(text: &str, policy: WebhookPolicy) -> Result<CallbackUrl, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("The callback url may be at most {MAX_URL_BYTES} characters."));
    }
    let url = url::Url::parse(text).map_err(|e| format!("The callback url must be an absolute URL: {e}."))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        _ => return Err("The callback url must use https.".to_owned()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The callback url must not hold credentials.".to_owned());
    }
    let host = match url.host() {
        Some(url::Host::Domain(domain)) => domain.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("The callback url must name a host.".to_owned()),
    };
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(CallbackUrl { url: url.to_string(), host, port })
}

/// The addresses `url`'s host resolves to, each allowed by `policy`; an error says which is not.
pub async fn resolve(url: &CallbackUrl, policy: WebhookPolicy) -> Result<Vec<SocketAddr>, String> {
    let addresses: Vec<SocketAddr> = match url.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, url.port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((url.host.as_str(), url.port));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(e)) => return Err(format!("The callback url's host {} does not resolve: {e}.", url.host)),
                Err(_) => return Err(format!("The callback url's host {} did not resolve in time.", url.host)),
            }
        }
    };
    if addresses.is_empty() {
        return Err(format!("The callback url's host {} does not resolve.", url.host));
    }
    // The address itself is not told: the caller learns nothing of a private network's layout.
    if addresses.iter().any(|a| !policy.allow_private && !is_public(a.ip())) {
        return Err(format!(
            "The callback url must reach a public address: {} resolves to a loopback, private, link-local or \
             otherwise reserved one.",
            url.host
        ));
    }
    Ok(addresses)
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique local),
/// link-local (instance metadata), carrier-grade NAT, documentation, benchmarking, multicast,
/// broadcast or unspecified; an IPv4-mapped or NAT64 IPv6 address is judged by its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            let o = v6.octets();
            let embedded = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
            // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) addresses carry an IPv4 address
            // in their last 32 bits; 6to4 (2002::/16) in bits 16-48.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..6] == [0, 0, 0, 0, 0, 0] {
                return is_public_v4(embedded);
            }
            if segments[0] == 0x2002 {
                return is_public_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local
                || (segments[0] & 0xffc0) == 0xfe80 // link-local
                || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1) // local-use NAT64
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)) // EC2 metadata over IPv6
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: WebhookPolicy = WebhookPolicy { allow_private: false };
    const LOCAL: WebhookPolicy = WebhookPolicy { allow_private: true };

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "::127.0.0.1",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "64:ff9b:1::a",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::101:101"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_https_without_credentials() {
        assert!(parse("https://hooks.example.com/ocpp", STRICT).is_ok());
        assert!(parse("http://hooks.example.com/ocpp", STRICT).is_err());
        assert!(parse("http://127.0.0.1:9000/hook", LOCAL).is_ok());
        assert!(parse("https://user:pw@hooks.example.com/", STRICT).is_err());
        assert!(parse("ftp://hooks.example.com/", LOCAL).is_err());
        assert!(parse("/relative", STRICT).is_err());
        assert!(parse(&format!("https://h.example/{}", "a".repeat(MAX_URL_BYTES)), STRICT).is_err());
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        let metadata = parse("https://169.254.169.254/latest/meta-data/", STRICT).unwrap();
        assert!(resolve(&metadata, STRICT).await.unwrap_err().contains("public address"));
        let local = parse("https://localhost:8443/hook", STRICT).unwrap();
        assert!(resolve(&local, STRICT).await.is_err());
        assert!(resolve(&parse("http://127.0.0.1:9/x", LOCAL).unwrap(), LOCAL).await.is_ok());
        let mapped = parse("https://[::ffff:10.0.0.1]/", STRICT).unwrap();
        assert!(resolve(&mapped, STRICT).await.is_err());
        let public = parse("https://93.184.216.34/hook", STRICT).unwrap();
        assert_eq!(resolve(&public, STRICT).await.unwrap(), vec!["93.184.216.34:443".parse().unwrap()]);
    }
}
