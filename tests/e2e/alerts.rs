//! Alerts to the SIEM on a real collector fed by a real agent: an unmanaged device announcing a
//! hostile host name reaches a syslog receiver (RFC 5424 over TCP) and a webhook (signed JSON)
//! written here, on 127.0.0.1. The webhook is down at first and the collector is restarted
//! before it comes back: the alert still arrives, with the event id of the log.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::site::Site;
use hmac::{Hmac, Mac};
use hygie_proto::{Observation, Source};
use hygie_tests::observations::append_jsonl;
use hygie_tests::wait_until;
use jiff::Timestamp;
use sha2::Sha256;

/// A device nobody registered.
const ROGUE: &str = "00:30:e6:11:22:04";
/// What it calls itself: quotes, brackets, a backslash and a direction override (agents
/// refuse C0 controls already).
const HOSTILE: &str = "pump\"] [forged@1 a=\"b\"] \\\u{202e}gpj.exe";
const SECRET: &str = "a secret only the collector and the SOC know";

type Messages = Arc<Mutex<Vec<String>>>;

/// A syslog receiver: octet-counted frames over TCP (RFC 6587).
fn syslog_receiver() -> (u16, Messages) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Messages::default();
    let inbox = Arc::clone(&messages);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let inbox = Arc::clone(&inbox);
            thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = Vec::new();
                    if reader.read_until(b' ', &mut length).unwrap_or(0) == 0 {
                        return;
                    }
                    let length: usize = std::str::from_utf8(&length[..length.len() - 1])
                        .unwrap()
                        .parse()
                        .unwrap();
                    let mut message = vec![0; length];
                    if reader.read_exact(&mut message).is_err() {
                        return;
                    }
                    inbox
                        .lock()
                        .unwrap()
                        .push(String::from_utf8(message).unwrap());
                }
            });
        }
    });
    (port, messages)
}

/// One request the webhook got: headers and body.
type Posted = Arc<Mutex<Vec<(HashMap<String, String>, Vec<u8>)>>>;

/// A webhook on `listener`: records each POST, answers 200.
fn webhook_receiver(listener: TcpListener) -> Posted {
    let posted = Posted::default();
    let inbox = Arc::clone(&posted);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = HashMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /hygie HTTP/1.1"), "{line}");
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else {
                    break;
                };
                headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
            }
            let length: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            inbox.lock().unwrap().push((headers, body));
            let mut stream = reader.into_inner();
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    posted
}

/// The value of `name` in the structured data, unescaped.
fn sd_param(message: &str, name: &str) -> Option<String> {
    let start = message.find(&format!(" {name}=\""))? + name.len() + 3;
    let mut value = String::new();
    let mut chars = message[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?),
            '"' => return Some(value),
            c => value.push(c),
        }
    }
    None
}

