//! Classification rules are data: TOML, embedded by default and extended or overridden by a
//! file the site keeps.
//!
//! ```toml
//! [[rule]]
//! id = "vendor.draeger"            # stable name, shown as evidence
//! vendor = "Draeger"               # matcher: case-insensitive part of the IEEE organization
//! category = "biomedical"          # biomedical | building | iot | it | network | unknown
//! kind = "ventilator"              # optional, snake_case
//! confidence = 0.6                 # (0, 1]
//! ```
//!
//! Exactly one matcher per rule:
//! - `vendor`: part of the IEEE organization name; of several matching vendor rules only the
//!   longest pattern counts (so "Philips Medical" beats "Philips");
//! - `mac_prefix`: a MAC prefix in hex (6, 7 or 9 digits), for blocks whose name says little;
//! - `service`: a DNS-SD service type without `.local`, e.g. `_ipp._tcp`;
//! - `txt_key` (and optionally `txt_value`, a regex on the value): a TXT entry of any service;
//! - `hostname`: a regex on host names.
//!
//! A site file's rule with the id of a default rule replaces it; `disabled = true` removes it.

use std::collections::BTreeMap;
use std::path::Path;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// The defaults, compiled into the collector.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

/// The domains of the hygiene rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Biomedical equipment: monitors, pumps, ventilators, imaging, laboratory.
    Biomedical,
    /// Technical building management: HVAC, BMS, access control, cameras.
    Building,
    /// Other connected objects.
    Iot,
    /// Management IT: workstations, servers, printers, phones.
    It,
    /// Network infrastructure.
    Network,
    /// Not enough evidence.
    Unknown,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 6] = [
        Category::Biomedical,
        Category::Building,
        Category::Iot,
        Category::It,
        Category::Network,
        Category::Unknown,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Biomedical => "biomedical",
            Category::Building => "building",
            Category::Iot => "iot",
            Category::It => "it",
            Category::Network => "network",
            Category::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Category {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|category| category.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a category (biomedical, building, iot, it, network, unknown)"
                )
            })
    }
}

/// The kind of signal a rule reads, from weakest to strongest (ties go to the stronger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The IEEE organization name.
    Vendor,
    /// An explicit MAC prefix.
    MacPrefix,
    /// A host name pattern.
    Hostname,
    /// A DNS-SD service type.
    Service,
    /// A DNS-SD TXT entry.
    Txt,
    /// The category the facility's approved registry declares: what the people responsible
    /// for the device say overrides any guess.
    Registry,
}

/// What a rule matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Lower-cased part of the organization name.
    Vendor(String),
    /// Upper-case hex prefix.
    MacPrefix(String),
    /// Lower-cased service type without `.local`.
    Service(String),
    /// Lower-cased TXT key, and an optional regex on its value.
    Txt(String, Option<Regex>),
    /// Regex on host names.
    Hostname(Regex),
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable name.
    pub id: String,
    /// What it matches.
    pub matcher: Matcher,
    /// What it implies.
    pub category: Category,
    /// Finer kind, if the signal tells.
    pub kind: Option<String>,
    /// How strongly, in (0, 1].
    pub confidence: f64,
}

impl Rule {
    /// The signal the rule reads.
    pub fn signal(&self) -> Signal {
        match self.matcher {
            Matcher::Vendor(_) => Signal::Vendor,
            Matcher::MacPrefix(_) => Signal::MacPrefix,
            Matcher::Service(_) => Signal::Service,
            Matcher::Txt(..) => Signal::Txt,
            Matcher::Hostname(_) => Signal::Hostname,
        }
    }
}

/// Why a rules file is refused; names the rule.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Parse {
        origin: String,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{origin}: rule {id:?}: {reason}")]
    Invalid {
        origin: String,
        id: String,
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    vendor: Option<String>,
    mac_prefix: Option<String>,
    service: Option<String>,
    txt_key: Option<String>,
    txt_value: Option<String>,
    hostname: Option<String>,
    category: Option<Category>,
    kind: Option<String>,
    confidence: Option<f64>,
    #[serde(default)]
    disabled: bool,
}

/// A set of rules: the defaults, possibly changed by a site file.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

fn regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| format!("bad regex {pattern:?}: {error}"))
}

