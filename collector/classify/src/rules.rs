//! Classification rules are data: TOML, embedded by default and extended or overridden by a
//! file the site keeps.
//!
//! ```toml
//! [[rule]]
//! id = "vendor.draeger"            # stable name, shown as evidence
//! vendor = "Draeger"               # the matcher (exactly one per rule, see below)
//! category = "biomedical"          # biomedical | building | iot | it | network | unknown
//! kind = "ventilator"              # optional, snake_case
//! model = "$1"                     # optional: the model the match names ($1: a regex group)
//! confidence = 0.6                 # (0, 1]
//! defers = false                   # optional: true for vendors of many kinds of product
//! ```
//!
//! Matchers, by what they read:
//! - `vendor`: part of the IEEE organization name; of several matching vendor rules only the
//!   longest pattern counts (so "Philips Medical" beats "Philips");
//! - `mac_prefix`: a MAC prefix in hex (6, 7 or 9 digits), for blocks whose name says little;
//! - `hostname`: a regex on the host names the device claimed (mDNS, DHCP option 12, NetBIOS,
//!   LLMNR);
//! - `service`: a DNS-SD service type without `.local`, e.g. `_ipp._tcp`;
//! - `txt_key` (and optionally `txt_value`, a regex on the value): a TXT entry of any service;
//!   `txt_flag`: a regex on a bare TXT string (a flag, no `=`);
//! - `dhcp_fingerprint`: the exact DHCP parameter request list (`"1,3,6,15"`), or
//!   `dhcp_fingerprint_prefix` for lists that start with it; `dhcp_vendor_class`: a regex on
//!   option 60 (or the DHCPv6 vendor class);
//! - `ssdp_server`, `ssdp_user_agent`, `ssdp_type` (the NT of an announcement or ST of a
//!   response: what the device says it is), `ssdp_usn`: regexes on SSDP headers;
//! - `lldp_model`, `lldp_manufacturer` (LLDP-MED inventory), `lldp_description` (system
//!   description), `lldp_capability` (an enabled capability: `telephone`, `router`...);
//! - `cdp_platform` (a regex), `cdp_capability` (`phone`, `router`, `switch`...);
//! - `ipv6_router = true`: the device sends IPv6 router advertisements;
//! - `product`: a regex on every model name the device announced, wherever it put it: the
//!   LLDP-MED model, the LLDP system description, a TXT model key (`ty`, `md`, `usb_MDL`,
//!   `model`, `model_number`, `product`), a TXT flag, the SSDP `SERVER`, the CDP platform, the
//!   DHCP vendor class. One rule per product line, whatever the protocol.
//!
//! `kinds` declares which kinds refine others (`label_printer = "printer"`): a more specific
//! kind wins over the kind it refines whatever their confidences.
//!
//! A site file's rule with the id of a default rule replaces it; `disabled = true` removes it.

use std::collections::BTreeMap;
use std::path::Path;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// The defaults, compiled in.
const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

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

/// The text is not a category name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a category (biomedical, building, iot, it, network, unknown)")]
pub struct UnknownCategory(pub String);

impl std::str::FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|category| category.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownCategory(text.to_owned()))
    }
}

/// What a piece of evidence read, from the most generic signal to the most specific (ties
/// between equally confident evidence go to the more specific).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The IEEE organization name.
    Vendor,
    /// An explicit MAC prefix.
    MacPrefix,
    /// The DHCP parameter request list.
    DhcpFingerprint,
    /// IPv6 router advertisements.
    Ipv6Router,
    /// A host name pattern.
    Hostname,
    /// The DHCP vendor class.
    DhcpVendorClass,
    /// An SSDP SERVER or USER-AGENT header.
    SsdpServer,
    /// A DNS-SD service type.
    Service,
    /// An SSDP notification type or unique service name.
    SsdpType,
    /// A CDP platform or capability.
    Cdp,
    /// An LLDP system description or capability.
    Lldp,
    /// A DNS-SD TXT entry.
    Txt,
    /// A model name the device announced (`product` rules).
    Product,
    /// The LLDP-MED inventory (manufacturer, model).
    LldpMed,
    /// The category the facility's approved registry declares: what the people responsible
    /// for the device say overrides any guess.
    Registry,
}

impl Signal {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Vendor => "vendor",
            Signal::MacPrefix => "mac_prefix",
            Signal::DhcpFingerprint => "dhcp_fingerprint",
            Signal::Ipv6Router => "ipv6_router",
            Signal::Hostname => "hostname",
            Signal::DhcpVendorClass => "dhcp_vendor_class",
            Signal::SsdpServer => "ssdp_server",
            Signal::Service => "service",
            Signal::SsdpType => "ssdp_type",
            Signal::Cdp => "cdp",
            Signal::Lldp => "lldp",
            Signal::Txt => "txt",
            Signal::Product => "product",
            Signal::LldpMed => "lldp_med",
            Signal::Registry => "registry",
        }
    }
}

