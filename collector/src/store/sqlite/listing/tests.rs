//! The read port's listings on real databases, named after the invariants of
//! [`crate::store::listing`].

use std::collections::{BTreeMap, BTreeSet};

use hygie_proto::{MacAddr, MdnsService, Observation, Source};
use jiff::Timestamp;
use proptest::prelude::*;

use crate::classify::{Category, Rules};
use crate::identity::AgentIdentity;
use crate::inventory::flags::{Flag, FlagRules};
use crate::inventory::{AgentId, Dirty, Inventory, assess, verdict};
use crate::registry::RegistryFields;
use crate::store::listing::{Cursor, Filter, Listing, Order, SortKey};
use crate::store::{
    Commit, Durability, InventoryReader, InventoryWriter, RegistryChange, SqliteStore,
};
use crate::views::{self, AssetView, ViewContext};

fn now() -> Timestamp {
    "2026-11-25T12:00:00Z".parse().unwrap()
}

struct Bed {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: SqliteStore,
    inventory: Inventory,
    agents: Vec<AgentId>,
    rules: Rules,
}

fn bed() -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.sqlite");
    let mut store = SqliteStore::open_writer(&path, Durability::Normal).unwrap();
    let hello = hygie_proto::AgentHello {
        agent_version: "0.1.0".into(),
        hostname: "h".into(),
        interfaces: vec![],
        outbox_id: hygie_proto::OutboxId([3; 16]),
    };
    let agents = [("ward-3", "chu"), ("lab", "ghu")]
        .iter()
        .map(|(name, site)| {
            store
                .register_agent(&AgentIdentity::new(name, site).unwrap(), &hello, now())
                .unwrap()
        })
        .collect();
    Bed {
        _dir: dir,
        path,
        store,
        inventory: Inventory::new(),
        agents,
        rules: Rules::defaults().unwrap(),
    }
}

impl Bed {
    fn register(&mut self, mac: MacAddr, fields: RegistryFields) {
        self.store
            .change_registry(
                RegistryChange::Approve {
                    mac,
                    fields,
                    do_not_probe: None,
                },
                now(),
            )
            .unwrap();
    }

    /// Merges, assesses, and commits with every verdict, as the writer does.
    fn ingest(&mut self, observations: &[(usize, Observation)]) {
        let registry = self.store.load_registry().unwrap();
        let mut dirty = Dirty::default();
        for (agent, observation) in observations {
            self.inventory
                .merge(self.agents[*agent], observation, &mut dirty);
        }
        let rules = FlagRules::default();
        assess::after_merge(
            &mut self.inventory,
            &mut dirty,
            &registry.entries,
            &rules,
            now(),
        );
        let mut unseen = registry.unseen_flags.clone();
        assess::sweep(
            &mut self.inventory,
            &mut dirty,
            &registry.entries,
            &mut unseen,
            &rules,
            now(),
        );
        let mut verdicts: Vec<_> = self
            .inventory
            .assets()
            .map(|asset| verdict::of_asset(asset, registry.entries.get(&asset.mac), &self.rules))
            .collect();
        for entry in registry.entries.values() {
            if self.inventory.get(&entry.mac).is_none() {
                let flags = unseen.get(&entry.mac).copied().unwrap_or_default();
                verdicts.push(verdict::of_unseen(entry, flags, &self.rules));
            }
        }
        let unseen: Vec<_> = unseen.into_iter().collect();
        self.store
            .commit(&Commit {
                inventory: &self.inventory,
                dirty: &dirty,
                history: &[],
                cursors: &[],
                events: &[],
                unseen_flags: &unseen,
                policy_devices: &[],
                policy_sites: &[],
                verdicts: &verdicts,
                verdicts_removed: &[],
                verdict_state: None,
                now: now(),
            })
            .unwrap();
    }

    /// Every view, computed in memory from the inventory (the reference).
    fn reference(&self) -> Vec<AssetView> {
        let registry = self.store.load_registry().unwrap();
        let agents = self.store.agents().unwrap();
        views::asset_views(
            &self.inventory,
            &registry.entries,
            &agents,
            &ViewContext {
                rules: &self.rules,
                flag_rules: &FlagRules::default(),
                now: now(),
            },
        )
    }

    fn reader(&self) -> SqliteStore {
        SqliteStore::open_reader(&self.path).unwrap()
    }
}

