//! The merge of the two streams, one device at a time (Invariant 7): events by (MAC, id),
//! observations by (MAC, seen_at).

use std::iter::Peekable;

use hygie_proto::MacAddr;

use super::replay::Replay;
use super::{Anchor, AsOfError, Moment, PastAsset, PastObservation};
use crate::audit::Event;
use crate::inventory::{Dirty, Inventory};

/// Something in a stream with a MAC to order it by.
trait Keyed {
    fn key(&self) -> Option<MacAddr>;
}

impl Keyed for Event {
    fn key(&self) -> Option<MacAddr> {
        self.mac
    }
}

impl Keyed for PastObservation {
    fn key(&self) -> Option<MacAddr> {
        Some(self.observation.mac)
    }
}

/// A stream, checked to come in MAC order; rows without a MAC (events about certificates)
/// are passed over.
struct Ordered<I: Iterator> {
    rows: Peekable<I>,
    stream: &'static str,
    last: Option<MacAddr>,
}

impl<T: Keyed, E: From<AsOfError>, I: Iterator<Item = Result<T, E>>> Ordered<I> {
    fn new(rows: I, stream: &'static str) -> Self {
        Ordered {
            rows: rows.peekable(),
            stream,
            last: None,
        }
    }

    /// The MAC of the next row.
    fn peek_mac(&mut self) -> Result<Option<MacAddr>, E> {
        loop {
            match self.rows.peek() {
                None => return Ok(None),
                Some(Ok(row)) => match row.key() {
                    Some(mac) => {
                        return match self.last.filter(|last| *last > mac) {
                            Some(last) => Err(AsOfError::OutOfOrder {
                                stream: self.stream,
                                before: last,
                                after: mac,
                            }
                            .into()),
                            None => Ok(Some(mac)),
                        };
                    }
                    None => {
                        self.rows.next();
                    }
                },
                Some(Err(_)) => {
                    return match self.rows.next() {
                        Some(Err(error)) => Err(error),
                        _ => Ok(None),
                    };
                }
            }
        }
    }

    /// The next row if it is about `mac`.
    fn next_of(&mut self, mac: MacAddr) -> Result<Option<T>, E> {
        if self.peek_mac()? != Some(mac) {
            return Ok(None);
        }
        self.last = Some(mac);
        self.rows.next().transpose()
    }
}

/// Rebuilds the inventory at `moment`, standing on `anchor`, from events ordered by MAC then
/// id and observations ordered by MAC then seen_at; hands each device to `emit` in MAC order.
/// Rows after the moment or the anchor are ignored (Invariant 1).
pub fn rebuild<E, EV, OB>(
    moment: &Moment,
    anchor: Anchor,
    events: EV,
    observations: OB,
    mut emit: impl FnMut(PastAsset) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<AsOfError>,
    EV: IntoIterator<Item = Result<Event, E>>,
    OB: IntoIterator<Item = Result<PastObservation, E>>,
{
    let mut events = Ordered::new(events.into_iter(), "events");
    let mut observations = Ordered::new(observations.into_iter(), "observations");
    loop {
        let mac = match (events.peek_mac()?, observations.peek_mac()?) {
            (None, None) => return Ok(()),
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
        };
        let mut replay = Replay::new(mac);
        while let Some(event) = events.next_of(mac)? {
            if event.id <= anchor.id {
                replay.apply(&event).map_err(E::from)?;
            }
        }
        let mut inventory = Inventory::new();
        while let Some(row) = observations.next_of(mac)? {
            if moment.includes(&row) {
                inventory.merge(row.agent, &row.observation, &mut Dirty::default());
            }
        }
        if let Some(past) = device(mac, replay, inventory) {
            emit(past)?;
        }
    }
}

/// The device at the moment, if it had been seen or was registered.
fn device(mac: MacAddr, replay: Replay, inventory: Inventory) -> Option<PastAsset> {
    let (registry, flags, announced) = replay.finish();
    let observed = inventory.get(&mac).cloned();
    let from_events_only = observed.is_none() && announced.is_some();
    let mut asset = observed.or(announced);
    if let Some(asset) = &mut asset {
        asset.flags = flags;
    }
    if asset.is_none() && registry.is_none() {
        return None;
    }
    Some(PastAsset {
        mac,
        asset,
        registry,
        flags,
        from_events_only,
    })
}
