//! The facility run, seen through both daemons' `/metrics`: scraped before the agent's traffic
//! and after it, from inside the agent's namespace where both daemons listen.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hygie_metrics::Scrape;
use hygie_proto::MacAddr;
use hygie_tests::wait_until;

use super::Site;

/// The collector's metrics, in the agent's namespace (the facility's collector runs there).
pub(super) const COLLECTOR: &str = "127.0.0.1:9464";
/// The agent's metrics, turned on by [`AGENT_SECTION`].
pub(super) const AGENT: &str = "127.0.0.1:9465";
/// Appended to the agent's `[discovery]` text: a table of its own.
pub(super) const AGENT_SECTION: &str = "\n[metrics]\nlisten = \"127.0.0.1:9465\"\n";

/// Scrapes `address` inside the agent's namespace, checked in both formats.
fn scrape(site: &Site, address: &str) -> Result<Scrape, String> {
    let address: SocketAddr = address.parse().unwrap();
    site.facility
        .lan
        .in_namespace(&site.facility.agent.namespace, move || {
            hygie_tests::scrape::scrape(address)
        })
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())
}

/// Scrapes until the endpoint answers (the agent binds it as it starts).
fn scrape_when_up(site: &Site, address: &str) -> Scrape {
    let mut last = Err(String::new());
    wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        last = scrape(site, address);
        last.is_ok()
    });
    last.unwrap_or_else(|error| panic!("no metrics at {address}: {error}"))
}

/// Before the agent starts: the collector's endpoint is up and has counted nothing.
pub(super) fn collector_before(site: &Site) -> Scrape {
    let scrape = scrape_when_up(site, COLLECTOR);
    assert_eq!(
        scrape.sum("hygie_collector_observations_received_total", &[]),
        0.0
    );
    assert_eq!(
        scrape.value("hygie_build_info", &[("daemon", "collector")]),
        Some(1.0)
    );
    scrape
}

/// Right after the agent starts, before most of its traffic.
pub(super) fn agent_before(site: &Site) -> Scrape {
    let scrape = scrape_when_up(site, AGENT);
    assert_eq!(
        scrape.value("hygie_build_info", &[("daemon", "agent")]),
        Some(1.0)
    );
    scrape
}

fn grew(name: &str, labels: &[(&str, &str)], before: &Scrape, after: &Scrape) {
    let (was, is) = (before.sum(name, labels), after.sum(name, labels));
    assert!(is > was, "{name} {labels:?} did not grow: {was} then {is}");
}

/// No label value anywhere is a MAC or an address: nothing identifies a device.
fn no_device_labels(scrape: &Scrape) {
    for sample in &scrape.samples {
        for (key, value) in &sample.labels {
            assert!(
                value.parse::<MacAddr>().is_err() && value.parse::<IpAddr>().is_err(),
                "{}: label {key}={value:?} names a device",
                sample.name
            );
        }
    }
}

