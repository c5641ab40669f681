//! The SQLite implementation of the store (rusqlite, bundled SQLite, WAL).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hygie_proto::{AgentHello, Detail, MacAddr, MdnsService, OutboxId};
use jiff::Timestamp;
use litemap::LiteMap;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{Commit, InventoryWriter, RegistrySnapshot, Retention, StoreError, schema};
use crate::cursor::CommittedSequences;
use crate::export::signing::Signer25519;
use crate::identity::AgentIdentity;
use crate::inventory::flags::FlagSet;
use crate::inventory::{
    AgentId, Asset, DetailRecord, Inventory, Seen, ServiceKey, ServiceRecord, Sighting, first_room,
};

/// How hard a commit tries to reach the disk before the collector acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `synchronous = FULL`: an acknowledged batch survives a power cut.
    #[default]
    Full,
    /// `synchronous = NORMAL`: survives a collector crash, may lose the last commits on a power
    /// cut (the agents then resend them, since their outboxes are durable too).
    Normal,
}

/// An inventory database connection: the writer's, or a read-only one.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    path: PathBuf,
    /// Seals the event chain's head whenever events are appended (the writer's and the
    /// command line's registry changes); without it, appended events stay unsealed.
    sealer: Option<Signer25519>,
}

pub(super) fn micros(timestamp: Timestamp) -> i64 {
    timestamp.as_microsecond()
}

pub(super) fn from_micros(value: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(value)
        .map_err(|_| StoreError::Corrupt(format!("timestamp {value} out of range")))
}

pub(super) fn mac_key(mac: MacAddr) -> i64 {
    // 48 bits always fit in an i64.
    i64::try_from(mac.to_u64()).unwrap_or(i64::MAX)
}

pub(super) fn mac_from_key(value: i64) -> MacAddr {
    // Keys are written by `mac_key`: never negative; a corrupt one reads as an impossible MAC.
    MacAddr::from_u64(u64::try_from(value).unwrap_or(u64::MAX))
}

fn parse_ip(text: &str) -> Result<IpAddr, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("address {text:?}")))
}

pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing maps of strings and plain structs cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

