use super::*;
use hygie_proto::{MdnsService, Source};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn sighting(mac: &str, ip: &str, when: &str) -> Observation {
    let mut observation = Observation::new(mac.parse().unwrap(), at(when), Source::ArpPassive);
    observation.ips = vec![ip.parse().unwrap()];
    observation.interface = "eth0".into();
    observation
}

const PUMP: &str = "00:80:f4:00:00:01";
const MONITOR: &str = "00:09:5c:00:00:02";

#[test]
fn first_sighting_creates_the_asset_and_marks_every_row() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T10:00:00Z"),
        &mut dirty,
    );

    let mac: MacAddr = PUMP.parse().unwrap();
    let asset = inventory.get(&mac).unwrap();
    assert_eq!(asset.seen, Seen::at(at("2026-11-25T10:00:00Z")));
    assert_eq!(asset.addresses.len(), 1);
    assert_eq!(&*asset.sightings.get(&1).unwrap().interface, "eth0");
    assert_eq!(dirty.assets.len(), 1);
    assert_eq!(dirty.addresses.len(), 1);
    assert_eq!(dirty.sightings.len(), 1);
}

#[test]
fn a_repeated_sighting_at_the_same_time_changes_nothing() {
    let mut inventory = Inventory::new();
    let observation = sighting(PUMP, "198.18.0.20", "2026-11-25T10:00:00Z");
    inventory.merge(1, &observation, &mut Dirty::default());
    let mut dirty = Dirty::default();
    inventory.merge(1, &observation, &mut dirty);
    assert!(dirty.is_empty());
}

#[test]
fn late_observations_widen_but_never_rewind() {
    let mut inventory = Inventory::new();
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T10:00:00Z"),
        &mut Dirty::default(),
    );
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T12:00:00Z"),
        &mut Dirty::default(),
    );
    // An agent drains an outbox filled during an outage: older than what we know.
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T08:00:00Z"),
        &mut Dirty::default(),
    );
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T11:00:00Z"),
        &mut Dirty::default(),
    );

    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(asset.seen.first(), at("2026-11-25T08:00:00Z"));
    assert_eq!(asset.seen.last(), at("2026-11-25T12:00:00Z"));
}

#[test]
fn new_address_and_hostname_are_recorded_separately() {
    let mut inventory = Inventory::new();
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T10:00:00Z"),
        &mut Dirty::default(),
    );
    let mut moved = sighting(PUMP, "198.18.0.21", "2026-11-25T10:05:00Z");
    moved.hostname = Some("pump-3".into());
    let mut dirty = Dirty::default();
    inventory.merge(2, &moved, &mut dirty);

    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(asset.addresses.len(), 2);
    assert_eq!(asset.hostnames.keys().collect::<Vec<_>>(), ["pump-3"]);
    assert_eq!(asset.sightings.len(), 2, "both agents are recorded");
    assert_eq!(dirty.addresses.len(), 1);
    assert_eq!(dirty.hostnames.len(), 1);
}

#[test]
fn a_service_keeps_its_latest_announcement() {
    let mut inventory = Inventory::new();
    let service = |port, when: &str| {
        let mut observation = sighting(PUMP, "198.18.0.20", when);
        observation.services = vec![MdnsService {
            instance: "Pump 3._http._tcp.local.".into(),
            service_type: "_http._tcp.local.".into(),
            port,
            txt: Default::default(),
        }];
        observation
    };
    inventory.merge(
        1,
        &service(Some(80), "2026-11-25T10:00:00Z"),
        &mut Dirty::default(),
    );
    let mut dirty = Dirty::default();
    inventory.merge(1, &service(Some(8080), "2026-11-25T11:00:00Z"), &mut dirty);
    assert_eq!(dirty.services.len(), 1);
    // An older announcement arriving late must not overwrite the newer port.
    inventory.merge(
        1,
        &service(Some(80), "2026-11-25T09:00:00Z"),
        &mut Dirty::default(),
    );

    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    let record = asset.services.values().next().unwrap();
    assert_eq!(record.port(), Some(8080));
    assert_eq!(record.seen.first(), at("2026-11-25T09:00:00Z"));
}

#[test]
fn an_asset_keeps_a_bounded_number_of_addresses() {
    let mut inventory = Inventory::new();
    for n in 0..100u8 {
        let address = format!("198.18.1.{n}");
        inventory.merge(
            1,
            &sighting(PUMP, &address, "2026-11-25T10:00:00Z"),
            &mut Dirty::default(),
        );
    }
    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(asset.addresses.len(), MAX_ADDRESSES_PER_ASSET);
}

/// Merges `observations` in order into a new inventory, all from agent 1.
fn merged(observations: &[Observation]) -> Inventory {
    let mut inventory = Inventory::new();
    for observation in observations {
        inventory.merge(1, observation, &mut Dirty::default());
    }
    inventory
}

