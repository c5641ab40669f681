//! The inventory as the CSV files NetBox 4.x bulk import takes, in a directory: one file per
//! model, numbered in the order to import them (each references only the ones before).
//!
//! Invariants (tests in `export/netbox/tests.rs` are named after them):
//! 1. One `dcim.device`, `dcim.interface` and `dcim.macaddress` row per device, and at most one
//!    `ipam.ipaddress` row per current address per family; an address two devices claim goes
//!    to the one that saw it last (NetBox refuses a duplicate address).
//! 2. Every site, manufacturer, role and device type a row references has its row in an
//!    earlier file, each once, with a slug no other row shares: an import into an empty NetBox
//!    succeeds.
//! 3. Names are keyed by MAC (see [`rows`]): importing the same files again conflicts rather
//!    than duplicates (NetBox keeps device names unique per site, interface names per device,
//!    addresses globally, and rejects the whole file on the first conflict).
//! 4. Exporting an unchanged inventory again gives byte-identical files: nothing in them
//!    depends on the time of the export.
//! 5. Every cell a device or the registry supplied is neutralised as in the CSV snapshot
//!    ([`crate::safe::record_field`]).
//! 6. Memory stays flat: device, interface and MAC rows are written as the read port hands
//!    the devices out; what must be deduplicated (referenced objects, addresses, asset tags) is
//!    kept in a temporary on-disk SQLite database, not in memory.

pub mod rows;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::views::AssetView;
use rows::{DeviceRow, INTERFACE, INTERFACE_TYPE, Role, device_row, host_address, slug};

/// The files, in import order: (file name, NetBox model, header).
pub const FILES: [(&str, &str, &[&str]); 8] = [
    ("01-dcim.site.csv", "dcim.site", &["name", "slug", "status"]),
    (
        "02-dcim.manufacturer.csv",
        "dcim.manufacturer",
        &["name", "slug"],
    ),
    (
        "03-dcim.devicerole.csv",
        "dcim.devicerole",
        &["name", "slug", "color"],
    ),
    (
        "04-dcim.devicetype.csv",
        "dcim.devicetype",
        &["manufacturer", "model", "slug"],
    ),
    (
        "05-dcim.device.csv",
        "dcim.device",
        &[
            "name",
            "role",
            "manufacturer",
            "device_type",
            "status",
            "site",
            "serial",
            "asset_tag",
            "description",
        ],
    ),
    (
        "06-dcim.interface.csv",
        "dcim.interface",
        &["device", "name", "type"],
    ),
    (
        "07-dcim.macaddress.csv",
        "dcim.macaddress",
        &["mac_address", "device", "interface", "is_primary"],
    ),
    (
        "08-ipam.ipaddress.csv",
        "ipam.ipaddress",
        &["address", "status", "device", "interface", "is_primary"],
    ),
];

/// The export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NetboxError {
    #[error("cannot write the NetBox files in {dir}")]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write a NetBox CSV row")]
    Csv(#[from] csv::Error),
    #[error("the export's working database failed")]
    Work(#[from] rusqlite::Error),
}

/// Whether `view` is exported: every device but an unregistered one with a randomized (locally
/// administered) MAC, which is no identity (phones on guest Wi-Fi change theirs), as for GLPI.
pub fn exported(view: &AssetView) -> bool {
    view.managed
        || !view
            .flags
            .contains(crate::inventory::flags::Flag::RandomizedMac)
}

/// Rows written, per file (in [`FILES`] order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetboxReport {
    /// Rows per file.
    pub rows: [u64; 8],
}

impl NetboxReport {
    /// Devices written.
    pub fn devices(&self) -> u64 {
        self.rows[4]
    }
}

type Csv = csv::Writer<BufWriter<File>>;

/// Writes the files as devices come; [`NetboxWriter::finish`] puts them in place.
#[derive(Debug)]
pub struct NetboxWriter {
    out: PathBuf,
    staging: tempfile::TempDir,
    devices: Csv,
    interfaces: Csv,
    macs: Csv,
    work: Connection,
    roles: BTreeSet<Role>,
    report: NetboxReport,
}