impl SqliteStore {
    /// Opens (creating if needed) the database for the single writer and migrates it. The
    /// file is 0600 whatever the umask, and so are SQLite's `-wal` and `-shm` (SQLite gives
    /// them the database's mode).
    pub fn open_writer(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        create_private_file(path)?;
        let mut connection = Connection::open(path).map_err(open_error)?;
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = {synchronous};
                 PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -16384;"
            ))
            .map_err(open_error)?;
        connection.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut connection, path)?;
        Ok(SqliteStore {
            connection,
            path: path.to_owned(),
            sealer: None,
        })
    }

    /// Seals the event chain with `signer` from now on.
    pub fn with_sealer(mut self, signer: Signer25519) -> Self {
        self.sealer = Some(signer);
        self
    }

    /// Opens an existing database read-only, for queries and exports.
    pub fn open_reader(path: &Path) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_error)?;
        let found = schema::schema_version(&connection)?;
        if found > schema::CURRENT_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: path.to_owned(),
                found,
                known: schema::CURRENT_VERSION,
            });
        }
        if found == 0 {
            return Err(StoreError::Corrupt(format!(
                "{} holds no inventory (has the collector run?)",
                path.display()
            )));
        }
        Ok(SqliteStore {
            connection,
            path: path.to_owned(),
            sealer: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every asset with all its facts: what the writer loads at start. Tools and tests only:
    /// readers use [`super::InventoryReader`], which never loads the whole inventory.
    pub fn inventory(&self) -> Result<Inventory, StoreError> {
        self.load_inventory_rows()
    }

    /// The underlying connection, for read queries of other modules.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    fn load_inventory_rows(&self) -> Result<Inventory, StoreError> {
        let connection = &self.connection;
        let mut assets = Inventory::new();
        for_each_row(
            connection,
            "SELECT mac, first_seen, last_seen, flags FROM assets",
            "loading assets",
            |row| {
                let mac = mac_from_key(row.get(0)?);
                let seen = seen_at_columns(row, 1)?;
                let flags = flag_bits(row.get(3)?)?;
                assets.insert_stored(Asset {
                    mac,
                    seen,
                    addresses: LiteMap::new(),
                    hostnames: LiteMap::new(),
                    services: LiteMap::new(),
                    sightings: LiteMap::new(),
                    details: LiteMap::new(),
                    flags,
                });
                Ok(())
            },
        )?;

        fn asset_of(assets: &mut Inventory, key: i64) -> Result<&mut Asset, StoreError> {
            let mac = mac_from_key(key);
            assets
                .get_mut(&mac)
                .ok_or_else(|| StoreError::Corrupt(format!("row for unknown asset {mac}")))
        }

        for_each_row(
            connection,
            "SELECT mac, ip, first_seen, last_seen FROM asset_addresses",
            "loading addresses",
            |row| {
                let ip = parse_ip(&row.get::<_, String>(1)?)?;
                let seen = seen_at_columns(row, 2)?;
                {
                    let asset = asset_of(&mut assets, row.get(0)?)?;
                    first_room(&mut asset.addresses);
                    &mut asset.addresses
                }
                .insert(ip, seen);
                Ok(())
            },
        )?;
        for_each_row(
            connection,
            "SELECT mac, hostname, first_seen, last_seen FROM asset_hostnames",
            "loading host names",
            |row| {
                let seen = seen_at_columns(row, 2)?;
                {
                    let asset = asset_of(&mut assets, row.get(0)?)?;
                    first_room(&mut asset.hostnames);
                    &mut asset.hostnames
                }
                .insert(row.get(1)?, seen);
                Ok(())
            },
        )?;
        for_each_row(
            connection,
            "SELECT mac, service_type, instance, port, txt, first_seen, last_seen
             FROM asset_services",
            "loading services",
            |row| {
                let key = ServiceKey {
                    service_type: row.get(1)?,
                    instance: row.get(2)?,
                };
                let txt: String = row.get(4)?;
                // Schema ≤ 3 stored values only; a flag is `null` since schema 4.
                let txt: BTreeMap<String, Option<String>> = serde_json::from_str(&txt)
                    .map_err(|_| StoreError::Corrupt(format!("TXT of {}", key.instance)))?;
                let port: u16 = row.get(3)?;
                let latest = MdnsService {
                    instance: String::new(),
                    service_type: String::new(),
                    port: (port != 0).then_some(port),
                    txt,
                };
                let record = ServiceRecord::new(&latest, seen_at_columns(row, 5)?);
                {
                    let asset = asset_of(&mut assets, row.get(0)?)?;
                    first_room(&mut asset.services);
                    &mut asset.services
                }
                .insert(key, record);
                Ok(())
            },
        )?;
        for_each_row(
            connection,
            "SELECT mac, detail, first_seen, last_seen FROM asset_details",
            "loading protocol details",
            |row| {
                let text: String = row.get(1)?;
                let latest: Detail = serde_json::from_str(&text)
                    .map_err(|error| StoreError::Corrupt(format!("protocol detail: {error}")))?;
                let record = DetailRecord {
                    seen: seen_at_columns(row, 2)?,
                    latest,
                };
                {
                    let asset = asset_of(&mut assets, row.get(0)?)?;
                    first_room(&mut asset.details);
                    &mut asset.details
                }
                .insert(record.latest.key(), record);
                Ok(())
            },
        )?;
        for_each_row(
            connection,
            "SELECT mac, agent_id, interface, first_seen, last_seen FROM asset_sightings",
            "loading sightings",
            |row| {
                let sighting = Sighting {
                    interface: row.get::<_, String>(2)?.into(),
                    seen: seen_at_columns(row, 3)?,
                };
                {
                    let asset = asset_of(&mut assets, row.get(0)?)?;
                    first_room(&mut asset.sightings);
                    &mut asset.sightings
                }
                .insert(row.get(1)?, sighting);
                Ok(())
            },
        )?;
        assets.finish_loading();
        Ok(assets)
    }
}

/// Creates the database file 0600 before SQLite does (it would use 0644 less the umask), and
/// tightens the mode of an existing one and of its `-wal` and `-shm`: they hold the whole
/// inventory. Tightening is best effort (a file of another owner is reported, not refused).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let write_error = |source| crate::files::FileError::Write {
        path: path.to_owned(),
        source,
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::files::SECRET)
        .open(path)
    {
        Ok(file) => {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(crate::files::SECRET))
                .map_err(write_error)?;
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(write_error(error).into()),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        if let Err(error) = crate::files::restrict(&file, crate::files::SECRET) {
            tracing::warn!(file = %file.display(), %error, "cannot make the database private (0600)");
        }
    }
    Ok(())
}

