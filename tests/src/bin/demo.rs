//! `hygie-demo`: a collector on its embedded default, an agent feeding it the example
//! observations of a small facility, and the resulting inventory.
//!
//! Run it with `tests/demo.sh` (which builds the release binaries first).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_tests::bins::binary;
use hygie_tests::wait_until;

/// Kills the process when dropped, so an error anywhere leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn examples() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/examples/facility.jsonl");
    path.canonicalize().unwrap_or(path)
}

fn main() -> Result<()> {
    let work = tempfile::Builder::new().prefix("hygie-demo-").tempdir()?;
    let dir = work.path();
    let collector_bin = binary("hygie-collector")?;
    let agent_bin = binary("hygie-agent")?;
    if std::net::TcpStream::connect("127.0.0.1:7443").is_ok() {
        bail!("127.0.0.1:7443 is already in use: stop the collector running there first");
    }

    println!(
        "== Starting hygie-collector on its embedded default (127.0.0.1:7443, ./hygie-data) in {}",
        dir.display()
    );
    let collector_log = std::fs::File::create(dir.join("collector.log"))?;
    let _collector = Running(
        Command::new(&collector_bin)
            .arg("serve")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(collector_log)
            .spawn()
            .context("starting hygie-collector")?,
    );
    if !wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
        std::net::TcpStream::connect("127.0.0.1:7443").is_ok()
    }) {
        bail!(
            "the collector did not start:\n{}",
            std::fs::read_to_string(dir.join("collector.log")).unwrap_or_default()
        );
    }

    println!(
        "== Issuing the agent's certificate: hygie-collector ca issue-agent --name ward-3 --site demo-hospital --out agent"
    );
    let issued = Command::new(&collector_bin)
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

    let examples = examples();
    let expected = std::fs::read_to_string(&examples)
        .with_context(|| format!("reading {}", examples.display()))?
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .count() as u64;
    std::fs::write(
        dir.join("agent.toml"),
        format!(
            "[collector]\nendpoint = \"https://127.0.0.1:7443\"\nca = \"agent/ca.pem\"\n\
             cert = \"agent/agent.pem\"\nkey = \"agent/agent.key\"\n\
             [outbox]\npath = \"agent/outbox.sqlite\"\n\
             [[sources.file]]\npath = \"{}\"\n",
            examples.display()
        ),
    )?;
    println!(
        "== Starting hygie-agent, reading {} observations from {}",
        expected,
        examples.display()
    );
    let agent_log = std::fs::File::create(dir.join("agent.log"))?;
    let _agent = Running(
        Command::new(&agent_bin)
            .args(["run", "--config", "agent.toml"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(agent_log)
            .spawn()
            .context("starting hygie-agent")?,
    );

    let database = dir.join("hygie-data/inventory.sqlite");
    let arrived = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        SqliteStore::open_reader(&database)
            .and_then(|store| store.history_len())
            .is_ok_and(|count| count >= expected)
    });
    if !arrived {
        bail!(
            "the observations did not arrive; agent log:\n{}",
            std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
        );
    }

    for (title, args) in [
        ("hygie-collector agents", ["agents"]),
        ("hygie-collector assets", ["assets"]),
    ] {
        println!("\n== {title}\n");
        let output = Command::new(&collector_bin)
            .args(args)
            .current_dir(dir)
            .output()?;
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    Ok(())
}
