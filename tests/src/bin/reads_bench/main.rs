//! Reads benchmark (issue 9): builds an inventory of N distinct assets through the real ingest
//! path, then times the read commands against the collector's database while it runs, each
//! beside the target and beside the storage floor measured in the same run.
//!
//! Run with `tests/bench.sh reads [--assets N]` (builds the release binaries first), or
//! `cargo run --release -p hygie-tests --bin reads-bench -- --help`.
//!
//! 1. A registry CSV (the managed share of the fleet, see `hygie_tests::fleet`) is imported with
//!    `hygie-collector registry import`, before the collector first starts.
//! 2. A release `hygie-collector serve` with a temporary configuration whose `[limits]` lift
//!    the new-asset quotas takes one observation of each device from several agents (their
//!    own certificates, several sites) over gRPC and mutual TLS, in batches of up to 5,000.
//! 3. Each read command runs as a child under a time limit and an address-space cap, measured
//!    by a fresh wrapper process (`hygie_tests::measure`): wall time and peak RSS. A command
//!    that runs out of memory or time is reported as such.
//! 4. The floor: the same child measurement of this binary reading the same database with
//!    rusqlite alone (one asset's rows; the first 50 unmanaged by primary key; `count(*)`;
//!    every row and column of the asset tables and the registry).
//!
//! Commands are detected from `--help` (`assets --limit`), so the benchmark runs against the
//! command line of today and of the read-side rewrite alike.

mod floor;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hygie_collector::export::signing;
use hygie_proto::pb;
use hygie_tests::bins::binary;
use hygie_tests::fleet::{self, Fleet};
use hygie_tests::free_port;
use hygie_tests::measure::{self, Caps, Measured, Outcome, WRAPPER_ARG};
use hygie_tests::pki::TestPki;
use hygie_tests::process::Collector;
use hygie_tests::stream::send_batches;
use jiff::Timestamp;

const SITES: [&str; 4] = ["chu-nord", "chu-sud", "ch-est", "clinique-ouest"];

struct Options {
    assets: u32,
    agents: u32,
    batch: u32,
    caps: Caps,
    keep: Option<PathBuf>,
    reuse: bool,
}

const USAGE: &str = "reads-bench [--assets 1000000] [--agents 8] [--batch 5000] \
    [--timeout 10min] [--memory-cap 12GiB] [--keep DIR [--reuse]]

  --assets N       distinct assets to ingest (at most 16,777,216)
  --agents N       agent streams (certificates), spread over 4 sites
  --batch N        observations per batch (at most 5,000)
  --timeout T      each read command is killed after this long
  --memory-cap B   each read command's address-space cap (RLIMIT_AS): KiB, MiB, GiB suffixes
  --keep DIR       build the inventory in DIR and leave it there (default: a temporary
                   directory, removed at the end)
  --reuse          with --keep: time the reads again on the inventory an earlier run left in
                   DIR (same --assets), without importing or ingesting";

fn parse_size(text: &str) -> Result<u64> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let scale: u64 = match unit {
        "" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        other => bail!("unknown size unit {other:?} (KiB, MiB, GiB)"),
    };
    Ok(number.parse::<u64>()? * scale)
}

