//! The `hygie-agent` binary as an operator meets it: what it prints when its reader leaves
//! early (`| head`), when standard output fails, and the exit status of configuration errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const AGENT: &str = env!("CARGO_BIN_EXE_hygie-agent");

/// sysexits.h's EX_CONFIG: the unit's `RestartPreventExitStatus=`.
const EX_CONFIG: i32 = 78;

/// An agent configuration in `dir` whose certificate files do not exist (not enrolled yet).
fn unenrolled_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        r#"
[collector]
endpoint = "https://127.0.0.1:7443"
ca = "ca.pem"
cert = "agent.pem"
key = "agent.key"

[outbox]
path = "outbox.sqlite"
"#,
    )
    .unwrap();
    path
}

/// A configuration whose outbox exists (empty), for `hygie-agent outbox`.
fn config_with_outbox(dir: &Path) -> std::path::PathBuf {
    let config = unenrolled_config(dir);
    drop(hygie_agent::outbox::Outbox::open(&dir.join("outbox.sqlite"), 1 << 30).unwrap());
    config
}

/// A pcap of one ARP request (198.18.0.1 asks for 198.18.0.2), for `hygie-agent replay`.
fn arp_capture(dir: &Path) -> std::path::PathBuf {
    let mut frame = Vec::new();
    frame.extend([0xff; 6]); // broadcast
    frame.extend([0x02, 0, 0x5e, 0x10, 0, 1]); // sender
    frame.extend([0x08, 0x06]); // ARP
    frame.extend([0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet/IPv4, request
    frame.extend([0x02, 0, 0x5e, 0x10, 0, 1, 198, 18, 0, 1]);
    frame.extend([0, 0, 0, 0, 0, 0, 198, 18, 0, 2]);
    let length = u32::try_from(frame.len()).unwrap().to_le_bytes();
    let mut pcap = Vec::new();
    // Little-endian pcap, version 2.4, snaplen 65535, Ethernet.
    pcap.extend([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    pcap.extend([0; 8]);
    pcap.extend(65_535u32.to_le_bytes());
    pcap.extend(1u32.to_le_bytes());
    pcap.extend(1_795_000_000u32.to_le_bytes());
    pcap.extend(0u32.to_le_bytes());
    pcap.extend(length);
    pcap.extend(length);
    pcap.extend(frame);
    let path = dir.join("arp.pcap");
    std::fs::write(&path, pcap).unwrap();
    path
}

/// Runs the agent with `args`, its standard output a pipe whose reader is already gone: as
/// `| head` that has read all it wanted before the agent writes.
fn with_closed_stdout(args: &[&std::ffi::OsStr]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(AGENT)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_printing_subcommand_stops_quietly_when_its_reader_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_outbox(dir.path());
    let capture = arp_capture(dir.path());
    let commands: [&[&std::ffi::OsStr]; 3] = [
        &["outbox".as_ref(), "--config".as_ref(), config.as_os_str()],
        &[
            "replay".as_ref(),
            capture.as_os_str(),
            "--format=jsonl".as_ref(),
        ],
        &[
            "replay".as_ref(),
            capture.as_os_str(),
            "--format=json".as_ref(),
        ],
    ];
    for args in commands {
        let output = with_closed_stdout(args);
        let stderr = stderr(&output);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("hygie-agent:"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn a_reader_that_leaves_after_the_first_line_ends_the_listing_with_success() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_outbox(dir.path());
    let mut child = Command::new(AGENT)
        .args(["outbox".as_ref(), "--config".as_ref(), config.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("outbox "), "{first}");
    let output = child.wait_with_output().unwrap();
    let stderr = stderr(&output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn other_write_errors_are_reported_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_outbox(dir.path());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = Command::new(AGENT)
        .args(["outbox".as_ref(), "--config".as_ref(), config.as_os_str()])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = stderr(&output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("hygie-agent: cannot write to standard output: No space left on device"),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
}

#[test]
fn an_agent_not_enrolled_fails_with_the_configuration_status_and_the_enrol_command() {
    let dir = tempfile::tempdir().unwrap();
    let config = unenrolled_config(dir.path());
    for command in ["validate", "run"] {
        let mut agent = Command::new(AGENT);
        match command {
            "run" => agent.args(["run".as_ref(), "--config".as_ref(), config.as_os_str()]),
            _ => agent.args(["validate".as_ref(), config.as_os_str()]),
        };
        let output = agent.stdin(Stdio::null()).output().unwrap();
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(EX_CONFIG), "{command}: {stderr}");
        assert!(
            stderr.contains("ca.pem does not exist: this agent is not enrolled yet"),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains("hygie-collector ca issue-agent"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn configuration_errors_exit_with_the_configuration_status() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "[collector\n").unwrap();
    let unknown_key = dir.path().join("unknown.toml");
    let mut text = std::fs::read_to_string(unenrolled_config(dir.path())).unwrap();
    text.push_str("colour = \"blue\"\n");
    std::fs::write(&unknown_key, text).unwrap();
    let missing = dir.path().join("absent.toml");
    for (config, says) in [
        (&bad_toml, "is not valid TOML"),
        (&unknown_key, "unknown field"),
        (&missing, "cannot read"),
    ] {
        for command in ["validate", "run"] {
            let mut agent = Command::new(AGENT);
            match command {
                "run" => agent.args(["run".as_ref(), "--config".as_ref(), config.as_os_str()]),
                _ => agent.args(["validate".as_ref(), config.as_os_str()]),
            };
            let output = agent.output().unwrap();
            let stderr = stderr(&output);
            assert_eq!(output.status.code(), Some(EX_CONFIG), "{command}: {stderr}");
            assert!(stderr.contains(says), "{command} {config:?}: {stderr}");
        }
    }
}

#[test]
fn a_failure_a_restart_may_fix_keeps_the_ordinary_status() {
    // An outbox directory that does not exist yet (a state directory not created): not a
    // configuration error.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    let text = std::fs::read_to_string(unenrolled_config(dir.path()))
        .unwrap()
        .replace("outbox.sqlite", "absent/outbox.sqlite");
    std::fs::write(&config, text).unwrap();
    let output = Command::new(AGENT)
        .args(["outbox".as_ref(), "--config".as_ref(), config.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}
