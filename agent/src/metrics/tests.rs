use hygie_metrics::{Exposition, Format, PREFIX, Scrape, check};
use hygie_proto::Source;

use super::*;
use crate::outbox::Outbox;

fn outbox(dir: &tempfile::TempDir) -> SharedOutbox {
    SharedOutbox::new(Outbox::open(&dir.path().join("outbox.sqlite"), 64 * 1024 * 1024).unwrap())
}

async fn scrape(metrics: AgentMetrics) -> Scrape {
    let figures = metrics.outbox;
    let exposition =
        Exposition::new(metrics.registry).with_refresh(std::sync::Arc::new(move || {
            let figures = std::sync::Arc::clone(&figures);
            Box::pin(async move { figures.refresh().await })
        }));
    let text = exposition.render(Format::OpenMetrics).await.unwrap();
    check(&text, PREFIX).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[test]
fn sources_and_reasons_index_their_counters_in_declaration_order() {
    for (index, source) in Source::ALL.iter().enumerate() {
        assert_eq!(*source as usize, index, "{source:?}");
    }
    for (index, reason) in Reconnect::ALL.iter().enumerate() {
        assert_eq!(*reason as usize, index, "{reason:?}");
    }
}

#[test]
fn decoder_reasons_become_snake_case_labels() {
    assert_eq!(
        snake_case("truncated DHCP options"),
        "truncated_dhcp_options"
    );
    assert_eq!(snake_case("ARP not Ethernet/IPv4"), "arp_not_ethernet_ipv4");
    assert_eq!(snake_case("  bad -- length "), "bad_length");
}

#[tokio::test]
async fn every_agent_metric_is_under_the_prefix_and_counts_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = AgentMetrics::new(outbox(&dir));
    let uplink = metrics.uplink.clone();
    let wire = |source: Source| hygie_proto::pb::Observation {
        source: hygie_proto::pb::Source::from(source).into(),
        ..Default::default()
    };
    let batch = hygie_proto::pb::ObservationBatch {
        observations: vec![
            wire(Source::ArpPassive),
            wire(Source::ArpPassive),
            wire(Source::Dhcp),
        ],
        ..Default::default()
    };
    uplink.sent(&SourceTally::of(&batch));
    uplink.resent();
    uplink.acked(false, 0);
    uplink.acked(true, 4);
    uplink.reconnect(Reconnect::ConnectFailed);
    uplink.set_connected(true);
    let mut capture = metrics.discovery.capture("eth0");
    capture.decoded("arp");
    capture.decoded("arp");
    capture.decoded("mdns");
    capture.malformed("dhcp", "truncated DHCP options");
    capture.dropped();
    metrics.discovery.swept(2.5, 254, 12);
    let scrape = scrape(metrics).await;
    let value = |name: &str, labels: &[(&str, &str)]| scrape.require(name, labels).unwrap();
    assert_eq!(
        value(
            "hygie_agent_observations_sent_total",
            &[("source", "arp_passive")]
        ),
        2.0
    );
    assert_eq!(
        value("hygie_agent_observations_sent_total", &[("source", "dhcp")]),
        1.0
    );
    assert_eq!(
        value("hygie_agent_batches_sent_total", &[("kind", "new")]),
        1.0
    );
    assert_eq!(
        value("hygie_agent_batches_sent_total", &[("kind", "resent")]),
        1.0
    );
    assert_eq!(
        value(
            "hygie_agent_acks_received_total",
            &[("outcome", "committed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "hygie_agent_acks_received_total",
            &[("outcome", "duplicate")]
        ),
        1.0
    );
    assert_eq!(
        value("hygie_agent_quota_refused_observations_total", &[]),
        4.0
    );
    assert_eq!(
        value(
            "hygie_agent_reconnects_total",
            &[("reason", "connect_failed")]
        ),
        1.0
    );
    assert_eq!(
        value("hygie_agent_reconnects_total", &[("reason", "refused")]),
        0.0
    );
    assert_eq!(value("hygie_agent_connected", &[]), 1.0);
    assert_eq!(
        value("hygie_agent_frames_decoded_total", &[("protocol", "arp")]),
        2.0
    );
    assert_eq!(
        value(
            "hygie_agent_frames_malformed_total",
            &[("protocol", "dhcp"), ("reason", "truncated_dhcp_options")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "hygie_agent_capture_dropped_observations_total",
            &[("interface", "eth0")]
        ),
        1.0
    );
    assert_eq!(value("hygie_agent_sweep_duration_seconds_count", &[]), 1.0);
    assert_eq!(value("hygie_agent_sweep_probes_total", &[]), 254.0);
    assert_eq!(value("hygie_agent_sweep_answers_total", &[]), 12.0);
    assert_eq!(value("hygie_agent_outbox_observations", &[]), 0.0);
    assert_eq!(
        value("hygie_agent_outbox_max_bytes", &[]),
        64.0 * 1024.0 * 1024.0
    );
    assert!(value("hygie_agent_outbox_files_bytes", &[]) > 0.0);
    assert_eq!(
        value("hygie_agent_outbox_evicted_observations_total", &[]),
        0.0
    );
    assert_eq!(value("hygie_build_info", &[("daemon", "agent")]), 1.0);
    // No label anywhere names a device.
    assert_eq!(
        scrape.label_names(),
        [
            "contract",
            "daemon",
            "interface",
            "kind",
            "le",
            "outcome",
            "protocol",
            "reason",
            "source",
            "version"
        ]
        .into()
    );
}

#[tokio::test]
async fn the_outbox_depth_follows_appends_and_acknowledgements() {
    let dir = tempfile::tempdir().unwrap();
    let shared = outbox(&dir);
    let depth = |shared: &SharedOutbox| {
        let figures = OutboxFigures::register(&mut Registry::default(), shared.clone());
        async move {
            figures.refresh().await;
            (figures.observations.get(), figures.batches.get())
        }
    };
    let observations: std::sync::Arc<[_]> = (0..3)
        .map(|n| {
            hygie_proto::Observation::new(
                hygie_proto::MacAddr::from_u64(0x0009_5c00_0000 + n),
                "2026-11-25T10:00:00Z".parse().unwrap(),
                Source::Manual,
            )
        })
        .collect();
    shared
        .append(observations, std::sync::Arc::new([]))
        .await
        .unwrap();
    assert_eq!(depth(&shared).await, (3, 0));
    let span = shared.form_batch(10, u64::MAX).await.unwrap().unwrap();
    assert_eq!(depth(&shared).await, (3, 1), "formed, not yet acknowledged");
    shared.ack(span.sequence).await.unwrap();
    assert_eq!(depth(&shared).await, (0, 0));
}
