//! `hygie-demo`: a simulated care facility (24 devices in network namespaces), a collector on
//! its embedded default, an agent discovering the facility, and the resulting inventory; then
//! the facility's registry is imported, unmanaged devices examined and approved, and a signed
//! snapshot exported and verified; the web console's address and logins are printed (with
//! `--hold` it stays reachable at https://127.0.0.1:8443 until Enter).
//!
//! Run it with `tests/demo.sh` (which builds the release binaries first). Needs root for the
//! namespaces; every namespace and process it creates is gone when it exits.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hygie_collector::store::SqliteStore;
use hygie_proto::MacAddr;
use hygie_tests::bins::binary;
use hygie_tests::facility::{AGENT_IP, Facility, SUBNET, standard_devices};
use hygie_tests::{netns, wait_until};

fn main() -> Result<()> {
    if !netns::is_root() {
        bail!(
            "the demo builds a simulated facility in network namespaces and needs root: sudo tests/demo.sh"
        );
    }
    let work = tempfile::Builder::new().prefix("hygie-demo-").tempdir()?;
    let dir = work.path();
    let collector_bin = binary("hygie-collector")?;
    let agent_bin = binary("hygie-agent")?;

    let devices = standard_devices();
    println!(
        "== Building a simulated facility on {SUBNET}: {} devices in network namespaces",
        devices.len()
    );
    for device in &devices {
        let services = if device.services.is_empty() {
            String::new()
        } else {
            let names: Vec<_> = device.services.iter().map(|s| s.service_type).collect();
            format!("  announces {}", names.join(", "))
        };
        let speaks: Vec<&str> = [
            (device.dhcp.is_some(), "DHCP"),
            (device.lldp.is_some(), "LLDP-MED"),
            (!device.ssdp.is_empty(), "SSDP"),
            (device.netbios.is_some(), "NetBIOS"),
        ]
        .into_iter()
        .filter_map(|(yes, name)| yes.then_some(name))
        .collect();
        let services = if speaks.is_empty() {
            services
        } else {
            format!("{services}  speaks {}", speaks.join(", "))
        };
        println!(
            "   {:<15} {}  {}{services}",
            device.ip(),
            device.mac,
            device.kind
        );
    }
    let started = Instant::now();
    let mut facility = Facility::build("demo", &devices, &[])?;
    let agent_namespace = facility.agent.namespace.clone();

    println!(
        "\n== Starting hygie-collector on its embedded default (127.0.0.1:7443, ./hygie-data)"
    );
    // The embedded default plus the web console on the namespace's loopback.
    std::fs::write(
        dir.join("collector.toml"),
        format!("[console]\nlisten = \"{CONSOLE}\"\n"),
    )?;
    let mut collector = facility.lan.command(&agent_namespace, &collector_bin)?;
    collector
        .args(["serve", "--config", "collector.toml"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("collector.log"))?);
    let _collector = facility.lan.spawn(collector)?;
    let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    if !wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
        log("collector.log").contains("collector serving")
    }) {
        bail!("the collector did not start:\n{}", log("collector.log"));
    }

    println!(
        "== Issuing the agent's certificate (hygie-collector ca issue-agent --name ward-3 --site demo-hospital)"
    );
    let issued = std::process::Command::new(&collector_bin)
        .args([
            "ca",
            "issue-agent",
            "--name",
            "ward-3",
            "--site",
            "demo-hospital",
            "--out",
            "agent",
        ])
        .current_dir(dir)
        .output()?;
    if !issued.status.success() {
        bail!(
            "ca issue-agent failed: {}",
            String::from_utf8_lossy(&issued.stderr)
        );
    }
    std::fs::write(
        dir.join("agent.toml"),
        "[collector]\nendpoint = \"https://127.0.0.1:7443\"\nca = \"agent/ca.pem\"\n\
         cert = \"agent/agent.pem\"\nkey = \"agent/agent.key\"\n\
         [outbox]\npath = \"agent/outbox.sqlite\"\n\
         [discovery]\ninterfaces = [\"eth0\"]\n\
         [discovery.arp]\nrate = 100\ntimeout = \"500ms\"\n\
         [discovery.mdns]\nround_duration = \"5s\"\n",
    )?;
    println!(
        "== Starting hygie-agent at {AGENT_IP} on eth0: passive listening, ARP sweep at 100 probes/s, DNS-SD queries"
    );
    let mut agent = facility.lan.command(&agent_namespace, &agent_bin)?;
    agent
        .args(["run", "--config", "agent.toml"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.log"))?);
    let _agent = facility.lan.spawn(agent)?;

    let database = dir.join("hygie-data/inventory.sqlite");
    let announced: usize = devices.iter().map(|d| d.services.len()).sum();
    let complete = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        SqliteStore::open_reader(&database)
            .and_then(|store| store.inventory())
            .is_ok_and(|inventory| {
                let services: usize = inventory.assets().map(|a| a.services.len()).sum();
                inventory.len() >= devices.len() && services >= announced
            })
    });
    if !complete {
        eprintln!(
            "(not every device was found within 60 s; agent log follows)\n{}",
            log("agent.log")
        );
    }
    println!(
        "   all {} devices in the inventory after {:.1?}",
        devices.len(),
        started.elapsed()
    );
    // Let the first sweep finish, for its statistics.
    wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        log("agent.log").contains("ARP sweep finished")
    });
    for line in log("agent.log").lines() {
        if line.contains("ARP sweep finished") || line.contains("mDNS query round finished") {
            println!("   agent: {}", strip_ansi(line));
        }
    }

    let collector_cli = |args: &[&str]| -> Result<()> {
        println!("\n== hygie-collector {}\n", args.join(" "));
        let output = std::process::Command::new(&collector_bin)
            .args(args)
            .current_dir(dir)
            .output()
            .context("running hygie-collector")?;
        print!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        if !output.status.success() {
            bail!("hygie-collector {} failed", args.join(" "));
        }
        Ok(())
    };
    collector_cli(&["agents"])?;
    collector_cli(&["assets"])?;

    // Hospital IT brings its registry; what nobody registered stands out.
    let registry = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/examples/registry.csv"
    );
    collector_cli(&["registry", "import", registry])?;
    collector_cli(&["assets", "--unmanaged"])?;
    // The biomedical engineer looks at the unknown clinical device.
    collector_cli(&["asset", "e0:c2:b7:11:22:09"])?;
    collector_cli(&["classify", "--explain", "00:21:b7:11:22:12"])?;
    // A monitor whose MAC names only its Lantronix network module: what it says in DHCP and
    // LLDP-MED names it (wait for lldpd's inventory to have been heard).
    wait_until(Duration::from_secs(20), Duration::from_millis(250), || {
        SqliteStore::open_reader(&database)
            .and_then(|store| store.inventory())
            .is_ok_and(|inventory| {
                inventory
                    .get(&"00:80:a3:11:22:20".parse().unwrap_or(MacAddr::ZERO))
                    .is_some_and(|asset| asset.details.len() >= 2)
            })
    });
    collector_cli(&["classify", "--explain", "00:80:a3:11:22:20"])?;
    collector_cli(&[
        "approve",
        "e0:c2:b7:11:22:09",
        "--asset-tag",
        "BIO-01203",
        "--name",
        "Masimo Root ICU bed 3",
        "--category",
        "biomedical",
        "--owner",
        "Biomedical engineering",
    ])?;
    collector_cli(&["events", "--limit", "8"])?;

    // The auditor's snapshot, kept after the demo with the key that verifies it.
    let out = std::env::current_dir()?.join("target/demo");
    std::fs::create_dir_all(&out)?;
    let snapshot = out.join("snapshot.json");
    let report = out.join("report.html");
    let key = out.join("signing.pub");
    std::fs::copy(dir.join("hygie-data/pki/signing.pub"), &key)?;
    collector_cli(&[
        "export",
        "--format",
        "json",
        "--out",
        &snapshot.to_string_lossy(),
    ])?;
    collector_cli(&[
        "export",
        "--format",
        "html",
        "--out",
        &report.to_string_lossy(),
    ])?;
    collector_cli(&[
        "verify",
        &snapshot.to_string_lossy(),
        "--key",
        &key.to_string_lossy(),
    ])?;
    collector_cli(&[
        "verify",
        "--events",
        "--snapshot",
        &snapshot.to_string_lossy(),
    ])?;
    println!(
        "\nKept for you: {} (open it in a browser), {} and the key {}.",
        report.display(),
        snapshot.display(),
        key.display()
    );
    console(&facility, &agent_namespace, dir, &collector_bin)?;
    println!("\n== Tearing the facility down");
    Ok(())
}