/// Which SSDP header a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SsdpField {
    Server,
    UserAgent,
    Type,
    Usn,
}

/// Which LLDP field a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LldpField {
    Model,
    Manufacturer,
    Description,
}

/// What a rule matches.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// Lower-cased part of the organization name.
    Vendor(String),
    /// Upper-case hex prefix.
    MacPrefix(String),
    /// Regex on host names.
    Hostname(Regex),
    /// Lower-cased service type without `.local`.
    Service(String),
    /// Lower-cased TXT key, and an optional regex on its value.
    Txt(String, Option<Regex>),
    /// Regex on a bare TXT string.
    TxtFlag(Regex),
    /// The DHCP parameter request list, exactly (`true`) or as a prefix.
    DhcpFingerprint(Vec<u16>, bool),
    /// Regex on the DHCP vendor class.
    DhcpVendorClass(Regex),
    /// Regex on an SSDP header.
    Ssdp(SsdpField, Regex),
    /// Regex on an LLDP field.
    Lldp(LldpField, Regex),
    /// An enabled LLDP capability.
    LldpCapability(String),
    /// Regex on the CDP platform.
    CdpPlatform(Regex),
    /// A CDP capability.
    CdpCapability(String),
    /// Sends IPv6 router advertisements.
    Ipv6Router,
    /// Regex on any announced model name.
    Product(Regex),
}

impl Matcher {
    fn signal(&self) -> Signal {
        match self {
            Matcher::Vendor(_) => Signal::Vendor,
            Matcher::MacPrefix(_) => Signal::MacPrefix,
            Matcher::Hostname(_) => Signal::Hostname,
            Matcher::Service(_) => Signal::Service,
            Matcher::Txt(..) | Matcher::TxtFlag(_) => Signal::Txt,
            Matcher::DhcpFingerprint(..) => Signal::DhcpFingerprint,
            Matcher::DhcpVendorClass(_) => Signal::DhcpVendorClass,
            Matcher::Ssdp(SsdpField::Server | SsdpField::UserAgent, _) => Signal::SsdpServer,
            Matcher::Ssdp(SsdpField::Type | SsdpField::Usn, _) => Signal::SsdpType,
            Matcher::Lldp(LldpField::Model | LldpField::Manufacturer, _) => Signal::LldpMed,
            Matcher::Lldp(LldpField::Description, _) | Matcher::LldpCapability(_) => Signal::Lldp,
            Matcher::CdpPlatform(_) | Matcher::CdpCapability(_) => Signal::Cdp,
            Matcher::Ipv6Router => Signal::Ipv6Router,
            Matcher::Product(_) => Signal::Product,
        }
    }
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable name.
    pub id: String,
    pub(crate) matcher: Matcher,
    /// What it implies.
    pub category: Category,
    /// Finer kind, if the signal tells.
    pub kind: Option<String>,
    /// The model a match names: text, where `$1` (`${name}`) stands for a regex group.
    pub model: Option<String>,
    /// How strongly, in (0, 1].
    pub confidence: f64,
    /// A vendor of many kinds of product (or a maker of network modules built into other
    /// makers' devices): its evidence counts only when nothing else is known.
    pub defers: bool,
}

impl Rule {
    /// The signal the rule reads.
    pub fn signal(&self) -> Signal {
        self.matcher.signal()
    }
}

/// Why a rules file is refused; names the rule.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The site file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML of the rules' shape.
    #[error("{origin}: {source}")]
    Parse {
        /// Which text.
        origin: String,
        /// What the parser said.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A rule breaks a rule of the format.
    #[error("{origin}: rule {id:?}: {reason}")]
    Invalid {
        /// Which text.
        origin: String,
        /// Which rule.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A `kinds` entry is not a pair of snake_case kinds, or makes a loop.
    #[error("{origin}: kinds.{kind}: {reason}")]
    Kind {
        /// Which text.
        origin: String,
        /// The refining kind.
        kind: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    kinds: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    vendor: Option<String>,
    mac_prefix: Option<String>,
    hostname: Option<String>,
    service: Option<String>,
    txt_key: Option<String>,
    txt_value: Option<String>,
    txt_flag: Option<String>,
    dhcp_fingerprint: Option<String>,
    dhcp_fingerprint_prefix: Option<String>,
    dhcp_vendor_class: Option<String>,
    ssdp_server: Option<String>,
    ssdp_user_agent: Option<String>,
    ssdp_type: Option<String>,
    ssdp_usn: Option<String>,
    lldp_model: Option<String>,
    lldp_manufacturer: Option<String>,
    lldp_description: Option<String>,
    lldp_capability: Option<String>,
    cdp_platform: Option<String>,
    cdp_capability: Option<String>,
    ipv6_router: Option<bool>,
    product: Option<String>,
    category: Option<Category>,
    kind: Option<String>,
    model: Option<String>,
    confidence: Option<f64>,
    #[serde(default)]
    defers: bool,
    #[serde(default)]
    disabled: bool,
}

/// A set of rules: the defaults, possibly changed by a site file.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Kind → the more generic kind it refines.
    refines: BTreeMap<String, String>,
}

fn regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| format!("bad regex {pattern:?}: {error}"))
}

