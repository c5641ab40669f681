//! What a paged, filtered listing asks of the read port, and what it answers.
//!
//! Invariants (tests in `store/sqlite/listing/tests.rs` are named after them):
//! 1. A listing is in its [`Order`] (MAC order unless asked otherwise), every order ending on
//!    the MAC so that no two devices tie, and its cursor is the position of the last device it
//!    returned: the next page holds the devices after it. Keyset paging: a device present
//!    throughout a paging, whose sort key does not change meanwhile, is returned exactly once,
//!    whatever is inserted or updated meanwhile (a device inserted before the cursor is simply
//!    not on later pages; one whose key moves, such as the last sighting of a device seen
//!    again, may move past the cursor either way). A cursor belongs to its order: another
//!    order's cursor is refused.
//! 2. A listing returns exactly the views that [`Filter::accepts`] over every view, in the
//!    order [`Order::compare`] puts them: the SQL filter and order agree with those over views.
//! 3. A listing reads verdicts as stored; it never classifies nor computes flags. When the
//!    stored verdicts lag behind the rules, the flag windows or the registry,
//!    [`VerdictStatus`] says so and readers pass it on.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use hygie_proto::MacAddr;

use crate::views::AssetView;
pub use crate::views::Filter;

/// The order of a listing. Each is served by an index: a page costs the same whatever the
/// order and however deep it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Order {
    /// By MAC address.
    #[default]
    Mac,
    /// Most recently seen first; devices never seen (only registered) last, by MAC.
    LastSeen,
    /// Most recently first seen (the newest devices) first; never seen last, by MAC.
    FirstSeen,
    /// By vendor name, then MAC; devices of unknown vendor last.
    Vendor,
    /// By category, then MAC.
    Category,
    /// By kind, then MAC.
    Kind,
}

impl Order {
    /// Every order.
    pub const ALL: [Order; 6] = [
        Order::Mac,
        Order::LastSeen,
        Order::FirstSeen,
        Order::Vendor,
        Order::Category,
        Order::Kind,
    ];

    /// The name a user gives (`--sort last-seen`, `sort=last-seen`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Order::Mac => "mac",
            Order::LastSeen => "last-seen",
            Order::FirstSeen => "first-seen",
            Order::Vendor => "vendor",
            Order::Category => "category",
            Order::Kind => "kind",
        }
    }

    /// How this order ranks two views (Invariant 2): what the SQL order must agree with.
    pub fn compare(self, a: &AssetView, b: &AssetView) -> Ordering {
        // Newest first and ties by descending MAC (one index walked backwards); never seen
        // after every seen device, by MAC.
        let by_mac = a.mac.cmp(&b.mac);
        let newest_first = |a_time: Option<jiff::Timestamp>, b_time: Option<jiff::Timestamp>| match (
            a_time, b_time,
        ) {
            (Some(a_time), Some(b_time)) => b_time.cmp(&a_time).then(b.mac.cmp(&a.mac)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => by_mac,
        };
        match self {
            Order::Mac => by_mac,
            Order::LastSeen => newest_first(a.last_seen, b.last_seen),
            Order::FirstSeen => newest_first(a.first_seen, b.first_seen),
            Order::Vendor => match (&a.vendor, &b.vendor) {
                (Some(a_vendor), Some(b_vendor)) => a_vendor.cmp(b_vendor).then(by_mac),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => by_mac,
            },
            Order::Category => a.category.as_str().cmp(b.category.as_str()).then(by_mac),
            Order::Kind => a.kind.cmp(&b.kind).then(by_mac),
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text names no listing order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a listing order (give one of: mac, last-seen, first-seen, vendor, category, kind)"
)]
pub struct UnknownOrder(pub String);

impl FromStr for Order {
    type Err = UnknownOrder;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Order::ALL
            .into_iter()
            .find(|order| order.as_str() == text || order.as_str().replace('-', "_") == text)
            .ok_or_else(|| UnknownOrder(text.chars().take(40).collect()))
    }
}

/// The sort key of a page's last device, where its order has one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    /// A time, in microseconds since the epoch as stored.
    Integer(i64),
    /// A name (vendor, category, kind).
    Text(String),
}

/// Where a page starts: after this position in its order. Opaque to users (`--after`),
/// versioned: `c1.` cursors are positions in MAC order, `c2.` ones in another order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    order: Order,
    /// `None` in MAC order, and in the part of another order whose devices have no key
    /// (never seen, unknown vendor), which comes last and runs by MAC.
    key: Option<SortKey>,
    after: MacAddr,
}

