//! The read port's listings in SQL: filters on indexed verdict columns, keyset paging on the
//! MAC, rows handed out one at a time (memory stays flat whatever the inventory's size). See
//! [`crate::store::listing`] for the invariants.

use std::collections::{BTreeMap, HashMap};

use hygie_proto::{Detail, MacAddr};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

mod children;

use children::{Children, ScanStatements};

use super::{RowError, flag_bits, for_each_row, from_micros, mac_from_key, mac_key};
use crate::classify::{Category, Classification};
use crate::inventory::AgentId;
use crate::inventory::flags::{Flag, FlagSet};
use crate::inventory::verdict::VerdictState;
use crate::store::StoreError;
use crate::store::listing::{
    Cursor, Filter, Listing, Order, Page, SortKey, Staleness, VerdictStatus,
};
use crate::views::{AssetView, Counts};

/// The `WHERE` clause of `filter` (on `verdicts v`) and its parameters.
fn conditions(filter: &Filter) -> (String, Vec<Value>) {
    let mut clauses: Vec<String> = vec!["1".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |clauses: &mut Vec<String>, clause: &str, value: Value| {
        values.push(value);
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(flag) = filter.flag {
        // A literal bit, so the planner can use the flag's partial index.
        let mut set = FlagSet::EMPTY;
        set.insert(flag);
        clauses.push(format!("(v.flags & {}) != 0", set.bits()));
    }
    if let Some(category) = filter.category {
        bind(
            &mut clauses,
            "v.category = ?",
            Value::Text(category.as_str().to_owned()),
        );
    }
    if let Some(kind) = &filter.kind {
        bind(&mut clauses, "v.kind = ?", Value::Text(kind.clone()));
    }
    if let Some(site) = &filter.site {
        bind(
            &mut clauses,
            "v.mac IN (SELECT s.mac FROM asset_sightings s
                       WHERE s.agent_id IN (SELECT id FROM agents WHERE site = ?))",
            Value::Text(site.clone()),
        );
    }
    if let Some(vendor) = &filter.vendor {
        // SQLite's lower() folds ASCII only, as Filter::accepts does.
        bind(
            &mut clauses,
            "instr(lower(v.vendor), ?) > 0",
            Value::Text(vendor.to_ascii_lowercase()),
        );
    }
    if let Some(text) = &filter.search {
        bind(
            &mut clauses,
            "instr(v.search, ?) > 0",
            Value::Text(text.to_lowercase()),
        );
    }
    (clauses.join(" AND "), values)
}

/// Every listed device with its asset row, if it was seen.
const ALL_DEVICES: &str = "verdicts v LEFT JOIN assets a ON a.mac = v.mac";

/// One part of an order: which of the listed devices it holds and how it walks them. An
/// order is one or two parts, the devices with no sort key (never seen, unknown vendor) last.
struct Part {
    /// The tables (`verdicts v`, `assets a`), joined so that an index serves the order.
    from: &'static str,
    /// Which devices this part holds.
    holds: &'static str,
    /// The sort key's column; `None`: by MAC alone.
    key: Option<&'static str>,
    /// The MAC column beside it (the one the key's index carries).
    mac: &'static str,
    /// Key and MAC descending (newest first).
    descending: bool,
    /// Whether a long listing walks the joined tables beside it (a part in MAC order with
    /// many devices) rather than seeking them.
    merge: bool,
}

impl Part {
    const BY_MAC: Part = Part {
        from: ALL_DEVICES,
        holds: "1",
        key: None,
        mac: "v.mac",
        descending: false,
        merge: true,
    };

    /// Registered devices never seen, walked through the registry (few, beside a large
    /// inventory): no merge, which would walk every table for them.
    const NEVER_SEEN: Part = Part {
        from: "registry r JOIN verdicts v ON v.mac = r.mac LEFT JOIN assets a ON a.mac = r.mac",
        holds: "a.mac IS NULL",
        key: None,
        mac: "r.mac",
        descending: false,
        merge: false,
    };

    /// Seen devices by a time of their asset row, newest first (`assets_by_*` indexes).
    const fn newest(key: &'static str) -> Part {
        Part {
            from: "assets a JOIN verdicts v ON v.mac = a.mac",
            holds: "1",
            key: Some(key),
            mac: "a.mac",
            descending: true,
            merge: false,
        }
    }

    /// Devices by a verdict column, then MAC (`verdicts_by_*` indexes).
    const fn by(key: &'static str, holds: &'static str) -> Part {
        Part {
            from: ALL_DEVICES,
            holds,
            key: Some(key),
            mac: "v.mac",
            descending: false,
            merge: false,
        }
    }

    /// The rest, by MAC: the devices `holds` names.
    const fn rest(holds: &'static str) -> Part {
        Part {
            holds,
            ..Part::BY_MAC
        }
    }

    /// The parts of `order`, in order; each device is in exactly one.
    fn of(order: Order) -> &'static [Part] {
        const MAC: &[Part] = &[Part::BY_MAC];
        const LAST_SEEN: &[Part] = &[Part::newest("a.last_seen"), Part::NEVER_SEEN];
        const FIRST_SEEN: &[Part] = &[Part::newest("a.first_seen"), Part::NEVER_SEEN];
        const VENDOR: &[Part] = &[
            Part::by("v.vendor", "v.vendor IS NOT NULL"),
            Part::rest("v.vendor IS NULL"),
        ];
        const CATEGORY: &[Part] = &[Part::by("v.category", "1")];
        const KIND: &[Part] = &[Part::by("v.kind", "1")];
        match order {
            Order::Mac => MAC,
            Order::LastSeen => LAST_SEEN,
            Order::FirstSeen => FIRST_SEEN,
            Order::Vendor => VENDOR,
            Order::Category => CATEGORY,
            Order::Kind => KIND,
        }
    }

    /// The query of this part's devices passing `filter` after `after`, and its parameters
    /// (the last one the limit).
    fn query(&self, filter: &Filter, after: Option<&Cursor>, limit: i64) -> (String, Vec<Value>) {
        let (clause, mut values) = conditions(filter);
        let mut bind = |value: Value| {
            values.push(value);
            format!("?{}", values.len())
        };
        let comparison = if self.descending { "<" } else { ">" };
        let keyset = match (after, self.key) {
            (None, _) => "1".to_owned(),
            (Some(cursor), Some(key)) => {
                let value = match cursor.key() {
                    Some(SortKey::Integer(value)) => Value::Integer(*value),
                    Some(SortKey::Text(text)) => Value::Text(text.clone()),
                    None => Value::Null,
                };
                let key_value = bind(value);
                let mac_value = bind(Value::Integer(mac_key(cursor.mac())));
                // A row value, which SQLite turns into a range on the key's index.
                format!(
                    "({key}, {}) {comparison} ({key_value}, {mac_value})",
                    self.mac
                )
            }
            (Some(cursor), None) => {
                let mac_value = bind(Value::Integer(mac_key(cursor.mac())));
                format!("{} {comparison} {mac_value}", self.mac)
            }
        };
        let direction = if self.descending { " DESC" } else { "" };
        let order_by = match self.key {
            Some(key) => format!("{key}{direction}, {}{direction}", self.mac),
            None => format!("{}{direction}", self.mac),
        };
        let limit_value = bind(Value::Integer(limit));
        let query = format!(
            "SELECT v.mac, v.flags, v.classification, a.first_seen, a.last_seen, {}
             FROM {} WHERE {} AND {clause} AND {keyset} ORDER BY {order_by} LIMIT {limit_value}",
            self.key.unwrap_or("NULL"),
            self.from,
            self.holds,
        );
        (query, values)
    }
}

