//! What an alert says: an event of the log, with the facts of its asset as the inventory shows
//! them when the alert is made. Pure.

use std::net::IpAddr;
use std::time::Duration;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::Deserialize;

use crate::audit::{Event, EventKind, Hash};
use crate::classify::Category;
use crate::inventory::flags::{Flag, FlagSet};
use crate::registry::RegistryFields;
use crate::views::AssetView;

/// One message a sink sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// An event the sink's rules selected.
    Alert(Box<Alert>),
    /// Alerts held back by the rate limit, counted.
    Summary(Summary),
    /// `hygie-collector alerts test`: checks the way to the receiver; no event behind it.
    Test,
}

/// How bad it is, as syslog severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// 3: alerts were lost (none today: losses are logged, not sent).
    Error = 3,
    /// 4: an unknown device, an address conflict, alerts suppressed.
    Warning = 4,
    /// 5: a registered device missing, an address change, a registry change.
    Notice = 5,
    /// 6: a flag cleared, a test.
    Informational = 6,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "info",
        }
    }
}

/// Alerts the rate limit held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many.
    pub count: u64,
    /// Id of the first event held back.
    pub first_id: i64,
    /// Id of the last one.
    pub last_id: i64,
    /// How long they were gathered.
    pub window: Duration,
}

impl Summary {
    /// The sentence sent.
    pub fn text(&self) -> String {
        format!(
            "{} more alerts suppressed by the rate limit in the last {} s; see the event log from id {} to {} (hygie-collector events)",
            thousands(self.count),
            self.window.as_secs().max(1),
            self.first_id,
            self.last_id
        )
    }
}

/// `1234567` as `1,234,567`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An event to alert on, with its asset's facts. Strings come from devices and operators: the
/// formats neutralise them ([`crate::safe`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The event's id: the key receivers deduplicate on.
    pub event_id: i64,
    /// The event's hash in the chain.
    pub event_hash: Hash,
    /// When the event was recorded.
    pub at: Timestamp,
    /// What kind of event.
    pub kind: EventKind,
    /// The flag raised or cleared; for a new asset, the first of the flags it arrived with.
    pub flag: Option<Flag>,
    /// Flags the event raised (a new asset's initial flags count as raised).
    pub raised: FlagSet,
    /// The asset it is about.
    pub mac: Option<MacAddr>,
    /// The asset as the inventory shows it now (none for an asset it does not know).
    pub asset: Option<AssetFacts>,
    /// For a console account's change: whose, and who made it.
    pub account: Option<AccountFacts>,
}

/// What an account event says (never a password: the events hold none).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountFacts {
    /// The account's name.
    pub name: String,
    /// Its role (after a change; when removed, the one it had).
    pub role: String,
    /// The role before a change that altered it.
    #[serde(default)]
    pub role_before: Option<String>,
    /// On a change: whether the password was replaced.
    #[serde(default)]
    pub password_changed: bool,
    /// Who made the change.
    #[serde(default)]
    pub by: Option<String>,
}

/// What the inventory knows of the asset of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetFacts {
    /// Addresses, most recently seen first.
    pub ips: Vec<IpAddr>,
    /// Most recent host name.
    pub hostname: Option<String>,
    /// IEEE organisation of the MAC.
    pub vendor: Option<String>,
    /// Category.
    pub category: Category,
    /// Site: of the agent that saw it, or of its registry entry.
    pub site: Option<String>,
    /// Agent that saw it (`site/name`).
    pub agent: Option<String>,
    /// Its current flags.
    pub flags: FlagSet,
    /// In the registry.
    pub managed: bool,
    /// Its registry name.
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct FlagDetails {
    flag: Flag,
}

#[derive(Deserialize)]
struct NewAssetDetails {
    #[serde(default)]
    flags: Vec<Flag>,
}

#[derive(Deserialize)]
struct RegistryDetails {
    before: Option<RegistryFields>,
    after: Option<RegistryFields>,
}

