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
use crate::store::listing::{Cursor, Filter, Listing, Page, Staleness, VerdictStatus};
use crate::views::{AssetView, Counts};

/// The `WHERE` clause of `filter` (on `verdicts v`) and its parameters.
fn conditions(filter: &Filter, after: Option<Cursor>) -> (String, Vec<Value>) {
    let mut clauses: Vec<String> = vec!["1".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |clauses: &mut Vec<String>, clause: &str, value: Value| {
        values.push(value);
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(cursor) = after {
        bind(
            &mut clauses,
            "v.mac > ?",
            Value::Integer(mac_key(cursor.mac())),
        );
    }
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

/// Rows of a listing read with one seek per joined table before it walks the joined tables
/// beside the verdicts instead (a listing that has this many rows left, too): a page or a
/// sparse filter pays a few seeks, a long listing reads each table once.
#[cfg(not(test))]
const MERGE_AFTER: u64 = 2_000;
/// Small in tests, so that the listings of small inventories take both ways.
#[cfg(test)]
const MERGE_AFTER: u64 = 3;

/// Hands each view of `listing` to `each`, in MAC order, until `each` returns false or the
/// limit is reached.
pub(super) fn list(
    connection: &Connection,
    listing: &Listing,
    each: &mut dyn FnMut(AssetView) -> bool,
) -> Result<Page, StoreError> {
    let context = "listing assets";
    let (clause, mut values) = conditions(&listing.filter, listing.after);
    let limit = listing
        .limit
        .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    values.push(Value::Integer(limit));
    let query = format!(
        "SELECT v.mac, v.flags, v.classification, a.first_seen, a.last_seen
         FROM verdicts v LEFT JOIN assets a ON a.mac = v.mac
         WHERE {clause} ORDER BY v.mac LIMIT ?{}",
        values.len()
    );
    let names = agent_names(connection)?;
    let mut statement = connection
        .prepare(&query)
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement
        .query(params_from_iter(values))
        .map_err(StoreError::sqlite(context))?;
    let mut page = Page::default();
    let mut last = None;
    let mut emit = |verdict: VerdictRow, children: Result<Children, RowError>| {
        let mac = verdict.mac;
        let view = children
            .and_then(|children| view_of(verdict, children))
            .map_err(|error| error.into_store(context))?;
        last = Some(mac);
        page.rows += 1;
        Ok::<_, StoreError>(each(view))
    };
    // A page, or the start of a listing: one seek per joined table.
    let long = listing.limit.is_none_or(|limit| limit > 2 * MERGE_AFTER);
    let mut lookups = 0;
    let mut from = -1;
    while !long || lookups < MERGE_AFTER {
        let Some(row) = rows.next().map_err(StoreError::sqlite(context))? else {
            break;
        };
        lookups += 1;
        let verdict = VerdictRow::decode(row).map_err(|error| error.into_store(context))?;
        from = mac_key(verdict.mac);
        let children = children::lookup(
            connection,
            verdict.mac,
            verdict.first_seen.is_some(),
            &names,
        );
        if !emit(verdict, children)? {
            return Ok(page);
        }
    }
    // The rest of a long listing: every joined table walked once beside the verdicts.
    if long && lookups == MERGE_AFTER {
        let mut statements =
            ScanStatements::prepare(connection).map_err(|error| error.into_store(context))?;
        let mut scans = statements
            .start(from)
            .map_err(|error| error.into_store(context))?;
        while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
            let verdict = VerdictRow::decode(row).map_err(|error| error.into_store(context))?;
            let children = scans.take(verdict.mac, &names);
            if !emit(verdict, children)? {
                return Ok(page);
            }
        }
    }
    if listing.limit.is_some_and(|limit| page.rows >= limit) {
        page.next = last.map(Cursor::after);
    }
    Ok(page)
}

/// The view of one device, seen or only registered.
pub(super) fn one(connection: &Connection, mac: MacAddr) -> Result<Option<AssetView>, StoreError> {
    let mut found = None;
    list(
        connection,
        &Listing {
            filter: Filter::default(),
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
    let (clause, values) = conditions(filter, None);
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
