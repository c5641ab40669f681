//! Webhooks: a JSON body, signed with HMAC-SHA256, POSTed over HTTP/1.1 or HTTPS with the
//! collector's one client ([`crate::http_client`]).
//!
//! The signature is `X-Hygie-Signature: sha256=<hex of HMAC-SHA256(secret, body)>` over the
//! exact bytes of the body; receivers recompute it and compare in constant time. The body
//! carries the event id (also in `X-Hygie-Event-Id`) and hash to deduplicate on, and
//! `sent_at`, which a receiver may use to refuse replays.
//!
//! ```json
//! {"source":"hygie-collector","collector":"collector-1","sent_at":"2026-09-21T12:00:01Z",
//!  "type":"alert","severity":"warning","event_id":42,"event_hash":"9f2c…",
//!  "at":"2026-09-21T12:00:00Z","kind":"flag_raised","flag":"unmanaged",
//!  "mac":"00:30:e6:11:22:04","ip":"198.18.0.14","ips":["198.18.0.14"],
//!  "hostname":"pump-7","vendor":"Drägerwerk AG & Co. KGaA","category":"biomedical",
//!  "site":"chu-nord","agent":"chu-nord/ward-3","flags":["unmanaged","new"],
//!  "managed":false,"message":"unmanaged device 00:30:e6:11:22:04 (not in the registry): …"}
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, header};
use http_body_util::Full;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::alert::Message;
use super::settings::WebhookTarget;
use super::transport::SendError;
use crate::http_client::{
    ClientSettings, HttpClient, Response, Trust, TrustError, client_config, is_https,
};
use crate::safe;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hygie-signature";
/// The event id header (absent for summaries and tests).
pub const EVENT_ID_HEADER: &str = "x-hygie-event-id";
/// How webhook receivers are named in errors.
const SERVICE: &str = "the webhook receiver";
/// Most bytes of a receiver's answer read (quoted in errors; its meaning is its status).
const MAX_REPLY: usize = 16 * 1024;
/// Statuses that refuse a message for good (Invariant 8 of [`super`]).
const REFUSALS: [u16; 4] = [400, 413, 415, 422];

/// The HMAC key of a webhook, read from its file. Never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the webhook secret {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the webhook secret {path} is readable by other users (mode {mode:o}); chmod 600 it and give it to the collector's user"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "the webhook secret {path} is empty; put a long random key in it (for instance `head -c 32 /dev/urandom | base64`)"
    )]
    Empty { path: PathBuf },
}

