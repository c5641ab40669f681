//! The storage floor: what reading the same rows costs with rusqlite alone, no model, no
//! classification, no formatting. Run as a child of the benchmark (`reads-bench __floor KIND
//! DATABASE MAC`) so that it is measured exactly as the commands are.
//!
//! Every value read is touched (its length summed), so that SQLite cannot skip decoding it.
//! Tables the schema does not have are skipped, so the floor runs on older and newer schemas.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use hygie_proto::MacAddr;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Statement};

/// The first argument that runs a floor query instead of the benchmark.
pub(crate) const FLOOR_ARG: &str = "__floor";

/// The tables that hold what the inventory knows of an asset.
const ASSET_TABLES: [&str; 6] = [
    "assets",
    "asset_addresses",
    "asset_hostnames",
    "asset_services",
    "asset_sightings",
    "registry",
];

fn open(database: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// `SELECT count(*) FROM assets`.
pub(crate) fn count_assets(database: &Path) -> rusqlite::Result<u64> {
    open(database)?
        .query_row("SELECT count(*) FROM assets", [], |row| {
            row.get::<_, i64>(0)
        })
        .map(i64::unsigned_abs)
}

fn has_table(connection: &Connection, table: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |row| row.get::<_, i64>(0).map(|count| count > 0),
    )
}

/// Rows and bytes read.
#[derive(Debug, Default)]
struct Touched {
    rows: u64,
    bytes: u64,
}

fn touch(
    statement: &mut Statement<'_>,
    params: impl rusqlite::Params,
    into: &mut Touched,
) -> rusqlite::Result<()> {
    let columns = statement.column_count();
    let mut rows = statement.query(params)?;
    while let Some(row) = rows.next()? {
        into.rows += 1;
        for column in 0..columns {
            into.bytes += match row.get_ref(column)? {
                ValueRef::Null => 0,
                ValueRef::Integer(_) | ValueRef::Real(_) => 8,
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.len() as u64,
            };
        }
    }
    Ok(())
}

fn query(kind: &str, database: &Path, mac: MacAddr) -> rusqlite::Result<Touched> {
    let connection = open(database)?;
    let mut touched = Touched::default();
    let mac = mac.to_u64() as i64;
    match kind {
        // One asset: its rows in every asset table, its 20 latest observations and events.
        "asset" => {
            for table in ASSET_TABLES {
                if has_table(&connection, table)? {
                    let mut statement =
                        connection.prepare(&format!("SELECT * FROM {table} WHERE mac = ?1"))?;
                    touch(&mut statement, [mac], &mut touched)?;
                }
            }
            for sql in [
                "SELECT * FROM observations WHERE mac = ?1 ORDER BY seen_at DESC LIMIT 20",
                "SELECT * FROM events WHERE mac = ?1 ORDER BY id DESC LIMIT 20",
            ] {
                touch(&mut connection.prepare(sql)?, [mac], &mut touched)?;
            }
        }
        // The first page of unmanaged assets, in primary-key order.
        "page" => {
            let mut statement = connection.prepare(
                "SELECT a.* FROM assets a
                 WHERE NOT EXISTS (SELECT 1 FROM registry r WHERE r.mac = a.mac)
                 ORDER BY a.mac LIMIT 50",
            )?;
            touch(&mut statement, [], &mut touched)?;
        }
        "count" => {
            touched.rows = count_assets(database)?;
        }
        // Every row and column of the asset tables and the registry.
        "scan" => {
            for table in ASSET_TABLES {
                if has_table(&connection, table)? {
                    let mut statement = connection.prepare(&format!("SELECT * FROM {table}"))?;
                    touch(&mut statement, [], &mut touched)?;
                }
            }
        }
        other => {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "unknown floor query {other}"
            )));
        }
    }
    Ok(touched)
}

/// `KIND DATABASE MAC`: runs the query and prints what it read.
pub(crate) fn main(args: &[OsString]) -> ExitCode {
    let [kind, database, mac] = args else {
        eprintln!("usage: {FLOOR_ARG} asset|page|count|scan DATABASE MAC");
        return ExitCode::from(2);
    };
    let Some(mac) = mac.to_str().and_then(|text| text.parse::<MacAddr>().ok()) else {
        eprintln!("{FLOOR_ARG}: not a MAC address: {mac:?}");
        return ExitCode::from(2);
    };
    let kind = kind.to_string_lossy();
    match query(&kind, Path::new(database), mac) {
        Ok(touched) => {
            println!("{kind}: {} rows, {} bytes", touched.rows, touched.bytes);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{FLOOR_ARG} {kind}: {error}");
            ExitCode::FAILURE
        }
    }
}
