//! Which events a sink alerts on. Pure.
//!
//! A rule selects an alert when its trigger matches (one of `flags` was raised, or its kind
//! is in `events`) and, when given, its asset's category is in `categories` and its site in
//! `sites`. An asset the inventory does not know has no category or site, so rules that filter
//! on them pass it by. A sink alerts when any of its rules selects.

use super::alert::Alert;
use crate::audit::EventKind;
use crate::classify::Category;
use crate::inventory::flags::{Flag, FlagSet};

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Flags whose raising (or a new asset arriving with them) triggers it.
    pub flags: FlagSet,
    /// Event kinds that trigger it.
    pub events: Vec<EventKind>,
    /// Only assets of these categories (empty: any).
    pub categories: Vec<Category>,
    /// Only assets of these sites (empty: any).
    pub sites: Vec<String>,
}

/// A sink's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

impl Rules {
    /// These rules.
    pub fn new(rules: Vec<Rule>) -> Rules {
        Rules(rules)
    }

    /// What a sink without rules alerts on: an asset becoming unmanaged or stale, an address
    /// conflict or change, and every registry change.
    pub fn default_rules() -> Rules {
        let mut flags = FlagSet::EMPTY;
        for flag in [
            Flag::Unmanaged,
            Flag::Stale,
            Flag::ArpConflict,
            Flag::IpChanged,
        ] {
            flags.insert(flag);
        }
        Rules(vec![Rule {
            flags,
            events: vec![
                EventKind::RegistryAdded,
                EventKind::RegistryUpdated,
                EventKind::RegistryRemoved,
            ],
            categories: Vec::new(),
            sites: Vec::new(),
        }])
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.0
    }

    /// Whether some rule may select an event of this kind: the others are passed by without
    /// reading their asset.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.0.iter().any(|rule| {
            rule.events.contains(&kind)
                || (!rule.flags.is_empty()
                    && matches!(kind, EventKind::FlagRaised | EventKind::AssetNew))
        })
    }

    /// Whether some rule selects `alert`.
    pub fn selects(&self, alert: &Alert) -> bool {
        self.0.iter().any(|rule| rule.selects(alert))
    }
}

impl Rule {
    fn selects(&self, alert: &Alert) -> bool {
        let triggered = self.events.contains(&alert.kind)
            || (matches!(alert.kind, EventKind::FlagRaised | EventKind::AssetNew)
                && !FlagSet::from_bits(alert.raised.bits() & self.flags.bits()).is_empty());
        triggered
            && (self.categories.is_empty()
                || alert
                    .category()
                    .is_some_and(|category| self.categories.contains(&category)))
            && (self.sites.is_empty()
                || alert
                    .site()
                    .is_some_and(|site| self.sites.iter().any(|wanted| wanted == site)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::alert::tests::{event, raised};

    fn rule(
        flags: &[Flag],
        events: &[EventKind],
        categories: &[Category],
        sites: &[&str],
    ) -> Rules {
        let mut set = FlagSet::EMPTY;
        for flag in flags {
            set.insert(*flag);
        }
        Rules::new(vec![Rule {
            flags: set,
            events: events.to_vec(),
            categories: categories.to_vec(),
            sites: sites.iter().map(|site| (*site).to_owned()).collect(),
        }])
    }

    #[test]
    fn the_default_rules_select_what_the_issue_lists() {
        let rules = Rules::default_rules();
        for flag in [
            Flag::Unmanaged,
            Flag::Stale,
            Flag::ArpConflict,
            Flag::IpChanged,
        ] {
            assert!(rules.selects(&raised(1, flag)), "{flag}");
        }
        for flag in [Flag::New, Flag::RandomizedMac] {
            assert!(!rules.selects(&raised(1, flag)), "{flag}");
        }
        for kind in [
            EventKind::RegistryAdded,
            EventKind::RegistryUpdated,
            EventKind::RegistryRemoved,
        ] {
            let alert = crate::alerts::alert::Alert::build(&event(1, kind, "{}"), None).unwrap();
            assert!(rules.selects(&alert), "{kind}");
        }
        assert!(rules.wants(EventKind::AssetNew));
        assert!(!rules.wants(EventKind::AddressNew));
        assert!(!rules.wants(EventKind::FlagCleared));
        assert!(!rules.wants(EventKind::CertificateIssued));
    }

    #[test]
    fn a_new_asset_counts_as_raising_its_initial_flags() {
        let new_unmanaged = crate::alerts::alert::Alert::build(
            &event(1, EventKind::AssetNew, r#"{"flags":["unmanaged","new"]}"#),
            None,
        )
        .unwrap();
        let new_registered = crate::alerts::alert::Alert::build(
            &event(2, EventKind::AssetNew, r#"{"flags":["new"]}"#),
            None,
        )
        .unwrap();
        let rules = Rules::default_rules();
        assert!(rules.selects(&new_unmanaged));
        assert!(!rules.selects(&new_registered));
    }

    #[test]
    fn categories_and_sites_narrow_a_rule() {
        let alert = raised(1, Flag::Unmanaged); // biomedical, chu-nord
        assert!(rule(&[Flag::Unmanaged], &[], &[Category::Biomedical], &[]).selects(&alert));
        assert!(!rule(&[Flag::Unmanaged], &[], &[Category::It], &[]).selects(&alert));
        assert!(rule(&[Flag::Unmanaged], &[], &[], &["chu-nord"]).selects(&alert));
        assert!(!rule(&[Flag::Unmanaged], &[], &[], &["chu-sud"]).selects(&alert));
        assert!(!rule(&[Flag::Stale], &[], &[], &[]).selects(&alert));
        assert!(rule(&[], &[EventKind::FlagRaised], &[], &[]).selects(&alert));
        // No asset facts: filters on category or site do not pass it.
        let mut unknown = alert.clone();
        unknown.asset = None;
        assert!(!rule(&[Flag::Unmanaged], &[], &[Category::Biomedical], &[]).selects(&unknown));
        assert!(rule(&[Flag::Unmanaged], &[], &[], &[]).selects(&unknown));
    }

    #[test]
    fn account_events_are_selected_by_kind_though_they_have_no_asset() {
        let accounts = [
            EventKind::AccountAdded,
            EventKind::AccountChanged,
            EventKind::AccountRemoved,
        ];
        let rules = rule(&[], &accounts, &[], &[]);
        for kind in accounts {
            let mut stored = event(1, kind, r#"{"name":"bruno","role":"admin","by":"root"}"#);
            stored.mac = None;
            let alert = crate::alerts::alert::Alert::build(&stored, None).unwrap();
            assert!(rules.wants(kind), "{kind}");
            assert!(rules.selects(&alert), "{kind}");
            // Not by default (the issue's list), and a site filter passes them by.
            assert!(!Rules::default_rules().selects(&alert), "{kind}");
            assert!(!rule(&[], &accounts, &[], &["chu-nord"]).selects(&alert));
        }
    }

    #[test]
    fn any_rule_of_a_sink_selects() {
        let rules = Rules::new(vec![
            rule(&[Flag::Stale], &[], &[], &[]).0.remove(0),
            rule(&[], &[EventKind::FlagCleared], &[], &[]).0.remove(0),
        ]);
        assert!(rules.selects(&raised(1, Flag::Stale)));
        assert!(!rules.selects(&raised(1, Flag::Unmanaged)));
        assert!(rules.wants(EventKind::FlagCleared));
    }
}