impl Secret {
    /// Reads a secret file: refused if group or others may read it, or if it is empty.
    /// Surrounding white space (a final newline) is not part of the key.
    pub fn load(path: &Path) -> Result<Secret, SecretError> {
        use std::os::unix::fs::PermissionsExt;
        let read = |source| SecretError::Read {
            path: path.to_owned(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(read)?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        let key = bytes.trim_ascii();
        if key.is_empty() {
            return Err(SecretError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Secret(key.to_vec()))
    }

    /// A secret from bytes (tests, tools).
    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }
}

/// `sha256=<hex>` of the body under the secret.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` (compared in constant time).
pub fn verify(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(digest) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

/// A string from a device or an operator, on one line.
fn text(value: &str) -> Value {
    Value::String(safe::line(value))
}

/// Every string of a JSON value neutralised (the details of an event quote devices).
fn neutralise(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(safe::line(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(neutralise).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (safe::line(&key), neutralise(value)))
                .collect(),
        ),
        other => other,
    }
}

/// The JSON body of a message.
pub fn body(message: &Message, collector: &str, now: Timestamp) -> Vec<u8> {
    let mut map = Map::new();
    map.insert("source".into(), json!("hygie-collector"));
    map.insert("collector".into(), text(collector));
    map.insert("sent_at".into(), json!(now.to_string()));
    match message {
        Message::Alert(alert) => {
            map.insert("type".into(), json!("alert"));
            map.insert("severity".into(), json!(alert.severity().as_str()));
            map.insert("event_id".into(), json!(alert.event_id));
            map.insert("event_hash".into(), json!(alert.event_hash.to_hex()));
            map.insert("at".into(), json!(alert.at.to_string()));
            map.insert("kind".into(), json!(alert.kind.as_str()));
            if let Some(flag) = alert.flag {
                map.insert("flag".into(), json!(flag.as_str()));
            }
            if let Some(mac) = alert.mac {
                map.insert("mac".into(), json!(mac.to_string()));
            }
            if let Some(asset) = &alert.asset {
                if let Some(ip) = asset.ips.first() {
                    map.insert("ip".into(), json!(ip.to_string()));
                }
                map.insert(
                    "ips".into(),
                    Value::Array(asset.ips.iter().map(|ip| json!(ip.to_string())).collect()),
                );
                for (key, value) in [
                    ("hostname", &asset.hostname),
                    ("vendor", &asset.vendor),
                    ("site", &asset.site),
                    ("agent", &asset.agent),
                    ("name", &asset.name),
                ] {
                    if let Some(value) = value {
                        map.insert(key.into(), text(value));
                    }
                }
                map.insert("category".into(), json!(asset.category.as_str()));
                map.insert(
                    "flags".into(),
                    Value::Array(
                        asset
                            .flags
                            .iter()
                            .map(|flag| json!(flag.as_str()))
                            .collect(),
                    ),
                );
                map.insert("managed".into(), json!(asset.managed));
            }
            map.insert("message".into(), text(&alert.text()));
        }
        Message::Summary(summary) => {
            map.insert("type".into(), json!("suppressed"));
            map.insert("severity".into(), json!("warning"));
            map.insert("count".into(), json!(summary.count));
            map.insert("first_event_id".into(), json!(summary.first_id));
            map.insert("last_event_id".into(), json!(summary.last_id));
            map.insert("window_seconds".into(), json!(summary.window.as_secs()));
            map.insert("message".into(), text(&summary.text()));
        }
        Message::Test => {
            map.insert("type".into(), json!("test"));
            map.insert("severity".into(), json!("info"));
            map.insert(
                "message".into(),
                json!("test alert from hygie-collector: this webhook receives Hygie's alerts"),
            );
        }
    }
    // Serializing a map of plain values cannot fail.
    serde_json::to_vec(&neutralise(Value::Object(map))).unwrap_or_default()
}

/// A webhook receiver, reached with a client of its own (its connection kept between alerts).
pub(crate) struct WebhookClient {
    url: http::Uri,
    secret: Secret,
    http: HttpClient,
    collector: String,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("url", &self.url)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl WebhookClient {
    /// `timeout` bounds each delivery: connect, TLS, request and answer.
    pub(crate) fn new(
        target: &WebhookTarget,
        secret: Secret,
        timeout: Duration,
        collector: String,
    ) -> Result<WebhookClient, TrustError> {
        let tls = if is_https(&target.url) {
            Some(client_config(&Trust::from_ca_file(target.ca.as_deref()))?)
        } else {
            None
        };
        let http = HttpClient::new(
            tls,
            ClientSettings {
                connect_timeout: timeout,
                timeout,
                max_reply: MAX_REPLY,
                idle_per_host: 1,
            },
        )?;
        Ok(WebhookClient {
            url: target.url.clone(),
            secret,
            http,
            collector,
        })
    }

    /// POSTs the message; `Err` says whether to try again.
    pub(crate) async fn send(&self, message: &Message, now: Timestamp) -> Result<(), SendError> {
        let body = body(message, &self.collector, now);
        let mut request = Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret, &body));
        if let Message::Alert(alert) = message {
            request = request.header(EVENT_ID_HEADER, alert.event_id);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| SendError::retry(format!("cannot build the request: {error}")))?;
        match self
            .http
            .send(SERVICE, request)
            .await
            .and_then(Response::error_for_status)
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .status()
                    .is_some_and(|status| REFUSALS.contains(&status)) =>
            {
                Err(SendError::refused(error.to_string()))
            }
            Err(error) => Err(SendError::retry(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::alert::tests::raised;
    use crate::inventory::flags::Flag;

    #[test]
    fn the_body_carries_the_event_and_its_asset() {
        let alert = raised(42, Flag::Unmanaged);
        let bytes = body(
            &Message::Alert(Box::new(alert.clone())),
            "collector-1",
            Timestamp::UNIX_EPOCH,
        );
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["type"], "alert");
        assert_eq!(value["event_id"], 42);
        assert_eq!(value["event_hash"], alert.event_hash.to_hex());
        assert_eq!(value["kind"], "flag_raised");
        assert_eq!(value["flag"], "unmanaged");
        assert_eq!(value["mac"], "00:30:e6:11:22:04");
        assert_eq!(value["ip"], "198.18.0.14");
        assert_eq!(value["vendor"], "Drägerwerk AG & Co. KGaA");
        assert_eq!(value["category"], "biomedical");
        assert_eq!(value["site"], "chu-nord");
        assert_eq!(value["agent"], "chu-nord/ward-3");
        assert_eq!(value["flags"], json!(["unmanaged", "new"]));
        assert_eq!(value["severity"], "warning");
    }

    #[test]
    fn hostile_strings_stay_inside_their_json_strings() {
        let mut alert = raised(1, Flag::Unmanaged);
        let hostile = "\"},\"event_id\":666,\"x\":{\"\u{1b}[2J\n\u{202e}";
        alert.asset.as_mut().unwrap().hostname = Some(hostile.into());
        let bytes = body(&Message::Alert(Box::new(alert)), "c", Timestamp::UNIX_EPOCH);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["event_id"], 1);
        assert_eq!(
            value["hostname"],
            "\"},\"event_id\":666,\"x\":{\"\u{fffd}[2J\u{fffd}\u{fffd}"
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains(['\n', '\u{1b}', '\u{202e}']));
    }

    #[test]
    fn signatures_verify_and_detect_changes() {
        let secret = Secret::from_bytes(b"key");
        let header = signature(&secret, b"{\"a\":1}");
        // Computed independently: Python's hmac.new(b"key", b'{"a":1}', sha256).
        assert_eq!(
            header,
            "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
        );
        assert!(verify(&secret, b"{\"a\":1}", &header));
        assert!(!verify(&secret, b"{\"a\":2}", &header));
        assert!(!verify(
            &Secret::from_bytes(b"other"),
            b"{\"a\":1}",
            &header
        ));
        assert!(!verify(&secret, b"{\"a\":1}", "sha1=00"));
    }

    #[test]
    fn secrets_open_to_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = Secret::load(&path).unwrap_err();
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = Secret::load(&path).unwrap();
        assert_eq!(secret.0, b"s3cret");
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            Secret::load(&path),
            Err(SecretError::Empty { .. })
        ));
    }
}
