//! The inventory as it stood at a past moment (`assets --at`, `asset MAC --at`, `export --at`),
//! rebuilt from the hash-chained event log and the observation history. Pure: the rows come
//! in as streams, the moment and the present are passed in; the store reads the rows
//! (`store::sqlite::asof`), the command line renders the result.
//!
//! # What `--at DATE` means
//! - `DATE` is an RFC 3339 time (`2026-03-01T14:30:00Z`, any offset) or a calendar date
//!   (`2026-03-01`). A date means **the end of that day, UTC** (`2026-03-01T23:59:59.999999Z`):
//!   "what was on the network on 1 March" includes everything seen that day. A day that has not
//!   ended yet is refused, as is a time in the future ([`moment`]).
//! - The reconstruction shows what the collector had recorded by then: observations it had
//!   *received* by the moment (and that were made by then), the registry and the flags as its
//!   events recorded them. An observation an agent delivered later (after an outage) is not in
//!   the inventory as it stood, so it is not in the reconstruction either: asking again
//!   tomorrow gives the same answer.
//!
//! # How far back
//! Events are never pruned; observations are (`[history] max_age` and `max_rows` in the
//! collector's configuration, oldest first). The earliest moment `--at` accepts is therefore
//! the oldest observation still kept once any was pruned, or else the collector's first record
//! (its first event or observation); an earlier one is refused with a message naming the
//! earliest possible ([`AsOfError::BeforeHistory`]). Within that bound, a device whose every
//! sighting before the moment was pruned still appears, from the events that announced it
//! (Invariant 6): first seen, its addresses and host names; its services and protocol details
//! are gone with the pruned observations.
//!
//! # Invariants
//! 1. Nothing after the moment counts: an observation received or made after it, and an event
//!    after the anchor, are ignored even when the reader hands them in.
//! 2. The anchor is the event recorded last at or before the moment (id and hash); exactly the
//!    events up to it are read, so a signed export names the chain prefix it stands on.
//! 3. Facts are the writer's own merge (`Inventory::merge`) replayed over the observations, so
//!    addresses, host names, services, details and sightings have the intervals and the caps
//!    the live inventory has; no first or last seen is after the moment.
//! 4. Flags are those the collector recorded (`asset_new`, `flag_raised`, `flag_cleared`), not
//!    recomputed: the reconstruction says what the collector said then. A registered device
//!    never seen carries its never-seen flags; once it is seen they end (the first
//!    `flag_cleared` after `asset_new` naming one of them is theirs), and a removal from the
//!    registry drops them.
//! 5. The registry entry is replayed from `registry_added`, `registry_updated` and
//!    `registry_removed`: fields from `after`, `registered_at` the time of the last addition,
//!    `updated_at` and `source` those of the last change.
//! 6. An asset announced by `asset_new` at or before the anchor is listed even when none of
//!    its observations is kept (pruned): from the event's first sighting, addresses and host
//!    names, and the addresses of its `address_new` events.
//! 7. One row per MAC, in MAC order, for every device seen by the moment or registered at it;
//!    memory is that of one asset at a time (streams out of MAC order are refused).
//! 8. The category and kind are the classifier's verdict on the facts known by the moment, with
//!    the category declared in the registry entry of the moment.

pub mod moment;
mod rebuild;
mod replay;
pub mod view;

#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tests;

use hygie_proto::{MacAddr, Observation};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::inventory::flags::FlagSet;
use crate::inventory::{AgentId, Asset};
use crate::registry::RegistryEntry;

pub use moment::{HistoryBounds, Moment, parse_at};
pub use rebuild::rebuild;

/// Why a reconstruction was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsOfError {
    /// The text is neither a time nor a date.
    #[error(
        "--at {0:?} is neither a time (2026-03-01T14:30:00Z) nor a date (2026-03-01, read as the end of that day, UTC)"
    )]
    Unreadable(String),
    /// The moment is after the present.
    #[error("--at {asked} is in the future (it is now {now:.0}): --at shows the past")]
    Future {
        /// The moment asked for.
        asked: Timestamp,
        /// The present.
        now: Timestamp,
    },
    /// A date whose day is not over yet.
    #[error(
        "--at {date} means the end of that day (UTC), which has not come yet (it is now {now:.0}): give a time (--at {now:.0}) or leave --at out for the present"
    )]
    DayNotOver {
        /// The date asked for.
        date: jiff::civil::Date,
        /// The present.
        now: Timestamp,
    },
    /// The collector has recorded nothing yet.
    #[error(
        "the inventory holds no record yet (no observation, no event): there is no past to show"
    )]
    NoRecord,
    /// Observations were pruned and none is kept.
    #[error(
        "no observation history is kept any more (pruned by [history] max_age / max_rows in the collector's configuration): --at cannot rebuild a past inventory"
    )]
    NoHistory,
    /// The moment is before what the kept history covers.
    #[error("--at {asked} is before {}; the earliest --at possible is {earliest}", match pruned {
        true => "the oldest observation history kept (older observations were pruned by [history] max_age / max_rows in the collector's configuration)",
        false => "the collector's first record",
    })]
    BeforeHistory {
        /// The moment asked for.
        asked: Timestamp,
        /// The earliest moment possible.
        earliest: Timestamp,
        /// Whether history was pruned (else the collector did not exist yet).
        pruned: bool,
    },
    /// An event's details are not what this collector writes.
    #[error("event #{id} ({kind}) has unreadable details: {problem}")]
    EventDetails {
        /// The event.
        id: i64,
        /// Its kind.
        kind: String,
        /// What is wrong.
        problem: String,
    },
    /// A stream was not in MAC order.
    #[error("the {stream} were not read in MAC order ({after} came after {before})")]
    OutOfOrder {
        /// Which stream.
        stream: &'static str,
        /// The earlier MAC.
        before: MacAddr,
        /// The MAC that came after it.
        after: MacAddr,
    },
}

/// The event a reconstruction stands on: the last one recorded at or before the moment
/// (Invariant 2). Id 0 and the genesis hash when there was none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// Its id.
    pub id: i64,
    /// Its hash.
    pub hash: crate::audit::Hash,
}

/// What a reconstruction is, as a signed export header states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconstruction {
    /// The moment rebuilt.
    pub as_of: Timestamp,
    /// Id of the last event at or before it (0: none).
    pub anchor_id: i64,
    /// Its hash (hex).
    pub anchor_hash: String,
}

impl Reconstruction {
    /// For `moment` standing on `anchor`.
    pub fn new(moment: &Moment, anchor: Anchor) -> Self {
        Reconstruction {
            as_of: moment.at(),
            anchor_id: anchor.id,
            anchor_hash: anchor.hash.to_hex(),
        }
    }
}

/// One stored observation, as the reconstruction reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastObservation {
    /// The agent that sent it.
    pub agent: AgentId,
    /// When the collector received it.
    pub received_at: Timestamp,
    /// The observation.
    pub observation: Observation,
}

/// One device as it stood at the moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastAsset {
    /// Its MAC.
    pub mac: MacAddr,
    /// What had been seen of it (`None`: registered, never seen by then). Its `flags` are the
    /// recorded ones (Invariant 4).
    pub asset: Option<Asset>,
    /// Its registry entry at the moment.
    pub registry: Option<RegistryEntry>,
    /// Its flags at the moment: the asset's, or the never-seen ones of a registered device.
    pub flags: FlagSet,
    /// Known from events only: its observations up to the moment were pruned (Invariant 6).
    pub from_events_only: bool,
}
