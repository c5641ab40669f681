use std::net::SocketAddr;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::*;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn section(text: &str) -> Result<MetricsSettings, String> {
    let section: MetricsSection = toml::from_str(text).map_err(|error| error.to_string())?;
    section
        .validate(false, loopback(9465))
        .map_err(|error| error.to_string())
}

#[test]
fn settings_default_off_or_on_and_a_written_address_turns_them_on() {
    assert_eq!(
        section("").unwrap().listen,
        None,
        "the agent's default: off"
    );
    assert_eq!(
        MetricsSection::default()
            .validate(true, loopback(9464))
            .unwrap()
            .listen,
        Some(loopback(9464)),
        "the collector's default: loopback"
    );
    assert_eq!(
        section("listen = \"127.0.0.1:9100\"").unwrap().listen,
        Some(loopback(9100))
    );
    assert_eq!(
        section("enabled = true").unwrap().listen,
        Some(loopback(9465))
    );
    assert_eq!(
        section("enabled = false\nlisten = \"127.0.0.1:9100\"")
            .unwrap()
            .listen,
        None
    );
    assert_eq!(
        section("listen = \"localhost\"").unwrap_err(),
        "metrics.listen: \"localhost\" is not an address:port such as 127.0.0.1:9465 (to turn metrics off, write enabled = false)"
    );
}

#[test]
fn build_info_is_one_gauge_under_the_prefix_in_both_formats() {
    let mut registry = Registry::default();
    build_info(&mut registry, "agent", "1.2.3");
    let exposition = Exposition::new(registry);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for format in [Format::OpenMetrics, Format::Text] {
        let text = runtime.block_on(exposition.render(format)).unwrap();
        let scrape = check(&text, PREFIX).unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(
            scrape.value(
                "hygie_build_info",
                &[
                    ("daemon", "agent"),
                    ("version", "1.2.3"),
                    ("contract", "hygie.v1")
                ]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(scrape.families["hygie_build_info"], "gauge");
    }
}

fn sample_registry() -> Registry {
    let mut registry = Registry::default();
    let counter = Family::<[(&'static str, &'static str); 1], Counter>::default();
    counter
        .get_or_create(&[("source", "arp_passive")])
        .inc_by(3);
    counter.get_or_create(&[("source", "mdns")]).inc();
    registry.register("hygie_things", "Things", counter);
    let histogram = Histogram::new([0.001, 0.01, 0.1]);
    histogram.observe(0.005);
    histogram.observe(5.0);
    registry.register_with_unit("hygie_commit_duration", "Commits", Unit::Seconds, histogram);
    registry
}

#[test]
fn counters_and_histograms_read_back_in_both_formats() {
    let exposition = Exposition::new(sample_registry());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for format in [Format::OpenMetrics, Format::Text] {
        let text = runtime.block_on(exposition.render(format)).unwrap();
        let scrape = check(&text, PREFIX).unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(
            scrape.value("hygie_things_total", &[("source", "arp_passive")]),
            Some(3.0)
        );
        assert_eq!(scrape.sum("hygie_things_total", &[]), 4.0);
        assert_eq!(
            scrape.value("hygie_commit_duration_seconds_count", &[]),
            Some(2.0)
        );
        assert_eq!(
            scrape.value("hygie_commit_duration_seconds_bucket", &[("le", "0.01")]),
            Some(1.0)
        );
    }
}

#[test]
fn the_checker_refuses_what_a_scraper_would_or_what_breaks_conventions() {
    let refused = |text: &str| check(text, PREFIX).unwrap_err().reason;
    assert!(refused("# TYPE other_x gauge\nother_x 1\n").contains("not under hygie_"));
    assert!(refused("# TYPE hygie_x counter\nhygie_x 1\n").contains("_total"));
    assert!(refused("# TYPE hygie_x gauge\nhygie_x 1\nhygie_x 2\n").contains("duplicate"));
    assert!(refused("hygie_x 1\n").contains("before any # TYPE"));
    assert!(refused("# TYPE hygie_x gauge\nhygie_x{a=\"b} 1\n").contains("unterminated"));
    assert!(refused("# TYPE hygie_x gauge\nhygie_x{a=b} 1\n").contains("quoted"));
    assert!(refused("# TYPE hygie_x gauge\nhygie_x one\n").contains("not a number"));
    assert!(refused("# TYPE hygie_x gauge\n# EOF\nhygie_x 1\n").contains("after # EOF"));
    assert!(refused("# TYPE hygie_x gauge\nhygie_y 1\n").contains("not a sample"));
    let decreasing = "# TYPE hygie_h histogram\nhygie_h_bucket{le=\"1\"} 2\nhygie_h_bucket{le=\"+Inf\"} 1\nhygie_h_count 1\nhygie_h_sum 1\n";
    assert!(refused(decreasing).contains("cumulative"));
    let escaped = check(
        "# TYPE hygie_x gauge\nhygie_x{agent=\"a\\\"b\\\\c\\nd\",site=\"s\"} 1\n",
        PREFIX,
    )
    .unwrap();
    assert_eq!(escaped.samples[0].labels["agent"], "a\"b\\c\nd");
}

#[test]
fn accept_headers_choose_the_format() {
    assert_eq!(
        Format::from_accept(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
    assert_eq!(Format::from_accept(None), Format::Text);
}

async fn get(address: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn the_endpoint_serves_metrics_only_and_refreshes_before_each_scrape() {
    let refreshed = Counter::<u64>::default();
    let mut registry = sample_registry();
    registry.register("hygie_refreshes", "Refreshes", refreshed.clone());
    let refresh: Refresh = {
        let refreshed = refreshed.clone();
        std::sync::Arc::new(move || {
            refreshed.inc();
            Box::pin(async {})
        })
    };
    let listener = bind(loopback(0)).await.unwrap();
    let address = listener.local_addr();
    assert_ne!(address.port(), 0);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(listener.serve(
        Exposition::new(registry).with_refresh(refresh),
        shutdown.clone(),
    ));
    let response = get(address, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    assert!(response.contains("hygie_refreshes_total 1\n"), "{response}");
    assert!(get(address, "/").await.starts_with("HTTP/1.1 404"));
    shutdown.cancel();
    server.await.unwrap();
}

#[tokio::test]
async fn a_taken_port_is_named_in_the_error() {
    let taken = tokio::net::TcpListener::bind(loopback(0)).await.unwrap();
    let address = taken.local_addr().unwrap();
    let error = bind(address).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("cannot listen for metrics on {address} (")),
        "{text}"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the system's reason follows"
    );
    assert!(text.contains("enabled = false"), "{text}");
}

#[test]
fn unknown_keys_are_refused() {
    let typo = section("listn = \"127.0.0.1:1\"").unwrap_err();
    assert!(typo.contains("unknown field `listn`"), "{typo}");
}