#[test]
fn an_unmanaged_device_alert_reaches_syslog_and_a_webhook_across_an_outage_and_a_restart() {
    let (syslog_port, syslog) = syslog_receiver();
    // The webhook's port, reserved; nobody listens on it yet.
    let webhook_port = hygie_tests::free_port().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("webhook.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut site = Site::new(&format!(
        "[alerts]\npoll_interval = \"100ms\"\n\
         [[alerts.sinks]]\nname = \"siem\"\ntype = \"syslog\"\ntransport = \"tcp\"\n\
         address = \"127.0.0.1:{syslog_port}\"\nfacility = \"local4\"\n\
         [[alerts.sinks]]\nname = \"soc\"\ntype = \"webhook\"\n\
         url = \"http://127.0.0.1:{webhook_port}/hygie\"\nsecret_file = \"{}\"\n\
         max_retry_interval = \"500ms\"\n",
        secret.display()
    ));
    let validated = site
        .collector
        .command()
        .unwrap()
        .args([
            "validate",
            site.path("collector/collector.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        validated.status.success()
            && String::from_utf8_lossy(&validated.stdout).contains("2 alert sink(s)"),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    site.collector.start().unwrap();

    let mut observation = Observation::new(ROGUE.parse().unwrap(), Timestamp::now(), Source::Mdns);
    observation.ips = vec!["198.18.0.14".parse::<IpAddr>().unwrap()];
    observation.hostname = Some(HOSTILE.into());
    observation.interface = "eth0".into();
    let file = site.path("observations.jsonl");
    append_jsonl(&file, &[observation]).unwrap();
    let agent = site.agent("ward-3", vec![(file, false)]);

    // Syslog: the alert of the device's asset_new event, field by field.
    let arrived = wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        !syslog.lock().unwrap().is_empty()
    });
    assert!(
        arrived,
        "no syslog message\n--- collector ---\n{}\n--- agent ---\n{}",
        site.collector.log(),
        agent.log()
    );
    let message = syslog.lock().unwrap()[0].clone();
    assert!(message.starts_with("<164>1 "), "local4, warning: {message}");
    let fields: Vec<&str> = message.splitn(7, ' ').collect();
    assert_eq!(fields[3], "hygie");
    assert_eq!(fields[5], "asset_new");
    assert!(fields[6].starts_with("[hygie@32473 "), "{message}");
    assert_eq!(sd_param(&message, "flag").as_deref(), Some("unmanaged"));
    assert_eq!(sd_param(&message, "mac").as_deref(), Some(ROGUE));
    assert_eq!(sd_param(&message, "ip").as_deref(), Some("198.18.0.14"));
    assert_eq!(sd_param(&message, "site").as_deref(), Some("chu-test"));
    assert_eq!(
        sd_param(&message, "agent").as_deref(),
        Some("chu-test/ward-3")
    );
    assert!(sd_param(&message, "vendor").is_some_and(|vendor| vendor.contains("Dr")));
    // The hostile name stays inside its value: escaped, its direction override replaced.
    assert_eq!(
        sd_param(&message, "hostname").as_deref(),
        Some("pump\"] [forged@1 a=\"b\"] \\\u{fffd}gpj.exe")
    );
    assert!(!message.contains('\u{202e}'));
    let event_id: i64 = sd_param(&message, "event_id").unwrap().parse().unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_slice(
        &site
            .collector
            .command()
            .unwrap()
            .args(["events", "--mac", ROGUE, "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let logged = events
        .iter()
        .find(|event| event["kind"] == "asset_new")
        .expect("an asset_new event");
    assert_eq!(logged["id"], event_id, "the alert carries the event's id");
    assert_eq!(sd_param(&message, "event_hash").unwrap(), logged["hash"]);

    // The webhook was down all along: the collector stops with the alert undelivered...
    thread::sleep(Duration::from_secs(1));
    site.collector.stop();
    // ...and sends it once restarted, with the webhook back.
    let posted = webhook_receiver(TcpListener::bind(("127.0.0.1", webhook_port)).unwrap());
    site.collector.start().unwrap();
    let arrived = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        !posted.lock().unwrap().is_empty()
    });
    assert!(arrived, "no webhook call\n{}", site.collector.log());
    let (headers, body) = posted.lock().unwrap()[0].clone();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    assert_eq!(
        headers["x-hygie-signature"],
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    let alert: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(alert["event_id"], event_id);
    assert_eq!(headers["x-hygie-event-id"], event_id.to_string());
    assert_eq!(alert["kind"], "asset_new");
    assert_eq!(alert["flag"], "unmanaged");
    assert_eq!(alert["mac"], ROGUE);
    assert_eq!(alert["agent"], "chu-test/ward-3");
    assert_eq!(
        alert["hostname"],
        "pump\"] [forged@1 a=\"b\"] \\\u{fffd}gpj.exe"
    );

    // Delivered once to each: the restart did not send the syslog alert again.
    let status = || -> Vec<serde_json::Value> {
        let output = site
            .collector
            .command()
            .unwrap()
            .args(["alerts", "status", "--format", "json"])
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let settled = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        status()
            .iter()
            .all(|sink| sink["state"]["delivered"] == 1 && sink["backlog"] == 0)
    });
    assert!(settled, "{:?}", status());
    assert_eq!(syslog.lock().unwrap().len(), 1);
    drop(agent);
}
