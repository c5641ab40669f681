//! `hygie-agent`: the command line.

mod exit;
mod output;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use hygie_agent::config::AgentConfig;
use hygie_agent::discovery::live::{self, SweepEvent, SweepListener};
use hygie_agent::discovery::settings::{self, DiscoverySettings};
use hygie_agent::outbox::{Outbox, SharedOutbox};
use hygie_agent::policy::PolicyBoard;
use hygie_agent::replay::Shaping;
use hygie_agent::report::DeviceTable;
use hygie_agent::tls::ClientTls;
use hygie_agent::uplink::Uplink;
use hygie_agent::uplink::status::{StatusFile, read_status};
use hygie_classify::Rules;
use hygie_proto::{MacAddr, Observation};
use ipnet::IpNet;
use jiff::SignedDuration;
use output::{OutputError, note};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Hygie agent: discovers the devices on a facility subnet and reports them to the collector.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// One line per device with its verdict.
    Table,
    /// The devices as JSON: everything heard, the verdict and its evidence.
    Json,
    /// One JSON observation per line: the format file sources read (replay only).
    Jsonl,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: discover devices and stream observations to the collector.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration file, and the certificate files as the agent and the collector
    /// will: PEM, a key that matches the certificate, signed by the configured CA.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
    /// Show what the outbox holds: waiting observations, unacknowledged batches, evictions.
    Outbox {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Discover the devices on one interface and print them, without a collector.
    Scan {
        /// Interface to listen and probe on.
        #[arg(long, short)]
        interface: String,
        /// Blocks to sweep (default: the interface's own subnet). Repeatable.
        #[arg(long = "cidr", value_name = "CIDR")]
        cidrs: Vec<IpNet>,
        /// Probes per second.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// Listen only: send no ARP probe and no mDNS query.
        #[arg(long)]
        passive_only: bool,
        /// ARP only: send no mDNS query.
        #[arg(long)]
        arp_only: bool,
        /// How long to wait for an answer to a probe, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 2000)]
        timeout: u64,
        /// Extra probes for an address that did not answer.
        #[arg(long, default_value_t = 1)]
        retries: u32,
        /// Listen this long before sweeping, so devices that speak up need no probe.
        #[arg(long, value_name = "SECONDS", default_value_t = 1)]
        warmup: u64,
        /// Never probe these blocks. Repeatable.
        #[arg(long = "exclude", value_name = "CIDR")]
        exclude: Vec<IpNet>,
        /// Never probe these devices. Repeatable.
        #[arg(long = "exclude-mac", value_name = "MAC")]
        exclude_macs: Vec<MacAddr>,
        /// Stop after this many seconds (default: when the sweep and one mDNS round are done;
        /// 60 s when passive).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Site classification rules layered over the defaults (the collector's format).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
    },
    /// Decode a pcap/pcapng capture with the agent's passive decoders.
    Replay {
        /// The capture file.
        file: PathBuf,
        /// Output format: a device table, the devices as JSON (verdicts and evidence), or one
        /// JSON observation per line (`jsonl`: the format file sources read).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Send the observations to the collector of this agent configuration instead of
        /// printing them (through its outbox: stop the agent using it first).
        #[arg(long, value_name = "FILE")]
        send: Option<PathBuf>,
        /// One observation per decoded frame, instead of dropping what the live agent would
        /// not resend within its 30-minute refresh.
        #[arg(long)]
        all: bool,
        /// Site classification rules layered over the defaults (the collector's format).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // packaging/build-debs.sh: the man pages and completions of this very binary.
    if let Some(dir) = hygie_manuals::requested(std::env::args_os()) {
        return hygie_manuals::main(Cli::command(), env!("CARGO_PKG_VERSION"), &dir);
    }
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Run { .. } => "info",
        _ => "warn",
    };
    hygie_daemon::init_logging(default_level);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `| head` had what it wanted.
        Err(error) if OutputError::is_closed(error.as_ref()) => ExitCode::SUCCESS,
        Err(error) => {
            note!("hygie-agent: {error:#}");
            exit::status(&error)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { config } => {
            let config = AgentConfig::load(&config)?;
            runtime()?.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                hygie_agent::run::run(config, shutdown).await
            })?;
            Ok(())
        }
        Command::Validate { file } => {
            let config = AgentConfig::load(&file)?;
            // Exactly what `run` does before its first connection.
            ClientTls::load(&config.collector)?.require_accepted()?;
            output::print(&format!(
                "{} is valid; {} and {} match and are signed by the CA {}:\n{config:#?}\n",
                file.display(),
                config.collector.cert.display(),
                config.collector.key.display(),
                config.collector.ca.display()
            ))?;
            Ok(())
        }
        Command::Outbox { config } => show_outbox(&AgentConfig::load(&config)?),
        Command::Scan {
            interface,
            cidrs,
            rate,
            passive_only,
            arp_only,
            timeout,
            retries,
            warmup,
            exclude,
            exclude_macs,
            duration,
            format,
            rules,
        } => {
            // Compiling the rules (hundreds of regexes) takes a tenth of a second: it happens
            // beside the scan, which needs them only to print. A site file that cannot be
            // read is refused before anything is sent.
            if let Some(path) = &rules {
                std::fs::metadata(path)
                    .with_context(|| format!("cannot read the rules file {}", path.display()))?;
            }
            let rules = std::thread::spawn(move || Rules::load(rules.as_deref()));
            let mut settings = DiscoverySettings::for_interfaces(vec![interface]);
            settings.passive_only = passive_only;
            settings.arp.cidrs = settings::ipv4_only("--cidr", cidrs)?;
            settings.arp.exclude_cidrs = settings::ipv4_only("--exclude", exclude)?;
            settings.arp.exclude_macs = exclude_macs.into_iter().collect();
            settings.arp.rate = rate;
            settings.arp.timeout = Duration::from_millis(timeout);
            settings.arp.retries = retries;
            settings.arp.warmup = Duration::from_secs(warmup);
            settings.mdns.queries = !arp_only;
            settings.mdns.round = Duration::from_secs(5);
            settings.validate()?;
            let table = runtime()?.block_on(scan(settings, duration.map(Duration::from_secs)))?;
            let rules = rules
                .join()
                .map_err(|_| anyhow::anyhow!("loading the classification rules failed"))??;
            print_devices(&table, format, &rules)
        }
        Command::Replay {
            file,
            format,
            send,
            all,
            rules,
        } => {
            // Observation lines and sends are not classified: compiling the rules (hundreds of
            // regexes) would only slow them down.
            let rules = match (format, &send) {
                (Format::Jsonl, _) | (_, Some(_)) => None,
                _ => Some(Rules::load(rules.as_deref())?),
            };
            let shaping = if all {
                Shaping::Off
            } else {
                Shaping::Refresh(SignedDuration::from_mins(30))
            };
            replay(&file, format, send, shaping, rules.as_ref())
        }
    }
}