/// Runs `query` and hands each row to `each`; a column error becomes a [`StoreError`].
pub(super) fn for_each_row(
    connection: &Connection,
    query: &str,
    context: &'static str,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<(), RowError>,
) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare(query)
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement.query([]).map_err(StoreError::sqlite(context))?;
    while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
        each(row).map_err(|error| error.into_store(context))?;
    }
    Ok(())
}

/// A failure while decoding one row.
pub(super) enum RowError {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl RowError {
    /// The store error this is, with `context` for an SQLite one.
    pub(super) fn into_store(self, context: &'static str) -> StoreError {
        match self {
            RowError::Sqlite(source) => StoreError::Sqlite { context, source },
            RowError::Store(error) => error,
        }
    }
}

/// A stored flags integer (checked: a value beyond a byte is corruption, not truncation).
pub(super) fn flag_bits(value: i64) -> Result<FlagSet, StoreError> {
    u8::try_from(value)
        .map(FlagSet::from_bits)
        .map_err(|_| StoreError::Corrupt(format!("flags {value}")))
}

impl From<rusqlite::Error> for RowError {
    fn from(error: rusqlite::Error) -> Self {
        RowError::Sqlite(error)
    }
}

impl From<StoreError> for RowError {
    fn from(error: StoreError) -> Self {
        RowError::Store(error)
    }
}

/// Reads a first/last seen pair from two consecutive columns starting at `first`.
fn seen_at_columns(row: &rusqlite::Row<'_>, first: usize) -> Result<Seen, RowError> {
    Ok(Seen::new(
        from_micros(row.get(first)?)?,
        from_micros(row.get(first + 1)?)?,
    ))
}

impl InventoryWriter for SqliteStore {
    fn load_inventory(&self) -> Result<Inventory, StoreError> {
        self.load_inventory_rows()
    }

    fn load_cursors(&self) -> Result<HashMap<(AgentId, OutboxId), CommittedSequences>, StoreError> {
        let mut cursors = HashMap::new();
        for_each_row(
            &self.connection,
            "SELECT agent_id, outbox_id, sequence, gaps FROM outbox_cursors",
            "loading outbox cursors",
            |row| {
                let outbox: Vec<u8> = row.get(1)?;
                let outbox = OutboxId::from_slice(&outbox)
                    .ok_or_else(|| StoreError::Corrupt("outbox id length".into()))?;
                let sequence: i64 = row.get(2)?;
                let sequence = u64::try_from(sequence)
                    .map_err(|_| StoreError::Corrupt(format!("outbox cursor {sequence}")))?;
                let gaps: String = row.get(3)?;
                let committed = CommittedSequences::from_stored(sequence, &gaps)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                cursors.insert((row.get(0)?, outbox), committed);
                Ok(())
            },
        )?;
        Ok(cursors)
    }

    fn agent_sites(&self) -> Result<HashMap<AgentId, String>, StoreError> {
        let mut sites = HashMap::new();
        for_each_row(
            &self.connection,
            "SELECT id, site FROM agents",
            "loading agent sites",
            |row| {
                sites.insert(row.get(0)?, row.get(1)?);
                Ok(())
            },
        )?;
        Ok(sites)
    }

