//! The client against servers on 127.0.0.1 written for these tests: plain and TLS, answers
//! scripted byte for byte, servers that never answer or answer too much.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const SETTINGS: ClientSettings = ClientSettings {
    connect_timeout: Duration::from_secs(2),
    timeout: Duration::from_secs(2),
    max_reply: 1024,
    idle_per_host: 1,
};

/// Request heads the server got.
type Heads = Arc<Mutex<Vec<String>>>;

/// Serves `answer` to every request on a plain or TLS listener; returns its port.
async fn serve(answer: Vec<u8>, tls: Option<tokio_rustls::TlsAcceptor>, heads: Heads) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (answer, tls, heads) = (answer.clone(), tls.clone(), Arc::clone(&heads));
            tokio::spawn(async move {
                match tls {
                    None => answer_one(tcp, &answer, &heads).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer_one(stream, &answer, &heads).await;
                        }
                    }
                }
            });
        }
    });
    port
}

async fn answer_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    answer: &[u8],
    heads: &Heads,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    heads
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}

fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

fn plain() -> HttpClient {
    HttpClient::new(None, SETTINGS).unwrap()
}

#[tokio::test]
async fn a_success_is_read_whole_and_names_the_collector() {
    let heads = Heads::default();
    let port = serve(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\nConnection: close\r\n\r\nhello"
            .to_vec(),
        None,
        Arc::clone(&heads),
    )
    .await;
    let response = plain()
        .send("the test", get(&format!("http://127.0.0.1:{port}/a?b=c")))
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(&response.body[..], b"hello");
    assert_eq!(response.header("x-a"), Some("b"));
    assert!(!response.truncated);
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /a?b=c http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "user-agent: {}\r\n",
            USER_AGENT_VALUE.to_ascii_lowercase()
        )),
        "{head}"
    );
}

#[tokio::test]
async fn a_failure_status_carries_a_safe_excerpt_of_its_body() {
    let port = serve(
        b"HTTP/1.1 503 Busy\r\nContent-Length: 18\r\nConnection: close\r\n\r\ndown\x1b[2J\nfor a bit".to_vec(),
        None,
        Heads::default(),
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/");
    let error = plain()
        .send("the test", get(&url))
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(
        error.to_string(),
        format!("the test at {url} answered HTTP 503 (down\u{fffd}[2J\u{fffd}for a bit)")
    );
}

#[tokio::test]
async fn redirects_are_not_followed_and_say_where_they_point() {
    let port = serve(
        b"HTTP/1.1 301 Moved\r\nLocation: https://glpi.example/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        None,
        Heads::default(),
    )
    .await;
    let error = plain()
        .send("GLPI", get(&format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("HTTP 301")
            && text.contains("configure the URL it points to (https://glpi.example/)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_reply_is_read_only_up_to_the_cap() {
    let mut answer =
        b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n".to_vec();
    answer.extend(std::iter::repeat_n(b'x', 1 << 20));
    let port = serve(answer, None, Heads::default()).await;
    let response = plain()
        .send("the test", get(&format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap();
    assert_eq!(response.body.len(), SETTINGS.max_reply);
    assert!(response.truncated);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_on_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds the connection, never answering.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let client = HttpClient::new(
        None,
        ClientSettings {
            timeout: Duration::from_millis(300),
            ..SETTINGS
        },
    )
    .unwrap();
    let started = Instant::now();
    let error = client
        .send("the test", get(&format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Timeout { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(error.to_string().contains("raise the timeout"), "{error}");
    holder.abort();
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error_that_says_what_to_check() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = plain()
        .send("GLPI", get(&format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with("cannot reach GLPI at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("that GLPI listens there"), "{text}");
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 in `dir` (other modules' TLS
/// tests use it too).
pub(crate) fn make_pki(dir: &Path) -> crate::ca::PkiPaths {
    let pki = crate::ca::PkiPaths::in_dir(dir);
    crate::ca::init(
        &pki,
        &["localhost".to_owned()],
        &["127.0.0.1".parse().unwrap()],
        false,
        jiff::Timestamp::now(),
        30,
        30,
    )
    .unwrap();
    pki
}

/// A TLS server presenting `pki`'s server certificate.
pub(crate) fn tls_acceptor(pki: &crate::ca::PkiPaths) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn https_is_verified_against_the_configured_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(&dir.path().join("receiver"));
    let other = make_pki(&dir.path().join("other"));
    let port = serve(
        b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec(),
        Some(tls_acceptor(&pki)),
        Heads::default(),
    )
    .await;
    let client = |ca: &Path| {
        let tls = client_config(&Trust::CaFile(ca.to_owned())).unwrap();
        HttpClient::new(Some(tls), SETTINGS).unwrap()
    };
    for host in ["localhost", "127.0.0.1"] {
        let response = client(&pki.ca_cert)
            .send("the test", get(&format!("https://{host}:{port}/")))
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::NO_CONTENT, "{host}");
    }
    let refused = client(&other.ca_cert)
        .send("the test", get(&format!("https://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert!(matches!(refused, HttpError::Tls { .. }), "{refused:?}");
    assert!(
        refused.to_string().contains("TLS with the test"),
        "{refused}"
    );
    // A client for plain HTTP trusts nothing.
    let untrusting = plain()
        .send("the test", get(&format!("https://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert!(
        matches!(untrusting, HttpError::Tls { .. }),
        "{untrusting:?}"
    );
}

#[test]
fn ca_files_that_cannot_be_used_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let error = client_config(&Trust::CaFile(missing.clone())).unwrap_err();
    assert!(matches!(error, TrustError::Read { .. }), "{error}");
    assert!(error.to_string().contains(&missing.display().to_string()));
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let error = client_config(&Trust::CaFile(empty)).unwrap_err();
    assert!(matches!(error, TrustError::Empty { .. }), "{error}");
    assert!(error.to_string().contains("BEGIN CERTIFICATE"), "{error}");
    assert_eq!(Trust::from_ca_file(None), Trust::System);
}