/// Rows of a listing read with one seek per joined table before it walks the joined tables
/// beside the verdicts instead (a listing that has this many rows left, too): a page or a
/// sparse filter pays a few seeks, a long listing reads each table once.
#[cfg(not(test))]
const MERGE_AFTER: u64 = 2_000;
/// Small in tests, so that the listings of small inventories take both ways.
#[cfg(test)]
const MERGE_AFTER: u64 = 3;

/// A listing under way, across the parts of its order.
struct Walk<'a> {
    connection: &'a Connection,
    names: HashMap<AgentId, String>,
    limit: Option<u64>,
    page: Page,
    /// The sort key and MAC of the last device handed out.
    last: Option<(Option<SortKey>, MacAddr)>,
}

impl Walk<'_> {
    fn full(&self) -> bool {
        self.limit.is_some_and(|limit| self.page.rows >= limit)
    }

    /// Hands out the devices of `part` after `after`; false when `each` asked to stop.
    fn part(
        &mut self,
        part: &Part,
        filter: &Filter,
        after: Option<&Cursor>,
        each: &mut dyn FnMut(AssetView) -> bool,
    ) -> Result<bool, StoreError> {
        let context = "listing assets";
        let left = self.limit.map(|limit| limit.saturating_sub(self.page.rows));
        let (query, values) = part.query(
            filter,
            after,
            left.map_or(-1, |left| i64::try_from(left).unwrap_or(i64::MAX)),
        );
        let mut statement = self
            .connection
            .prepare(&query)
            .map_err(StoreError::sqlite(context))?;
        let mut rows = statement
            .query(params_from_iter(values))
            .map_err(StoreError::sqlite(context))?;
        let mut emit = |walk: &mut Self, row: ListingRow, children: Result<Children, RowError>| {
            let mac = row.verdict.mac;
            let view = children
                .and_then(|children| view_of(row.verdict, children))
                .map_err(|error| error.into_store(context))?;
            walk.last = Some((row.key, mac));
            walk.page.rows += 1;
            Ok::<_, StoreError>(each(view))
        };
        // A page, or the start of a listing: one seek per joined table. Only a part in MAC
        // order can walk the joined tables (kept in MAC order) beside it.
        let long = part.merge && left.is_none_or(|left| left > 2 * MERGE_AFTER);
        let mut lookups = 0;
        let mut from = -1;
        while !long || lookups < MERGE_AFTER {
            let Some(row) = rows.next().map_err(StoreError::sqlite(context))? else {
                return Ok(true);
            };
            lookups += 1;
            let row = ListingRow::decode(row).map_err(|error| error.into_store(context))?;
            let verdict = &row.verdict;
            from = mac_key(verdict.mac);
            let children = children::lookup(
                self.connection,
                verdict.mac,
                verdict.first_seen.is_some(),
                &self.names,
            );
            if !emit(self, row, children)? {
                return Ok(false);
            }
        }
        // The rest of a long listing: every joined table walked once beside the verdicts.
        let mut statements =
            ScanStatements::prepare(self.connection).map_err(|error| error.into_store(context))?;
        let mut scans = statements
            .start(from)
            .map_err(|error| error.into_store(context))?;
        while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
            let row = ListingRow::decode(row).map_err(|error| error.into_store(context))?;
            let children = scans.take(row.verdict.mac, &self.names);
            if !emit(self, row, children)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Hands each view of `listing` to `each`, in its order, until `each` returns false or the
/// limit is reached.
pub(super) fn list(
    connection: &Connection,
    listing: &Listing,
    each: &mut dyn FnMut(AssetView) -> bool,
) -> Result<Page, StoreError> {
    listing.check()?;
    let parts = Part::of(listing.order);
    // A cursor without a key is in the last part (the only one, in MAC order).
    let first = match &listing.after {
        Some(cursor) if cursor.key().is_none() => parts.len() - 1,
        _ => 0,
    };
    let mut walk = Walk {
        connection,
        names: agent_names(connection)?,
        limit: listing.limit,
        page: Page::default(),
        last: None,
    };
    let mut after = listing.after.as_ref();
    for part in &parts[first..] {
        if walk.full() {
            break;
        }
        if !walk.part(part, &listing.filter, after.take(), each)? {
            return Ok(walk.page);
        }
    }
    if walk.full() {
        walk.page.next = walk
            .last
            .map(|(key, mac)| Cursor::at(listing.order, key, mac));
    }
    Ok(walk.page)
}

/// The view of one device, seen or only registered.
pub(super) fn one(connection: &Connection, mac: MacAddr) -> Result<Option<AssetView>, StoreError> {
    let mut found = None;
    list(
        connection,
        &Listing {
            filter: Filter::default(),
            order: Order::Mac,
            after: mac
                .to_u64()
                .checked_sub(1)
                .map(|before| Cursor::after(MacAddr::from_u64(before))),
            limit: Some(1),
        },
        &mut |view| {
            if view.mac == mac {
                found = Some(view);
            }
            false
        },
    )?;
    Ok(found)
}

/// The stored classification of one device.
pub(super) fn classification(
    connection: &Connection,
    mac: MacAddr,
) -> Result<Option<Classification>, StoreError> {
    let mut found = None;
    let mut statement = connection
        .prepare_cached("SELECT classification FROM verdicts WHERE mac = ?1")
        .map_err(StoreError::sqlite("reading a verdict"))?;
    let mut rows = statement
        .query([mac_key(mac)])
        .map_err(StoreError::sqlite("reading a verdict"))?;
    if let Some(row) = rows
        .next()
        .map_err(StoreError::sqlite("reading a verdict"))?
    {
        let text: String = row
            .get(0)
            .map_err(StoreError::sqlite("reading a verdict"))?;
        found = Some(decode_classification(mac, &text)?);
    }
    Ok(found)
}

fn decode_classification(mac: MacAddr, text: &str) -> Result<Classification, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("verdict of {mac}: {error}")))
}

