//! The validated `[glpi]` settings (parsed in [`crate::config`]) and which devices they push.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use super::retry::RetryPolicy;
use crate::classify::Category;
use crate::inventory::flags::Flag;
use crate::views::{AssetView, Filter};

/// Where and how to push.
#[derive(Debug, Clone, PartialEq)]
pub struct GlpiSettings {
    /// GLPI's base URL, ending in `/` (the one that serves `front/inventory.php`).
    pub url: Uri,
    /// How often `serve` pushes the changed devices; `None`: only `glpi push` does.
    pub interval: Option<Duration>,
    /// Documents in flight at once.
    pub concurrency: usize,
    /// Longest wait for one reply (and for a connection).
    pub timeout: Duration,
    /// Send zlib-compressed JSON (`application/x-compress-zlib`) rather than plain JSON.
    pub compress: bool,
    /// The CA that signed GLPI's certificate; `None`: the system's trust store.
    pub ca_cert: Option<PathBuf>,
    /// GLPI 11's OAuth2 client credentials, if GLPI asks for authentication.
    pub oauth: Option<OAuthSettings>,
    /// Which devices.
    pub selection: Selection,
    /// GLPI's `tag` (`{site}` stands for the device's site).
    pub tag: Option<String>,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// The delivered digests ([`super::sent`]).
    pub state_file: PathBuf,
    /// The collector's stable `GLPI-Agent-ID` ([`super::agent_id`]).
    pub agent_id_file: PathBuf,
}

impl GlpiSettings {
    /// `POST` target of documents.
    pub fn inventory_endpoint(&self) -> Uri {
        join(&self.url, "front/inventory.php")
    }

    /// The URL the delivered digests are tied to.
    pub fn target(&self) -> String {
        self.url.to_string()
    }
}

/// `base` (ending in `/`) followed by `path`.
pub fn join(base: &Uri, path: &str) -> Uri {
    // Both parts were validated: the result parses.
    format!("{base}{path}")
        .parse()
        .unwrap_or_else(|_| base.clone())
}

/// GLPI 11's OAuth2 client credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// The token endpoint (default: `api.php/token` under the GLPI URL).
    pub token_url: Uri,
    /// The OAuth client's id.
    pub client_id: String,
    /// A file holding the client's secret (its first line).
    pub client_secret_file: PathBuf,
    /// Scope asked for (default `inventory`).
    pub scope: String,
}

/// Which devices are pushed: seen devices (a registered device never seen tells GLPI nothing
/// it does not have) passing every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only devices seen by agents of these sites (as `assets --site`).
    pub sites: BTreeSet<String>,
    /// Only devices of these categories.
    pub categories: BTreeSet<Category>,
    /// Never devices of these kinds (computers a GLPI agent already inventories, say).
    pub exclude_kinds: BTreeSet<String>,
    /// Also unregistered devices with a randomized (locally administered) MAC: phones on guest
    /// Wi-Fi change theirs, and each would become a new GLPI item.
    pub include_randomized: bool,
}

impl Selection {
    /// Whether `view` is pushed.
    pub fn accepts(&self, view: &AssetView) -> bool {
        view.seen
            && (self.sites.is_empty()
                || view.seen_by.iter().any(|agent| {
                    agent
                        .split_once('/')
                        .is_some_and(|(site, _)| self.sites.contains(site))
                }))
            && (self.categories.is_empty() || self.categories.contains(&view.category))
            && !self.exclude_kinds.contains(&view.kind)
            && (self.include_randomized
                || view.managed
                || !view.flags.contains(Flag::RandomizedMac))
    }

    /// The part of the selection the read port filters on in SQL (a single site or category);
    /// [`Selection::accepts`] decides.
    pub fn prefilter(&self) -> Filter {
        let only = |count: usize| count == 1;
        Filter {
            category: self
                .categories
                .iter()
                .next()
                .copied()
                .filter(|_| only(self.categories.len())),
            site: self
                .sites
                .iter()
                .next()
                .cloned()
                .filter(|_| only(self.sites.len())),
            ..Filter::default()
        }
    }
}
