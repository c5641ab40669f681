//! What a paged, filtered listing asks of the read port, and what it answers.
//!
//! Invariants (tests in `store/sqlite/listing/tests.rs` are named after them):
//! 1. A listing is in MAC order and its cursor is the last MAC it returned: the next page
//!    holds the devices after it. Keyset paging: a device present throughout a paging is
//!    returned exactly once, whatever is inserted or updated meanwhile (a device inserted
//!    before the cursor is simply not on later pages).
//! 2. A listing returns exactly the views that [`Filter::accepts`] over every view, in the
//!    same order: the SQL filter and the filter over views agree.
//! 3. A listing reads verdicts as stored; it never classifies nor computes flags. When the
//!    stored verdicts lag behind the rules, the flag windows or the registry,
//!    [`VerdictStatus`] says so and readers pass it on.

use std::fmt;
use std::str::FromStr;

use hygie_proto::MacAddr;

pub use crate::views::Filter;

/// Where a page starts: after this position. Opaque to users (`--after`), versioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    after: MacAddr,
}

impl Cursor {
    /// The cursor after `mac` (Invariant 1).
    pub fn after(mac: MacAddr) -> Self {
        Cursor { after: mac }
    }

    /// The last device of the previous page.
    pub fn mac(self) -> MacAddr {
        self.after
    }
}

const CURSOR_PREFIX: &str = "c1.";

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CURSOR_PREFIX}{:012x}", self.after.to_u64())
    }
}

/// The text is not a cursor this collector gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a listing cursor (give the `next` value a previous page printed)")]
pub struct BadCursor(pub String);

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor(text.chars().take(40).collect());
        let hex = text.trim().strip_prefix(CURSOR_PREFIX).ok_or_else(bad)?;
        if hex.len() != 12 {
            return Err(bad());
        }
        let value = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
        Ok(Cursor::after(MacAddr::from_u64(value)))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Which devices.
    pub filter: Filter,
    /// Start after this position.
    pub after: Option<Cursor>,
    /// At most this many rows (`None`: every matching row).
    pub limit: Option<u64>,
}

/// What a listing returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    /// Rows handed out.
    pub rows: u64,
    /// Where the next page starts, when this one stopped at its limit.
    pub next: Option<Cursor>,
}

/// Whether the stored verdicts are those of the current rules, windows and registry
/// (Invariant 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictStatus {
    /// Computed with the rules and windows the collector runs with, and the current registry.
    Current,
    /// Some verdicts predate what they should reflect; listings show the previous ones.
    Previous(Staleness),
}

/// Why the stored verdicts are not current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// The collector has never computed them (it has not run since the upgrade).
    NeverComputed,
    /// The rules or flag windows changed: the collector is recomputing, this far.
    Recomputing {
        /// Every device up to this MAC has its new verdict.
        done_through: Option<MacAddr>,
    },
    /// The registry changed since; the running collector catches up within seconds.
    RegistryChanged,
    /// Registered devices without a verdict yet (the collector has not run since).
    Missing {
        /// How many.
        devices: u64,
    },
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Staleness::NeverComputed => f.write_str(
                "verdicts were never computed for this inventory: start the collector (hygie-collector serve)",
            ),
            Staleness::Recomputing { done_through } => match done_through {
                Some(mac) => write!(
                    f,
                    "the rules or flag windows changed: the collector is recomputing verdicts (done through {mac}); later devices show their previous verdicts"
                ),
                None => f.write_str(
                    "the rules or flag windows changed: the collector is recomputing verdicts; devices show their previous verdicts",
                ),
            },
            Staleness::RegistryChanged => f.write_str(
                "the registry changed since the verdicts were computed: flags and categories show the previous verdicts until the collector catches up",
            ),
            Staleness::Missing { devices } => write!(
                f,
                "{devices} registered devices have no verdict yet and are not listed: the collector computes them when it runs"
            ),
        }
    }
}
