//! Webhooks over HTTPS (the collector's one HTTP client, [`crate::http_client`]) and the
//! delivery figures each sink exposes to Prometheus.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hygie_metrics::{Exposition, Format, PREFIX, Scrape, check};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::receivers::Hook;
use super::{
    Script, check_posts, eventually, impostor_error, make_pki, secret_file, settings, tls_acceptor,
    trusted_and_impostor, webhook_sink,
};
use crate::alerts::{prepare, state};
use crate::metrics::CollectorMetrics;

#[tokio::test]
async fn webhooks_over_https_are_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(&dir.path().join("soc"));
    let other = make_pki(&dir.path().join("other"));
    let hook = Hook::new();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let receiver = hook
        .serve_tls_on(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tls_acceptor(&pki),
            Arc::clone(&handshakes),
        )
        .await;
    let body = |ca: &Path| {
        format!(
            "type = \"webhook\"\nurl = \"https://localhost:{}/hooks/hygie?team=soc\"\nsecret_file = \"{}\"\nca = \"{}\"\ntimeout = \"2s\"",
            receiver.address.port(),
            secret_file(dir.path()).display(),
            ca.display()
        )
    };
    let settings = trusted_and_impostor(dir.path(), "soc", [&pki, &other], body);
    let script = Script::default();
    let running = super::start(&settings, &script);
    tokio::time::sleep(Duration::from_millis(100)).await;
    script.raise(3);
    eventually("3 alerts over HTTPS", Duration::from_secs(10), || {
        check_posts(&hook).len() >= 3
    })
    .await;
    eventually("a refused handshake", Duration::from_secs(10), || {
        handshakes.lock().unwrap().iter().any(Result::is_err)
    })
    .await;
    running.stop().await;
    assert_eq!(
        check_posts(&hook),
        [1, 2, 3],
        "only the trusting sink delivers"
    );
    let error = impostor_error(&settings);
    assert!(
        error.starts_with("TLS with the webhook receiver at https://localhost:")
            && error.contains("CA file"),
        "{error}"
    );
}

async fn scrape(exposition: &Exposition) -> Scrape {
    let text = exposition.render(Format::OpenMetrics).await.unwrap();
    check(&text, PREFIX).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

fn figure(scrape: &Scrape, name: &str, sink: &str) -> f64 {
    scrape.require(name, &[("sink", sink)]).unwrap()
}

/// Scrapes until `name` of `sink` reaches `want`; returns that scrape.
async fn until(exposition: &Exposition, name: &str, sink: &str, want: f64) -> Scrape {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = scrape(exposition).await;
        let got = figure(&scrape, name, sink);
        if got >= want {
            return scrape;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} of {sink} stayed at {got}, below {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn each_sink_exposes_its_deliveries_failures_suppressions_refusals_and_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hook = Hook::new();
    hook.status.store(503, Ordering::SeqCst);
    let _receiver = hook.serve_on(listener).await;
    let refusing = Hook::new();
    refusing.status.store(422, Ordering::SeqCst);
    let refusing_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refusing_address = refusing_listener.local_addr().unwrap();
    let _refusing = refusing.serve_on(refusing_listener).await;
    let settings = settings(
        dir.path(),
        &format!(
            "{}{}",
            webhook_sink(
                "soc",
                address,
                dir.path(),
                "burst = 3\nrate_per_minute = 1\nsummary_interval = \"300ms\"",
            ),
            webhook_sink("strict", refusing_address, dir.path(), "")
        ),
    );
    let metrics = CollectorMetrics::new("/nonexistent".into());
    let dispatcher = prepare(&settings)
        .unwrap()
        .with_metrics(metrics.alerts.clone());
    let exposition = Exposition::new(metrics.registry);
    let script = Script::default();
    let stopping = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run_with(script.factory(), stopping.clone()));

    // Both sinks are listed from the start, at 0.
    eventually("both sinks started", Duration::from_secs(10), || {
        state::load(&settings.state_dir, "soc").unwrap().is_some()
            && state::load(&settings.state_dir, "strict")
                .unwrap()
                .is_some()
    })
    .await;
    let first = scrape(&exposition).await;
    for sink in ["soc", "strict"] {
        for name in [
            "hygie_collector_alerts_delivered_total",
            "hygie_collector_alerts_suppressed_total",
            "hygie_collector_alerts_refused_total",
            "hygie_collector_alert_events_dropped_total",
            "hygie_collector_alert_delivery_failures_total",
            "hygie_collector_alert_backlog",
        ] {
            assert_eq!(figure(&first, name, sink), 0.0, "{name} {sink}");
        }
    }

    // The receiver fails: attempts are counted, the backlog waits.
    script.raise(10);
    let failing = until(
        &exposition,
        "hygie_collector_alert_delivery_failures_total",
        "soc",
        2.0,
    )
    .await;
    assert_eq!(
        figure(&failing, "hygie_collector_alerts_delivered_total", "soc"),
        0.0
    );
    assert_eq!(
        figure(&failing, "hygie_collector_alert_backlog", "soc"),
        10.0
    );

    // Back: the budget of 3 is delivered, the 7 others summarised, nothing left behind.
    hook.status.store(200, Ordering::SeqCst);
    eventually("the summary delivered", Duration::from_secs(10), || {
        state::load(&settings.state_dir, "soc")
            .unwrap()
            .is_some_and(|state| state.progress.cursor == 10)
    })
    .await;
    let settled = scrape(&exposition).await;
    assert_eq!(
        figure(&settled, "hygie_collector_alerts_delivered_total", "soc"),
        3.0
    );
    assert_eq!(
        figure(&settled, "hygie_collector_alerts_suppressed_total", "soc"),
        7.0
    );
    assert_eq!(
        figure(&settled, "hygie_collector_alert_backlog", "soc"),
        0.0
    );
    // The other sink's receiver refused each alert for good: counted, not retried.
    let refused = until(
        &exposition,
        "hygie_collector_alerts_refused_total",
        "strict",
        10.0,
    )
    .await;
    assert_eq!(
        figure(&refused, "hygie_collector_alerts_refused_total", "strict"),
        10.0
    );
    assert_eq!(
        refusing.posted().len(),
        10,
        "each refused once, never retried"
    );
    assert_eq!(
        figure(
            &refused,
            "hygie_collector_alert_delivery_failures_total",
            "strict"
        ),
        0.0
    );
    stopping.cancel();
    task.await.unwrap();
}
