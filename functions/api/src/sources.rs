//! Where requests come from, for the limit on failed authentications: the source address API
//! Gateway saw (IPv6 by its /64, which one client commonly holds whole), and the sources this
//! instance has seen go over the limit this minute, refused before their token is looked up, so
//! that a right guess after the limit is refused too.

use std::net::IpAddr;

use axum::http::Extensions;
use lambda_http::request::RequestContext;
use shared::window::WindowCounts;

/// The rate limiter's key for a request's source (API Gateway's request context, which
/// `lambda_http` and `ocpp-bulk serve` put in its extensions). `#` never starts a user name (the
/// fleet's rule).
pub fn source_key(extensions: &Extensions) -> String {
    let address = match extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        _ => None,
    };
    match address.map(str::parse::<IpAddr>) {
        Some(Ok(IpAddr::V6(v6))) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("#source {:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(Ok(IpAddr::V6(v6))) => {
            format!("#source {}", v6.to_ipv4_mapped().map_or(v6.to_string(), |v4| v4.to_string()))
        }
        Some(Ok(ip)) => format!("#source {ip}"),
        _ => "#source unknown".to_owned(),
    }
}

/// Sources refused until the end of a minute window, as this process learned it.
#[derive(Debug, Default)]
pub struct BlockedSources(WindowCounts);

impl BlockedSources {
    /// Whether `source` is refused in `window`.
    pub fn blocks(&self, source: &str, window: i64) -> bool {
        self.0.count(source, window) > 0
    }

    /// Refuses `source` for the rest of `window` (unless the list is full of this window's
    /// sources: the limiter's own count still refuses them).
    pub fn block(&self, source: String, window: i64) {
        let _ = self.0.hit(&source, window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;

    fn from(ip: &str) -> Extensions {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some(ip.to_owned());
        let mut extensions = Extensions::new();
        extensions.insert(RequestContext::ApiGatewayV2(context));
        extensions
    }

    #[test]
    fn sources_are_keyed_by_address_and_ipv6_by_its_64() {
        assert_eq!(source_key(&from("203.0.113.9")), "#source 203.0.113.9");
        assert_eq!(source_key(&from("2001:db8:1:2:aaaa::1")), source_key(&from("2001:db8:1:2:bbbb::7")));
        assert_eq!(source_key(&from("2001:db8:1:2::1")), "#source 2001:db8:1:2::/64");
        assert_eq!(source_key(&from("::ffff:203.0.113.9")), "#source 203.0.113.9");
        assert_eq!(source_key(&Extensions::new()), "#source unknown");
    }

    #[test]
    fn a_block_lasts_its_window() {
        let blocked = BlockedSources::default();
        blocked.block("#source a".into(), 7);
        assert!(blocked.blocks("#source a", 7));
        assert!(!blocked.blocks("#source a", 8));
        assert!(!blocked.blocks("#source b", 7));
    }
}
