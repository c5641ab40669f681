//! `[glpi]`: where the collector pushes its devices, how often, and which ones.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use serde::Deserialize;

use super::ConfigError;
use crate::classify::Category;
use crate::glpi::retry::RetryPolicy;
use crate::glpi::sent::SentState;
use crate::glpi::settings::join;
use crate::glpi::{GlpiSettings, OAuthSettings, Selection};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GlpiSection {
    url: String,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    concurrency: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    compress: Option<bool>,
    ca_cert: Option<PathBuf>,
    tag: Option<String>,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    categories: Vec<Category>,
    #[serde(default)]
    exclude_kinds: Vec<String>,
    #[serde(default)]
    include_randomized: bool,
    attempts: Option<u32>,
    oauth: Option<OAuthSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthSection {
    client_id: String,
    client_secret_file: PathBuf,
    token_url: Option<String>,
    scope: Option<String>,
}

/// Most documents in flight: GLPI handles each in a database transaction of its own.
const MAX_CONCURRENCY: usize = 32;
/// The shortest interval between scheduled pushes.
const MIN_INTERVAL: Duration = Duration::from_secs(60);

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// A base URL: http or https, a host, no query; returned ending in `/`.
fn base_url(key: &'static str, text: &str) -> Result<Uri, ConfigError> {
    let trimmed = text.trim();
    let with_slash = if trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    };
    let uri: Uri = with_slash.parse().map_err(|_| {
        invalid(
            key,
            format!("{text:?} is not a URL such as https://glpi.example.org/"),
        )
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(invalid(
                key,
                format!("{text:?} must start with https:// (or http://)"),
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(key, format!("{text:?} names no host")));
    }
    if uri.query().is_some() {
        return Err(invalid(
            key,
            format!("{text:?} must not hold a query (?...)"),
        ));
    }
    Ok(uri)
}

fn is_loopback(uri: &Uri) -> bool {
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl GlpiSection {
    pub(super) fn validate(self, data_dir: &Path) -> Result<GlpiSettings, ConfigError> {
        let url = base_url("glpi.url", &self.url)?;
        if let Some(interval) = self.interval
            && interval < MIN_INTERVAL
        {
            return Err(invalid(
                "glpi.interval",
                "must be at least 1min (GLPI handles each document in a transaction; a push every few seconds only loads it)",
            ));
        }
        let concurrency = self.concurrency.unwrap_or(4);
        if concurrency == 0 || concurrency > MAX_CONCURRENCY {
            return Err(invalid(
                "glpi.concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        let timeout = self.timeout.unwrap_or(Duration::from_secs(30));
        if timeout.is_zero() {
            return Err(invalid("glpi.timeout", "must be longer than zero"));
        }
        let attempts = self.attempts.unwrap_or(RetryPolicy::default().attempts);
        if attempts == 0 || attempts > 20 {
            return Err(invalid("glpi.attempts", "must be between 1 and 20"));
        }
        let mut sites = BTreeSet::new();
        for site in self.sites {
            let site = crate::identity::check_label("site", &site)
                .map_err(|error| invalid("glpi.sites", error.to_string()))?;
            sites.insert(site);
        }
        let mut exclude_kinds = BTreeSet::new();
        for kind in self.exclude_kinds {
            let valid = !kind.is_empty()
                && kind
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(invalid(
                    "glpi.exclude_kinds",
                    format!("{kind:?} is not a kind (snake_case, as `assets` shows them)"),
                ));
            }
            exclude_kinds.insert(kind);
        }
        if let Some(tag) = &self.tag
            && (tag.trim().is_empty() || tag.chars().any(hygie_proto::is_unsafe_char))
        {
            return Err(invalid(
                "glpi.tag",
                "must be printable text (`{site}` stands for the device's site)",
            ));
        }
        let oauth = match self.oauth {
            Some(section) => {
                if section.client_id.trim().is_empty() {
                    return Err(invalid("glpi.oauth.client_id", "must not be empty"));
                }
                let token_url = match &section.token_url {
                    Some(text) => {
                        let uri = base_url("glpi.oauth.token_url", text)?;
                        // A token endpoint is a resource, not a base: drop the slash added.
                        text.trim().parse().unwrap_or(uri)
                    }
                    None => join(&url, "api.php/token"),
                };
                for (key, uri) in [("glpi.url", &url), ("glpi.oauth.token_url", &token_url)] {
                    if uri.scheme_str() == Some("http") && !is_loopback(uri) {
                        return Err(invalid(
                            key,
                            "must be https:// with [glpi.oauth]: the client's secret and tokens must not cross the network in clear",
                        ));
                    }
                }
                Some(OAuthSettings {
                    token_url,
                    client_id: section.client_id,
                    client_secret_file: data_dir.join(section.client_secret_file),
                    scope: section.scope.unwrap_or_else(|| "inventory".to_owned()),
                })
            }
            None => None,
        };
        Ok(GlpiSettings {
            url,
            interval: self.interval,
            concurrency,
            timeout,
            compress: self.compress.unwrap_or(true),
            ca_cert: self.ca_cert.map(|path| data_dir.join(path)),
            oauth,
            selection: Selection {
                sites,
                categories: self.categories.into_iter().collect(),
                exclude_kinds,
                include_randomized: self.include_randomized,
            },
            tag: self.tag,
            retry: RetryPolicy {
                attempts,
                ..RetryPolicy::default()
            },
            state_file: SentState::path_in(data_dir),
            agent_id_file: data_dir.join("glpi-agent-id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::CollectorConfig;
    use super::*;

    fn parse(text: &str) -> Result<CollectorConfig, ConfigError> {
        CollectorConfig::from_toml(text, Path::new("/etc/hygie"))
    }

    #[test]
    fn a_glpi_section_resolves_its_urls_paths_and_selection() {
        let config = parse(
            r#"
            data_dir = "/var/lib/hygie-collector"
            [glpi]
            url = "https://glpi.chu.example/glpi"
            interval = "1h"
            ca_cert = "/etc/hygie/glpi-ca.pem"
            tag = "hygie-{site}"
            sites = ["chu-nord"]
            categories = ["biomedical", "network"]
            exclude_kinds = ["workstation"]
            [glpi.oauth]
            client_id = "hygie"
            client_secret_file = "glpi-oauth.secret"
            "#,
        )
        .unwrap();
        let glpi = config.glpi.unwrap();
        assert_eq!(glpi.url.to_string(), "https://glpi.chu.example/glpi/");
        assert_eq!(
            glpi.inventory_endpoint().to_string(),
            "https://glpi.chu.example/glpi/front/inventory.php"
        );
        let oauth = glpi.oauth.unwrap();
        assert_eq!(
            oauth.token_url.to_string(),
            "https://glpi.chu.example/glpi/api.php/token"
        );
        assert_eq!(oauth.scope, "inventory");
        assert_eq!(
            oauth.client_secret_file,
            Path::new("/var/lib/hygie-collector/glpi-oauth.secret")
        );
        assert_eq!(glpi.interval, Some(Duration::from_secs(3600)));
        assert_eq!(glpi.concurrency, 4);
        assert!(glpi.compress);
        assert_eq!(
            glpi.state_file,
            Path::new("/var/lib/hygie-collector/glpi-sent.sqlite")
        );
        assert_eq!(glpi.selection.categories.len(), 2);
        assert!(!glpi.selection.include_randomized);
        assert!(parse("").unwrap().glpi.is_none());
    }

    #[test]
    fn the_packaged_glpi_example_is_valid_once_uncommented() {
        let text = include_str!("../../../packaging/collector.toml");
        let example = &text[text.find("# [glpi]").unwrap()..];
        // Up to the next section's example.
        let example = example
            .find("# [console]")
            .map_or(example, |end| &example[..end]);
        let key = regex::Regex::new(r"^# ([a-z_]+ = .*|\[glpi(\.oauth)?\])$").unwrap();
        let uncommented: Vec<&str> = example
            .lines()
            .filter_map(|line| key.captures(line).and_then(|found| found.get(1)))
            .map(|found| found.as_str())
            .collect();
        assert!(uncommented.len() > 15, "{uncommented:?}");
        let config = CollectorConfig::from_toml(&uncommented.join("\n"), Path::new("/etc/hygie"))
            .unwrap_or_else(|error| panic!("{error}\n{}", uncommented.join("\n")));
        let glpi = config.glpi.unwrap();
        assert_eq!(
            glpi.inventory_endpoint().to_string(),
            "https://glpi.chu.example/front/inventory.php"
        );
        assert!(glpi.oauth.is_some());
    }

    #[test]
    fn bad_glpi_settings_are_refused_with_what_to_do() {
        let refused = |text: &str| hygie_proto::error_chain(&parse(text).unwrap_err());
        assert_eq!(
            refused("[glpi]\nurl = \"ftp://glpi\""),
            "glpi.url: \"ftp://glpi\" must start with https:// (or http://)"
        );
        assert!(
            refused("[glpi]\nurl = \"https://glpi/\"\ninterval = \"5s\"")
                .starts_with("glpi.interval: must be at least 1min")
        );
        assert_eq!(
            refused("[glpi]\nurl = \"https://glpi/\"\nconcurrency = 0"),
            "glpi.concurrency: must be between 1 and 32"
        );
        assert!(
            refused("[glpi]\nurl = \"http://glpi.chu.example/\"\n[glpi.oauth]\nclient_id = \"a\"\nclient_secret_file = \"s\"")
                .contains("must be https:// with [glpi.oauth]")
        );
        // Loopback is allowed in clear (a local reverse proxy, the tests).
        assert!(parse("[glpi]\nurl = \"http://127.0.0.1:8080/\"\n[glpi.oauth]\nclient_id = \"a\"\nclient_secret_file = \"s\"").is_ok());
        assert!(
            refused("[glpi]\nurl = \"https://glpi/\"\ncategories = [\"biomed\"]")
                .contains("unknown variant `biomed`")
        );
        assert!(
            refused("[glpi]\nurl = \"https://glpi/\"\nexclude_kinds = [\"Work Station\"]")
                .contains("is not a kind")
        );
        assert!(
            refused("[glpi]\nurl = \"https://glpi/\"\npassword = \"x\"")
                .contains("unknown field `password`")
        );
        assert!(refused("[glpi]\ninterval = \"1h\"").contains("missing field `url`"));
    }
}