impl Alert {
    /// The alert of `event`, with `view` its asset as the inventory shows it (if any). `None`
    /// for a kind this collector does not know.
    pub fn build(event: &Event, view: Option<&AssetView>) -> Option<Alert> {
        let kind = event.known_kind()?;
        let (flag, raised) = match kind {
            EventKind::FlagRaised | EventKind::FlagCleared => {
                let flag = serde_json::from_str::<FlagDetails>(&event.details)
                    .ok()
                    .map(|details| details.flag);
                let mut raised = FlagSet::EMPTY;
                if let (EventKind::FlagRaised, Some(flag)) = (kind, flag) {
                    raised.insert(flag);
                }
                (flag, raised)
            }
            EventKind::AssetNew => {
                let mut raised = FlagSet::EMPTY;
                if let Ok(details) = serde_json::from_str::<NewAssetDetails>(&event.details) {
                    for flag in details.flags {
                        raised.insert(flag);
                    }
                }
                (raised.iter().next(), raised)
            }
            _ => (None, FlagSet::EMPTY),
        };
        let registry = matches!(
            kind,
            EventKind::RegistryAdded | EventKind::RegistryUpdated | EventKind::RegistryRemoved
        )
        .then(|| serde_json::from_str::<RegistryDetails>(&event.details).ok())
        .flatten()
        .and_then(|details| details.after.or(details.before));
        let asset = view
            .map(AssetFacts::of)
            .or_else(|| registry.as_ref().map(AssetFacts::of_registry));
        let account = matches!(
            kind,
            EventKind::AccountAdded | EventKind::AccountChanged | EventKind::AccountRemoved
        )
        .then(|| serde_json::from_str::<AccountFacts>(&event.details).ok())
        .flatten();
        Some(Alert {
            event_id: event.id,
            event_hash: event.hash,
            at: event.at,
            kind,
            flag,
            raised,
            mac: event.mac,
            asset,
            account,
        })
    }

    /// How bad it is.
    pub fn severity(&self) -> Severity {
        match (self.kind, self.flag) {
            (
                EventKind::FlagRaised | EventKind::AssetNew,
                Some(Flag::Unmanaged | Flag::ArpConflict),
            ) => Severity::Warning,
            (EventKind::FlagCleared | EventKind::AssetNew | EventKind::AddressNew, _) => {
                Severity::Informational
            }
            _ => Severity::Notice,
        }
    }

    /// The category, if the asset is known.
    pub fn category(&self) -> Option<Category> {
        self.asset.as_ref().map(|asset| asset.category)
    }

    /// The site, if known.
    pub fn site(&self) -> Option<&str> {
        self.asset.as_ref().and_then(|asset| asset.site.as_deref())
    }

    /// One sentence for people (before neutralisation).
    pub fn text(&self) -> String {
        let mac = self
            .mac
            .map_or_else(|| "-".to_owned(), |mac| mac.to_string());
        let flag = self.flag.map_or("?", Flag::as_str);
        let what = match self.kind {
            EventKind::FlagRaised if self.flag == Some(Flag::Unmanaged) => {
                format!("unmanaged device {mac} (not in the registry)")
            }
            EventKind::FlagRaised => format!("flag {flag} raised on {mac}"),
            EventKind::FlagCleared => format!("flag {flag} cleared on {mac}"),
            EventKind::AssetNew if self.raised.contains(Flag::Unmanaged) => {
                format!("new unmanaged device {mac} (not in the registry)")
            }
            EventKind::AssetNew => format!("new asset {mac}"),
            EventKind::RegistryAdded => format!("registry entry {mac} added"),
            EventKind::RegistryUpdated => format!("registry entry {mac} updated"),
            EventKind::RegistryRemoved => format!("registry entry {mac} removed"),
            kind @ (EventKind::AccountAdded
            | EventKind::AccountChanged
            | EventKind::AccountRemoved) => self.account_text(kind),
            other => format!("{other} {mac}"),
        };
        let Some(asset) = &self.asset else {
            return what;
        };
        let mut facts = Vec::new();
        if let Some(name) = &asset.name {
            facts.push(format!("name {name}"));
        }
        if let Some(ip) = asset.ips.first() {
            facts.push(format!("ip {ip}"));
        }
        if let Some(hostname) = &asset.hostname {
            facts.push(format!("host {hostname}"));
        }
        if let Some(vendor) = &asset.vendor {
            facts.push(format!("vendor {vendor}"));
        }
        facts.push(format!("category {}", asset.category));
        if let Some(agent) = &asset.agent {
            facts.push(format!("seen by {agent}"));
        } else if let Some(site) = &asset.site {
            facts.push(format!("site {site}"));
        }
        format!("{what}: {}", facts.join(", "))
    }
}

