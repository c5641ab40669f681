//! The facility's approved registry: what hospital IT says should be on the network.
//!
//! Entries come from a CSV export of the facility's asset database (`registry import`) or are
//! approved one by one from what discovery found (`approve`). This module is pure: it checks
//! entries and parses CSV; the store persists them.

pub mod csv_import;

use std::fmt;
use std::str::FromStr;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::classify::Category;

/// Longest free-text field of an entry, in characters.
pub const MAX_FIELD_CHARS: usize = 200;

/// How critical a device is to patient care or operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// No impact on care if it fails.
    Low,
    /// Degraded service.
    Medium,
    /// Care or operations disrupted.
    High,
    /// Failure endangers patients (life support, monitoring).
    LifeCritical,
}

impl Criticality {
    /// Every value, from least to most critical.
    pub const ALL: [Criticality; 4] = [
        Criticality::Low,
        Criticality::Medium,
        Criticality::High,
        Criticality::LifeCritical,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::LifeCritical => "life_critical",
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a criticality.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a criticality (low, medium, high, life_critical)")]
pub struct UnknownCriticality(pub String);

impl FromStr for Criticality {
    type Err = UnknownCriticality;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normal = text.trim().to_lowercase().replace([' ', '-'], "_");
        Criticality::ALL
            .into_iter()
            .find(|value| value.as_str() == normal)
            .ok_or_else(|| UnknownCriticality(text.to_owned()))
    }
}

/// What the registry records about one device, as given by its maintainers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryFields {
    /// Inventory number on the device's label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub asset_tag: String,
    /// Name or description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Declared category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Where it is (building, ward, room).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// Who is responsible for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// How critical it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<Criticality>,
    /// The site it belongs to (an agent certificate's site name); empty: any site. Limits
    /// `do_not_probe` to that site's agents.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub site: String,
    /// Never probe it actively: every agent of its site (of every site if none is named) is
    /// told so in its scan policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub do_not_probe: bool,
}

/// A registry entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryEntry {
    /// The device's MAC: its identity, as in the inventory.
    pub mac: MacAddr,
    /// What its maintainers say of it.
    #[serde(flatten)]
    pub fields: RegistryFields,
    /// When it was first registered.
    pub registered_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Where it came from: `import:<file>` or `approve`.
    pub source: String,
}

/// A `do_not_probe` value that is neither yes nor no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("do_not_probe {0:?} is neither yes nor no (yes, no, true, false, 1, 0; empty is no)")]
pub struct NotYesOrNo(pub String);

/// Reads a yes/no cell: `yes`, `no`, `true`, `false`, `1`, `0` in any case; empty is no.
pub fn parse_yes_no(text: &str) -> Result<bool, NotYesOrNo> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" | "" => Ok(false),
        _ => Err(NotYesOrNo(text.chars().take(64).collect())),
    }
}

/// Checks a free-text field: no control characters, bounded length. Returns it trimmed.
pub fn check_field(name: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err(format!("{name} contains a control character"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!(
            "{name} is longer than {MAX_FIELD_CHARS} characters"
        ));
    }
    Ok(value.to_owned())
}

impl RegistryFields {
    /// Checks every free-text field.
    pub fn check(mut self) -> Result<Self, String> {
        self.asset_tag = check_field("asset_tag", &self.asset_tag)?;
        self.name = check_field("name", &self.name)?;
        self.location = check_field("location", &self.location)?;
        self.owner = check_field("owner", &self.owner)?;
        let site = self.site.trim();
        if !site.is_empty() {
            self.site =
                crate::identity::check_label("site", site).map_err(|error| error.to_string())?;
        } else {
            self.site = String::new();
        }
        Ok(self)
    }

    /// Takes `other`'s value for each of `columns` (import column names), empty ones included:
    /// an import sets what its file has columns for and leaves the rest alone.
    pub fn replace_columns(&mut self, other: RegistryFields, columns: &[&str]) {
        let has = |column: &str| columns.contains(&column);
        if has("asset_tag") {
            self.asset_tag = other.asset_tag;
        }
        if has("name") {
            self.name = other.name;
        }
        if has("category") {
            self.category = other.category;
        }
        if has("location") {
            self.location = other.location;
        }
        if has("owner") {
            self.owner = other.owner;
        }
        if has("criticality") {
            self.criticality = other.criticality;
        }
        if has("site") {
            self.site = other.site;
        }
        if has("do_not_probe") {
            self.do_not_probe = other.do_not_probe;
        }
    }

    /// Overlays the fields `other` sets (for `approve`, which may give only some of them;
    /// `do_not_probe` is given apart, since `false` is a value, not an absence).
    pub fn overlay(&mut self, other: RegistryFields) {
        let take = |mine: &mut String, theirs: String| {
            if !theirs.is_empty() {
                *mine = theirs;
            }
        };
        take(&mut self.asset_tag, other.asset_tag);
        take(&mut self.name, other.name);
        take(&mut self.location, other.location);
        take(&mut self.owner, other.owner);
        take(&mut self.site, other.site);
        if other.category.is_some() {
            self.category = other.category;
        }
        if other.criticality.is_some() {
            self.criticality = other.criticality;
        }
    }
}
