//! `[policy]`: the categories protected from active probing and each site's exclusions.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;
use crate::classify::Category;
use crate::policy::{PolicySettings, SiteExclusions};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicySection {
    /// Categories as the classifier names them: serde refuses any other name, listing them.
    protect_categories: Option<Vec<Category>>,
    #[serde(default)]
    sites: Vec<SiteSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteSection {
    site: String,
    #[serde(default)]
    do_not_probe: Vec<String>,
}

impl PolicySection {
    pub(super) fn validate(self) -> Result<PolicySettings, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            key: "policy.sites".into(),
            reason,
        };
        let mut settings = PolicySettings::default();
        if let Some(categories) = self.protect_categories {
            settings.protect_categories = categories.into_iter().collect();
        }
        let mut sites = BTreeMap::new();
        for section in self.sites {
            let site = crate::identity::check_label("site", &section.site)
                .map_err(|error| invalid(error.to_string()))?;
            let exclusions =
                SiteExclusions::from_entries(section.do_not_probe.iter().map(String::as_str))
                    .map_err(|error| invalid(format!("site {site}: do_not_probe: {error}")))?;
            if sites.insert(site.clone(), exclusions).is_some() {
                return Err(invalid(format!(
                    "site {site} is listed twice: merge its do_not_probe lists"
                )));
            }
        }
        settings.sites = sites;
        Ok(settings)
    }
}