/// After the facility's traffic reached the inventory (`devices` of them): every figure the
/// run should move has moved, on both sides.
pub(super) fn after(site: &Site, devices: usize, collector_before: &Scrape, agent_before: &Scrape) {
    // The agent: frames of each protocol the facility speaks decoded, observations sent and
    // acknowledged, a sweep done.
    let mut agent = scrape(site, AGENT).unwrap();
    let swept = wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
        agent = scrape(site, AGENT).unwrap();
        agent.sum("hygie_agent_sweep_duration_seconds_count", &[]) >= 1.0
    });
    assert!(swept, "no sweep counted");
    for protocol in ["arp", "mdns", "dhcp", "lldp", "ipv6_nd"] {
        grew(
            "hygie_agent_frames_decoded_total",
            &[("protocol", protocol)],
            agent_before,
            &agent,
        );
    }
    grew(
        "hygie_agent_observations_sent_total",
        &[],
        agent_before,
        &agent,
    );
    grew(
        "hygie_agent_batches_sent_total",
        &[("kind", "new")],
        agent_before,
        &agent,
    );
    grew(
        "hygie_agent_acks_received_total",
        &[("outcome", "committed")],
        agent_before,
        &agent,
    );
    assert!(agent.sum("hygie_agent_sweep_answers_total", &[]) >= 1.0);
    assert_eq!(agent.value("hygie_agent_connected", &[]), Some(1.0));
    // Acknowledged batches are kept a day: the outbox holds bytes, within its bound.
    let payload = agent.sum("hygie_agent_outbox_payload_bytes", &[]);
    assert!(payload > 0.0, "outbox payload {payload}");
    assert!(
        agent.sum("hygie_agent_outbox_files_bytes", &[])
            <= agent.sum("hygie_agent_outbox_max_bytes", &[])
    );
    no_device_labels(&agent);

    // The collector: observations per source committed, batches applied and acknowledged,
    // commits timed, the agent's reports dated, the assets counted (within 10 s).
    let mut collector = scrape(site, COLLECTOR).unwrap();
    let counted = wait_until(Duration::from_secs(20), Duration::from_millis(500), || {
        collector = scrape(site, COLLECTOR).unwrap();
        collector.value("hygie_collector_assets_listed", &[]) == Some(devices as f64)
    });
    assert!(
        counted,
        "assets listed {:?}, want {devices}",
        collector.value("hygie_collector_assets_listed", &[])
    );
    assert_eq!(
        collector.sum("hygie_collector_assets", &[]),
        devices as f64,
        "the categories add up to the assets"
    );
    assert_eq!(
        collector.value("hygie_collector_assets_unmanaged", &[]),
        Some(devices as f64),
        "no registry: every device is unmanaged"
    );
    assert_eq!(
        collector.value("hygie_collector_assets_flagged", &[("flag", "unmanaged")]),
        Some(devices as f64)
    );
    assert!(
        collector.sum("hygie_collector_assets", &[("category", "biomedical")]) >= 1.0,
        "the facility's monitors and pumps are biomedical"
    );
    for source in ["mdns", "dhcp", "lldp", "ipv6_nd"] {
        grew(
            "hygie_collector_observations_received_total",
            &[("source", source)],
            collector_before,
            &collector,
        );
    }
    let arp = collector.sum(
        "hygie_collector_observations_received_total",
        &[("source", "arp_passive")],
    ) + collector.sum(
        "hygie_collector_observations_received_total",
        &[("source", "arp_active")],
    );
    assert!(arp >= 1.0, "no ARP observation received");
    grew(
        "hygie_collector_batches_total",
        &[("outcome", "applied")],
        collector_before,
        &collector,
    );
    grew(
        "hygie_collector_acks_sent_total",
        &[],
        collector_before,
        &collector,
    );
    grew(
        "hygie_collector_commit_duration_seconds_count",
        &[],
        collector_before,
        &collector,
    );
    assert_eq!(
        collector.value("hygie_collector_agent_streams", &[]),
        Some(1.0)
    );
    let now = jiff::Timestamp::now().as_second() as f64;
    let ward = [("agent", "ward-3"), ("site", "chu-test")];
    for name in [
        "hygie_collector_agent_last_report_timestamp_seconds",
        "hygie_collector_agent_last_batch_timestamp_seconds",
    ] {
        let at = collector
            .value(name, &ward)
            .unwrap_or_else(|| panic!("no {name} for ward-3"));
        assert!(
            (now - 180.0..=now + 1.0).contains(&at),
            "{name} = {at}, now {now}"
        );
    }
    // Every observation the collector committed was sent by the one agent: read the collector
    // first, so that nothing it counts was sent after the agent's reading.
    let (collector_now, agent_now) = (
        scrape(site, COLLECTOR).unwrap(),
        scrape(site, AGENT).unwrap(),
    );
    let received = collector_now.sum("hygie_collector_observations_received_total", &[]);
    let sent = agent_now.sum("hygie_agent_observations_sent_total", &[]);
    let resent = agent_now.sum("hygie_agent_batches_sent_total", &[("kind", "resent")]);
    assert!(
        received <= sent || resent > 0.0,
        "received {received}, sent {sent} (no batch resent)"
    );
    no_device_labels(&collector);
}
