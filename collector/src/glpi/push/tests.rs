//! Deliveries through the collector's HTTP client to a GLPI stand-in on 127.0.0.1, and the
//! figures they count.

use std::sync::{Arc, Mutex};

use hygie_metrics::{Exposition, Format, PREFIX, check};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::classify::Category;
use crate::glpi::tests::view;
use crate::metrics::CollectorMetrics;

/// A GLPI stand-in: answers the scripted replies in turn (then `ok`), recording each request.
async fn glpi(replies: Vec<(u16, &'static str)>, heads: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, length) = loop {
                let read = stream.read(&mut chunk).await.unwrap_or(0);
                if read == 0 {
                    break (String::new(), 0);
                }
                request.extend_from_slice(&chunk[..read]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while request.len() < end + 4 + length {
                        let read = stream.read(&mut chunk).await.unwrap_or(0);
                        if read == 0 {
                            break;
                        }
                        request.extend_from_slice(&chunk[..read]);
                    }
                    break (head, length);
                }
            };
            if head.is_empty() {
                continue;
            }
            let _ = length;
            heads.lock().unwrap().push(head);
            let (status, body) = replies
                .lock()
                .unwrap()
                .next()
                .unwrap_or((200, r#"{"status":"ok"}"#));
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    port
}

fn settings(port: u16, dir: &Path) -> GlpiSettings {
    GlpiSettings {
        url: format!("http://127.0.0.1:{port}/glpi/").parse().unwrap(),
        interval: None,
        concurrency: 1,
        timeout: Duration::from_secs(2),
        compress: false,
        ca_cert: None,
        oauth: None,
        selection: Selection::default(),
        tag: None,
        retry: RetryPolicy::default(),
        state_file: dir.join("glpi-sent.sqlite"),
        agent_id_file: dir.join("glpi-agent-id"),
    }
}

#[tokio::test]
async fn documents_go_through_the_shared_client_and_are_counted_as_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let port = glpi(
        vec![
            (200, r#"{"status":"ok"}"#),
            (
                400,
                r#"{"status":"error","message":"JSON does not validate"}"#,
            ),
        ],
        Arc::clone(&heads),
    )
    .await;
    let metrics = CollectorMetrics::new("/nonexistent".into());
    let client = GlpiClient::new(
        &settings(port, dir.path()),
        "3f1b0c9e-0000-4000-8000-000000000001",
    )
    .unwrap()
    .with_metrics(metrics.glpi.clone());
    let context = DocumentContext::this_build(None);
    let documents: Vec<Document> = (1..=3)
        .map(|n| {
            build(
                &view(n, Category::Biomedical, "patient_monitor", false),
                &context,
            )
        })
        .collect();
    let shutdown = CancellationToken::new();
    let deliveries = Deliveries {
        client: &client,
        policy: RetryPolicy::default(),
        concurrency: 1,
        shutdown: &shutdown,
    };
    let mut report = PushReport::default();
    let delivered = deliveries
        .run(&documents, &mut Breaker::default(), &mut report)
        .await;
    assert_eq!(delivered.len(), 2);
    assert_eq!((report.delivered_total(), report.refused), (2, 1));

    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 3);
    for head in &heads {
        assert!(
            head.starts_with("post /glpi/front/inventory.php http/1.1"),
            "{head}"
        );
        assert!(
            head.contains("glpi-agent-id: 3f1b0c9e-0000-4000-8000-000000000001"),
            "{head}"
        );
        assert!(head.contains("user-agent: hygie-collector/"), "{head}");
    }

    let text = Exposition::new(metrics.registry)
        .render(Format::OpenMetrics)
        .await
        .unwrap();
    let scrape = check(&text, PREFIX).unwrap();
    let documents = |outcome| {
        scrape
            .require(
                "hygie_collector_glpi_documents_total",
                &[("outcome", outcome)],
            )
            .unwrap()
    };
    assert_eq!(documents("delivered"), 2.0);
    assert_eq!(documents("refused"), 1.0);
    assert_eq!(documents("failed"), 0.0);
}

#[tokio::test]
async fn an_unreachable_glpi_says_so_and_names_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = GlpiClient::new(&settings(port, dir.path()), "id").unwrap();
    let attempt = client.deliver(b"{}").await;
    let super::super::retry::Attempt::Transient { reason, .. } = attempt else {
        panic!("{attempt:?}");
    };
    assert!(
        reason.starts_with(&format!(
            "cannot reach GLPI at http://127.0.0.1:{port}/glpi/front/inventory.php: "
        )),
        "{reason}"
    );
}