impl RawRule {
    fn check(self) -> Result<Option<Rule>, String> {
        if self.disabled {
            return Ok(None);
        }
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !id_ok {
            return Err("ids use letters, digits, '.', '_' and '-' (at most 64)".into());
        }
        let matchers = [
            self.vendor.is_some(),
            self.mac_prefix.is_some(),
            self.service.is_some(),
            self.txt_key.is_some(),
            self.hostname.is_some(),
        ];
        if matchers.iter().filter(|set| **set).count() != 1 {
            return Err(
                "needs exactly one of vendor, mac_prefix, service, txt_key, hostname".into(),
            );
        }
        if self.txt_value.is_some() && self.txt_key.is_none() {
            return Err("txt_value needs txt_key".into());
        }
        let matcher = if let Some(vendor) = self.vendor {
            if vendor.trim().len() < 3 {
                return Err("a vendor pattern needs at least 3 characters".into());
            }
            Matcher::Vendor(vendor.trim().to_lowercase())
        } else if let Some(prefix) = self.mac_prefix {
            let hex: String = prefix
                .chars()
                .filter(|c| !matches!(c, ':' | '-' | '.'))
                .collect::<String>()
                .to_uppercase();
            if !matches!(hex.len(), 6 | 7 | 9) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("mac_prefix {prefix:?} is not 6, 7 or 9 hex digits"));
            }
            Matcher::MacPrefix(hex)
        } else if let Some(service) = self.service {
            Matcher::Service(
                service
                    .trim()
                    .trim_end_matches('.')
                    .trim_end_matches(".local")
                    .to_lowercase(),
            )
        } else if let Some(key) = self.txt_key {
            let value = self.txt_value.as_deref().map(regex).transpose()?;
            Matcher::Txt(key.to_lowercase(), value)
        } else if let Some(hostname) = self.hostname {
            Matcher::Hostname(regex(&hostname)?)
        } else {
            unreachable!("exactly one matcher was checked above")
        };
        let category = self.category.ok_or("needs a category")?;
        let confidence = self.confidence.ok_or("needs a confidence")?;
        if !(confidence > 0.0 && confidence <= 1.0) {
            return Err(format!("confidence {confidence} is not in (0, 1]"));
        }
        if let Some(kind) = &self.kind {
            let ok = !kind.is_empty()
                && kind.len() <= 40
                && kind
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(format!("kind {kind:?} is not snake_case (at most 40)"));
            }
        }
        Ok(Some(Rule {
            id: self.id,
            matcher,
            category,
            kind: self.kind,
            confidence,
        }))
    }
}

fn parse(text: &str, origin: &str) -> Result<Vec<(String, Option<Rule>)>, RulesError> {
    let file: RulesFile = toml::from_str(text).map_err(|source| RulesError::Parse {
        origin: origin.to_owned(),
        source: Box::new(source),
    })?;
    file.rule
        .into_iter()
        .map(|raw| {
            let id = raw.id.clone();
            raw.check()
                .map(|rule| (id.clone(), rule))
                .map_err(|reason| RulesError::Invalid {
                    origin: origin.to_owned(),
                    id,
                    reason,
                })
        })
        .collect()
}

impl Rules {
    /// The embedded defaults.
    pub fn defaults() -> Result<Self, RulesError> {
        Self::from_texts(&[(DEFAULT_RULES, "default rules")])
    }

    /// The defaults changed by the site file at `path`, if any.
    pub fn load(site: Option<&Path>) -> Result<Self, RulesError> {
        let Some(path) = site else {
            return Self::defaults();
        };
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_texts(&[
            (DEFAULT_RULES, "default rules"),
            (&text, &path.display().to_string()),
        ])
    }

    /// Rules from several texts, later ones replacing earlier rules with the same id.
    pub fn from_texts(texts: &[(&str, &str)]) -> Result<Self, RulesError> {
        let mut by_id: BTreeMap<String, (usize, Option<Rule>)> = BTreeMap::new();
        let mut order = 0;
        for (text, origin) in texts {
            for (id, rule) in parse(text, origin)? {
                let position = by_id.get(&id).map_or(order, |(position, _)| *position);
                by_id.insert(id, (position, rule));
                order += 1;
            }
        }
        let mut rules: Vec<(usize, Rule)> = by_id
            .into_values()
            .filter_map(|(position, rule)| rule.map(|rule| (position, rule)))
            .collect();
        rules.sort_by_key(|(position, _)| *position);
        Ok(Rules {
            rules: rules.into_iter().map(|(_, rule)| rule).collect(),
        })
    }

    /// Every rule, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