fn parse_options() -> Result<Options> {
    let mut options = Options {
        assets: 1_000_000,
        agents: 8,
        batch: 5_000,
        caps: Caps {
            timeout: Duration::from_secs(600),
            address_space: 12 << 30,
        },
        keep: None,
        reuse: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--assets" => options.assets = value()?.replace(['_', ','], "").parse()?,
            "--agents" => options.agents = value()?.parse()?,
            "--batch" => options.batch = value()?.parse()?,
            "--timeout" => options.caps.timeout = humantime::parse_duration(&value()?)?,
            "--memory-cap" => options.caps.address_space = parse_size(&value()?)?,
            "--keep" => options.keep = Some(value()?.into()),
            "--reuse" => options.reuse = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other} (try --help)"),
        }
    }
    if options.assets == 0 || options.assets > fleet::MAX_DEVICES - options.assets / 1000 {
        bail!("--assets must be between 1 and about 16,7 million");
    }
    if options.reuse && options.keep.is_none() {
        bail!("--reuse needs --keep DIR");
    }
    if options.agents == 0 || options.batch == 0 {
        bail!("--agents and --batch must be positive");
    }
    if options.batch as usize > hygie_proto::limits::MAX_BATCH_OBSERVATIONS {
        bail!(
            "--batch is at most {}",
            hygie_proto::limits::MAX_BATCH_OBSERVATIONS
        );
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|arg| arg.to_str()) {
        Some(WRAPPER_ARG) => return measure::wrapper_main(&args[2..]),
        Some(floor::FLOOR_ARG) => return floor::main(&args[2..]),
        _ => {}
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reads-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A figure beside its target.
struct Row {
    what: String,
    figures: Option<Measured>,
    target_wall: Option<Duration>,
    target_mb: Option<u64>,
    floor: Option<Duration>,
    note: String,
}

fn run() -> Result<()> {
    let options = parse_options()?;
    let temporary = tempfile::tempdir()?;
    let dir = match &options.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => temporary.path().to_owned(),
    };
    let work = dir.join("reads");
    std::fs::create_dir_all(&work)?;
    println!(
        "reads benchmark: {} assets from {} agents at {} sites, batches of {}; each read \
         command capped at {} and {} of address space; work in {}",
        options.assets,
        options.agents,
        SITES.len(),
        options.batch,
        humantime::format_duration(options.caps.timeout),
        gib(options.caps.address_space),
        dir.display()
    );

    let (mut collector, after_ingest) = if options.reuse {
        let mut collector = configure(&dir)?.0;
        let started = Instant::now();
        collector.start_within(Duration::from_secs(600))?;
        println!(
            "collector restarted on the kept inventory: listening after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        (collector, "collector, restarted on it")
    } else {
        (build(&dir, &options)?, "collector, after ingest")
    };
    let stored = floor::count_assets(&collector.database())?;
    if stored != u64::from(options.assets) {
        bail!(
            "the collector holds {stored} assets, expected {}; log:\n{}",
            options.assets,
            collector.log()
        );
    }
    let after_ingest = (after_ingest, collector.peak_rss_kib().unwrap_or(0));
    let database_mb =
        std::fs::metadata(collector.database()).map_or(0, |meta| meta.len()) / 1_000_000;
    println!(
        "inventory: {stored} assets, database {database_mb} MB; {}: peak RSS {}",
        after_ingest.0,
        mb(after_ingest.1)
    );

    let mut rows = reads(&collector, &options, &work)?;
    let after_reads = collector.peak_rss_kib().unwrap_or(0);
    for (what, kib) in [after_ingest, ("collector, after the reads", after_reads)] {
        rows.push(Row {
            what: what.into(),
            figures: Some(Measured {
                wall: Duration::ZERO,
                peak_rss_kib: kib,
                outcome: Outcome::Succeeded,
                stderr_tail: String::new(),
            }),
            target_wall: None,
            target_mb: Some(600),
            floor: None,
            note: "VmHWM".into(),
        });
    }
    collector.stop();
    print_table(options.assets, &rows);
    Ok(())
}

/// The PKI and the collector's configuration in `dir`, with `[limits]` that lift the new-asset
/// quotas. Run again on a kept directory, it gives the same collector a new port and server
/// certificate; the data directory and its signing key stay.
fn configure(dir: &Path) -> Result<(Collector, TestPki)> {
    let pki = TestPki::create(&dir.join("pki"))?;
    let lifted = 4_000_000_000_u32;
    let collector = Collector::configure(
        &dir.join("collector"),
        &pki.paths,
        free_port()?,
        &format!(
            "[limits]\nnew_assets_per_agent_per_hour = {lifted}\nassets_per_agent = {lifted}\n\
             assets_per_site = {lifted}\n"
        ),
    )?;
    Ok((collector, pki))
}

/// Imports the registry, starts the collector and ingests the fleet.
fn build(dir: &Path, options: &Options) -> Result<Collector> {
    let fleet = Fleet::ending_before(options.assets, Timestamp::now());
    let (mut collector, pki) = configure(dir)?;
    let registry = dir.join("registry.csv");
    std::fs::write(&registry, fleet.registry_csv(&SITES))?;
    let started = Instant::now();
    let output = collector
        .command()?
        .arg("registry")
        .arg("import")
        .arg(&registry)
        .output()?;
    if !output.status.success() {
        bail!(
            "registry import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!(
        "registry import: {} in {:.1} s",
        String::from_utf8_lossy(&output.stdout).trim(),
        started.elapsed().as_secs_f64()
    );
    collector.start()?;
    let ingest = ingest(&collector, &pki, &fleet, options)?;
    println!(
        "ingest: {} observations in {:.1} s ({:.0}/s)",
        options.assets,
        ingest.as_secs_f64(),
        f64::from(options.assets) / ingest.as_secs_f64(),
    );
    Ok(collector)
}

/// Streams one observation of each device, device `n` from agent `n % agents`, each agent a
/// certificate of its own at site `agent % 4`, all agents at once.
fn ingest(
    collector: &Collector,
    pki: &TestPki,
    fleet: &Fleet,
    options: &Options,
) -> Result<Duration> {
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for agent in 0..options.agents {
            let site = SITES[agent as usize % SITES.len()];
            let certs = pki.agent(&format!("reads-{agent}"), site)?;
            let fleet = *fleet;
            let devices: Vec<u32> = (agent..options.assets)
                .step_by(options.agents as usize)
                .collect();
            let batch = options.batch as usize;
            let batches =
                (0..devices.len().div_ceil(batch)).map(move |index| pb::ObservationBatch {
                    sequence: index as u64 + 1,
                    observations: devices[index * batch..((index + 1) * batch).min(devices.len())]
                        .iter()
                        .map(|n| pb::Observation::from(&fleet.observation(*n)))
                        .collect(),
                });
            tasks.spawn(send_batches(collector.port, certs, batches));
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        anyhow::Ok(())
    })?;
    Ok(started.elapsed())
}

/// Whether `hygie-collector SUBCOMMAND --help` lists `flag`.
fn offers(collector: &Collector, subcommand: &str, flag: &str) -> Result<bool> {
    let output = collector
        .command()?
        .arg(subcommand)
        .arg("--help")
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).contains(flag))
}