fn is_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 40
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn fingerprint(text: &str) -> Result<Vec<u16>, String> {
    let codes = text
        .split(',')
        .map(|code| code.trim().parse::<u16>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("{text:?} is not a comma-separated list of option codes"))?;
    if codes.is_empty() {
        return Err("an empty fingerprint matches nothing".into());
    }
    Ok(codes)
}

fn capability(text: &str) -> Result<String, String> {
    let label = text.trim().to_lowercase();
    if is_kind(&label) {
        Ok(label)
    } else {
        Err(format!("capability {text:?} is not a snake_case label"))
    }
}

impl RawRule {
    fn matcher(&mut self) -> Result<Matcher, String> {
        let mut found: Vec<Matcher> = Vec::new();
        if let Some(vendor) = self.vendor.take() {
            if vendor.trim().len() < 3 {
                return Err("a vendor pattern needs at least 3 characters".into());
            }
            found.push(Matcher::Vendor(vendor.trim().to_lowercase()));
        }
        if let Some(prefix) = self.mac_prefix.take() {
            let hex: String = prefix
                .chars()
                .filter(|c| !matches!(c, ':' | '-' | '.'))
                .collect::<String>()
                .to_uppercase();
            if !matches!(hex.len(), 6 | 7 | 9) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("mac_prefix {prefix:?} is not 6, 7 or 9 hex digits"));
            }
            found.push(Matcher::MacPrefix(hex));
        }
        if let Some(pattern) = self.hostname.take() {
            found.push(Matcher::Hostname(regex(&pattern)?));
        }
        if let Some(service) = self.service.take() {
            found.push(Matcher::Service(
                service
                    .trim()
                    .trim_end_matches('.')
                    .trim_end_matches(".local")
                    .to_lowercase(),
            ));
        }
        let txt_value = self.txt_value.take();
        if let Some(key) = self.txt_key.take() {
            let value = txt_value.as_deref().map(regex).transpose()?;
            found.push(Matcher::Txt(key.to_lowercase(), value));
        } else if txt_value.is_some() {
            return Err("txt_value needs txt_key".into());
        }
        if let Some(pattern) = self.txt_flag.take() {
            found.push(Matcher::TxtFlag(regex(&pattern)?));
        }
        if let Some(list) = self.dhcp_fingerprint.take() {
            found.push(Matcher::DhcpFingerprint(fingerprint(&list)?, true));
        }
        if let Some(list) = self.dhcp_fingerprint_prefix.take() {
            found.push(Matcher::DhcpFingerprint(fingerprint(&list)?, false));
        }
        if let Some(pattern) = self.dhcp_vendor_class.take() {
            found.push(Matcher::DhcpVendorClass(regex(&pattern)?));
        }
        for (field, pattern) in [
            (SsdpField::Server, self.ssdp_server.take()),
            (SsdpField::UserAgent, self.ssdp_user_agent.take()),
            (SsdpField::Type, self.ssdp_type.take()),
            (SsdpField::Usn, self.ssdp_usn.take()),
        ] {
            if let Some(pattern) = pattern {
                found.push(Matcher::Ssdp(field, regex(&pattern)?));
            }
        }
        for (field, pattern) in [
            (LldpField::Model, self.lldp_model.take()),
            (LldpField::Manufacturer, self.lldp_manufacturer.take()),
            (LldpField::Description, self.lldp_description.take()),
        ] {
            if let Some(pattern) = pattern {
                found.push(Matcher::Lldp(field, regex(&pattern)?));
            }
        }
        if let Some(label) = self.lldp_capability.take() {
            found.push(Matcher::LldpCapability(capability(&label)?));
        }
        if let Some(pattern) = self.cdp_platform.take() {
            found.push(Matcher::CdpPlatform(regex(&pattern)?));
        }
        if let Some(label) = self.cdp_capability.take() {
            found.push(Matcher::CdpCapability(capability(&label)?));
        }
        if let Some(pattern) = self.product.take() {
            found.push(Matcher::Product(regex(&pattern)?));
        }
        match self.ipv6_router.take() {
            Some(true) => found.push(Matcher::Ipv6Router),
            Some(false) => return Err("ipv6_router = false matches nothing; leave it out".into()),
            None => {}
        }
        let count = found.len();
        match (found.pop(), count) {
            (Some(matcher), 1) => Ok(matcher),
            _ => Err(format!(
                "needs exactly one matcher ({count} given): vendor, mac_prefix, hostname, service, \
                 txt_key, txt_flag, dhcp_fingerprint, dhcp_fingerprint_prefix, dhcp_vendor_class, \
                 ssdp_server, ssdp_user_agent, ssdp_type, ssdp_usn, lldp_model, lldp_manufacturer, \
                 lldp_description, lldp_capability, cdp_platform, cdp_capability, ipv6_router, product"
            )),
        }
    }

    fn check(mut self) -> Result<Option<Rule>, String> {
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
        let matcher = self.matcher()?;
        let category = self.category.ok_or("needs a category")?;
        let confidence = self.confidence.ok_or("needs a confidence")?;
        if !(confidence > 0.0 && confidence <= 1.0) {
            return Err(format!("confidence {confidence} is not in (0, 1]"));
        }
        if let Some(kind) = &self.kind
            && !is_kind(kind)
        {
            return Err(format!("kind {kind:?} is not snake_case (at most 40)"));
        }
        if let Some(model) = &self.model
            && (model.trim().is_empty() || model.len() > 64)
        {
            return Err("a model template holds 1 to 64 bytes".into());
        }
        if self.defers && category == Category::Biomedical {
            // A deferring rule names no domain with certainty; biomedical needs evidence.
            return Err("a deferring rule cannot say biomedical".into());
        }
        Ok(Some(Rule {
            id: self.id,
            matcher,
            category,
            kind: self.kind,
            model: self.model,
            confidence,
            defers: self.defers,
        }))
    }
}

