//! Receivers written for the tests, on 127.0.0.1 with random ports: syslog over UDP, TCP
//! (octet counting) and TLS, and an HTTP/1.1 webhook endpoint that records what it gets and
//! answers with the status it is told. Deliberately independent of the client code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// Each TLS handshake a receiver saw: done, or why not.
pub(super) type Handshakes = Arc<Mutex<Vec<Result<(), String>>>>;

/// Messages a syslog receiver got, in arrival order.
pub(super) type Inbox = Arc<Mutex<Vec<String>>>;

/// A receiver running until dropped.
pub(super) struct Receiver {
    pub(super) address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) async fn udp(inbox: Inbox) -> Receiver {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0u8; 65_536];
        while let Ok(length) = socket.recv(&mut buffer).await {
            inbox
                .lock()
                .unwrap()
                .push(String::from_utf8(buffer[..length].to_vec()).unwrap());
        }
    });
    Receiver { address, task }
}

/// Reads RFC 6587 octet-counted frames until the stream ends.
async fn frames<S: AsyncRead + Unpin>(mut stream: S, inbox: Inbox) {
    loop {
        let mut length = 0usize;
        loop {
            let mut byte = [0u8; 1];
            if stream.read_exact(&mut byte).await.is_err() {
                return;
            }
            match byte[0] {
                b' ' => break,
                digit @ b'0'..=b'9' => length = length * 10 + usize::from(digit - b'0'),
                other => panic!("not an octet-counted frame: byte {other}"),
            }
        }
        let mut message = vec![0u8; length];
        if stream.read_exact(&mut message).await.is_err() {
            return;
        }
        inbox
            .lock()
            .unwrap()
            .push(String::from_utf8(message).unwrap());
    }
}

pub(super) async fn tcp_on(listener: TcpListener, inbox: Inbox) -> Receiver {
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(frames(stream, Arc::clone(&inbox)));
        }
    });
    Receiver { address, task }
}

pub(super) async fn tls(
    acceptor: tokio_rustls::TlsAcceptor,
    inbox: Inbox,
    handshakes: Arc<Mutex<Vec<Result<(), String>>>>,
) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let inbox = Arc::clone(&inbox);
            let handshakes = Arc::clone(&handshakes);
            connections.spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(stream) => {
                        handshakes.lock().unwrap().push(Ok(()));
                        frames(stream, inbox).await;
                    }
                    Err(error) => handshakes.lock().unwrap().push(Err(error.to_string())),
                }
            });
        }
    });
    Receiver { address, task }
}

/// One request a webhook endpoint got.
#[derive(Debug, Clone)]
pub(super) struct Posted {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) headers: HashMap<String, String>,
    pub(super) body: Vec<u8>,
}

impl Posted {
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook endpoint: records every request, answers `status`.
pub(super) struct Hook {
    pub(super) posted: Arc<Mutex<Vec<Posted>>>,
    pub(super) status: Arc<AtomicU16>,
}

impl Hook {
    pub(super) fn new() -> Hook {
        Hook {
            posted: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        }
    }

    pub(super) fn posted(&self) -> Vec<Posted> {
        self.posted.lock().unwrap().clone()
    }

    pub(super) async fn serve_on(&self, listener: TcpListener) -> Receiver {
        self.serve(listener, None).await
    }

    /// Serves HTTPS with `acceptor`'s certificate; failed handshakes are recorded.
    pub(super) async fn serve_tls_on(
        &self,
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        handshakes: Handshakes,
    ) -> Receiver {
        self.serve(listener, Some((acceptor, handshakes))).await
    }

    async fn serve(
        &self,
        listener: TcpListener,
        tls: Option<(tokio_rustls::TlsAcceptor, Handshakes)>,
    ) -> Receiver {
        let address = listener.local_addr().unwrap();
        let posted = Arc::clone(&self.posted);
        let status = Arc::clone(&self.status);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let posted = Arc::clone(&posted);
                let status = Arc::clone(&status);
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => answer(stream, &posted, &status).await,
                        Some((acceptor, handshakes)) => match acceptor.accept(stream).await {
                            Ok(stream) => {
                                handshakes.lock().unwrap().push(Ok(()));
                                answer(stream, &posted, &status).await;
                            }
                            Err(error) => handshakes.lock().unwrap().push(Err(error.to_string())),
                        },
                    }
                });
            }
        });
        Receiver { address, task }
    }
}

/// Reads one request, records it, answers the status in force and closes.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    posted: &Mutex<Vec<Posted>>,
    status: &AtomicU16,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    posted.lock().unwrap().push(request);
    let code = status.load(Ordering::SeqCst);
    let answer = format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Posted> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        assert!(buffer.len() < 65_536, "request head too long");
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some(Posted {
        method,
        path,
        headers,
        body,
    })
}
