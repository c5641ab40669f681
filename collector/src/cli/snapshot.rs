//! Signed snapshots out (`export`) and checks of snapshots and of the event chain (`verify`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use hygie_collector::audit;
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing::{self, Verifier25519};
use hygie_collector::export::{netbox, verify};
use hygie_collector::store::InventoryReader;
use hygie_collector::store::listing::{Listing, VerdictStatus};
use jiff::Timestamp;

use super::open::{DatabaseArg, load_signer, open_query, open_reader};
use super::snapshot_out::write_snapshot;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    Json,
    Csv,
    Html,
    /// The CSV files NetBox 4.x bulk import takes, in the directory --out names.
    Netbox,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Snapshot format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// File to write (with --format netbox: the directory to write the files in).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The inventory as it stood at this time (2026-03-01T14:30:00Z) or date (2026-03-01:
    /// the end of that day, UTC), rebuilt from the event log and the observation history.
    #[arg(long, value_name = "DATE")]
    at: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn export(args: ExportArgs, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    let ExportArgs {
        format,
        out,
        at,
        database,
    } = args;
    if matches!(format, ExportFormat::Netbox) {
        if at.is_some() {
            bail!(
                "--at is not available with --format netbox: NetBox imports the present inventory"
            );
        }
        return netbox(&out, config, &database);
    }
    if let Some(at) = at {
        return super::at::export(&at, format, &out, config, &database, now);
    }
    let query = open_query(config, &database)?;
    if let VerdictStatus::Previous(staleness) = query.verdict_status()? {
        eprintln!("note: {staleness}");
    }
    let signer = load_signer(&config.signing_key)?;
    let hostname = hygie_proto::kernel_hostname().unwrap_or_default();
    let counts = write_snapshot(&out, format, &signer, |sink| {
        query.snapshot(now, hostname, sink).map_err(io_error)
    })?;
    println!(
        "{} assets ({} unmanaged) written to {}",
        counts.assets,
        counts.assets - counts.managed,
        out.display()
    );
    if !matches!(format, ExportFormat::Html) {
        println!(
            "verify offline with: hygie-collector verify {} --key {}",
            out.display(),
            signing::public_key_path(&config.signing_key).display()
        );
    }
    Ok(())
}

/// `export --format netbox`: the files written as the read port hands out the devices.
fn netbox(out: &Path, config: &CollectorConfig, database: &DatabaseArg) -> Result<()> {
    let query = open_query(config, database)?;
    if let VerdictStatus::Previous(staleness) = query.verdict_status()? {
        eprintln!("note: {staleness}");
    }
    let mut writer = netbox::NetboxWriter::begin(out)?;
    let mut failed = None;
    let mut randomized = 0u64;
    query.list(&Listing::default(), &mut |view| {
        if !netbox::exported(&view) {
            randomized += 1;
            return true;
        }
        match writer.device(&view) {
            Ok(()) => true,
            Err(error) => {
                failed = Some(error);
                false
            }
        }
    })?;
    if let Some(error) = failed {
        return Err(error.into());
    }
    let report = writer.finish()?;
    println!(
        "{} devices written to {} as NetBox import files; import them in this order:",
        report.devices(),
        out.display()
    );
    for ((name, model, _), rows) in netbox::FILES.iter().zip(report.rows) {
        println!("  {name}  ({model}, {rows} rows)");
    }
    if randomized > 0 {
        println!("{randomized} unregistered devices with a randomized MAC were left out");
    }
    Ok(())
}

