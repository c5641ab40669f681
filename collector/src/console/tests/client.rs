//! A small HTTPS client for the tests: TLS checked against the collector's CA, one connection
//! per request, a cookie jar, forms and multipart uploads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What came back.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: hyper::HeaderMap,
    pub(super) body: String,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    /// The first form token on the page.
    pub(super) fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a token") + marker.len();
        self.body[start..start + 128].to_owned()
    }
}

/// A browser, roughly.
pub(super) struct Client {
    connector: TlsConnector,
    address: SocketAddr,
    pub(super) cookies: BTreeMap<String, String>,
}

pub(super) fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let encode = |text: &str| {
        text.bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                    char::from(byte).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

impl Client {
    pub(super) fn new(address: SocketAddr, ca_pem: &[u8]) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(certificate.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        Client {
            connector: TlsConnector::from(Arc::new(config)),
            address,
            cookies: BTreeMap::new(),
        }
    }

    pub(super) async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let tcp = TcpStream::connect(self.address).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = self.connector.connect(name, tcp).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header("cookie", jar.join("; "));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(super) async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None, Vec::new(), &[]).await
    }

    pub(super) async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        self.send(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            form_body(pairs),
            &[],
        )
        .await
    }

    /// Uploads `file` as the form's `file` field, with its token.
    pub(super) async fn upload(&mut self, path: &str, csrf: &str, name: &str, file: &str) -> Reply {
        let boundary = "hygie-test-boundary-7f3a";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
        );
        self.send(
            "POST",
            path,
            Some(&format!("multipart/form-data; boundary={boundary}")),
            body.into_bytes(),
            &[],
        )
        .await
    }

    /// Signs in; returns the reply to the login form.
    pub(super) async fn login(&mut self, user: &str, password: &str) -> Reply {
        let page = self.get("/login").await;
        let marker = "name=\"token\" value=\"";
        let start = page.body.find(marker).unwrap() + marker.len();
        let token = page.body[start..start + 64].to_owned();
        self.post(
            "/login",
            &[("user", user), ("password", password), ("token", &token)],
        )
        .await
    }
}