    fn register_agent(
        &mut self,
        identity: &AgentIdentity,
        hello: &AgentHello,
        now: Timestamp,
    ) -> Result<AgentId, StoreError> {
        self.connection
            .prepare_cached(
                "INSERT INTO agents
                    (name, site, hostname, version, interfaces, first_connected, last_connected)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (site, name) DO UPDATE SET
                    hostname = excluded.hostname,
                    version = excluded.version,
                    interfaces = excluded.interfaces,
                    last_connected = excluded.last_connected
                 RETURNING id",
            )
            .and_then(|mut statement| {
                statement.query_row(
                    params![
                        identity.name(),
                        identity.site(),
                        hello.hostname,
                        hello.agent_version,
                        to_json(&hello.interfaces),
                        micros(now),
                    ],
                    |row| row.get(0),
                )
            })
            .map_err(StoreError::sqlite("registering an agent"))
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError> {
        // Immediate: the write lock is taken first, so the event chain's head read inside the
        // transaction is still the head at commit (the CLI may append registry events).
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a commit"))?;
        write_commit(&transaction, commit, self.sealer.as_ref())?;
        transaction
            .commit()
            .map_err(StoreError::sqlite("committing"))
    }

    fn load_registry(&self) -> Result<RegistrySnapshot, StoreError> {
        registry::load(&self.connection)
    }

    fn registry_generation(&self) -> Result<i64, StoreError> {
        registry::generation(&self.connection)
    }

    fn load_policies(&self) -> Result<Vec<super::PublishedPolicy>, StoreError> {
        policy::load(&self.connection)
    }

    fn load_overrides(&self) -> Result<crate::policy::OverrideSnapshot, StoreError> {
        policy::load_overrides(&self.connection)
    }

    fn override_generation(&self) -> Result<i64, StoreError> {
        policy::override_generation(&self.connection)
    }

    fn verdict_state(&self) -> Result<crate::inventory::verdict::VerdictState, StoreError> {
        verdicts::state(&self.connection)
    }

    fn prune_history(&mut self, retention: Retention, now: Timestamp) -> Result<u64, StoreError> {
        let context = "pruning the observation history";
        // Ids grow with arrival time, so both bounds delete from the low end: everything below
        // `keep_from` (row bound) or received before `cutoff` (age bound), one slice at a time.
        let max_rows = i64::try_from(retention.max_rows).unwrap_or(i64::MAX);
        let cutoff = micros(now.saturating_sub(retention.max_age).unwrap_or(now));
        let deleted = self
            .connection
            .execute(
                "DELETE FROM observations WHERE id IN (
                    SELECT id FROM (SELECT id, received_at FROM observations ORDER BY id LIMIT ?3)
                    WHERE id <= (SELECT coalesce(max(id), 0) FROM observations) - ?1
                       OR received_at < ?2)",
                params![max_rows, cutoff, super::PRUNE_SLICE as i64],
            )
            .map_err(StoreError::sqlite(context))?;
        Ok(deleted as u64)
    }
}

fn write_commit(
    connection: &Connection,
    commit: &Commit<'_>,
    sealer: Option<&Signer25519>,
) -> Result<(), StoreError> {
    let inventory = commit.inventory;
    let dirty = commit.dirty;
    let asset = |mac: &MacAddr| {
        inventory
            .get(mac)
            .ok_or_else(|| StoreError::Corrupt(format!("dirty row for unknown asset {mac}")))
    };
    let context = "writing the inventory";
    let prepare = |sql| {
        connection
            .prepare_cached(sql)
            .map_err(StoreError::sqlite(context))
    };

    let mut statement = prepare(
        "INSERT INTO assets (mac, first_seen, last_seen, flags) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (mac) DO UPDATE SET
            first_seen = excluded.first_seen, last_seen = excluded.last_seen,
            flags = excluded.flags",
    )?;
    for mac in &dirty.assets {
        let asset = asset(mac)?;
        statement
            .execute(params![
                mac_key(*mac),
                micros(asset.seen.first()),
                micros(asset.seen.last()),
                asset.flags.bits()
            ])
            .map_err(StoreError::sqlite(context))?;
    }

    let mut statement = prepare(
        "INSERT INTO asset_addresses (mac, ip, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (mac, ip) DO UPDATE SET
            first_seen = excluded.first_seen, last_seen = excluded.last_seen",
    )?;
    for (mac, ip) in &dirty.addresses {
        if let Some(seen) = asset(mac)?.addresses.get(ip) {
            statement
                .execute(params![
                    mac_key(*mac),
                    ip.to_string(),
                    micros(seen.first()),
                    micros(seen.last())
                ])
                .map_err(StoreError::sqlite(context))?;
        }
    }

    let mut statement = prepare(
        "INSERT INTO asset_hostnames (mac, hostname, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (mac, hostname) DO UPDATE SET
            first_seen = excluded.first_seen, last_seen = excluded.last_seen",
    )?;
    for (mac, hostname) in &dirty.hostnames {
        if let Some(seen) = asset(mac)?.hostnames.get(hostname) {
            statement
                .execute(params![
                    mac_key(*mac),
                    hostname,
                    micros(seen.first()),
                    micros(seen.last())
                ])
                .map_err(StoreError::sqlite(context))?;
        }
    }

    let mut statement = prepare(
        "INSERT INTO asset_services
            (mac, service_type, instance, port, txt, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (mac, service_type, instance) DO UPDATE SET
            port = excluded.port, txt = excluded.txt,
            first_seen = excluded.first_seen, last_seen = excluded.last_seen",
    )?;
    for (mac, key) in &dirty.services {
        if let Some(record) = asset(mac)?.services.get(key) {
            statement
                .execute(params![
                    mac_key(*mac),
                    key.service_type,
                    key.instance,
                    record.port().unwrap_or(0),
                    to_json(&record.txt()),
                    micros(record.seen.first()),
                    micros(record.seen.last())
                ])
                .map_err(StoreError::sqlite(context))?;
        }
    }

    let mut statement = prepare(
        "INSERT INTO asset_details (mac, kind, slot, detail, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (mac, kind, slot) DO UPDATE SET
            detail = excluded.detail,
            first_seen = excluded.first_seen, last_seen = excluded.last_seen",
    )?;
    for (mac, key) in &dirty.details {
        if let Some(record) = asset(mac)?.details.get(key) {
            statement
                .execute(params![
                    mac_key(*mac),
                    key.kind.as_str(),
                    key.slot,
                    to_json(&record.latest),
                    micros(record.seen.first()),
                    micros(record.seen.last())
                ])
                .map_err(StoreError::sqlite(context))?;
        }
    }

    let mut statement = prepare(
        "INSERT INTO asset_sightings (mac, agent_id, interface, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (mac, agent_id) DO UPDATE SET
            interface = excluded.interface,
            first_seen = excluded.first_seen, last_seen = excluded.last_seen",
    )?;
    for (mac, agent) in &dirty.sightings {
        if let Some(sighting) = asset(mac)?.sightings.get(agent) {
            statement
                .execute(params![
                    mac_key(*mac),
                    agent,
                    &*sighting.interface,
                    micros(sighting.seen.first()),
                    micros(sighting.seen.last())
                ])
                .map_err(StoreError::sqlite(context))?;
        }
    }

    let mut statement = prepare(
        "INSERT INTO observations
            (mac, agent_id, seen_at, received_at, source, interface, ips, hostname, services,
             detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for entry in commit.history {
        let observation = entry.observation;
        let services = (!observation.services.is_empty()).then(|| to_json(&observation.services));
        statement
            .execute(params![
                mac_key(observation.mac),
                entry.agent,
                micros(observation.seen_at),
                micros(entry.received_at),
                observation.source.as_str(),
                observation.interface,
                to_json(&observation.ips),
                observation.hostname,
                services,
                observation.detail.as_ref().map(to_json),
            ])
            .map_err(StoreError::sqlite(context))?;
    }

    let mut statement = prepare(
        "INSERT INTO outbox_cursors (agent_id, outbox_id, sequence, committed_at, gaps)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (agent_id, outbox_id) DO UPDATE SET
            sequence = excluded.sequence, committed_at = excluded.committed_at,
            gaps = excluded.gaps",
    )?;
    for cursor in commit.cursors {
        statement
            .execute(params![
                cursor.agent,
                cursor.outbox.0.as_slice(),
                cursor.sequence as i64,
                micros(commit.now),
                cursor.gaps
            ])
            .map_err(StoreError::sqlite(context))?;
    }

    let mut statement = prepare("UPDATE registry SET unseen_flags = ?2 WHERE mac = ?1")?;
    for (mac, flags) in commit.unseen_flags {
        statement
            .execute(params![mac_key(*mac), flags.bits()])
            .map_err(StoreError::sqlite(context))?;
    }
    policy::write(
        connection,
        commit.policy_devices,
        commit.policy_sites,
        commit.now,
    )?;
    verdicts::write(
        connection,
        commit.verdicts,
        commit.verdicts_removed,
        commit.now,
    )?;
    if let Some(state) = commit.verdict_state {
        verdicts::write_state(connection, state)?;
    }
    events::append(connection, commit.events, sealer)
}

mod asof;
mod certificates;
mod events;
mod listing;
mod policy;
mod reader;
mod registry;
mod timeline;
mod users;
mod verdicts;

pub use asof::AsOfReadError;
pub use certificates::{IssueOutcome, RevokeOutcome, RevokeTarget};
pub use policy::{OverrideChange, OverrideOutcome};
pub use registry::RegistryChange;
pub use timeline::{Timeline, TimelineBucket};
pub use users::UserRecord;

#[cfg(test)]
mod tests;