fn list(store: &SqliteStore, listing: &Listing) -> (Vec<AssetView>, Option<Cursor>) {
    let mut views = Vec::new();
    let page = store
        .list(listing, &mut |view| {
            views.push(view);
            true
        })
        .unwrap();
    (views, page.next)
}

/// Every page of `filter`, `size` rows at a time.
fn paged(store: &SqliteStore, filter: &Filter, size: u64) -> Vec<AssetView> {
    paged_in(store, filter, Order::Mac, size)
}

/// Every page of `filter` in `order`, `size` rows at a time.
fn paged_in(store: &SqliteStore, filter: &Filter, order: Order, size: u64) -> Vec<AssetView> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let (views, next) = list(
            store,
            &Listing {
                filter: filter.clone(),
                order,
                after,
                limit: Some(size),
            },
        );
        all.extend(views);
        match next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

fn observation(mac: u64, ip: u8, hostname: Option<&str>) -> Observation {
    let mut observation = Observation::new(MacAddr::from_u64(mac), now(), Source::Mdns);
    observation.ips = vec![format!("198.18.0.{ip}").parse().unwrap()];
    observation.hostname = hostname.map(str::to_owned);
    observation.interface = "eth0".into();
    observation
}

fn facility() -> Bed {
    let mut bed = bed();
    bed.register(
        "00:09:5c:00:00:01".parse().unwrap(),
        RegistryFields {
            asset_tag: "BIO-001".into(),
            location: "ICU bed 3".into(),
            category: Some(Category::Biomedical),
            ..RegistryFields::default()
        },
    );
    bed.register(
        "00:09:5c:00:00:99".parse().unwrap(),
        RegistryFields {
            name: "Air handler".into(),
            ..RegistryFields::default()
        },
    );
    let mut printer = observation(0x0021_b700_0002, 2, Some("printer-3.local"));
    printer.services = vec![MdnsService {
        instance: "Ward 3._ipp._tcp.local.".into(),
        service_type: "_ipp._tcp.local.".into(),
        port: Some(631),
        txt: BTreeMap::from([("ty".into(), Some("Lexmark MX622".into()))]),
    }];
    bed.ingest(&[
        (
            0,
            observation(0x0009_5c00_0001, 1, Some("mon-icu-01.local")),
        ),
        (0, printer),
        (1, observation(0x0200_0000_0003, 3, None)),
        (1, observation(0x0200_0000_0004, 3, Some("impostor"))),
    ]);
    bed
}

fn macs(views: &[AssetView]) -> Vec<String> {
    views.iter().map(|view| view.mac.to_string()).collect()
}

#[test]
fn invariant_2_every_filter_selects_what_the_view_filter_accepts() {
    let bed = facility();
    let reader = bed.reader();
    let all = paged(&reader, &Filter::default(), 1000);
    assert_eq!(
        all,
        bed.reference(),
        "stored verdicts read back as computed"
    );
    assert_eq!(all.len(), 5, "four seen, one registered never seen");
    let filters = [
        Filter {
            flag: Some(Flag::Unmanaged),
            ..Filter::default()
        },
        Filter {
            flag: Some(Flag::ArpConflict),
            ..Filter::default()
        },
        Filter {
            category: Some(Category::Biomedical),
            ..Filter::default()
        },
        Filter {
            kind: Some("printer".into()),
            ..Filter::default()
        },
        Filter {
            site: Some("ghu".into()),
            ..Filter::default()
        },
        Filter {
            vendor: Some("LEXMARK".into()),
            ..Filter::default()
        },
        Filter {
            search: Some("icu bed".into()),
            ..Filter::default()
        },
        Filter {
            search: Some("198.18.0.3".into()),
            ..Filter::default()
        },
        Filter {
            search: Some("mx622".into()),
            ..Filter::default()
        },
        Filter {
            search: Some("air HANDLER".into()),
            ..Filter::default()
        },
    ];
    for filter in filters {
        let expected: Vec<AssetView> = all.iter().filter(|v| filter.accepts(v)).cloned().collect();
        assert!(!expected.is_empty(), "{filter:?} selects something");
        assert!(
            expected.len() < all.len(),
            "{filter:?} leaves something out"
        );
        assert_eq!(paged(&reader, &filter, 1), expected, "{filter:?}");
        assert_eq!(
            reader.count(&filter).unwrap(),
            u64::try_from(expected.len()).unwrap()
        );
    }
    let unmanaged = Filter {
        flag: Some(Flag::Unmanaged),
        ..Filter::default()
    };
    assert_eq!(
        macs(&paged(&reader, &unmanaged, 2)),
        [
            "00:21:b7:00:00:02",
            "02:00:00:00:00:03",
            "02:00:00:00:00:04"
        ]
    );
    let counts = reader.counts().unwrap();
    assert_eq!((counts.assets, counts.seen, counts.managed), (5, 4, 2));
    assert_eq!(counts.by_flag["unmanaged"], 3);
    assert_eq!(counts.by_site["ghu"], 2);
}