/// One read command: its arguments after `hygie-collector --config FILE`, where its standard
/// output goes, its targets and the floor it is compared with.
struct Read {
    label: &'static str,
    what: String,
    args: Vec<OsString>,
    stdout: PathBuf,
    target_wall: Duration,
    target_mb: Option<u64>,
    floor: usize,
    note: String,
    /// The snapshot it reads: not run when an export failed to write it.
    needs: Option<PathBuf>,
}

fn args(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

const FLOORS: [(&str, &str); 4] = [
    ("asset", "floor: one asset's rows, rusqlite"),
    ("page", "floor: first 50 unmanaged, rusqlite"),
    ("count", "floor: SELECT count(*) FROM assets"),
    ("scan", "floor: every row of the asset tables"),
];
const FLOOR_ASSET: usize = 0;
const FLOOR_PAGE: usize = 1;
const FLOOR_SCAN: usize = 3;

fn reads(collector: &Collector, options: &Options, work: &Path) -> Result<Vec<Row>> {
    let program = binary("hygie-collector")?;
    let database = collector.database();
    let probe = (options.assets / 2..options.assets)
        .find(|n| fleet::registered(*n) && fleet::is_biomedical(*n))
        .unwrap_or(options.assets / 2);
    let mac = fleet::mac(probe).to_string();
    let public_key = signing::public_key_path(&collector.dir.join("pki/signing.key"));
    let out = |label: &str| work.join(format!("{label}.out"));
    // A snapshot left by an earlier run (--reuse) must not be verified in place of this one's.
    for format in ["json", "csv"] {
        let _ = std::fs::remove_file(work.join(format!("snapshot.{format}")));
    }

    println!("the storage floor (this binary, rusqlite alone, read-only):");
    let mut floors = Vec::new();
    for (kind, what) in FLOORS {
        let arguments = vec![
            OsString::from(floor::FLOOR_ARG),
            kind.into(),
            database.clone().into(),
            mac.clone().into(),
        ];
        let label = format!("floor-{kind}");
        let measured = measure::measure(
            &label,
            &std::env::current_exe()?,
            &arguments,
            &out(&label),
            options.caps,
            work,
        )?;
        println!("  {what}: {}", describe(&measured));
        floors.push((what, measured));
    }

    let limit = offers(collector, "assets", "--limit")?;
    let (page_what, page_args, page_note) = if limit {
        (
            "assets --unmanaged --limit 50",
            args(&["assets", "--unmanaged", "--limit", "50"]),
            "",
        )
    } else {
        (
            "assets --unmanaged",
            args(&["assets", "--unmanaged"]),
            "no --limit: whole listing",
        )
    };
    let export = |format: &str| {
        let mut words = args(&["export", "--format", format, "--out"]);
        words.push(work.join(format!("snapshot.{format}")).into());
        words
    };
    let verify = |format: &str| {
        let snapshot = work.join(format!("snapshot.{format}"));
        let mut words = args(&["verify"]);
        words.extend([
            snapshot.clone().into(),
            "--key".into(),
            public_key.clone().into(),
        ]);
        Read {
            label: if format == "json" {
                "verify-json"
            } else {
                "verify-csv"
            },
            what: format!("verify snapshot.{format} --key"),
            args: words,
            stdout: out(&format!("verify-{format}")),
            target_wall: Duration::from_secs(15),
            target_mb: Some(128),
            floor: FLOOR_SCAN,
            note: String::new(),
            needs: Some(snapshot),
        }
    };
    let commands = vec![
        Read {
            label: "asset",
            what: format!("asset {mac}"),
            args: args(&["asset", &mac]),
            stdout: out("asset"),
            target_wall: Duration::from_millis(50),
            target_mb: None,
            floor: FLOOR_ASSET,
            note: String::new(),
            needs: None,
        },
        Read {
            label: "page",
            what: page_what.into(),
            args: page_args,
            stdout: out("page"),
            target_wall: Duration::from_millis(100),
            target_mb: None,
            floor: FLOOR_PAGE,
            note: page_note.into(),
            needs: None,
        },
        Read {
            label: "listing",
            what: "assets --format json >/dev/null".into(),
            args: args(&["assets", "--format", "json"]),
            stdout: "/dev/null".into(),
            target_wall: Duration::from_secs(10),
            target_mb: None,
            floor: FLOOR_SCAN,
            note: String::new(),
            needs: None,
        },
        Read {
            label: "export-json",
            what: "export --format json".into(),
            args: export("json"),
            stdout: out("export-json"),
            target_wall: Duration::from_secs(15),
            target_mb: Some(256),
            floor: FLOOR_SCAN,
            note: String::new(),
            needs: None,
        },
        Read {
            label: "export-csv",
            what: "export --format csv".into(),
            args: export("csv"),
            stdout: out("export-csv"),
            target_wall: Duration::from_secs(15),
            target_mb: Some(256),
            floor: FLOOR_SCAN,
            note: String::new(),
            needs: None,
        },
        verify("json"),
        verify("csv"),
    ];

    println!("the read commands (the collector serving):");
    let mut rows = Vec::new();
    for read in commands {
        let mut note = read.note;
        let missing = read.needs.as_ref().filter(|snapshot| !snapshot.exists());
        let figures = if let Some(snapshot) = missing {
            note = format!("not run: no {}", file_name(snapshot));
            None
        } else {
            let mut full: Vec<OsString> = collector.serve_args()[..2]
                .iter()
                .map(|arg| (*arg).to_owned())
                .collect();
            full.extend(read.args);
            let measured = measure::measure(
                read.label,
                &program,
                &full,
                &read.stdout,
                options.caps,
                work,
            )?;
            println!("  {}: {}", read.what, describe(&measured));
            if let Some(snapshot) = &read.needs {
                let size = std::fs::metadata(snapshot).map_or(0, |meta| meta.len());
                note = format!("snapshot of {} MB", size / 1_000_000);
            }
            match measured.outcome {
                Outcome::OutOfMemory => {
                    note = format!(
                        "out of memory after {} (cap {})",
                        seconds(measured.wall),
                        gib(options.caps.address_space)
                    );
                }
                Outcome::TimedOut => note = format!("killed after {}", seconds(measured.wall)),
                _ => {}
            }
            Some(measured)
        };
        let floor = &floors[read.floor].1;
        rows.push(Row {
            what: read.what,
            figures,
            target_wall: Some(read.target_wall),
            target_mb: read.target_mb,
            floor: (floor.outcome == Outcome::Succeeded).then_some(floor.wall),
            note,
        });
    }
    for (what, measured) in floors {
        rows.push(Row {
            what: what.into(),
            figures: Some(measured),
            target_wall: None,
            target_mb: None,
            floor: None,
            note: "reference".into(),
        });
    }
    Ok(rows)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1 << 30))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