fn io_error(error: hygie_collector::query::QueryError) -> std::io::Error {
    match error {
        hygie_collector::query::QueryError::Write(error) => error,
        other => std::io::Error::other(hygie_proto::error_chain(&other)),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The snapshot to check.
    #[arg(required_unless_present = "events")]
    file: Option<PathBuf>,
    /// The trusted public key (signing.pub; default: the configured key's).
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    /// Check the inventory's event chain instead.
    #[arg(long, conflicts_with = "file")]
    events: bool,
    /// With --events: also check that this snapshot's chain head is in the chain.
    #[arg(long, value_name = "FILE", requires = "events")]
    snapshot: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn verify(
    args: VerifyArgs,
    config: impl FnOnce() -> Result<CollectorConfig>,
) -> Result<()> {
    if args.events {
        let config = config()?;
        verify_events(
            &config,
            &args.database,
            args.snapshot.as_deref(),
            args.key.as_deref(),
        )
    } else {
        let file = args.file.context("give the snapshot file to verify")?;
        let key = match args.key {
            Some(key) => key,
            None => signing::public_key_path(&config()?.signing_key),
        };
        verify_snapshot(&file, &key)
    }
}

fn verify_snapshot(file: &Path, key: &Path) -> Result<()> {
    let trusted = Verifier25519::load(key).context(
        "the trusted public key (pass --key signing.pub; it sits beside the collector's signing key)",
    )?;
    let mut source =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    match verify::verify_source(&mut source, &trusted) {
        Ok(verified) => {
            let header = &verified.header;
            println!(
                "{}: OK. {} snapshot {} taken {} by {} (key {}): {} assets, event chain head #{}.",
                file.display(),
                verified.format,
                header.id,
                header.taken_at,
                hygie_proto::terminal_safe(&header.collector.hostname, 64),
                header.collector.key_id,
                header.rows,
                header.events_head.id
            );
            if let Some(past) = &header.reconstruction {
                println!("{}", super::at::describe_reconstruction(past));
            }
            Ok(())
        }
        Err(tampered) => bail!("{}: NOT VERIFIED: {tampered}", file.display()),
    }
}

pub(super) fn verify_events(
    config: &CollectorConfig,
    database: &DatabaseArg,
    snapshot: Option<&Path>,
    key: Option<&Path>,
) -> Result<()> {
    let store = open_reader(config, database)?;
    let head = match store.verify_events()? {
        Ok(head) => head,
        Err(broken) => bail!("event chain NOT VERIFIED: {broken}"),
    };
    let key = key.map_or_else(
        || signing::public_key_path(&config.signing_key),
        Path::to_owned,
    );
    let trusted = Verifier25519::load(&key)?;
    let seal = store.events_seal()?;
    if let Err(problem) = audit::check_seal(&head, seal.as_ref(), |message, signature| {
        trusted.verify(message, signature)
    }) {
        bail!("event chain NOT VERIFIED: {problem}");
    }
    println!(
        "event chain: OK. {} events, head #{} {}, sealed by key {}",
        head.events,
        head.id,
        head.hash,
        trusted.key_id()
    );
    let Some(snapshot) = snapshot else {
        return Ok(());
    };
    // The snapshot must itself be authentic before its chain head means anything.
    let mut source = std::fs::File::open(snapshot)
        .with_context(|| format!("cannot read {}", snapshot.display()))?;
    let verified = verify::verify_source(&mut source, &trusted)
        .map_err(|tampered| anyhow::anyhow!("{}: NOT VERIFIED: {tampered}", snapshot.display()))?;
    let anchor = &verified.header.events_head;
    if anchor.id == 0 {
        println!("{}: taken before any event.", snapshot.display());
        return Ok(());
    }
    match store.event(anchor.id)? {
        Some(event) if event.hash.to_hex() == anchor.hash => {
            println!(
                "{}: its chain head #{} is in the chain: the log has not been rewritten since.",
                snapshot.display(),
                anchor.id
            );
            Ok(())
        }
        Some(_) => bail!(
            "{}: event #{} differs from the one the snapshot signed: the log was rewritten",
            snapshot.display(),
            anchor.id
        ),
        None => bail!(
            "{}: event #{} it signed is missing from the chain: the log was truncated",
            snapshot.display(),
            anchor.id
        ),
    }
}