#[test]
fn invariant_1_paging_under_concurrent_inserts_skips_and_repeats_nothing() {
    // Every order whose keys stay put while devices are seen again (the last sighting moves).
    for order in [Order::Mac, Order::FirstSeen, Order::Vendor, Order::Category] {
        let mut bed = bed();
        let batch = |from: u64, count: u64| -> Vec<(usize, Observation)> {
            (from..from + count)
                .map(|n| {
                    let mut seen = observation(0x0009_5c00_0000 + n * 2, 1, None);
                    seen.seen_at =
                        now() - jiff::SignedDuration::from_secs(i64::try_from(n % 5).unwrap());
                    if n % 4 == 0 {
                        seen.mac = MacAddr::from_u64(0x0200_0000_0000 + n * 2);
                    }
                    (0, seen)
                })
                .collect()
        };
        bed.ingest(&batch(0, 50));
        let before: BTreeSet<MacAddr> = bed.inventory.assets().map(|asset| asset.mac).collect();
        let reader = bed.reader();
        let mut seen: Vec<AssetView> = Vec::new();
        let mut after = None;
        let mut round = 0u64;
        loop {
            let (views, next) = list(
                &reader,
                &Listing {
                    filter: Filter::default(),
                    order,
                    after,
                    limit: Some(7),
                },
            );
            seen.extend(views);
            // Between pages, the writer commits devices before, among and after those listed.
            let mut inserts: Vec<(usize, Observation)> = (0..3)
                .map(|k| {
                    (
                        1,
                        observation(0x0009_5c00_0001 + (round * 3 + k) * 2, 2, None),
                    )
                })
                .collect();
            inserts.push((
                0,
                observation(0x0009_5c00_0000 + round * 2, 9, Some("moved")),
            ));
            bed.ingest(&inserts);
            round += 1;
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let unique: BTreeSet<MacAddr> = seen.iter().map(|view| view.mac).collect();
        assert_eq!(unique.len(), seen.len(), "{order}: no device repeated");
        assert!(
            before.is_subset(&unique),
            "{order}: no device present throughout skipped"
        );
        assert!(
            seen.windows(2)
                .all(|pair| order.compare(&pair[0], &pair[1]).is_lt()),
            "{order}: in order"
        );
    }
}

#[test]
fn invariant_1_cursors_are_opaque_and_checked() {
    let mac: MacAddr = "00:09:5c:00:00:01".parse().unwrap();
    let cursor = Cursor::after(mac);
    assert_eq!(
        cursor.to_string(),
        "c1.00095c000001",
        "MAC cursors keep their form"
    );
    assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
    assert!("00:09:5c:00:00:01".parse::<Cursor>().is_err());
    assert!("c1.zz".parse::<Cursor>().is_err());
    let cursors = [
        Cursor::at(
            Order::LastSeen,
            Some(SortKey::Integer(1_764_000_000_000_000)),
            mac,
        ),
        Cursor::at(Order::LastSeen, None, mac),
        Cursor::at(Order::FirstSeen, Some(SortKey::Integer(-5)), mac),
        Cursor::at(
            Order::Vendor,
            Some(SortKey::Text("Lexmark. Int'l \u{202e}é".into())),
            mac,
        ),
        Cursor::at(Order::Vendor, None, mac),
        Cursor::at(
            Order::Category,
            Some(SortKey::Text("biomedical".into())),
            mac,
        ),
        Cursor::at(Order::Kind, Some(SortKey::Text(String::new())), mac),
    ];
    for cursor in cursors {
        let text = cursor.to_string();
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')),
            "{text} is URL- and shell-safe"
        );
        assert_eq!(text.parse::<Cursor>(), Ok(cursor));
    }
    for bad in [
        "c2.mac.-.00095c000001",
        "c2.category.-.00095c000001",
        "c2.last-seen.tab.00095c000001",
        "c2.vendor.i5.00095c000001",
        "c2.vendor.tzz.00095c000001",
        "c2.vendor.tff.00095c000001",
        "c2.vendor.t61",
        "c2.sideways.-.00095c000001",
        "c2.vendor.t61.00095c000001.x",
    ] {
        assert!(bad.parse::<Cursor>().is_err(), "{bad} refused");
    }
    // A cursor pages its own order only.
    let bed = facility();
    let listing = Listing {
        order: Order::Vendor,
        after: Some(Cursor::after(mac)),
        ..Listing::default()
    };
    assert!(listing.check().is_err());
    assert!(bed.reader().list(&listing, &mut |_| true).is_err());
}

