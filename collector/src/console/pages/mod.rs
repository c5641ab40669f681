//! One module per page, and the rows several pages share.

pub(crate) mod asset;
pub(crate) mod assets;
mod download;
pub(crate) mod events;
pub(crate) mod import;
pub(crate) mod overview;
pub(crate) mod registry;
pub(crate) mod snapshots;

use crate::views::AssetView;

use super::html::when;

/// One asset as a table row shows it (every text device-supplied, escaped by the template).
#[derive(Debug, Clone)]
pub(crate) struct AssetRow {
    pub(crate) mac: String,
    pub(crate) ips: String,
    pub(crate) hostname: String,
    pub(crate) vendor: String,
    pub(crate) category: String,
    pub(crate) kind: String,
    pub(crate) model: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) name: String,
    pub(crate) last_seen: String,
}

impl AssetRow {
    pub(crate) fn of(view: &AssetView) -> Self {
        let mut ips: Vec<String> = view.ips.iter().take(3).map(ToString::to_string).collect();
        if view.ips.len() > 3 {
            ips.push(format!("+{}", view.ips.len() - 3));
        }
        AssetRow {
            mac: view.mac.to_string(),
            ips: ips.join(", "),
            hostname: view.hostnames.first().cloned().unwrap_or_default(),
            vendor: view.vendor.clone().unwrap_or_default(),
            category: view.category.as_str().to_owned(),
            kind: view.kind.clone(),
            model: view.identity.model.clone().unwrap_or_default(),
            flags: view.flags.iter().map(|flag| flag.as_str()).collect(),
            name: view
                .registry
                .as_ref()
                .map(|fields| fields.name.clone())
                .unwrap_or_default(),
            last_seen: view.last_seen.map(when).unwrap_or_else(|| "never".into()),
        }
    }
}