/// How many devices pass `filter`.
pub(super) fn count(connection: &Connection, filter: &Filter) -> Result<u64, StoreError> {
    let (clause, values) = conditions(filter);
    let count: i64 = connection
        .query_row(
            &format!("SELECT count(*) FROM verdicts v WHERE {clause}"),
            params_from_iter(values),
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("counting assets"))?;
    u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("count {count}")))
}

fn to_count(value: i64) -> Result<usize, StoreError> {
    usize::try_from(value).map_err(|_| StoreError::Corrupt(format!("count {value}")))
}

/// Counts per category, flag and site, over every listed device.
pub(super) fn counts(connection: &Connection) -> Result<Counts, StoreError> {
    let context = "counting assets";
    let mut counts = Counts {
        by_category: Category::ALL
            .iter()
            .map(|category| (category.as_str().to_owned(), 0))
            .collect(),
        by_flag: Flag::ALL
            .iter()
            .map(|flag| (flag.as_str().to_owned(), 0))
            .collect(),
        ..Counts::default()
    };
    let sums = Flag::ALL
        .iter()
        .enumerate()
        .map(|(bit, _)| format!(", coalesce(sum((flags & {}) != 0), 0)", 1 << bit))
        .collect::<String>();
    let totals: Vec<i64> = connection
        .query_row(
            &format!(
                "SELECT count(*), coalesce(sum(seen), 0),
                        (SELECT count(*) FROM verdicts v JOIN registry r ON r.mac = v.mac) {sums}
                 FROM verdicts"
            ),
            [],
            |row| (0..3 + Flag::ALL.len()).map(|i| row.get(i)).collect(),
        )
        .map_err(StoreError::sqlite(context))?;
    counts.assets = to_count(totals[0])?;
    counts.seen = to_count(totals[1])?;
    counts.managed = to_count(totals[2])?;
    for (flag, total) in Flag::ALL.iter().zip(&totals[3..]) {
        counts
            .by_flag
            .insert(flag.as_str().to_owned(), to_count(*total)?);
    }
    let tally = |query: &str, map: &mut BTreeMap<String, usize>| {
        for_each_row(connection, query, context, |row| {
            let count: i64 = row.get(1)?;
            map.insert(row.get(0)?, to_count(count)?);
            Ok(())
        })
    };
    tally(
        "SELECT category, count(*) FROM verdicts GROUP BY category",
        &mut counts.by_category,
    )?;
    tally(
        "SELECT a.site, count(DISTINCT s.mac) FROM asset_sightings s
         JOIN agents a ON a.id = s.agent_id
         WHERE s.mac IN (SELECT mac FROM verdicts) GROUP BY a.site",
        &mut counts.by_site,
    )?;
    Ok(counts)
}

