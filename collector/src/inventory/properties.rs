//! Properties of [`Inventory::merge`] over random batches drawn from small pools (three
//! devices, four addresses, a few services and details, five instants), so that facts collide
//! and ties in time are common:
//!
//! 1. Idempotent: merging a batch twice gives the inventory merging it once gives, and the
//!    second merge marks nothing dirty (a batch the agent resends writes no row).
//! 2. Order-insensitive: any permutation of a batch, and two batches in either order, give the
//!    same inventory: assets, addresses, host names, services, details, sightings, first and
//!    last seen, and the claimants of each address.
//! 3. What "latest" means, stated exactly: a service's, a detail's and a sighting's latest
//!    value is the greatest of those seen at the latest instant; first and last seen are the
//!    earliest and latest instants.
//!
//! The pools stay below every per-asset cap ([`MAX_ADDRESSES_PER_ASSET`]...): past a cap the
//! first facts to arrive are kept, which is order-sensitive by design (it bounds memory).

use std::collections::{BTreeMap, BTreeSet};

use hygie_proto::{
    Detail, DhcpDetails, DhcpVersion, MdnsService, NdDetails, Source, SsdpDetails, SsdpMessage,
};
use proptest::prelude::*;

use super::*;

const MACS: [[u8; 6]; 3] = [
    [0x00, 0x80, 0xf4, 0, 0, 1],
    [0x00, 0x09, 0x5c, 0, 0, 2],
    [0xda, 0xa1, 0x19, 0, 0, 3],
];

fn service() -> impl Strategy<Value = MdnsService> {
    (
        0..3usize,
        prop::option::of(prop::sample::select(vec![80u16, 443, 631])),
        any::<bool>(),
    )
        .prop_map(|(key, port, flagged)| {
            let service_type = ["_http._tcp.local.", "_ipp._tcp.local.", "_http._tcp.local."][key];
            MdnsService {
                instance: format!("Device {key}.{service_type}"),
                service_type: service_type.to_owned(),
                port,
                txt: if flagged {
                    BTreeMap::from([("duplex".to_owned(), None)])
                } else {
                    BTreeMap::from([("ty".to_owned(), Some("Lexmark MX622".to_owned()))])
                },
            }
        })
}

fn detail() -> impl Strategy<Value = Detail> {
    prop_oneof![
        any::<bool>().prop_map(|router| Detail::Nd(NdDetails { router })),
        (any::<bool>(), 1..4u8, prop::collection::vec(1..8u16, 0..3)).prop_map(
            |(v6, message_type, parameter_request_list)| {
                Detail::Dhcp(DhcpDetails {
                    version: if v6 { DhcpVersion::V6 } else { DhcpVersion::V4 },
                    message_type,
                    parameter_request_list,
                    vendor_class: None,
                    vendor_enterprise: None,
                    client_id: None,
                    fqdn: None,
                    user_class: Vec::new(),
                    requested_address: None,
                })
            }
        ),
        (0..2usize, prop::option::of(0..2usize)).prop_map(|(nt, server)| {
            Detail::Ssdp(SsdpDetails {
                message: SsdpMessage::Notify,
                notification_subtype: Some("ssdp:alive".to_owned()),
                server: server.map(|server| format!("Linux UPnP/1.0 Server/{server}")),
                user_agent: None,
                notification_type: Some(["upnp:rootdevice", "urn:dial"][nt].to_owned()),
                usn: None,
                location: None,
            })
        }),
    ]
}

/// An observation, and the agent that sent it.
fn sighting() -> impl Strategy<Value = (AgentId, Observation)> {
    (
        1..3i64,
        0..3usize,
        prop::collection::vec(0..4u8, 0..3),
        prop::option::of(0..3usize),
        prop::collection::vec(service(), 0..3),
        prop::option::of(detail()),
        0..5i64,
        0..2usize,
    )
        .prop_map(
            |(agent, mac, ips, hostname, services, detail, second, interface)| {
                let seen_at = Timestamp::from_second(1_795_000_000 + second).unwrap();
                let mut observation =
                    Observation::new(MacAddr::new(MACS[mac]), seen_at, Source::Mdns);
                observation.ips = ips
                    .into_iter()
                    .map(|last| IpAddr::from([198, 18, 0, 10 + last]))
                    .collect();
                observation.hostname = hostname.map(|name| format!("host-{name}"));
                observation.services = services;
                observation.detail = detail;
                observation.interface = ["eth0", "eth1"][interface].to_owned();
                observation.normalise();
                (agent, observation)
            },
        )
}

