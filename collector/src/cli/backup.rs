//! `backup` and `restore`: an online copy of the inventory database, checked, and putting one
//! back while no collector serves.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing::{self, Verifier25519};
use hygie_collector::files;
use hygie_collector::lock::DataDirLock;
use hygie_collector::store::backup::{self, BackupSettings, Checked};
use jiff::Timestamp;

use super::open::{DatabaseArg, database_path};

#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    /// The backup file to write (replaced atomically if it exists).
    file: PathBuf,
    #[command(flatten)]
    database: DatabaseArg,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    /// The backup file to restore.
    file: PathBuf,
    #[command(flatten)]
    database: DatabaseArg,
}

fn trusted_key(config: &CollectorConfig) -> Result<Verifier25519> {
    let path = signing::public_key_path(&config.signing_key);
    Verifier25519::load(&path).with_context(|| {
        format!(
            "the collector's public key {} checks the event chain's seal",
            path.display()
        )
    })
}

fn describe(checked: &Checked) -> String {
    format!(
        "{} observations, event chain OK: {} events, head #{} {}",
        checked.observations, checked.events.events, checked.events.id, checked.events.hash
    )
}

pub(crate) fn backup(args: BackupArgs, config: &CollectorConfig) -> Result<()> {
    let source = database_path(config, &args.database);
    let trusted = trusted_key(config)?;
    let report = backup::backup(source, &args.file, &trusted, BackupSettings::default())?;
    println!(
        "{} backed up to {} (0600, integrity OK): {}.",
        source.display(),
        args.file.display(),
        describe(&report.checked)
    );
    Ok(())
}

pub(crate) fn restore(args: RestoreArgs, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    files::create_private_dir(&config.data_dir)?;
    // Refuses while `serve` runs on this directory, and keeps one from starting meanwhile.
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let database = database_path(config, &args.database);
    let trusted = trusted_key(config)?;
    let report = backup::restore(&args.file, database, &trusted, now)?;
    println!(
        "{} restored to {}: {}.",
        args.file.display(),
        database.display(),
        describe(&report.checked)
    );
    if let Some(replaced) = &report.replaced {
        println!(
            "The database it replaced is kept as {} (with its -wal and -shm, if any).",
            replaced.display()
        );
    }
    println!(
        "Agents send again what they acknowledged since the backup, from the batches they keep (outbox.keep_acked, 24 h by default): a backup older than that loses what came in between."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::{config_in, mode};
    use hygie_collector::store::{InventoryReader, RegistryChange, SqliteStore};

    fn populated(dir: &std::path::Path) -> CollectorConfig {
        let config = config_in(dir);
        let mut store = super::super::open::open_writer(&config, &DatabaseArg::default()).unwrap();
        store
            .change_registry(
                RegistryChange::Approve {
                    mac: "00:09:5c:11:22:01".parse().unwrap(),
                    fields: Default::default(),
                    do_not_probe: None,
                },
                "2026-11-25T10:00:00Z".parse().unwrap(),
            )
            .unwrap();
        config
    }

    #[test]
    fn backup_then_restore_round_trips_and_restore_refuses_while_serving() {
        let dir = tempfile::tempdir().unwrap();
        let config = populated(dir.path());
        let file = dir.path().join("backup.sqlite");
        backup(
            BackupArgs {
                file: file.clone(),
                database: DatabaseArg::default(),
            },
            &config,
        )
        .unwrap();
        assert_eq!(mode(&file), 0o600);

        let restore_args = || RestoreArgs {
            file: file.clone(),
            database: DatabaseArg::default(),
        };
        let now = "2026-11-26T09:00:00Z".parse().unwrap();
        {
            let _serving = DataDirLock::acquire(&config.data_dir).unwrap();
            let refused = restore(restore_args(), &config, now).unwrap_err();
            let message = format!("{refused:#}");
            assert!(
                message.contains("already using the data directory"),
                "{message}"
            );
            assert!(
                message.contains(&format!("PID {}", std::process::id())),
                "{message}"
            );
        }
        restore(restore_args(), &config, now).unwrap();
        let store = SqliteStore::open_reader(&config.database).unwrap();
        assert_eq!(store.registry().unwrap().len(), 1);
        assert!(
            config
                .data_dir
                .join("inventory.sqlite.before-restore-20261126T090000Z")
                .exists()
        );
    }

    #[test]
    fn backup_without_a_database_or_key_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let args = || BackupArgs {
            file: dir.path().join("b.sqlite"),
            database: DatabaseArg::default(),
        };
        let error = backup(args(), &config).unwrap_err();
        assert!(format!("{error:#}").contains("public key"), "{error:#}");
        signing::ensure_key(&config.signing_key).unwrap();
        let error = backup(args(), &config).unwrap_err();
        assert!(
            format!("{error:#}").contains("no inventory database at"),
            "{error:#}"
        );
    }
}
