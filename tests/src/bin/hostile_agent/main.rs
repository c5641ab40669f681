//! `hostile-agent`: a valid-but-hostile agent. It holds a real agent certificate and uses it to
//! try to exhaust a collector on this machine: decode amplification, stalled messages, hundreds
//! of streams, idle TLS and TCP connections, invented devices, regressing sequences. It speaks
//! HTTP/2 and gRPC framing by hand (h2 over tokio-rustls), so it can send what no honest client
//! library would.
//!
//! It reports what the collector did to each attack as JSON lines on stdout (see `report`), for
//! `tests/e2e/hostile.rs` to parse. It refuses any address but loopback.
//!
//! ```text
//! hostile-agent --address 127.0.0.1:7443 --ca ca.pem --cert agent.pem --key agent.key all
//! hostile-agent ... --duration 20s --stall-streams 80 stall streams
//! ```

mod attacks;
mod grpc;
mod messages;
mod net;
mod report;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::attacks::Ctx;
use crate::net::{Target, TargetArgs};
use crate::report::Report;

/// How long attacks get after the deadline to record how their units ended.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(
    name = "hostile-agent",
    about = "A hostile agent with a valid certificate, attacking a collector on loopback"
)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// How long to attack.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[command(flatten)]
    options: Options,
    /// The attacks to run, concurrently; `all` runs every one.
    #[arg(required = true, value_enum)]
    attacks: Vec<Attack>,
}

/// The size of each attack.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Options {
    /// amplify: concurrent streams, each on its own connection.
    #[arg(long, default_value_t = 4)]
    pub(crate) amplify_streams: usize,
    /// amplify: empty observations per batch; the sizes are used in turn.
    #[arg(long, value_delimiter = ',', default_values_t = [2_000_000, 8_000_000])]
    pub(crate) amplify_observations: Vec<usize>,
    /// stall: concurrent streams holding a partial message.
    #[arg(long, default_value_t = 40)]
    pub(crate) stall_streams: usize,
    /// stall: connections the stalled streams share.
    #[arg(long, default_value_t = 4)]
    pub(crate) stall_connections: usize,
    /// stall: the message length the prefix claims, in bytes.
    #[arg(long, default_value_t = hygie_proto::limits::MAX_MESSAGE_BYTES)]
    pub(crate) stall_claim: usize,
    /// stall: how much of the claimed message is sent, in percent.
    #[arg(long, default_value_t = 94, value_parser = clap::value_parser!(u8).range(1..100))]
    pub(crate) stall_percent: u8,
    /// streams: concurrent streams on one connection.
    #[arg(long, default_value_t = 400)]
    pub(crate) streams: usize,
    /// idle-tls: TLS connections that never send the HTTP/2 preface.
    #[arg(long, default_value_t = 1_100)]
    pub(crate) idle_tls: usize,
    /// idle-tcp: TCP connections that never start TLS.
    #[arg(long, default_value_t = 200)]
    pub(crate) idle_tcp: usize,
    /// idle-*: connection attempts in progress at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) connect_parallel: usize,
    /// invent: observations of new MACs per batch.
    #[arg(long, default_value_t = hygie_proto::limits::MAX_BATCH_OBSERVATIONS)]
    pub(crate) invent_batch: usize,
    /// invent: batches sent ahead of their Acks.
    #[arg(long, default_value_t = 4)]
    pub(crate) invent_window: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Attack {
    Amplify,
    Stall,
    Streams,
    IdleTls,
    IdleTcp,
    Invent,
    Regress,
    All,
}

impl Attack {
    const EVERY: [Attack; 7] = [
        Attack::Amplify,
        Attack::Stall,
        Attack::Streams,
        Attack::IdleTls,
        Attack::IdleTcp,
        Attack::Invent,
        Attack::Regress,
    ];

    fn name(self) -> &'static str {
        match self {
            Attack::Amplify => "amplify",
            Attack::Stall => "stall",
            Attack::Streams => "streams",
            Attack::IdleTls => "idle-tls",
            Attack::IdleTcp => "idle-tcp",
            Attack::Invent => "invent",
            Attack::Regress => "regress",
            Attack::All => "all",
        }
    }
}

/// Raises this process's descriptor limit to its hard limit: the idle attacks alone hold more
/// connections than a default soft limit of 1024. Returns the limit in force.
fn raise_descriptor_limit() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let nofile = raise_descriptor_limit();
    let target = Arc::new(Target::new(&cli.target)?);
    let mut attacks: Vec<Attack> = if cli.attacks.contains(&Attack::All) {
        Attack::EVERY.to_vec()
    } else {
        cli.attacks.clone()
    };
    attacks.dedup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli, target, attacks, nofile));
    Ok(())
}

async fn run(cli: Cli, target: Arc<Target>, attacks: Vec<Attack>, nofile: u64) {
    let names: Vec<_> = attacks.iter().map(|attack| attack.name()).collect();
    println!(
        "{}",
        json!({
            "type": "start",
            "attacks": names,
            "duration_ms": cli.duration.as_millis() as u64,
            "nofile": nofile,
        })
    );
    let started = Instant::now();
    let ctx = Arc::new(Ctx {
        target,
        deadline: started + cli.duration,
        options: cli.options,
    });
    let mut tasks = JoinSet::new();
    let mut reports = Vec::new();
    for attack in attacks {
        let report = Arc::new(Report::new(attack.name()));
        reports.push(Arc::clone(&report));
        tasks.spawn(attacks::run(attack, Arc::clone(&ctx), report));
    }
    let grace = ctx.deadline + GRACE;
    loop {
        match tokio::time::timeout_at(grace, tasks.join_next()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(error))) => eprintln!("hostile-agent: an attack failed: {error}"),
            Ok(None) => break,
            Err(_) => {
                eprintln!("hostile-agent: attacks still running {GRACE:?} after the deadline");
                break;
            }
        }
    }
    tasks.abort_all();
    for report in reports {
        report.summary();
    }
    println!(
        "{}",
        json!({"type": "done", "elapsed_ms": started.elapsed().as_millis() as u64})
    );
}
