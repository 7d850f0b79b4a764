//! Which address a request comes from.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The client's address: `peer` (the socket's), unless `peer` is in `trusted_proxies`; then the
/// `X-Forwarded-For` entries are read from the right, skipping trusted proxies, and the first
/// untrusted one is the client. Entries a client wrote to the left of it are never used, so a
/// direct client (or one behind a trusted proxy) cannot choose its address. When every entry
/// is trusted, the leftmost is taken; an unreadable entry stops the walk at the last trusted hop.
/// Without a `peer` there is no client address (and no per-IP limit, see
/// [`crate::http::ApiRequest::peer_ip`]): `X-Forwarded-For` alone is never believed.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let mut client = peer.map(|ip| ip.to_canonical())?;
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&client) {
        return Some(client);
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop.trim()) else {
            break;
        };
        client = ip;
        if !trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    None
}

/// The rate-limit key of an address: the address itself for IPv4, its /64 for IPv6.
pub fn rate_key_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = headers(&["9.9.9.9"]);
        assert_eq!(client_ip(Some(ip("1.2.3.4")), &h, &[]), Some(ip("1.2.3.4")));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_wins() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client forged "6.6.6.6"; the proxy appended the address it saw.
        let h = headers(&["6.6.6.6, 5.5.5.5", "10.0.0.7"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &h, &trusted),
            Some(ip("5.5.5.5"))
        );
        // From an untrusted peer the header is not read at all.
        assert_eq!(
            client_ip(Some(ip("7.7.7.7")), &h, &trusted),
            Some(ip("7.7.7.7"))
        );
        // All trusted: the leftmost. Garbage: the last trusted hop.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &headers(&["10.1.1.1"]), &trusted),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &headers(&["x, 10.2.2.2"]), &trusted),
            Some(ip("10.2.2.2"))
        );
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.1")),
                &headers(&["[2001:db8::1]:443"]),
                &trusted
            ),
            Some(ip("2001:db8::1"))
        );
    }

    #[test]
    fn ipv6_is_keyed_on_its_64() {
        assert_eq!(rate_key_of(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(rate_key_of(ip("::ffff:1.2.3.4").to_canonical()), "1.2.3.4");
    }
}