impl Alert {
    /// `console account bruno added (biomed) by alice (sudo)`.
    fn account_text(&self, kind: EventKind) -> String {
        let Some(account) = &self.account else {
            return kind.to_string();
        };
        let (name, role) = (&account.name, &account.role);
        let what = match (kind, &account.role_before) {
            (EventKind::AccountAdded, _) => format!("added ({role})"),
            (EventKind::AccountRemoved, _) => format!("removed (was {role})"),
            (_, Some(before)) if account.password_changed => {
                format!("role changed from {before} to {role}, password changed")
            }
            (_, Some(before)) => format!("role changed from {before} to {role}"),
            _ => "password changed".to_owned(),
        };
        match &account.by {
            Some(by) => format!("console account {name} {what} by {by}"),
            None => format!("console account {name} {what}"),
        }
    }
}

impl AssetFacts {
    fn of(view: &AssetView) -> AssetFacts {
        let agent = view.seen_by.first().cloned();
        let registry_site = view
            .registry
            .as_ref()
            .map(|fields| fields.site.clone())
            .filter(|site| !site.is_empty());
        let site = agent
            .as_deref()
            .and_then(|agent| agent.split_once('/'))
            .map(|(site, _)| site.to_owned())
            .or(registry_site);
        AssetFacts {
            ips: view.ips.clone(),
            hostname: view.hostnames.first().cloned(),
            vendor: view.vendor.clone(),
            category: view.category,
            site,
            agent,
            flags: view.flags,
            managed: view.managed,
            name: view
                .registry
                .as_ref()
                .map(|fields| fields.name.clone())
                .filter(|name| !name.is_empty()),
        }
    }

