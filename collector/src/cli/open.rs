//! Opening the inventory database and the signing key for a command.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing::{self, Signer25519};
use hygie_collector::query::Query;
use hygie_collector::store::SqliteStore;

/// `--database`, on every command that reads or writes the inventory.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct DatabaseArg {
    /// Inventory database (default: the one in the configuration).
    #[arg(long, value_name = "FILE")]
    pub(crate) database: Option<PathBuf>,
}

pub(crate) fn database_path<'a>(
    config: &'a CollectorConfig,
    database: &'a DatabaseArg,
) -> &'a Path {
    database.database.as_deref().unwrap_or(&config.database)
}

pub(crate) fn open_reader(config: &CollectorConfig, database: &DatabaseArg) -> Result<SqliteStore> {
    let path = database_path(config, database);
    if !path.exists() {
        bail!(
            "no inventory at {}: start the collector first (hygie-collector serve), or pass --config/--database",
            path.display()
        );
    }
    Ok(SqliteStore::open_reader(path)?)
}

/// The write side, for registry changes. A registry may be imported before the collector
/// first runs: the database is then created.
pub(crate) fn open_writer(config: &CollectorConfig, database: &DatabaseArg) -> Result<SqliteStore> {
    let path = database_path(config, database);
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        hygie_collector::files::create_private_dir(parent)?;
    }
    // Registry changes append events: they are sealed with the collector's key, as the
    // collector's own are.
    signing::ensure_key(&config.signing_key)?;
    let signer = load_signer(&config.signing_key)?;
    Ok(SqliteStore::open_writer(path, config.durability)?.with_sealer(signer))
}

/// Reads the verdicts the collector stored; the classification rules of this configuration
/// serve only to explain a MAC the collector has no verdict on.
pub(crate) fn open_query(
    config: &CollectorConfig,
    database: &DatabaseArg,
) -> Result<Query<SqliteStore>> {
    let store = open_reader(config, database)?;
    Ok(Query::new(store, config.rules.clone()))
}

pub(crate) fn load_signer(path: &Path) -> Result<Signer25519> {
    if !path.exists() {
        bail!(
            "no signing key at {}: it is created by `hygie-collector ca init` or on the collector's first start",
            path.display()
        );
    }
    Ok(Signer25519::load(path)?)
}
