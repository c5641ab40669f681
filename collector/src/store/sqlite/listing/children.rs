//! What a listing joins to each verdict row: the registry entry, addresses, host names,
//! sightings, services and protocol details of the device.
//!
//! Two ways to read them, with the same rows and decoding: [`lookup`] seeks each table for one
//! MAC (one asset, a page), and [`Scans`] walks each table once in MAC order beside the
//! verdicts (a merge join), for listings long enough that six seeks per row cost more than
//! reading the tables through. Both select the MAC first, then the columns the decoders read.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use hygie_proto::{Detail, MdnsService};
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator as _;
use rusqlite::{Connection, Row, Rows, Statement};

use super::super::registry::{ENTRY_COLUMNS, decode as decode_entry};
use super::super::{RowError, mac_key};
use crate::inventory::AgentId;
use crate::registry::RegistryEntry;
use crate::store::StoreError;
use hygie_proto::MacAddr;

/// The per-device rows of one asset, as read.
#[derive(Debug, Default)]
pub(super) struct Children {
    pub(super) entry: Option<RegistryEntry>,
    /// Addresses with when each was last seen.
    pub(super) ips: Vec<(IpAddr, i64)>,
    /// Host names with when each was last seen.
    pub(super) hostnames: Vec<(String, i64)>,
    /// The agents that saw it, by name.
    pub(super) seen_by: BTreeSet<String>,
    /// Services keyed by type and instance.
    pub(super) services: Vec<(String, String, MdnsService)>,
    pub(super) details: Vec<Detail>,
}

/// The six tables, in the order [`Children`] is filled, with the columns after the MAC.
const TABLES: [(&str, &str); 6] = [
    ("registry", ""),
    ("asset_addresses", "ip, last_seen"),
    ("asset_hostnames", "hostname, last_seen"),
    ("asset_sightings", "agent_id"),
    ("asset_services", "service_type, instance, port, txt"),
    ("asset_details", "detail"),
];

fn columns(index: usize) -> String {
    match TABLES[index] {
        ("registry", _) => ENTRY_COLUMNS.to_owned(),
        (_, rest) => format!("mac, {rest}"),
    }
}

/// Adds row `row` of table `index` to `children`.
fn add(
    index: usize,
    row: &Row<'_>,
    names: &HashMap<AgentId, String>,
    children: &mut Children,
) -> Result<(), RowError> {
    match index {
        0 => children.entry = Some(decode_entry(row)?.0),
        1 => {
            let text: String = row.get(1)?;
            let ip = text
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("address {text:?}")))?;
            children.ips.push((ip, row.get(2)?));
        }
        2 => children.hostnames.push((row.get(1)?, row.get(2)?)),
        3 => {
            let id: AgentId = row.get(1)?;
            children.seen_by.insert(
                names
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| format!("agent#{id}")),
            );
        }
        4 => {
            let (service_type, instance): (String, String) = (row.get(1)?, row.get(2)?);
            let port: u16 = row.get(3)?;
            let txt: String = row.get(4)?;
            let txt = serde_json::from_str(&txt)
                .map_err(|_| StoreError::Corrupt(format!("TXT of {instance}")))?;
            let service = MdnsService {
                instance: instance.clone(),
                service_type: service_type.clone(),
                port: (port != 0).then_some(port),
                txt,
            };
            children.services.push((service_type, instance, service));
        }
        _ => {
            let text: String = row.get(1)?;
            children.details.push(
                serde_json::from_str(&text)
                    .map_err(|error| StoreError::Corrupt(format!("protocol detail: {error}")))?,
            );
        }
    }
    Ok(())
}

/// The rows of device `mac` (`seen`: it was observed; a device only registered has no
/// sightings to read), one seek per table.
pub(super) fn lookup(
    connection: &Connection,
    mac: MacAddr,
    seen: bool,
    names: &HashMap<AgentId, String>,
) -> Result<Children, RowError> {
    let mut children = Children::default();
    let tables = if seen { TABLES.len() } else { 1 };
    for (index, (table, _)) in TABLES.iter().enumerate().take(tables) {
        let query = format!("SELECT {} FROM {table} WHERE mac = ?1", columns(index));
        let mut statement = connection.prepare_cached(&query)?;
        let mut rows = statement.query([mac_key(mac)])?;
        while let Some(row) = rows.next()? {
            add(index, row, names, &mut children)?;
        }
    }
    Ok(children)
}

/// The statements of a merge join, prepared once; [`ScanStatements::start`] begins the walks.
#[derive(Debug)]
pub(super) struct ScanStatements<'c> {
    statements: Vec<Statement<'c>>,
}

impl<'c> ScanStatements<'c> {
    pub(super) fn prepare(connection: &'c Connection) -> Result<Self, RowError> {
        let statements = TABLES
            .iter()
            .enumerate()
            .map(|(index, (table, _))| {
                connection.prepare(&format!(
                    "SELECT {} FROM {table} WHERE mac > ?1 ORDER BY mac",
                    columns(index)
                ))
            })
            .collect::<Result<_, _>>()?;
        Ok(ScanStatements { statements })
    }

    /// Walks of every table from just after MAC key `after` (-1: from the start).
    pub(super) fn start(&mut self, after: i64) -> Result<Scans<'_>, RowError> {
        let walks = self
            .statements
            .iter_mut()
            .map(|statement| {
                Ok(Walk {
                    rows: statement.query([after])?,
                    ahead: None,
                })
            })
            .collect::<Result<_, RowError>>()?;
        Ok(Scans { walks })
    }
}

/// One table walked in MAC order: `ahead` is the MAC of the row the cursor stands on, not yet
/// taken (a row of a later device).
struct Walk<'s> {
    rows: Rows<'s>,
    ahead: Option<i64>,
}

impl std::fmt::Debug for Walk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walk").field("ahead", &self.ahead).finish()
    }
}

/// Every table walked beside the verdicts. Devices must be asked for in increasing MAC order;
/// rows of devices never asked for (filtered out) are stepped over without being decoded.
#[derive(Debug)]
pub(super) struct Scans<'s> {
    walks: Vec<Walk<'s>>,
}

impl Scans<'_> {
    /// The rows of device `mac`.
    pub(super) fn take(
        &mut self,
        mac: MacAddr,
        names: &HashMap<AgentId, String>,
    ) -> Result<Children, RowError> {
        let key = mac_key(mac);
        let mut children = Children::default();
        for (index, walk) in self.walks.iter_mut().enumerate() {
            loop {
                if walk.ahead.is_some_and(|ahead| ahead > key) {
                    break;
                }
                // The cursor's row is at or before `key`: read it (once ahead, it stays the
                // current row until the device it belongs to is asked for).
                let Some(row) = (if walk.ahead.is_some() {
                    walk.rows.get()
                } else {
                    walk.rows.next()?
                }) else {
                    walk.ahead = Some(i64::MAX);
                    break;
                };
                let row_key: i64 = row.get(0)?;
                if row_key == key {
                    add(index, row, names, &mut children)?;
                    walk.ahead = None;
                } else if row_key > key {
                    walk.ahead = Some(row_key);
                } else {
                    walk.ahead = None;
                }
            }
        }
        Ok(children)
    }
}