    fn of_registry(fields: &RegistryFields) -> AssetFacts {
        AssetFacts {
            ips: Vec::new(),
            hostname: None,
            vendor: None,
            category: fields.category.unwrap_or(Category::Unknown),
            site: Some(fields.site.clone()).filter(|site| !site.is_empty()),
            agent: None,
            flags: FlagSet::EMPTY,
            managed: true,
            name: Some(fields.name.clone()).filter(|name| !name.is_empty()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::{NewEvent, chain};

    /// An event as stored, numbered `id`.
    pub(crate) fn event(id: i64, kind: EventKind, details: &str) -> Event {
        let mut stored = chain(
            (id - 1, Hash::GENESIS),
            &[NewEvent {
                at: Timestamp::from_second(1_790_000_000).unwrap(),
                mac: Some(MacAddr::from_u64(0x0030_e611_2204)),
                kind,
                details: details.to_owned(),
            }],
        );
        stored.remove(0)
    }

    /// An unmanaged biomedical device seen by `chu-nord/ward-3`.
    pub(crate) fn facts() -> AssetFacts {
        AssetFacts {
            ips: vec!["198.18.0.14".parse().unwrap()],
            hostname: Some("pump-7".into()),
            vendor: Some("Drägerwerk AG & Co. KGaA".into()),
            category: Category::Biomedical,
            site: Some("chu-nord".into()),
            agent: Some("chu-nord/ward-3".into()),
            flags: FlagSet::from_bits(0b101),
            managed: false,
            name: None,
        }
    }

    /// The alert of event `id` raising `flag`, with [`facts`].
    pub(crate) fn raised(id: i64, flag: Flag) -> Alert {
        let mut alert = Alert::build(
            &event(
                id,
                EventKind::FlagRaised,
                &format!("{{\"flag\":\"{flag}\"}}"),
            ),
            None,
        )
        .unwrap();
        alert.asset = Some(facts());
        alert
    }

    #[test]
    fn flags_come_from_the_details() {
        let alert = raised(3, Flag::Stale);
        assert_eq!(alert.flag, Some(Flag::Stale));
        assert!(alert.raised.contains(Flag::Stale));
        let cleared = Alert::build(
            &event(4, EventKind::FlagCleared, r#"{"flag":"stale"}"#),
            None,
        )
        .unwrap();
        assert_eq!(cleared.flag, Some(Flag::Stale));
        assert!(cleared.raised.is_empty());
        let new = Alert::build(
            &event(
                5,
                EventKind::AssetNew,
                r#"{"seen_at":"2026-09-21T12:00:00Z","ips":[],"hostnames":[],"flags":["new","unmanaged"]}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(new.flag, Some(Flag::Unmanaged));
        assert!(new.raised.contains(Flag::New) && new.raised.contains(Flag::Unmanaged));
        assert!(
            new.text()
                .starts_with("new unmanaged device 00:30:e6:11:22:04")
        );
    }

    #[test]
    fn registry_events_carry_the_entry_when_the_asset_is_unknown() {
        let alert = Alert::build(
            &event(
                7,
                EventKind::RegistryRemoved,
                r#"{"source":"remove","before":{"name":"Ventilator","site":"chu-sud","category":"biomedical"}}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(alert.site(), Some("chu-sud"));
        assert_eq!(alert.category(), Some(Category::Biomedical));
        assert_eq!(
            alert.text(),
            "registry entry 00:30:e6:11:22:04 removed: name Ventilator, category biomedical, site chu-sud"
        );
    }

    #[test]
    fn account_events_say_whose_account_and_who_changed_it() {
        let text = |kind: EventKind, details: &str| {
            let mut stored = event(8, kind, details);
            stored.mac = None;
            let alert = Alert::build(&stored, None).unwrap();
            assert_eq!((alert.mac, alert.asset.as_ref()), (None, None));
            alert.text()
        };
        assert_eq!(
            text(
                EventKind::AccountAdded,
                r#"{"name":"bruno","role":"biomed","by":"alice (sudo)"}"#
            ),
            "console account bruno added (biomed) by alice (sudo)"
        );
        assert_eq!(
            text(
                EventKind::AccountChanged,
                r#"{"name":"bruno","role":"admin","role_before":"biomed","password_changed":true,"by":"root"}"#
            ),
            "console account bruno role changed from biomed to admin, password changed by root"
        );
        assert_eq!(
            text(
                EventKind::AccountChanged,
                r#"{"name":"bruno","role":"biomed","password_changed":true,"by":"root"}"#
            ),
            "console account bruno password changed by root"
        );
        assert_eq!(
            text(
                EventKind::AccountRemoved,
                r#"{"name":"bruno","role":"admin","by":"root"}"#
            ),
            "console account bruno removed (was admin) by root"
        );
        assert_eq!(
            text(EventKind::AccountRemoved, "not json"),
            "account_removed"
        );
    }

    #[test]
    fn unknown_kinds_and_odd_details_never_fail() {
        let mut unknown = event(1, EventKind::AssetNew, "{}");
        unknown.kind = "from_the_future".into();
        assert_eq!(Alert::build(&unknown, None), None);
        let odd = Alert::build(&event(2, EventKind::FlagRaised, "not json"), None).unwrap();
        assert_eq!(odd.flag, None);
        assert_eq!(odd.text(), "flag ? raised on 00:30:e6:11:22:04");
    }

    #[test]
    fn summaries_count_with_separators() {
        let summary = Summary {
            count: 1_234,
            first_id: 10,
            last_id: 1_300,
            window: Duration::from_secs(60),
        };
        assert_eq!(
            summary.text(),
            "1,234 more alerts suppressed by the rate limit in the last 60 s; see the event log from id 10 to 1300 (hygie-collector events)"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
