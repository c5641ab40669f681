//! Verdicts, named after the invariants of [`super`].

use hygie_proto::{MacAddr, Observation, Source};

use super::*;
use crate::inventory::{Dirty, Inventory};

fn asset() -> Inventory {
    let mut inventory = Inventory::new();
    let mut observation = Observation::new(
        "00:09:5c:11:22:01".parse().unwrap(),
        "2026-11-25T12:00:00Z".parse().unwrap(),
        Source::Mdns,
    );
    observation.ips = vec!["198.18.0.11".parse().unwrap()];
    observation.hostname = Some("Mon-ICU-01.local".into());
    inventory.merge(1, &observation, &mut Dirty::default());
    inventory
}

#[test]
fn invariant_1_a_verdict_depends_on_its_inputs_only() {
    let inventory = asset();
    let rules = Rules::defaults().unwrap();
    let mac: MacAddr = "00:09:5c:11:22:01".parse().unwrap();
    let asset = inventory.get(&mac).unwrap();
    assert_eq!(of_asset(asset, None, &rules), of_asset(asset, None, &rules));
}

#[test]
fn invariant_2_merging_new_facts_marks_the_verdict_dirty() {
    let mut inventory = asset();
    let mac: MacAddr = "00:09:5c:11:22:01".parse().unwrap();
    let mut again = Observation::new(mac, "2026-11-25T12:05:00Z".parse().unwrap(), Source::Mdns);
    again.ips = vec!["198.18.0.11".parse().unwrap()];
    let mut dirty = Dirty::default();
    inventory.merge(1, &again, &mut dirty);
    assert!(
        dirty.verdicts.is_empty(),
        "seen again: nothing new to judge"
    );
    again.ips = vec!["198.18.0.12".parse().unwrap()];
    inventory.merge(1, &again, &mut dirty);
    assert!(dirty.verdicts.contains(&mac), "a new address is searchable");
}

#[test]
fn invariant_3_the_digest_names_rules_and_windows() {
    let rules = Rules::defaults().unwrap();
    let windows = FlagRules::default();
    assert_eq!(digest(&rules, &windows), digest(&rules, &windows));
    let wider = FlagRules {
        stale_after: jiff::SignedDuration::from_hours(1),
        ..FlagRules::default()
    };
    assert_ne!(digest(&rules, &windows), digest(&rules, &wider));
    let state = VerdictState {
        digest: Some(digest(&rules, &windows)),
        ..VerdictState::default()
    };
    assert!(state.is_current(&digest(&rules, &windows)));
    assert!(!state.is_current(&digest(&rules, &wider)));
}

#[test]
fn invariant_4_the_search_text_holds_the_listed_fields_lower_cased() {
    let inventory = asset();
    let rules = Rules::defaults().unwrap();
    let mac: MacAddr = "00:09:5c:11:22:01".parse().unwrap();
    let text = of_asset(inventory.get(&mac).unwrap(), None, &rules).search;
    for needle in ["00:09:5c:11:22:01", "198.18.0.11", "mon-icu-01.local"] {
        assert!(text.contains(needle), "{needle} in {text:?}");
    }
    assert_eq!(text, text.to_lowercase());
}
