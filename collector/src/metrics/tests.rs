use std::collections::BTreeMap;

use hygie_metrics::{Exposition, Format, PREFIX, check};
use hygie_proto::Source;
use jiff::Timestamp;

use super::*;
use crate::views::Counts;

fn scrape(metrics: CollectorMetrics) -> hygie_metrics::Scrape {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let text = runtime
        .block_on(Exposition::new(metrics.registry).render(Format::OpenMetrics))
        .unwrap();
    check(&text, PREFIX).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[test]
fn sources_index_their_counters_in_declaration_order() {
    for (index, source) in Source::ALL.iter().enumerate() {
        assert_eq!(*source as usize, index, "{source:?}");
    }
}

#[test]
fn every_collector_metric_is_under_the_prefix_and_counts_what_it_says() {
    let metrics = CollectorMetrics::new(PathBuf::from("/nonexistent"));
    let ingest = metrics.ingest.clone();
    ingest.observation(Source::ArpPassive);
    ingest.observation(Source::ArpPassive);
    ingest.observation(Source::Mdns);
    ingest.applied(2);
    ingest.duplicate();
    ingest.failed(3);
    ingest.commit_took(0.003);
    let identity = AgentIdentity::new("ward-3", "chu-nord").unwrap();
    let agent = metrics.service.agent(&identity);
    let stream = agent.stream_guard();
    let at = Timestamp::from_second(1_800_000_000).unwrap();
    agent.reported(at);
    agent.acknowledged(at);
    agent.refused();
    let soc = metrics.alerts.sink("soc");
    soc.delivered(3);
    soc.suppressed(7);
    soc.refused(1);
    soc.dropped(2);
    soc.failed();
    soc.backlog(4);
    let _idle = metrics.alerts.sink("archive");
    metrics.glpi.document_delivered();
    metrics.glpi.document_delivered();
    metrics.glpi.document_refused();
    metrics.glpi.push_ended(Some(true), at);
    metrics.glpi.push_ended(None, at);
    metrics.inventory.set(
        &Counts {
            assets: 5,
            managed: 2,
            by_category: BTreeMap::from([("biomedical".to_owned(), 3), ("it".to_owned(), 2)]),
            by_flag: BTreeMap::from([("unmanaged".to_owned(), 3), ("stale".to_owned(), 0)]),
            ..Counts::default()
        },
        at,
    );
    let scrape = scrape(metrics);
    let value = |name: &str, labels: &[(&str, &str)]| scrape.require(name, labels).unwrap();
    assert_eq!(
        value(
            "hygie_collector_observations_received_total",
            &[("source", "arp_passive")]
        ),
        2.0
    );
    assert_eq!(
        value(
            "hygie_collector_observations_received_total",
            &[("source", "ipv6_nd")]
        ),
        0.0,
        "every source is listed from the start"
    );
    assert_eq!(
        value("hygie_collector_batches_total", &[("outcome", "applied")]),
        1.0
    );
    assert_eq!(
        value("hygie_collector_batches_total", &[("outcome", "failed")]),
        3.0
    );
    assert_eq!(
        value("hygie_collector_batches_total", &[("outcome", "refused")]),
        1.0
    );
    assert_eq!(
        value("hygie_collector_quota_refused_observations_total", &[]),
        2.0
    );
    assert_eq!(
        value("hygie_collector_commit_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(value("hygie_collector_acks_sent_total", &[]), 1.0);
    assert_eq!(value("hygie_collector_agent_streams", &[]), 1.0);
    let agent_labels = [("agent", "ward-3"), ("site", "chu-nord")];
    assert_eq!(
        value(
            "hygie_collector_agent_last_report_timestamp_seconds",
            &agent_labels
        ),
        1_800_000_000.0
    );
    assert_eq!(
        value(
            "hygie_collector_agent_last_batch_timestamp_seconds",
            &agent_labels
        ),
        1_800_000_000.0
    );
    assert_eq!(
        value("hygie_collector_assets", &[("category", "biomedical")]),
        3.0
    );
    assert_eq!(
        value("hygie_collector_assets_flagged", &[("flag", "unmanaged")]),
        3.0
    );
    assert_eq!(value("hygie_collector_assets_unmanaged", &[]), 3.0);
    assert_eq!(value("hygie_collector_assets_managed", &[]), 2.0);
    assert_eq!(value("hygie_collector_assets_listed", &[]), 5.0);
    let soc = [("sink", "soc")];
    assert_eq!(value("hygie_collector_alerts_delivered_total", &soc), 3.0);
    assert_eq!(value("hygie_collector_alerts_suppressed_total", &soc), 7.0);
    assert_eq!(value("hygie_collector_alerts_refused_total", &soc), 1.0);
    assert_eq!(
        value("hygie_collector_alert_events_dropped_total", &soc),
        2.0
    );
    assert_eq!(
        value("hygie_collector_alert_delivery_failures_total", &soc),
        1.0
    );
    assert_eq!(value("hygie_collector_alert_backlog", &soc), 4.0);
    assert_eq!(
        value(
            "hygie_collector_alerts_delivered_total",
            &[("sink", "archive")]
        ),
        0.0,
        "a sink is listed once started"
    );
    let outcome = |name| [("outcome", name)];
    assert_eq!(
        value(
            "hygie_collector_glpi_documents_total",
            &outcome("delivered")
        ),
        2.0
    );
    assert_eq!(
        value("hygie_collector_glpi_documents_total", &outcome("refused")),
        1.0
    );
    assert_eq!(
        value("hygie_collector_glpi_documents_total", &outcome("failed")),
        0.0
    );
    assert_eq!(
        value("hygie_collector_glpi_pushes_total", &outcome("complete")),
        1.0
    );
    assert_eq!(
        value("hygie_collector_glpi_pushes_total", &outcome("incomplete")),
        0.0
    );
    assert_eq!(
        value("hygie_collector_glpi_pushes_total", &outcome("failed")),
        1.0
    );
    assert_eq!(
        value(
            "hygie_collector_glpi_last_complete_push_timestamp_seconds",
            &[]
        ),
        1_800_000_000.0
    );
    assert_eq!(value("hygie_build_info", &[("daemon", "collector")]), 1.0);
    // No label anywhere names a device.
    assert_eq!(
        scrape.label_names(),
        [
            "agent", "category", "contract", "daemon", "flag", "le", "outcome", "sink", "site",
            "source", "version"
        ]
        .into()
    );
    drop(stream);
}

#[test]
fn a_closed_stream_is_no_longer_counted() {
    let metrics = CollectorMetrics::new(PathBuf::from("/nonexistent"));
    let identity = AgentIdentity::new("ward-3", "chu-nord").unwrap();
    let agent = metrics.service.agent(&identity);
    drop(agent.stream_guard());
    let scrape = scrape(metrics);
    assert_eq!(
        scrape.value("hygie_collector_agent_streams", &[]),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_database_that_cannot_be_read_keeps_the_figures_and_counts_the_failure() {
    let metrics = CollectorMetrics::new(PathBuf::from("/nonexistent/inventory.sqlite"));
    metrics.inventory.refresh().await;
    // Within MAX_AGE the next scrape does not try again.
    metrics.inventory.refresh().await;
    let text = Exposition::new(metrics.registry)
        .render(Format::Text)
        .await
        .unwrap();
    let scrape = check(&text, PREFIX).unwrap();
    assert_eq!(
        scrape.value("hygie_collector_inventory_count_failures_total", &[]),
        Some(1.0)
    );
}