impl Cursor {
    /// The cursor after `mac` in MAC order (Invariant 1).
    pub fn after(mac: MacAddr) -> Self {
        Cursor {
            order: Order::Mac,
            key: None,
            after: mac,
        }
    }

    /// The cursor after the device `mac` whose sort key in `order` is `key`.
    pub(crate) fn at(order: Order, key: Option<SortKey>, mac: MacAddr) -> Self {
        let key = if order == Order::Mac { None } else { key };
        Cursor {
            order,
            key,
            after: mac,
        }
    }

    /// The order this cursor is a position in.
    pub fn order(&self) -> Order {
        self.order
    }

    /// The sort key of the previous page's last device, if its order gives it one.
    pub fn key(&self) -> Option<&SortKey> {
        self.key.as_ref()
    }

    /// The last device of the previous page.
    pub fn mac(&self) -> MacAddr {
        self.after
    }
}

const CURSOR_PREFIX: &str = "c1.";
const ORDERED_CURSOR_PREFIX: &str = "c2.";
/// A cursor carries a key no longer than this (vendor names are far shorter).
const MAX_CURSOR_KEY: usize = 1024;

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.order == Order::Mac {
            return write!(f, "{CURSOR_PREFIX}{:012x}", self.after.to_u64());
        }
        write!(f, "{ORDERED_CURSOR_PREFIX}{}.", self.order)?;
        match &self.key {
            None => f.write_str("-")?,
            Some(SortKey::Integer(value)) => write!(f, "i{value}")?,
            Some(SortKey::Text(text)) => {
                // Hex keeps any name URL- and shell-safe.
                f.write_str("t")?;
                for byte in text.as_bytes() {
                    write!(f, "{byte:02x}")?;
                }
            }
        }
        write!(f, ".{:012x}", self.after.to_u64())
    }
}

/// The text is not a cursor this collector gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a listing cursor (give the `next` value a previous page printed)")]
pub struct BadCursor(pub String);

fn parse_mac(hex: &str) -> Option<MacAddr> {
    if hex.len() != 12 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(MacAddr::from_u64)
}

fn parse_key(order: Order, text: &str) -> Option<Option<SortKey>> {
    let key = match text.split_at_checked(1)? {
        ("-", "") => None,
        ("i", digits) => Some(SortKey::Integer(digits.parse().ok()?)),
        ("t", hex) if hex.len() % 2 == 0 && hex.len() <= 2 * MAX_CURSOR_KEY => {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some(SortKey::Text(String::from_utf8(bytes).ok()?))
        }
        _ => return None,
    };
    // Each order's keys are of one type; only orders with a keyless last part take none.
    let fits = matches!(
        (order, &key),
        (
            Order::LastSeen | Order::FirstSeen,
            None | Some(SortKey::Integer(_))
        ) | (Order::Vendor, None | Some(SortKey::Text(_)))
            | (Order::Category | Order::Kind, Some(SortKey::Text(_)))
    );
    fits.then_some(key)
}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor(text.chars().take(40).collect());
        let text = text.trim();
        if let Some(hex) = text.strip_prefix(CURSOR_PREFIX) {
            return parse_mac(hex).map(Cursor::after).ok_or_else(bad);
        }
        let rest = text.strip_prefix(ORDERED_CURSOR_PREFIX).ok_or_else(bad)?;
        let mut parts = rest.split('.');
        let (Some(order), Some(key), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let order = order
            .parse::<Order>()
            .ok()
            .filter(|order| *order != Order::Mac)
            .ok_or_else(bad)?;
        let key = parse_key(order, key).ok_or_else(bad)?;
        let mac = parse_mac(mac).ok_or_else(bad)?;
        Ok(Cursor::at(order, key, mac))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Which devices.
    pub filter: Filter,
    /// In which order.
    pub order: Order,
    /// Start after this position (a cursor of `order`).
    pub after: Option<Cursor>,
    /// At most this many rows (`None`: every matching row).
    pub limit: Option<u64>,
}

/// A cursor given for a listing in another order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this cursor pages a listing sorted by {cursor}, not by {listing}: start again without it")]
pub struct CursorOrder {
    /// The cursor's order.
    pub cursor: Order,
    /// The listing's.
    pub listing: Order,
}

impl Listing {
    /// Whether its cursor is a position in its order (Invariant 1).
    pub fn check(&self) -> Result<(), CursorOrder> {
        match &self.after {
            Some(cursor) if cursor.order != self.order => Err(CursorOrder {
                cursor: cursor.order,
                listing: self.order,
            }),
            _ => Ok(()),
        }
    }
}

/// What a listing returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