#[test]
fn values_seen_at_the_same_instant_give_the_same_latest_in_either_order() {
    // Found by the order property (properties.rs): the last one merged used to win a tie.
    let when = "2026-11-25T10:00:00Z";
    let service = |port| {
        let mut observation = sighting(PUMP, "198.18.0.20", when);
        observation.services = vec![MdnsService {
            instance: "Pump 3._http._tcp.local.".into(),
            service_type: "_http._tcp.local.".into(),
            port: Some(port),
            txt: Default::default(),
        }];
        observation.detail = Some(hygie_proto::Detail::Nd(hygie_proto::NdDetails {
            router: port == 8080,
        }));
        observation.interface = format!("eth{port}");
        observation
    };
    let (a, b) = (service(80), service(8080));
    let one = merged(&[a.clone(), b.clone()]);
    let other = merged(&[b.clone(), a.clone()]);
    assert_eq!(one, other);
    let asset = one.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(
        asset.services()[0].port,
        Some(8080),
        "the greater value wins a tie"
    );
    assert_eq!(&*asset.sightings.get(&1).unwrap().interface, "eth8080");

    // Merging either again changes nothing.
    let mut again = one.clone();
    let mut dirty = Dirty::default();
    again.merge(1, &a, &mut dirty);
    again.merge(1, &b, &mut dirty);
    assert!(dirty.is_empty(), "{dirty:?}");
}

#[test]
fn invariant_1_maps_stay_within_their_caps() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    for n in 0..(MAX_ADDRESSES_PER_ASSET + 10) {
        let ip = format!("198.18.{}.{}", n / 250, n % 250 + 1);
        inventory.merge(1, &sighting(PUMP, &ip, "2026-11-25T09:00:00Z"), &mut dirty);
    }
    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(asset.addresses.len(), MAX_ADDRESSES_PER_ASSET);
}

#[test]
fn invariant_2_times_are_kept_to_the_microsecond() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    let precise = sighting(PUMP, "198.18.0.20", "2026-11-25T09:00:00.123456789Z");
    inventory.merge(1, &precise, &mut dirty);
    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(asset.seen.first(), at("2026-11-25T09:00:00.123456Z"));
    // The same microsecond again changes nothing: the store would write the same row.
    let mut again = Dirty::default();
    let same = sighting(PUMP, "198.18.0.20", "2026-11-25T09:00:00.123456999Z");
    inventory.merge(1, &same, &mut again);
    assert!(again.assets.is_empty() && again.addresses.is_empty());
}

#[test]
fn invariant_3_services_are_rebuilt_as_announced() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    let service = MdnsService {
        instance: "Pump 3._http._tcp.local.".into(),
        service_type: "_http._tcp.local.".into(),
        port: Some(80),
        txt: [
            ("md".to_owned(), Some("Alaris".to_owned())),
            ("flag".to_owned(), None),
        ]
        .into_iter()
        .collect(),
    };
    let mut observation = sighting(PUMP, "198.18.0.20", "2026-11-25T09:00:00Z");
    observation.services = vec![service.clone()];
    inventory.merge(1, &observation, &mut dirty);
    let asset = inventory.get(&PUMP.parse().unwrap()).unwrap();
    assert_eq!(asset.services(), vec![service.clone()]);
    asset.with_facts(|facts| assert_eq!(facts.services, vec![&service]));
}

#[test]
fn invariant_4_interface_names_are_shared() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T09:00:00Z"),
        &mut dirty,
    );
    inventory.merge(
        1,
        &sighting(MONITOR, "198.18.0.21", "2026-11-25T09:00:00Z"),
        &mut dirty,
    );
    let interface = |mac: &str| {
        let asset = inventory.get(&mac.parse().unwrap()).unwrap();
        std::sync::Arc::clone(&asset.sightings.get(&1).unwrap().interface)
    };
    assert!(std::sync::Arc::ptr_eq(
        &interface(PUMP),
        &interface(MONITOR)
    ));
}

#[test]
fn invariant_5_the_address_index_lists_every_claimant() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    inventory.merge(
        1,
        &sighting(PUMP, "198.18.0.20", "2026-11-25T09:00:00Z"),
        &mut dirty,
    );
    let ip = "198.18.0.20".parse().unwrap();
    assert_eq!(inventory.claimants(&ip), &[PUMP.parse().unwrap()]);
    inventory.merge(
        1,
        &sighting(MONITOR, "198.18.0.20", "2026-11-25T09:01:00Z"),
        &mut dirty,
    );
    assert_eq!(
        inventory.claimants(&ip),
        &[PUMP.parse().unwrap(), MONITOR.parse().unwrap()]
    );
}

#[test]
fn invariant_6_assets_in_chunks_are_all_found_whatever_their_order() {
    let mut inventory = Inventory::new();
    let mut dirty = Dirty::default();
    let macs: Vec<MacAddr> = (0..10_000)
        .map(|n| MacAddr::from_u64(0x0009_5c00_0000 + n))
        .collect();
    for mac in &macs {
        let observation = Observation::new(*mac, at("2026-11-25T09:00:00Z"), Source::ArpPassive);
        inventory.merge(1, &observation, &mut dirty);
    }
    assert_eq!(inventory.len(), macs.len());
    assert!(
        macs.iter()
            .all(|mac| inventory.get(mac).is_some_and(|a| a.mac == *mac))
    );
    let mut all: Vec<Asset> = inventory.assets().cloned().collect();
    all.reverse();
    let reversed = Inventory::from_assets(all);
    assert_eq!(reversed, inventory);
}
