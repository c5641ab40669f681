//! A stand-in GLPI for push tests: a small HTTP/1.1 server on 127.0.0.1 (a port of its own)
//! that records every request and answers what the test's responder says, as GLPI's
//! `front/inventory.php` and an OAuth token endpoint would.
//!
//! One request per connection (`Connection: close`): enough for a client that reconnects,
//! and nothing a test must reason about.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body as sent (compressed or not).
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The JSON document in the body, decompressed if it was sent zlib-compressed.
    pub fn json(&self) -> serde_json::Value {
        let bytes = if self.header("content-type") == Some("application/x-compress-zlib") {
            let mut plain = Vec::new();
            flate2::read::ZlibDecoder::new(self.body.as_slice())
                .read_to_end(&mut plain)
                .expect("a zlib body");
            plain
        } else {
            self.body.clone()
        };
        serde_json::from_slice(&bytes).expect("a JSON body")
    }
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// `Content-Type`.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A JSON reply.
    pub fn json(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            content_type: "application/json".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// GLPI's acceptance.
    pub fn ok() -> Answer {
        Answer::json(200, r#"{"status":"ok","expiration":24}"#)
    }

    /// GLPI's refusal.
    pub fn error(status: u16, message: &str) -> Answer {
        Answer::json(
            status,
            &serde_json::json!({"status": "error", "message": message, "expiration": 24})
                .to_string(),
        )
    }

    /// With a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = dyn Fn(&Received) -> Answer + Send + Sync;

/// The server; stops when dropped.
pub struct FakeGlpi {
    /// Its port on 127.0.0.1.
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    responder: Arc<Mutex<Arc<Responder>>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeGlpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGlpi")
            .field("port", &self.port)
            .finish()
    }
}

impl FakeGlpi {
    /// Starts a server that answers with `responder`.
    pub fn start(responder: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> FakeGlpi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let port = listener.local_addr().expect("its address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let responder: Arc<Mutex<Arc<Responder>>> = Arc::new(Mutex::new(Arc::new(responder)));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, responder, stopping) =
                (received.clone(), responder.clone(), stopping.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (received, responder) = (received.clone(), responder.clone());
                    std::thread::spawn(move || {
                        let _ = serve(stream, &received, &responder);
                    });
                }
            })
        };
        FakeGlpi {
            port,
            received,
            responder,
            stopping,
            thread: Some(thread),
        }
    }

    /// Its base URL, under `path` (e.g. `glpi/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Answers with `responder` from now on.
    pub fn respond(&self, responder: impl Fn(&Received) -> Answer + Send + Sync + 'static) {
        *self.responder.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(responder);
    }

    /// Every request so far, and forgets them.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for FakeGlpi {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    responder: &Mutex<Arc<Responder>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = Received {
        method,
        path,
        headers,
        body,
    };
    let responder = responder.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let answer = responder(&request);
    received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(request);
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&answer.body)?;
    out.flush()
}
