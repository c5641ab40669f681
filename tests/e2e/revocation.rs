//! A revoked agent stays out: its open connection is closed within seconds, and it cannot come
//! back in, neither through a new handshake nor by resuming its earlier TLS session.

use std::time::Duration;

use hygie_tests::observations::{append_jsonl, devices};
use hygie_tests::pki::AgentCerts;
use hygie_tests::process::{Agent, AgentSpec};
use hygie_tests::wait_until;
use jiff::Timestamp;

use crate::site::Site;

#[test]
fn an_agent_revoked_while_connected_is_closed_and_stays_out() {
    let mut site = Site::new("");
    site.collector.start().unwrap();
    // Enrolled with the collector's own tooling, so the collector knows the certificate.
    let certs = site.path("ward-9");
    let issued = site.cli(&[
        "ca",
        "issue-agent",
        "--name",
        "ward-9",
        "--site",
        "chu-test",
        "--out",
        certs.to_str().unwrap(),
    ]);
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let file = site.path("observations.jsonl");
    append_jsonl(&file, &devices(0, 10, Timestamp::now())).unwrap();
    let agent = Agent::start(
        &site.path("agent"),
        &AgentSpec::new(
            AgentCerts {
                ca: certs.join("ca.pem"),
                cert: certs.join("agent.pem"),
                key: certs.join("agent.key"),
            },
            site.collector.port,
            vec![(file.clone(), true)],
        ),
    )
    .unwrap();
    site.wait_for_history(10, Duration::from_secs(60), &agent);

    let revoked = site.cli(&[
        "ca",
        "revoke",
        "--name",
        "ward-9",
        "--reason",
        "laptop stolen",
    ]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            site.collector
                .log()
                .contains("certificate revoked: connection closed")
        }),
        "the open connection was not closed:\n{}",
        site.collector.log()
    );
    // The agent reconnects at once; whatever it tries, nothing more is committed.
    std::thread::sleep(Duration::from_secs(2));
    let before = site.collector.history_len();
    append_jsonl(&file, &devices(100, 10, Timestamp::now())).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        site.collector.history_len(),
        before,
        "a revoked agent delivered observations\n--- collector log ---\n{}\n--- agent log ---\n{}",
        site.collector.log(),
        agent.log()
    );
    let log = site.collector.log();
    assert!(
        log.contains("client certificate refused") || log.contains("connection refused"),
        "the reconnection was not refused:\n{log}"
    );
    assert!(site.collector.is_running());
}