fn batch() -> impl Strategy<Value = Vec<(AgentId, Observation)>> {
    prop::collection::vec(sighting(), 0..24)
}

fn merge_all<'a>(
    inventory: &mut Inventory,
    batch: impl IntoIterator<Item = &'a (AgentId, Observation)>,
) -> Dirty {
    let mut dirty = Dirty::default();
    for (agent, observation) in batch {
        inventory.merge(*agent, observation, &mut dirty);
    }
    dirty
}

fn merged<'a>(batch: impl IntoIterator<Item = &'a (AgentId, Observation)>) -> Inventory {
    let mut inventory = Inventory::new();
    merge_all(&mut inventory, batch);
    inventory
}

/// Every address's claimants, as sets: the index keeps them in arrival order, which nothing
/// reads.
fn claimants(inventory: &Inventory) -> BTreeMap<IpAddr, BTreeSet<MacAddr>> {
    inventory
        .assets()
        .flat_map(|asset| asset.addresses.keys().copied())
        .map(|ip| (ip, inventory.claimants(&ip).iter().copied().collect()))
        .collect()
}

proptest! {
    #[test]
    fn merging_a_batch_twice_is_merging_it_once(batch in batch()) {
        let once = merged(&batch);
        let mut twice = once.clone();
        let dirty = merge_all(&mut twice, &batch);
        prop_assert!(dirty.is_empty(), "the second merge rewrote {:?}", dirty);
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(claimants(&twice), claimants(&once));
    }

    #[test]
    fn the_order_of_observations_does_not_matter(
        (batch, shuffled) in batch().prop_flat_map(|batch| (Just(batch.clone()), Just(batch).prop_shuffle()))
    ) {
        let one = merged(&batch);
        let other = merged(&shuffled);
        prop_assert_eq!(&one, &other);
        prop_assert_eq!(claimants(&one), claimants(&other));
    }

    #[test]
    fn two_batches_merge_alike_in_either_order(first in batch(), second in batch()) {
        let one = merged(first.iter().chain(&second));
        let other = merged(second.iter().chain(&first));
        prop_assert_eq!(&one, &other);
        prop_assert_eq!(claimants(&one), claimants(&other));
    }

    #[test]
    fn the_latest_value_is_the_greatest_seen_at_the_latest_instant(batch in batch()) {
        let inventory = merged(&batch);
        for asset in inventory.assets() {
            let about: Vec<&(AgentId, Observation)> =
                batch.iter().filter(|(_, o)| o.mac == asset.mac).collect();
            let times = about.iter().map(|(_, o)| o.seen_at);
            prop_assert_eq!(asset.seen.first(), times.clone().min().unwrap());
            prop_assert_eq!(asset.seen.last(), times.max().unwrap());
            for (key, record) in asset.services.iter() {
                let heard = about
                    .iter()
                    .flat_map(|(_, o)| o.services.iter().map(move |s| (o.seen_at, s)))
                    .filter(|(_, s)| s.service_type == key.service_type && s.instance == key.instance)
                    .max();
                prop_assert_eq!(Some(record.latest(key)), heard.map(|(_, s)| s.clone()));
            }
            for (key, record) in asset.details.iter() {
                let heard = about
                    .iter()
                    .filter_map(|(_, o)| Some((o.seen_at, o.detail.as_ref()?)))
                    .filter(|(_, d)| d.key() == *key)
                    .max();
                prop_assert_eq!(Some(&record.latest), heard.map(|(_, d)| d));
            }
            for (agent, sighting) in asset.sightings.iter() {
                let heard = about
                    .iter()
                    .filter(|(a, _)| a == agent)
                    .map(|(_, o)| (o.seen_at, &o.interface))
                    .max();
                prop_assert_eq!(Some(&*sighting.interface), heard.map(|(_, i)| i.as_str()));
            }
        }
    }
}