/// `hygie-agent outbox`: the outbox's figures, the uplink's state, the scan policy in force.
fn show_outbox(config: &AgentConfig) -> Result<()> {
    let outbox = Outbox::open_read_only(&config.outbox.path)?;
    let mut stats = outbox.stats()?;
    stats.max_bytes = config.outbox.max_bytes;
    output::print(&format!(
        "outbox {} ({})\n{}\n",
        outbox.id(),
        config.outbox.path.display(),
        serde_json::to_string_pretty(&stats)?
    ))?;
    match read_status(&config.outbox.path) {
        Some(status) => output::print(&format!(
            "uplink\n{}\n",
            serde_json::to_string_pretty(&status)?
        ))?,
        None => output::print("uplink: no status recorded yet (the agent has not run)\n")?,
    }
    let policy = hygie_agent::policy::load(&hygie_agent::policy::policy_path(&config.outbox.path));
    match policy {
        Some(policy) => output::print(&format!(
            "scan policy version {}: {} protected devices, {} networks{}\n",
            policy.version,
            policy.devices.len(),
            policy.networks.len(),
            if policy.passive_only {
                ", passive only"
            } else {
                ""
            }
        ))?,
        None => output::print("scan policy: none received yet\n")?,
    }
    Ok(())
}

/// Runs discovery until the sweep and one mDNS round finish (or `duration` passes).
async fn scan(settings: DiscoverySettings, duration: Option<Duration>) -> Result<DeviceTable> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let (observations, mut receiver) = mpsc::channel(4096);
    let (finished, mut finished_receiver) = mpsc::unbounded_channel();
    let terminal = std::io::stderr().is_terminal();
    let listener: SweepListener = Arc::new(move |event| match event {
        SweepEvent::Progress {
            interface,
            stats,
            remaining,
        } if terminal => {
            output::to_stderr(format_args!(
                "\r\x1b[Ksweeping {interface}: {} probes sent, {} answered, {remaining} to go",
                stats.sent, stats.answered
            ));
        }
        SweepEvent::Finished {
            interface,
            stats,
            duration,
        } => {
            if terminal {
                output::to_stderr(format_args!("\r\x1b[K"));
            }
            note!(
                "{interface}: swept {} addresses in {duration:.1?}: {} probes, {} answered, {} already heard",
                stats.targets,
                stats.sent,
                stats.answered,
                stats.already_known
            );
            let _ = finished.send(());
        }
        SweepEvent::Progress { .. } => {}
    });
    let active = settings.active_arp();
    let round = if settings.active_mdns() {
        settings.mdns.round
    } else {
        Duration::ZERO
    };
    // A scan sends what the operator asked for at the command line; it has no collector policy.
    let policy = PolicyBoard::in_memory(Some(hygie_proto::ScanPolicy::default()));
    let discovery = live::start(
        &settings,
        observations,
        policy.subscribe(),
        shutdown.clone(),
        Some(listener),
        // A scan prints its figures; it exposes none.
        &hygie_agent::metrics::DiscoveryMetrics::default(),
    )?;
    let deadline = match duration {
        Some(duration) => duration,
        None if active => Duration::MAX,
        None => {
            note!("passive scan: listening for 60 s (set --duration to change)");
            Duration::from_secs(60)
        }
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if duration.is_none() && active {
            let _ = finished_receiver.recv().await;
            // Let the mDNS round land; an ARP-only scan is done when its sweep is (the sweep
            // already waited out its last probe's timeout).
            if !round.is_zero() {
                tokio::time::sleep(round + Duration::from_millis(200)).await;
            }
            stop.cancel();
        } else {
            tokio::select! {
                () = tokio::time::sleep(deadline) => stop.cancel(),
                () = stop.cancelled() => {}
            }
        }
    });
    let mut table = DeviceTable::new();
    loop {
        tokio::select! {
            Some(observation) = receiver.recv() => table.add(&observation),
            () = shutdown.cancelled() => break,
        }
    }
    // Keep draining while the threads stop: one may be blocked on a full channel.
    let mut joined = tokio::task::spawn_blocking(move || discovery.join());
    loop {
        tokio::select! {
            result = &mut joined => {
                result?;
                break;
            }
            Some(observation) = receiver.recv() => table.add(&observation),
        }
    }
    while let Ok(observation) = receiver.try_recv() {
        table.add(&observation);
    }
    Ok(table)
}