#[test]
fn invariant_2_every_order_sorts_as_its_comparison_does() {
    let bed = facility();
    let reader = bed.reader();
    let all = paged(&reader, &Filter::default(), 1000);
    for order in Order::ALL {
        let mut expected = all.clone();
        expected.sort_by(|a, b| order.compare(a, b));
        for size in [1, 2, 1000] {
            assert_eq!(
                macs(&paged_in(&reader, &Filter::default(), order, size)),
                macs(&expected),
                "{order} in pages of {size}"
            );
        }
    }
    // Devices never seen come after the seen ones by last sighting; unknown vendors last.
    let by_last_seen = paged_in(&reader, &Filter::default(), Order::LastSeen, 2);
    assert_eq!(
        by_last_seen.last().unwrap().mac.to_string(),
        "00:09:5c:00:00:99"
    );
    let by_vendor = paged_in(&reader, &Filter::default(), Order::Vendor, 2);
    assert!(by_vendor.last().unwrap().vendor.is_none());
    assert!(by_vendor.first().unwrap().vendor.is_some());
}

#[test]
fn invariant_3_listings_say_when_verdicts_are_not_current() {
    let bed = facility();
    let reader = bed.reader();
    assert!(matches!(
        reader.verdict_status().unwrap(),
        crate::store::listing::VerdictStatus::Previous(_)
    ));
    let one = reader
        .asset("00:21:b7:00:00:02".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(one.kind, "printer");
    assert!(reader.asset(MacAddr::from_u64(7)).unwrap().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Invariant 2 as a property: over random inventories and filters, a listing, whole or
    /// paged, is the filter applied to the full inventory computed in memory.
    #[test]
    fn invariant_2_a_listing_is_the_filter_over_the_whole_inventory(
        devices in proptest::collection::vec((0u64..40, 0u8..6, 0usize..2, proptest::option::of(0u8..4), 0i64..4), 1..40),
        registered in proptest::collection::btree_set(0u64..48, 0..8),
        flag in proptest::option::of(0usize..6),
        site in proptest::option::of(0usize..2),
        search in proptest::option::of(0u8..4),
        page in 1u64..12,
        order in 0usize..6,
    ) {
        let order = Order::ALL[order];
        let mut bed = bed();
        let mac = |n: u64| MacAddr::from_u64(if n.is_multiple_of(3) { 0x0200_0000_0000 } else { 0x0009_5c00_0000 } + n);
        for n in &registered {
            bed.register(mac(*n), RegistryFields { owner: format!("owner-{}", n % 4), ..RegistryFields::default() });
        }
        let observations: Vec<(usize, Observation)> = devices
            .iter()
            .map(|(n, ip, agent, host, minutes_ago)| {
                let mut o = observation(0, *ip, None);
                o.mac = mac(*n);
                o.seen_at = now() - jiff::SignedDuration::from_mins(*minutes_ago);
                o.hostname = host.map(|h| format!("host-{h}"));
                (*agent, o)
            })
            .collect();
        bed.ingest(&observations);
        let filter = Filter {
            flag: flag.map(|i| Flag::ALL[i]),
            site: site.map(|i| ["chu", "ghu"][i].to_owned()),
            search: search.map(|s| ["host-1", "owner-2", "198.18.0.3", "5c"][usize::from(s)].to_owned()),
            ..Filter::default()
        };
        let mut expected: Vec<AssetView> = bed.reference().into_iter().filter(|v| filter.accepts(v)).collect();
        expected.sort_by(|a, b| order.compare(a, b));
        let reader = bed.reader();
        // Pages of more than twice the merge threshold, and the whole listing, join the
        // per-device tables by walking them; shorter pages seek them.
        let whole = list(&reader, &Listing { filter: filter.clone(), order, after: None, limit: None }).0;
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(paged_in(&reader, &filter, order, page), expected);
    }
}
