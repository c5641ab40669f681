//! Ingest benchmark: observations per second from N concurrent agents over gRPC + mutual TLS
//! into the collector's SQLite, against the raw SQLite upsert rate of the same rows measured
//! in the same run.
//!
//! Run with `tests/bench.sh ingest` (builds the release binaries first), or
//! `cargo run --release -p hygie-tests --bin ingest-bench -- --help`.
//!
//! The reference is what a straightforward implementation would do with the same rows and the
//! same schema and durability: per observation, `INSERT … ON CONFLICT DO UPDATE` into assets,
//! addresses, host names, services and sightings plus one history row, with prepared statements,
//! 5,000 observations per transaction. The end-to-end figure includes TLS, HTTP/2, protobuf
//! decoding, validation, the writer's merge and its commits, with the collector in its own
//! process (the release binary) and the agents as tasks of this process.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hygie_collector::store::{Durability, SqliteStore};
use hygie_proto::{MacAddr, Observation, pb};
use hygie_tests::free_port;
use hygie_tests::observations::device;
use hygie_tests::pki::TestPki;
use hygie_tests::process::Collector;
use hygie_tests::stream::send_batches;
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, params};

struct Options {
    agents: u32,
    observations: u32,
    batch: u32,
    devices_per_agent: u32,
    /// Percent of devices under a clinical vendor's MAC block (biomedical, so in the scan
    /// policy); the rest under a workstation maker's.
    biomedical_percent: u32,
    durability: Durability,
}

fn parse_options() -> Result<Options> {
    let mut options = Options {
        agents: 8,
        observations: 400_000,
        batch: 500,
        devices_per_agent: 5_000,
        biomedical_percent: 100,
        durability: Durability::Full,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--agents" => options.agents = value()?.parse()?,
            "--observations" => options.observations = value()?.parse()?,
            "--batch" => options.batch = value()?.parse()?,
            "--devices-per-agent" => options.devices_per_agent = value()?.parse()?,
            "--biomedical-percent" => options.biomedical_percent = value()?.parse()?,
            "--durability" => {
                options.durability = match value()?.as_str() {
                    "full" => Durability::Full,
                    "normal" => Durability::Normal,
                    other => bail!("--durability full|normal, not {other}"),
                }
            }
            "--help" | "-h" => {
                println!(
                    "ingest-bench [--agents 8] [--observations 400000] [--batch 500] \
                     [--devices-per-agent 5000] [--biomedical-percent 100] \
                     [--durability full|normal]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other} (try --help)"),
        }
    }
    if options.agents == 0 || options.batch == 0 || options.devices_per_agent == 0 {
        bail!("--agents, --batch and --devices-per-agent must be positive");
    }
    if options.biomedical_percent > 100 {
        bail!("--biomedical-percent is at most 100");
    }
    Ok(options)
}

/// Each agent watches its own devices and reports each one repeatedly, a minute apart, as an
/// agent's liveness refreshes would: new devices at first, then refreshes of known ones.
fn workload(options: &Options) -> Vec<Vec<Observation>> {
    let per_agent = options.observations / options.agents;
    let start: Timestamp = "2026-11-25T00:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    (0..options.agents)
        .map(|agent| {
            (0..per_agent)
                .map(|index| {
                    let device_index = index % options.devices_per_agent;
                    let round = index / options.devices_per_agent;
                    let seen = start + SignedDuration::from_mins(i64::from(round));
                    let n = agent * options.devices_per_agent + device_index;
                    let mut observation = device(n, seen);
                    if n % 100 >= options.biomedical_percent {
                        // An HP block: a workstation, which no scan policy lists.
                        observation.mac = MacAddr::from_u64(0x9c7b_ef00_0000 + u64::from(n));
                    }
                    observation
                })
                .collect()
        })
        .collect()
}

fn main() -> Result<()> {
    let options = parse_options()?;
    let workload = workload(&options);
    let total: usize = workload.iter().map(Vec::len).sum();
    let dir = tempfile::tempdir()?;
    println!(
        "workload: {} agents x {} observations = {total} observations in batches of {}, \
         {} devices per agent ({}% biomedical), durability {:?}",
        options.agents,
        workload[0].len(),
        options.batch,
        options.devices_per_agent,
        options.biomedical_percent,
        options.durability
    );

    let raw = raw_sqlite(
        &dir.path().join("raw.sqlite"),
        &workload,
        options.durability,
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (end_to_end, peak_rss_kib) =
        runtime.block_on(end_to_end(dir.path(), &workload, &options))?;

    let rate = |seconds: f64| total as f64 / seconds;
    println!();
    println!(
        "{:<34} {:>12} {:>10} {:>16}",
        "", "observations", "seconds", "observations/s"
    );
    println!(
        "{:<34} {:>12} {:>10.2} {:>16.0}",
        "raw SQLite upserts (reference)",
        total,
        raw.as_secs_f64(),
        rate(raw.as_secs_f64())
    );
    println!(
        "{:<34} {:>12} {:>10.2} {:>16.0}",
        format!("end to end, {} agents, gRPC+mTLS", options.agents),
        total,
        end_to_end.as_secs_f64(),
        rate(end_to_end.as_secs_f64())
    );
    println!(
        "ratio end-to-end / raw: {:.0}%   collector peak RSS: {:.1} MiB",
        100.0 * raw.as_secs_f64() / end_to_end.as_secs_f64(),
        peak_rss_kib as f64 / 1024.0
    );
    Ok(())
}

fn raw_sqlite(
    path: &Path,
    workload: &[Vec<Observation>],
    durability: Durability,
) -> Result<Duration> {
    // The collector's own migrations create the schema; the writes below are hand-written.
    drop(SqliteStore::open_writer(path, durability)?);
    let mut connection = Connection::open(path)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    connection.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA cache_size = -65536;"
    ))?;
    let started = Instant::now();
    for (agent, observations) in workload.iter().enumerate() {
        for chunk in observations.chunks(5_000) {
            let transaction = connection.transaction()?;
            upsert_rows(&transaction, agent as i64 + 1, chunk)?;
            transaction.commit()?;
        }
    }
    Ok(started.elapsed())
}