/// Whether the stored verdicts are current (Invariant 3 of [`crate::store::listing`]).
pub(super) fn status(connection: &Connection) -> Result<VerdictStatus, StoreError> {
    let state: VerdictState = super::verdicts::state(connection)?;
    if let Some(recomputing) = &state.recomputing {
        return Ok(VerdictStatus::Previous(Staleness::Recomputing {
            done_through: recomputing.done_through,
        }));
    }
    // Counting devices without a verdict scans every asset: what one `asset MAC` must not pay.
    // Once a digest is recorded the writer stores a device's verdict in the commit that adds
    // the device, so only a database never computed (or being recomputed, above) can miss some.
    if state.digest.is_none() {
        let missing: i64 = connection
            .query_row(
                "SELECT (SELECT count(*) FROM assets WHERE mac NOT IN (SELECT mac FROM verdicts))
                      + (SELECT count(*) FROM registry WHERE mac NOT IN (SELECT mac FROM verdicts))",
                [],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite("checking the verdicts"))?;
        if missing > 0 {
            return Ok(VerdictStatus::Previous(Staleness::NeverComputed));
        }
    }
    if super::registry::generation(connection)? != state.registry_generation {
        return Ok(VerdictStatus::Previous(Staleness::RegistryChanged));
    }
    Ok(VerdictStatus::Current)
}

