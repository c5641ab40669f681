//! Single sign-on through a reverse proxy: the user a trusted proxy names in a header.
//!
//! Invariants (tests below are named after them):
//! 1. The header is believed only on connections whose peer address is one of the configured
//!    proxies'; from anywhere else it is ignored (and the request signs in as usual), so a
//!    client reaching the console directly cannot name itself.
//! 2. The named user must be a local account, whose role applies (the proxy says who, the
//!    console decides what): a name that is not a valid account name, or has no account, is
//!    refused, never mapped to a default role.
//! 3. A proxied user gets an ordinary session (its CSRF token, its expiry, ended when the
//!    account changes), kept for them while the proxy keeps naming them, so every change
//!    still needs the page's token.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use super::accounts::check_name;

/// Which proxy to believe, and which header of its requests names the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTrust {
    /// The header (`X-Remote-User`, `X-Forwarded-User`...), lower case.
    pub header: axum::http::HeaderName,
    /// The proxies' addresses.
    pub from: Vec<IpNet>,
}

/// What a request's proxy header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proxied {
    /// Not from a trusted proxy, or without the header: sign in as usual (Invariant 1).
    No,
    /// The proxy names this account name.
    User(String),
    /// The proxy names something that cannot be an account name (Invariant 2).
    BadName,
}

impl ProxyTrust {
    /// Whether `peer` is one of the proxies (IPv4-mapped IPv6 peers count as IPv4).
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.from.iter().any(|net| net.contains(&peer))
    }

    /// The user a request from `peer` is named as (Invariants 1 and 2).
    pub(crate) fn user(&self, peer: IpAddr, headers: &HeaderMap) -> Proxied {
        if !self.trusts(peer) {
            return Proxied::No;
        }
        let mut values = headers.get_all(&self.header).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            // None, or several: a proxy sets exactly one.
            return if headers.contains_key(&self.header) {
                Proxied::BadName
            } else {
                Proxied::No
            };
        };
        match value.to_str().ok().map(str::trim).map(check_name) {
            Some(Ok(name)) => Proxied::User(name.to_owned()),
            _ => Proxied::BadName,
        }
    }
}

/// The session cookie kept for each proxied user (Invariant 3): the proxy has no cookie of
/// ours to send back, so the console remembers which session is theirs.
#[derive(Debug, Default)]
pub(crate) struct ProxySessions {
    by_user: HashMap<String, String>,
}

impl ProxySessions {
    /// The session cookie kept for `user`, if any.
    pub(crate) fn cookie(&self, user: &str) -> Option<&str> {
        self.by_user.get(user).map(String::as_str)
    }

    /// Keeps `cookie` as `user`'s session.
    pub(crate) fn keep(&mut self, user: &str, cookie: String) {
        self.by_user.insert(user.to_owned(), cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> ProxyTrust {
        ProxyTrust {
            header: "x-remote-user".parse().unwrap(),
            from: vec![
                "198.18.0.1/32".parse().unwrap(),
                "fd00::/64".parse().unwrap(),
            ],
        }
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("X-Remote-User", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn invariant_1_only_the_proxys_connections_name_a_user() {
        let proxy = trust();
        let named = headers(&["bruno"]);
        assert_eq!(
            proxy.user("198.18.0.1".parse().unwrap(), &named),
            Proxied::User("bruno".into())
        );
        assert_eq!(
            proxy.user("::ffff:198.18.0.1".parse().unwrap(), &named),
            Proxied::User("bruno".into()),
            "an IPv4 proxy on a dual-stack listener"
        );
        assert_eq!(
            proxy.user("fd00::7".parse().unwrap(), &named),
            Proxied::User("bruno".into())
        );
        for elsewhere in ["198.18.0.2", "127.0.0.1", "fd01::1"] {
            assert_eq!(
                proxy.user(elsewhere.parse().unwrap(), &named),
                Proxied::No,
                "{elsewhere}"
            );
        }
        assert_eq!(
            proxy.user("198.18.0.1".parse().unwrap(), &HeaderMap::new()),
            Proxied::No,
            "the proxy's own requests without the header sign in as usual"
        );
    }

    #[test]
    fn invariant_2_what_cannot_be_an_account_is_refused() {
        let proxy = trust();
        let peer = "198.18.0.1".parse().unwrap();
        for bad in ["", "bruno smith", "<script>", "a\u{202e}b"] {
            let mut map = HeaderMap::new();
            if let Ok(value) = axum::http::HeaderValue::from_str(bad) {
                map.insert("x-remote-user", value);
            } else {
                continue;
            }
            assert_eq!(proxy.user(peer, &map), Proxied::BadName, "{bad:?}");
        }
        let mut latin1 = HeaderMap::new();
        latin1.insert(
            "x-remote-user",
            axum::http::HeaderValue::from_bytes(b"br\xfcno").unwrap(),
        );
        assert_eq!(proxy.user(peer, &latin1), Proxied::BadName);
        assert_eq!(
            proxy.user(peer, &headers(&["bruno", "ada"])),
            Proxied::BadName,
            "two names are no name"
        );
    }

    #[test]
    fn invariant_3_a_proxied_users_session_is_kept_for_them() {
        let mut sessions = ProxySessions::default();
        assert_eq!(sessions.cookie("bruno"), None);
        sessions.keep("bruno", "c1".into());
        sessions.keep("bruno", "c2".into());
        assert_eq!(sessions.cookie("bruno"), Some("c2"));
        assert_eq!(sessions.cookie("ada"), None);
    }
}
