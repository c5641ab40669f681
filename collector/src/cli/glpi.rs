//! `glpi push`: one push of the inventory to GLPI, or a dry run that shows the documents.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hygie_collector::config::CollectorConfig;
use hygie_collector::glpi::{self, Document, GlpiClient, Mode, Target};
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::open::{DatabaseArg, database_path};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum GlpiCommand {
    /// Send the devices whose document changed since GLPI last accepted it (all of them the
    /// first time), as configured in [glpi].
    Push(PushArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// Send nothing: print each document that would be sent (one JSON document per line), or
    /// write them to --out.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: write each document to DIR/hygie-<mac>.json instead.
    #[arg(long, value_name = "DIR", requires = "dry_run")]
    out: Option<PathBuf>,
    /// Send every selected device, changed or not.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn glpi(command: GlpiCommand, config: &CollectorConfig) -> Result<()> {
    match command {
        GlpiCommand::Push(args) => push(args, config),
    }
}

fn push(args: PushArgs, config: &CollectorConfig) -> Result<()> {
    let Some(settings) = &config.glpi else {
        bail!(
            "no [glpi] section in the configuration: add one with at least `url` (see packaging/collector.toml)"
        );
    };
    let database = database_path(config, &args.database).to_owned();
    if !database.exists() {
        bail!(
            "no inventory at {}: start the collector first (hygie-collector serve), or pass --config/--database",
            database.display()
        );
    }
    let mode = if args.full { Mode::Full } else { Mode::Changed };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let shutdown = CancellationToken::new();
    let stop_on_interrupt = shutdown.clone();
    let report = runtime.block_on(async {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop_on_interrupt.cancel();
            }
        });
        if args.dry_run {
            if let Some(dir) = &args.out {
                hygie_collector::files::create_private_dir(dir)?;
            }
            let stdout = std::io::stdout();
            let mut sink = |document: &Document| -> std::io::Result<()> {
                match &args.out {
                    Some(dir) => {
                        let path =
                            dir.join(format!("{}.json", glpi::document::device_id(document.mac)));
                        hygie_collector::files::write_atomic(
                            &path,
                            hygie_collector::files::SECRET,
                            &document.body,
                        )
                        .map_err(std::io::Error::other)
                    }
                    None => {
                        let mut out = stdout.lock();
                        out.write_all(&document.body)?;
                        out.write_all(b"\n")
                    }
                }
            };
            Ok::<_, anyhow::Error>(
                glpi::push(
                    &database,
                    settings,
                    mode,
                    Target::DryRun(&mut sink),
                    &shutdown,
                    Timestamp::now,
                )
                .await?,
            )
        } else {
            let agent_id = glpi::agent_id::load_or_create(&settings.agent_id_file)?;
            let client = GlpiClient::new(settings, &agent_id.to_string())?;
            Ok(glpi::push(
                &database,
                settings,
                mode,
                Target::Glpi(&client),
                &shutdown,
                Timestamp::now,
            )
            .await?)
        }
    })?;
    let verb = if args.dry_run {
        "dry run (nothing sent)"
    } else {
        "GLPI push"
    };
    // The report quotes GLPI's messages, already made safe for a terminal.
    eprintln!("{verb}: {report}");
    if let Some(dir) = &args.out {
        eprintln!("documents written to {}", dir.display());
    }
    if !report.is_complete() {
        bail!(
            "not every device reached GLPI (see the warnings above); they are sent again at the next push"
        );
    }
    Ok(())
}