fn agent_names(connection: &Connection) -> Result<HashMap<AgentId, String>, StoreError> {
    let mut names = HashMap::new();
    for_each_row(
        connection,
        "SELECT id, site, name FROM agents",
        "loading agent names",
        |row| {
            let (site, name): (String, String) = (row.get(1)?, row.get(2)?);
            names.insert(row.get(0)?, format!("{site}/{name}"));
            Ok(())
        },
    )?;
    Ok(names)
}

/// The verdict columns of one listing row (`mac, flags, classification, first_seen,
/// last_seen`).
struct VerdictRow {
    mac: MacAddr,
    flags: FlagSet,
    classification: Classification,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
}

impl VerdictRow {
    fn decode(row: &rusqlite::Row<'_>) -> Result<Self, RowError> {
        let mac = mac_from_key(row.get(0)?);
        Ok(VerdictRow {
            mac,
            flags: flag_bits(row.get(1)?)?,
            classification: decode_classification(mac, &row.get::<_, String>(2)?)?,
            first_seen: row.get(3)?,
            last_seen: row.get(4)?,
        })
    }
}

/// A listing's row: the verdict columns and the sort key (`NULL` in MAC order).
struct ListingRow {
    verdict: VerdictRow,
    key: Option<SortKey>,
}

impl ListingRow {
    fn decode(row: &rusqlite::Row<'_>) -> Result<Self, RowError> {
        let key = match row.get::<_, Value>(5)? {
            Value::Integer(value) => Some(SortKey::Integer(value)),
            Value::Text(text) => Some(SortKey::Text(text)),
            Value::Null | Value::Real(_) | Value::Blob(_) => None,
        };
        Ok(ListingRow {
            verdict: VerdictRow::decode(row)?,
            key,
        })
    }
}

/// The view of a verdict row and the rows joined to it.
fn view_of(verdict: VerdictRow, children: Children) -> Result<AssetView, RowError> {
    let VerdictRow {
        mac,
        flags,
        classification,
        first_seen,
        last_seen,
    } = verdict;
    let Children {
        entry,
        mut ips,
        mut hostnames,
        seen_by,
        mut services,
        mut details,
    } = children;
    // The orders of the in-memory views: most recently seen first, then by value; services
    // and details by key.
    ips.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    hostnames.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    services.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    details.sort_by_key(Detail::key);
    Ok(AssetView {
        mac,
        seen: first_seen.is_some(),
        ips: ips.into_iter().map(|(ip, _)| ip).collect(),
        hostnames: hostnames.into_iter().map(|(name, _)| name).collect(),
        vendor: classification.vendor.map(|vendor| vendor.name),
        category: classification.category,
        kind: classification.kind,
        confidence: classification.confidence,
        identity: classification.identity,
        managed: entry.is_some(),
        registry: entry.map(|entry| entry.fields),
        flags,
        first_seen: first_seen.map(from_micros).transpose()?,
        last_seen: last_seen.map(from_micros).transpose()?,
        seen_by: seen_by.into_iter().collect(),
        services: services
            .into_iter()
            .map(|(_, _, service)| service)
            .collect(),
        details,
        evidence: classification.evidence,
    })
}

#[cfg(test)]
mod tests;