/// KiB as decimal megabytes, the unit of the targets.
fn mb(kib: u64) -> String {
    let mb = kib as f64 * 1024.0 / 1e6;
    if mb >= 10_000.0 {
        format!("{:.1} GB", mb / 1000.0)
    } else {
        format!("{mb:.0} MB")
    }
}

fn seconds(wall: Duration) -> String {
    let seconds = wall.as_secs_f64();
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.1} s")
    }
}

fn describe(measured: &Measured) -> String {
    let ended = match &measured.outcome {
        Outcome::Succeeded => String::new(),
        Outcome::OutOfMemory => " OUT OF MEMORY under the cap".into(),
        Outcome::TimedOut => " TIMED OUT (killed)".into(),
        Outcome::Failed(code) => format!(" FAILED (exit {code}): {}", measured.stderr_tail),
        Outcome::Signalled(signal) => format!(" KILLED by signal {signal}"),
    };
    format!(
        "{}, peak RSS {}{ended}",
        seconds(measured.wall),
        mb(measured.peak_rss_kib)
    )
}

fn print_table(assets: u32, rows: &[Row]) {
    println!();
    println!(
        "{assets} assets. Targets: the issue's, for 1,000,000 assets on this machine; MB = 10^6 \
         bytes; x floor = wall time over the rusqlite floor's."
    );
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}  note",
        "", "wall", "target", "peak RSS", "target", "met", "x floor"
    );
    for row in rows {
        let (wall, rss, met) = match &row.figures {
            Some(figures) if figures.outcome == Outcome::Succeeded => {
                let rss_mb = figures.peak_rss_kib * 1024 / 1_000_000;
                let met = row.target_wall.is_none_or(|target| figures.wall <= target)
                    && row.target_mb.is_none_or(|target| rss_mb <= target);
                let wall = if figures.wall.is_zero() {
                    "-".into()
                } else {
                    seconds(figures.wall)
                };
                (
                    wall,
                    mb(figures.peak_rss_kib),
                    if met { "met" } else { "MISSED" },
                )
            }
            Some(figures) => (
                match figures.outcome {
                    Outcome::OutOfMemory => "OOM".into(),
                    Outcome::TimedOut => format!(">{}", seconds(figures.wall)),
                    _ => "failed".into(),
                },
                mb(figures.peak_rss_kib),
                "MISSED",
            ),
            None => ("-".into(), "-".into(), "-"),
        };
        let met = if row.target_wall.is_none() && row.target_mb.is_none() {
            ""
        } else {
            met
        };
        let ratio = match (&row.figures, row.floor) {
            (Some(figures), Some(floor))
                if figures.outcome == Outcome::Succeeded && !floor.is_zero() =>
            {
                format!("{:.0}", figures.wall.as_secs_f64() / floor.as_secs_f64())
            }
            _ => String::new(),
        };
        println!(
            "{:<38} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}  {}",
            row.what,
            wall,
            row.target_wall
                .map_or(String::new(), |target| format!("<={}", seconds(target))),
            rss,
            row.target_mb
                .map_or(String::new(), |target| format!("<={target} MB")),
            met,
            ratio,
            row.note
        );
    }
}