const WORK_SCHEMA: &str = "
    PRAGMA journal_mode = OFF;
    PRAGMA synchronous = OFF;
    CREATE TABLE sites (name TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE manufacturers (name TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE device_types (
        manufacturer TEXT NOT NULL, model TEXT NOT NULL, PRIMARY KEY (manufacturer, model)
    ) WITHOUT ROWID;
    CREATE TABLE asset_tags (tag TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE addresses (
        address   TEXT PRIMARY KEY,
        device    TEXT NOT NULL,
        mac       INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    ) WITHOUT ROWID;
    BEGIN;
";

fn writer(path: &Path) -> std::io::Result<Csv> {
    Ok(csv::Writer::from_writer(BufWriter::new(File::create(
        path,
    )?)))
}

impl NetboxWriter {
    /// Starts an export into `out` (created if needed), staging the files beside it.
    pub fn begin(out: &Path) -> Result<Self, NetboxError> {
        let io = |source| NetboxError::Write {
            dir: out.to_owned(),
            source,
        };
        std::fs::create_dir_all(out).map_err(io)?;
        let staging = tempfile::Builder::new()
            .prefix(".hygie-netbox-")
            .tempdir_in(out)
            .map_err(io)?;
        let open = |index: usize| writer(&staging.path().join(FILES[index].0));
        let mut devices = open(4).map_err(io)?;
        let mut interfaces = open(5).map_err(io)?;
        let mut macs = open(6).map_err(io)?;
        devices.write_record(FILES[4].2)?;
        interfaces.write_record(FILES[5].2)?;
        macs.write_record(FILES[6].2)?;
        // An empty name: a private on-disk database SQLite deletes on close.
        let work = Connection::open("")?;
        work.execute_batch(WORK_SCHEMA)?;
        Ok(NetboxWriter {
            out: out.to_owned(),
            staging,
            devices,
            interfaces,
            macs,
            work,
            roles: BTreeSet::new(),
            report: NetboxReport::default(),
        })
    }

    /// Writes `view`'s rows.
    pub fn device(&mut self, view: &AssetView) -> Result<(), NetboxError> {
        let mut row = device_row(view);
        self.reference(&row)?;
        if !row.asset_tag.is_empty() {
            let fresh = self
                .work
                .prepare_cached("INSERT OR IGNORE INTO asset_tags (tag) VALUES (?1)")?
                .execute([&row.asset_tag])?;
            if fresh == 0 {
                // NetBox keeps asset tags unique: the first device (in MAC order) keeps it.
                row.description = crate::safe::record_field(
                    &format!(
                        "{}; asset tag {} is on another device too",
                        row.description, row.asset_tag
                    ),
                    rows::width::DESCRIPTION,
                );
                row.asset_tag.clear();
            }
        }
        self.devices.write_record([
            row.name.as_str(),
            row.role.name,
            &row.manufacturer,
            &row.device_type,
            row.status.as_str(),
            &row.site,
            &row.serial,
            &row.asset_tag,
            &row.description,
        ])?;
        self.interfaces
            .write_record([row.name.as_str(), INTERFACE, INTERFACE_TYPE])?;
        self.macs
            .write_record([row.mac.to_string().as_str(), &row.name, INTERFACE, "true"])?;
        let last_seen = view.last_seen.map_or(i64::MIN, |at| at.as_microsecond());
        let mac = i64::try_from(row.mac.to_u64()).unwrap_or(i64::MAX);
        for ip in &row.addresses {
            self.work
                .prepare_cached(
                    "INSERT INTO addresses (address, device, mac, last_seen) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (address) DO UPDATE SET device = excluded.device,
                         mac = excluded.mac, last_seen = excluded.last_seen
                     WHERE excluded.last_seen > addresses.last_seen",
                )?
                .execute(params![host_address(*ip), row.name, mac, last_seen])?;
        }
        self.report.rows[4] += 1;
        self.report.rows[5] += 1;
        self.report.rows[6] += 1;
        Ok(())
    }

    fn reference(&mut self, row: &DeviceRow) -> Result<(), NetboxError> {
        self.roles.insert(row.role);
        let insert = |sql: &str, values: &[&str]| -> Result<(), NetboxError> {
            self.work
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(values))?;
            Ok(())
        };
        insert(
            "INSERT OR IGNORE INTO sites (name) VALUES (?1)",
            &[&row.site],
        )?;
        insert(
            "INSERT OR IGNORE INTO manufacturers (name) VALUES (?1)",
            &[&row.manufacturer],
        )?;
        insert(
            "INSERT OR IGNORE INTO device_types (manufacturer, model) VALUES (?1, ?2)",
            &[&row.manufacturer, &row.device_type],
        )
    }

    /// Writes the referenced objects and the addresses, then moves every file into place.
    pub fn finish(mut self) -> Result<NetboxReport, NetboxError> {
        let io = |dir: &Path| {
            let dir = dir.to_owned();
            move |source| NetboxError::Write { dir, source }
        };
        let staging = self.staging.path().to_owned();
        for writer in [&mut self.devices, &mut self.interfaces, &mut self.macs] {
            writer.flush().map_err(io(&self.out))?;
        }
        let mut sites = writer(&staging.join(FILES[0].0)).map_err(io(&self.out))?;
        sites.write_record(FILES[0].2)?;
        self.report.rows[0] = each(
            &self.work,
            "SELECT name FROM sites ORDER BY name",
            &mut sites,
            |row| {
                let name: String = row.get(0)?;
                let slug = slug(&name);
                Ok(vec![name, slug, "active".to_owned()])
            },
        )?;
        let mut manufacturers = writer(&staging.join(FILES[1].0)).map_err(io(&self.out))?;
        manufacturers.write_record(FILES[1].2)?;
        self.report.rows[1] = each(
            &self.work,
            "SELECT name FROM manufacturers ORDER BY name",
            &mut manufacturers,
            |row| {
                let name: String = row.get(0)?;
                let slug = slug(&name);
                Ok(vec![name, slug])
            },
        )?;
        let mut roles = writer(&staging.join(FILES[2].0)).map_err(io(&self.out))?;
        roles.write_record(FILES[2].2)?;
        for role in &self.roles {
            roles.write_record([role.name, role.slug, role.color])?;
        }
        self.report.rows[2] = u64::try_from(self.roles.len()).unwrap_or(u64::MAX);
        let mut types = writer(&staging.join(FILES[3].0)).map_err(io(&self.out))?;
        types.write_record(FILES[3].2)?;
        self.report.rows[3] = each(
            &self.work,
            "SELECT manufacturer, model FROM device_types ORDER BY manufacturer, model",
            &mut types,
            |row| {
                let (manufacturer, model): (String, String) = (row.get(0)?, row.get(1)?);
                let slug = slug(&model);
                Ok(vec![manufacturer, model, slug])
            },
        )?;
        let mut addresses = writer(&staging.join(FILES[7].0)).map_err(io(&self.out))?;
        addresses.write_record(FILES[7].2)?;
        self.report.rows[7] = each(
            &self.work,
            "SELECT address, device FROM addresses ORDER BY mac, address",
            &mut addresses,
            |row| {
                Ok(vec![
                    row.get(0)?,
                    "active".to_owned(),
                    row.get(1)?,
                    INTERFACE.to_owned(),
                    "true".to_owned(),
                ])
            },
        )?;
        for mut writer in [sites, manufacturers, roles, types, addresses] {
            writer.flush().map_err(io(&self.out))?;
        }
        drop((self.devices, self.interfaces, self.macs));
        for (name, _, _) in FILES {
            let from = staging.join(name);
            let file = File::open(&from).map_err(io(&self.out))?;
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(
                crate::files::PUBLIC,
            ))
            .map_err(io(&self.out))?;
            file.sync_all().map_err(io(&self.out))?;
            std::fs::rename(&from, self.out.join(name)).map_err(io(&self.out))?;
        }
        crate::files::sync_dir(&self.out).map_err(io(&self.out))?;
        Ok(self.report)
    }
}

/// Writes the cells `cells` makes of each result row of `sql`; returns the rows written.
fn each(
    work: &Connection,
    sql: &str,
    out: &mut Csv,
    cells: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Vec<String>>,
) -> Result<u64, NetboxError> {
    let mut statement = work.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut written = 0;
    while let Some(row) = rows.next()? {
        out.write_record(cells(row)?)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