/// Where the demo's console listens, inside the agent's namespace (and, with `--hold`, on this
/// machine's loopback too).
const CONSOLE: &str = "127.0.0.1:8443";
const CONSOLE_PASSWORD: &str = "hygie-demo-console";

/// Console accounts, the console's address and a login; with `--hold`, the console stays
/// reachable from this machine's browser until Enter is pressed.
fn console(
    facility: &Facility,
    namespace: &str,
    dir: &std::path::Path,
    bin: &std::path::Path,
) -> Result<()> {
    for (user, role) in [
        ("biomed", "biomed"),
        ("auditor", "auditor"),
        ("viewer", "viewer"),
    ] {
        let mut add = std::process::Command::new(bin)
            .args([
                "--config",
                "collector.toml",
                "user",
                "add",
                user,
                "--role",
                role,
            ])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = add.stdin.take() {
            use std::io::Write as _;
            writeln!(stdin, "{CONSOLE_PASSWORD}")?;
        }
        if !add.wait()?.success() {
            bail!("hygie-collector user add {user} failed");
        }
    }
    println!("\n== The web console: https://{CONSOLE}/");
    println!("   sign in as biomed, auditor or viewer, password {CONSOLE_PASSWORD}");
    println!(
        "   its certificate is issued by the demo's CA: {}",
        dir.join("hygie-data/pki/ca.pem").display()
    );
    if !std::env::args().any(|arg| arg == "--hold") {
        println!(
            "   (it lives inside the facility's namespaces: run `tests/demo.sh --hold` to browse it)"
        );
        return Ok(());
    }
    let listener = std::net::TcpListener::bind(CONSOLE)
        .with_context(|| format!("cannot listen on {CONSOLE} to reach the console"))?;
    println!("   open it in a browser on this machine now; press Enter to end the demo.");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pressed = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_line(&mut String::new());
        pressed.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    hygie_tests::relay::forward(&facility.lan, namespace, &listener, CONSOLE.parse()?, &stop)?;
    Ok(())
}

/// Log lines carry terminal colours; the summary prints them plain.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