type Parsed = (Vec<(String, Option<Rule>)>, BTreeMap<String, String>);

fn parse(text: &str, origin: &str) -> Result<Parsed, RulesError> {
    let file: RulesFile = toml::from_str(text).map_err(|source| RulesError::Parse {
        origin: origin.to_owned(),
        source: Box::new(source),
    })?;
    for (kind, generic) in &file.kinds {
        if !is_kind(kind) || !is_kind(generic) || kind == generic {
            return Err(RulesError::Kind {
                origin: origin.to_owned(),
                kind: kind.clone(),
                reason: format!(
                    "{kind:?} = {generic:?} is not a pair of distinct snake_case kinds"
                ),
            });
        }
    }
    let rules = file
        .rule
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
        .collect::<Result<_, _>>()?;
    Ok((rules, file.kinds))
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

    /// Rules from several texts, later ones replacing earlier rules with the same id (and
    /// adding to the kinds table).
    pub fn from_texts(texts: &[(&str, &str)]) -> Result<Self, RulesError> {
        let mut by_id: BTreeMap<String, (usize, Option<Rule>)> = BTreeMap::new();
        let mut refines = BTreeMap::new();
        let mut order = 0;
        for (text, origin) in texts {
            let (rules, kinds) = parse(text, origin)?;
            for (id, rule) in rules {
                let position = by_id.get(&id).map_or(order, |(position, _)| *position);
                by_id.insert(id, (position, rule));
                order += 1;
            }
            refines.extend(kinds);
            if let Some(kind) = refines
                .keys()
                .find(|kind| generic_chain_loops(&refines, kind))
            {
                return Err(RulesError::Kind {
                    origin: (*origin).to_owned(),
                    kind: kind.clone(),
                    reason: "refinements make a loop".into(),
                });
            }
        }
        let mut rules: Vec<(usize, Rule)> = by_id
            .into_values()
            .filter_map(|(position, rule)| rule.map(|rule| (position, rule)))
            .collect();
        rules.sort_by_key(|(position, _)| *position);
        Ok(Rules {
            rules: rules.into_iter().map(|(_, rule)| rule).collect(),
            refines,
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

    /// Whether `specific` refines `generic` (directly or through other kinds).
    pub fn refines(&self, specific: &str, generic: &str) -> bool {
        let mut kind = specific;
        // The table has no loop (checked when loaded); the bound is a second guard.
        for _ in 0..self.refines.len() {
            match self.refines.get(kind) {
                Some(parent) if parent == generic => return true,
                Some(parent) => kind = parent,
                None => return false,
            }
        }
        false
    }
}

fn generic_chain_loops(refines: &BTreeMap<String, String>, start: &str) -> bool {
    let mut kind = start;
    for _ in 0..=refines.len() {
        match refines.get(kind) {
            Some(parent) if parent == start => return true,
            Some(parent) => kind = parent,
            None => return false,
        }
    }
    true
}
