//! Webhooks over HTTPS (the collector's one HTTP client, [`crate::http_client`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use super::receivers::Hook;
use super::{Script, check_posts, eventually, make_pki, secret_file, settings, sink, tls_acceptor};
use crate::alerts::state;

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
    let settings = settings(
        dir.path(),
        &format!(
            "{}{}",
            sink("soc", &body(&pki.ca_cert)),
            sink("impostor-ca", &body(&other.ca_cert))
        ),
    );
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
    let refused = state::load(&settings.state_dir, "impostor-ca")
        .unwrap()
        .unwrap();
    assert_eq!(
        refused.progress.cursor, 0,
        "nothing settled without delivery"
    );
    let error = refused.last_error.unwrap_or_default();
    assert!(
        error.starts_with("TLS with the webhook receiver at https://localhost:")
            && error.contains("CA file"),
        "{error}"
    );
}
