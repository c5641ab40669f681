//! Where the inventory's assets live: in fixed-size chunks, found through a MAC index
//! (Invariant 6 of the [`super`] module docs), with the address index and the per-asset map
//! sizing (Invariants 1 and 5).

use std::collections::HashMap;
use std::net::IpAddr;

use hygie_proto::MacAddr;
use litemap::LiteMap;

use super::Asset;

/// Assets per chunk: a chunk is allocated whole and never moves or grows.
const CHUNK: usize = 4_096;

/// The assets, in the order they came, in chunks of [`CHUNK`], so that a growing inventory
/// never copies them nor holds room for as many again (a hash map of assets doubles its slots,
/// each the size of an asset); the index maps a MAC to its place.
#[derive(Debug, Default, Clone)]
pub(super) struct Slab {
    chunks: Vec<Vec<Asset>>,
    index: HashMap<MacAddr, usize>,
}

impl Slab {
    /// The asset with this MAC, if known.
    pub(super) fn get(&self, mac: &MacAddr) -> Option<&Asset> {
        let place = *self.index.get(mac)?;
        self.chunks.get(place / CHUNK)?.get(place % CHUNK)
    }

    /// The asset with this MAC, to change it.
    pub(super) fn get_mut(&mut self, mac: &MacAddr) -> Option<&mut Asset> {
        let place = *self.index.get(mac)?;
        self.chunks.get_mut(place / CHUNK)?.get_mut(place % CHUNK)
    }

    /// Number of assets.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// Every asset, in the order they came.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Asset> {
        self.chunks.iter().flatten()
    }

    /// Every asset, to change them.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Asset> {
        self.chunks.iter_mut().flatten()
    }

    /// The asset with this MAC, made by `make` if new; and whether it is.
    pub(super) fn get_or_insert(
        &mut self,
        mac: MacAddr,
        make: impl FnOnce() -> Asset,
    ) -> Option<(&mut Asset, bool)> {
        let new = !self.index.contains_key(&mac);
        if new {
            self.push(make());
        }
        self.get_mut(&mac).map(|asset| (asset, new))
    }

    /// Adds `asset`, replacing a stored one with the same MAC.
    pub(super) fn insert(&mut self, asset: Asset) {
        if let Some(stored) = self.get_mut(&asset.mac) {
            *stored = asset;
        } else {
            self.push(asset);
        }
    }

    fn push(&mut self, asset: Asset) {
        let place = self.len();
        if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.index.insert(asset.mac, place);
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(asset);
        }
    }
}

/// The MACs that claimed one address: inline while there is one (Invariant 5).
#[derive(Debug, Clone)]
pub(super) enum Claimants {
    One(MacAddr),
    Many(Vec<MacAddr>),
}

impl Claimants {
    pub(super) fn as_slice(&self) -> &[MacAddr] {
        match self {
            Claimants::One(mac) => std::slice::from_ref(mac),
            Claimants::Many(macs) => macs,
        }
    }

    fn push(&mut self, mac: MacAddr) {
        match self {
            Claimants::One(first) => *self = Claimants::Many(vec![*first, mac]),
            Claimants::Many(macs) => macs.push(mac),
        }
    }
}

/// Records that `mac` claimed `ip`.
pub(super) fn claim(by_ip: &mut HashMap<IpAddr, Claimants>, ip: IpAddr, mac: MacAddr) {
    match by_ip.entry(ip) {
        std::collections::hash_map::Entry::Occupied(mut entry) => entry.get_mut().push(mac),
        std::collections::hash_map::Entry::Vacant(entry) => {
            entry.insert(Claimants::One(mac));
        }
    }
}

/// Makes room for exactly one entry in an empty map: a vector's first growth would make room
/// for four, and most maps hold one (Invariant 1).
pub fn first_room<K, V>(map: &mut LiteMap<K, V>) {
    if map.is_empty() {
        *map = LiteMap::with_capacity(1);
    }
}

/// Gives back a loaded map's spare room (Invariant 1).
pub(super) fn shrink<K, V>(map: &mut LiteMap<K, V>) {
    let mut entries = std::mem::replace(map, LiteMap::new()).into_tuple_vec();
    entries.shrink_to_fit();
    *map = LiteMap::from_sorted_store_unchecked(entries);
}