fn print_devices(table: &DeviceTable, format: Format, rules: &Rules) -> Result<()> {
    let text = match format {
        Format::Table => table.to_table(rules),
        Format::Json | Format::Jsonl => serde_json::to_string_pretty(&table.devices(rules))? + "\n",
    };
    Ok(output::print(&text)?)
}

fn replay(
    file: &std::path::Path,
    format: Format,
    send: Option<PathBuf>,
    shaping: Shaping,
    rules: Option<&Rules>,
) -> Result<()> {
    let mut observations: Vec<Observation> = Vec::new();
    let mut table = DeviceTable::new();
    let mut lines = output::Stream::new();
    let report = hygie_agent::replay::replay(file, shaping, |observation| {
        if send.is_some() {
            observations.push(observation);
        } else if matches!(format, Format::Jsonl) {
            lines.write(|out| {
                serde_json::to_writer(&mut *out, &observation).map_err(std::io::Error::from)?;
                out.write_all(b"\n")
            });
        } else {
            table.add(&observation);
        }
    })?;
    // The summary goes to standard error even when the reader of the lines left early.
    let written = lines.finish();
    let decoded: Vec<String> = report
        .decoded
        .iter()
        .map(|(protocol, count)| format!("{count} {protocol}"))
        .collect();
    note!(
        "{}: {} frames, decoded: {}; {} other, {} on unsupported links, {} malformed{}; {} observations",
        file.display(),
        report.frames,
        if decoded.is_empty() {
            "none".to_owned()
        } else {
            decoded.join(", ")
        },
        report.other,
        report.unsupported_link,
        report.malformed.values().sum::<u64>(),
        if report.malformed.is_empty() {
            String::new()
        } else {
            format!(" ({:?})", report.malformed)
        },
        report.observations
    );
    if let Some(reason) = &report.truncated {
        note!("the capture ends early: {reason}");
    }
    written?;
    match send {
        Some(config) => send_to_collector(&AgentConfig::load(&config)?, observations),
        None => match rules {
            Some(rules) => print_devices(&table, format, rules),
            None => Ok(()),
        },
    }
}

/// Stores the observations in the configured outbox and streams it until it is empty.
fn send_to_collector(config: &AgentConfig, observations: Vec<Observation>) -> Result<()> {
    let count = observations.len();
    let outbox = Outbox::open_with(&config.outbox.path, config.outbox.limits())?;
    let outbox = SharedOutbox::new(outbox);
    runtime()?.block_on(async {
        outbox
            .append(observations.into(), Vec::new().into())
            .await?;
        let notify = Arc::new(Notify::new());
        let uplink = Uplink::new(
            &config.collector,
            config.uplink,
            outbox.clone(),
            notify,
            PolicyBoard::open(&config.outbox.path),
            StatusFile::new(&config.outbox.path),
        )?
        .give_up_when_refused();
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let watcher = {
            let (outbox, shutdown) = (outbox.clone(), shutdown.clone());
            tokio::spawn(async move {
                while !shutdown.is_cancelled() {
                    if outbox
                        .stats()
                        .await
                        .is_ok_and(|stats| stats.observations == 0)
                    {
                        shutdown.cancel();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let end = uplink.run(shutdown.clone()).await;
        shutdown.cancel();
        let _ = watcher.await;
        let left = outbox.stats().await?.observations;
        match end {
            hygie_agent::uplink::UplinkEnd::Refused(reason) => bail!("not sent: {reason}"),
            _ if left > 0 => bail!("interrupted: {left} observations wait in the outbox"),
            _ => {
                note!("sent {count} observations to {}", config.collector.endpoint);
                Ok(())
            }
        }
    })
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
                shutdown.cancel();
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