fn upsert_rows(connection: &Connection, agent: i64, observations: &[Observation]) -> Result<()> {
    let mut asset = connection.prepare_cached(
        "INSERT INTO assets (mac, first_seen, last_seen) VALUES (?1, ?2, ?2)
         ON CONFLICT (mac) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                                         last_seen = max(last_seen, excluded.last_seen)",
    )?;
    let mut address = connection.prepare_cached(
        "INSERT INTO asset_addresses (mac, ip, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (mac, ip) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                                             last_seen = max(last_seen, excluded.last_seen)",
    )?;
    let mut hostname = connection.prepare_cached(
        "INSERT INTO asset_hostnames (mac, hostname, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (mac, hostname) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                                                   last_seen = max(last_seen, excluded.last_seen)",
    )?;
    let mut service = connection.prepare_cached(
        "INSERT INTO asset_services (mac, service_type, instance, port, txt, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (mac, service_type, instance) DO UPDATE SET
            port = excluded.port, txt = excluded.txt,
            first_seen = min(first_seen, excluded.first_seen),
            last_seen = max(last_seen, excluded.last_seen)",
    )?;
    let mut sighting = connection.prepare_cached(
        "INSERT INTO asset_sightings (mac, agent_id, interface, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (mac, agent_id) DO UPDATE SET interface = excluded.interface,
            first_seen = min(first_seen, excluded.first_seen),
            last_seen = max(last_seen, excluded.last_seen)",
    )?;
    let mut history = connection.prepare_cached(
        "INSERT INTO observations
            (mac, agent_id, seen_at, received_at, source, interface, ips, hostname, services)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for observation in observations {
        let mac = observation.mac.to_u64() as i64;
        let seen = observation.seen_at.as_microsecond();
        asset.execute(params![mac, seen])?;
        for ip in &observation.ips {
            address.execute(params![mac, ip.to_string(), seen])?;
        }
        if let Some(name) = &observation.hostname {
            hostname.execute(params![mac, name, seen])?;
        }
        for entry in &observation.services {
            service.execute(params![
                mac,
                entry.service_type,
                entry.instance,
                entry.port,
                serde_json::to_string(&entry.txt)?,
                seen
            ])?;
        }
        sighting.execute(params![mac, agent, observation.interface, seen])?;
        let services = (!observation.services.is_empty())
            .then(|| serde_json::to_string(&observation.services))
            .transpose()?;
        history.execute(params![
            mac,
            agent,
            seen,
            observation.source.as_str(),
            observation.interface,
            serde_json::to_string(&observation.ips)?,
            observation.hostname,
            services,
        ])?;
    }
    Ok(())
}

async fn end_to_end(
    dir: &Path,
    workload: &[Vec<Observation>],
    options: &Options,
) -> Result<(Duration, u64)> {
    let pki = TestPki::create(&dir.join("pki"))?;
    let durability = match options.durability {
        Durability::Full => "full",
        Durability::Normal => "normal",
    };
    let mut collector = Collector::configure(
        &dir.join("collector"),
        &pki.paths,
        free_port()?,
        &format!("[database]\ndurability = \"{durability}\"\n"),
    )?;
    collector.start()?;
    let port = collector.port;

    // Batches are built before the clock starts: the agents' own encoding work stays out of it.
    let mut agents = Vec::new();
    for (index, observations) in workload.iter().enumerate() {
        let certs = pki.agent(&format!("bench-{index}"), "bench")?;
        let batches: Vec<pb::ObservationBatch> = observations
            .chunks(options.batch as usize)
            .enumerate()
            .map(|(sequence, chunk)| pb::ObservationBatch {
                sequence: sequence as u64 + 1,
                observations: chunk.iter().map(pb::Observation::from).collect(),
            })
            .collect();
        agents.push((certs, batches));
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (certs, batches) in agents {
        tasks.spawn(send_batches(port, certs, batches));
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let elapsed = started.elapsed();

    let total: u64 = workload.iter().map(|agent| agent.len() as u64).sum();
    let stored = collector.history_len();
    if stored != total {
        bail!("the collector stored {stored} observations, expected {total}");
    }
    let peak = collector.peak_rss_kib().unwrap_or(0);
    collector.stop();
    Ok((elapsed, peak))
}
