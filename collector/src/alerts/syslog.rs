//! RFC 5424 messages and RFC 6587 octet-counting frames. Pure.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [hygie@32473 ...] MSG`, for instance:
//!
//! ```text
//! <132>1 2026-09-21T12:00:00.000000Z collector-1 hygie 4242 flag_raised [hygie@32473
//! event_id="42" event_hash="9f2c…" kind="flag_raised" flag="unmanaged" mac="00:30:e6:11:22:04"
//! ip="198.18.0.14" hostname="pump-7" vendor="Drägerwerk AG & Co. KGaA" category="biomedical"
//! site="chu-nord" agent="chu-nord/ward-3" flags="unmanaged,new" managed="false"] BOMunmanaged
//! device 00:30:e6:11:22:04 (not in the registry): ip 198.18.0.14, ...
//! ```
//!
//! (one line; BOM is U+FEFF, sent when MSG is not plain ASCII). PRI is facility × 8 +
//! severity ([`Severity`]); TIMESTAMP is the event's time (a summary's or a test's: when it
//! is sent); MSGID is the event kind (`alerts_suppressed` for a summary, `alert_test` for a
//! test). `32473` is the private enterprise number RFC 5612 reserves for documentation: Hygie
//! has none of its own, and the SD-ID is fixed so SIEM parsers can key on it.

use jiff::Timestamp;

use super::alert::{Alert, Message, Severity};
use crate::inventory::flags::Flag;
use crate::safe;

/// The SD-ID of Hygie's structured data.
pub const SD_ID: &str = "hygie@32473";
/// Longest SD-PARAM value, in bytes before escaping: no device string makes a message huge.
pub const MAX_VALUE: usize = 256;
/// Longest message sent over UDP: every receiver takes 2,048 octets (RFC 5426 section 3.2).
pub const MAX_UDP: usize = 2048;
/// Longest message sent over TCP or TLS.
pub const MAX_STREAM: usize = 8192;

/// The fields of the header that do not depend on the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Facility code, 0 to 23.
    pub facility: u8,
    /// The collector's host name.
    pub hostname: String,
    /// APP-NAME.
    pub app_name: String,
    /// PROCID: the collector's process id.
    pub procid: u32,
}

/// The message as RFC 5424 text, at most `max` bytes (MSG is cut to fit, at a character).
pub fn format(message: &Message, header: &Header, now: Timestamp, max: usize) -> Vec<u8> {
    let (severity, at, msgid, params, text) = match message {
        Message::Alert(alert) => (
            alert.severity(),
            alert.at,
            alert.kind.as_str().to_owned(),
            alert_params(alert),
            alert.text(),
        ),
        Message::Summary(summary) => (
            Severity::Warning,
            now,
            "alerts_suppressed".to_owned(),
            vec![
                ("count", summary.count.to_string()),
                ("first_event_id", summary.first_id.to_string()),
                ("last_event_id", summary.last_id.to_string()),
                ("window_seconds", summary.window.as_secs().to_string()),
            ],
            summary.text(),
        ),
        Message::Test => (
            Severity::Informational,
            now,
            "alert_test".to_owned(),
            Vec::new(),
            "test alert from hygie-collector: this sink receives Hygie's alerts".to_owned(),
        ),
    };
    let pri = u16::from(header.facility.min(23)) * 8 + severity as u16;
    let mut out = format!(
        "<{pri}>1 {} {} {} {} {} [{SD_ID}",
        at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        safe::syslog_header(&header.hostname, 255),
        safe::syslog_header(&header.app_name, 48),
        header.procid,
        safe::syslog_header(&msgid, 32),
    );
    for (name, value) in params {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&safe::syslog_param(&cut(&value, MAX_VALUE)));
        out.push('"');
    }
    out.push_str("] ");
    let text = safe::line(&text);
    let mut bytes = out.into_bytes();
    if !text.is_ascii() {
        bytes.extend_from_slice("\u{feff}".as_bytes());
    }
    let room = max.saturating_sub(bytes.len());
    bytes.extend_from_slice(cut(&text, room).as_bytes());
    bytes
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn alert_params(alert: &Alert) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("event_id", alert.event_id.to_string()),
        ("event_hash", alert.event_hash.to_hex()),
        ("kind", alert.kind.as_str().to_owned()),
    ];
    if let Some(flag) = alert.flag {
        params.push(("flag", flag.as_str().to_owned()));
    }
    if let Some(mac) = alert.mac {
        params.push(("mac", mac.to_string()));
    }
    if let Some(asset) = &alert.asset {
        if let Some(ip) = asset.ips.first() {
            params.push(("ip", ip.to_string()));
        }
        if let Some(hostname) = &asset.hostname {
            params.push(("hostname", hostname.clone()));
        }
        if let Some(vendor) = &asset.vendor {
            params.push(("vendor", vendor.clone()));
        }
        params.push(("category", asset.category.as_str().to_owned()));
        if let Some(site) = &asset.site {
            params.push(("site", site.clone()));
        }
        if let Some(agent) = &asset.agent {
            params.push(("agent", agent.clone()));
        }
        if let Some(name) = &asset.name {
            params.push(("name", name.clone()));
        }
        let flags: Vec<&str> = asset.flags.iter().map(Flag::as_str).collect();
        params.push(("flags", flags.join(",")));
        params.push(("managed", asset.managed.to_string()));
    }
    params
}

/// RFC 6587 octet counting (also RFC 5425's framing over TLS): `LEN SP MSG`.
pub fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message);
    frame
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::alert::Summary;
    use crate::alerts::alert::tests::raised;
    use crate::inventory::flags::Flag;

    fn header() -> Header {
        Header {
            facility: 16,
            hostname: "collector-1".into(),
            app_name: "hygie".into(),
            procid: 4242,
        }
    }

    fn text(message: &Message) -> String {
        String::from_utf8(format(
            message,
            &header(),
            Timestamp::from_second(1_790_000_100).unwrap(),
            MAX_STREAM,
        ))
        .unwrap()
    }

    /// A minimal RFC 5424 parser for the checks: the header fields, the SD params in order
    /// (unescaped), and MSG.
    pub(crate) fn parse(message: &str) -> (Vec<String>, Vec<(String, String)>, String) {
        let mut rest = message;
        let mut header = Vec::new();
        for _ in 0..6 {
            let (field, tail) = rest.split_once(' ').unwrap();
            header.push(field.to_owned());
            rest = tail;
        }
        let mut params = Vec::new();
        assert!(rest.starts_with('['));
        let body = &rest[1..];
        let id_end = body.find([' ', ']']).unwrap();
        assert_eq!(&body[..id_end], SD_ID);
        let mut position = id_end;
        while body[position..].starts_with(' ') {
            let name_start = position + 1;
            let eq = name_start + body[name_start..].find('=').unwrap();
            let name = body[name_start..eq].to_owned();
            assert_eq!(&body[eq + 1..eq + 2], "\"");
            let mut value = String::new();
            let mut index = eq + 2;
            loop {
                let c = body[index..].chars().next().unwrap();
                index += c.len_utf8();
                match c {
                    '\\' => {
                        let escaped = body[index..].chars().next().unwrap();
                        assert!(matches!(escaped, '"' | '\\' | ']'), "bad escape {escaped}");
                        value.push(escaped);
                        index += escaped.len_utf8();
                    }
                    '"' => break,
                    ']' => panic!("unescaped ] in a value"),
                    c => value.push(c),
                }
            }
            params.push((name, value));
            position = index;
        }
        assert_eq!(&body[position..position + 2], "] ");
        let msg = body[position + 2..].to_owned();
        (header, params, msg)
    }

    /// The parameters of an unmanaged-flag alert about [`facts`]' device.
    ///
    /// [`facts`]: crate::alerts::alert::tests::facts
    pub(crate) fn assert_unmanaged_pump(params: &[(String, String)]) {
        assert_eq!(param(params, "flag"), "unmanaged");
        assert_eq!(param(params, "mac"), "00:30:e6:11:22:04");
        assert_eq!(param(params, "ip"), "198.18.0.14");
        assert_eq!(param(params, "vendor"), "Drägerwerk AG & Co. KGaA");
        assert_eq!(param(params, "category"), "biomedical");
        assert_eq!(param(params, "site"), "chu-nord");
        assert_eq!(param(params, "agent"), "chu-nord/ward-3");
    }

    /// The value of SD-PARAM `name`.
    pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no {name} in {params:?}"))
    }

    #[test]
    fn an_alert_has_the_header_and_structured_data() {
        let alert = raised(42, Flag::Unmanaged);
        let message = text(&Message::Alert(Box::new(alert.clone())));
        let (header, params, msg) = parse(&message);
        // local0 (16) × 8 + warning (4).
        assert_eq!(
            header,
            [
                "<132>1",
                "2026-09-21T14:13:20.000000Z",
                "collector-1",
                "hygie",
                "4242",
                "flag_raised"
            ]
        );
        assert_eq!(param(&params, "event_id"), "42");
        assert_eq!(param(&params, "event_hash"), alert.event_hash.to_hex());
        assert_unmanaged_pump(&params);
        assert_eq!(param(&params, "flags"), "unmanaged,new");
        // Non-ASCII MSG: UTF-8 with a BOM.
        assert!(msg.starts_with('\u{feff}'), "{msg:?}");
        assert!(msg.contains("unmanaged device 00:30:e6:11:22:04 (not in the registry)"));
    }

    #[test]
    fn hostile_strings_cannot_break_the_structured_data() {
        let mut alert = raised(1, Flag::Unmanaged);
        let asset = alert.asset.as_mut().unwrap();
        asset.hostname = Some("evil\"] [x@1 a=\"b\"]\\".into());
        asset.vendor = Some("line\nbreak\r<14>1 - - - - - forged\u{1b}[2J\u{202e}".into());
        asset.site = Some("]]]".into());
        let message = text(&Message::Alert(Box::new(alert)));
        assert!(
            !message.contains(['\n', '\r', '\u{1b}', '\u{202e}']),
            "{message:?}"
        );
        let (_, params, msg) = parse(&message);
        assert_eq!(param(&params, "hostname"), "evil\"] [x@1 a=\"b\"]\\");
        assert_eq!(
            param(&params, "vendor"),
            "line\u{fffd}break\u{fffd}<14>1 - - - - - forged\u{fffd}[2J\u{fffd}"
        );
        assert_eq!(param(&params, "site"), "]]]");
        // Exactly one SD-ELEMENT: the forged one is inside a value.
        assert_eq!(
            params.iter().filter(|(name, _)| name == "event_id").count(),
            1
        );
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn ascii_messages_have_no_bom_and_header_fields_are_printable() {
        let mut alert = raised(1, Flag::Stale);
        alert.asset = None;
        let mut odd = header();
        odd.hostname = "host name\u{e9}".into();
        odd.app_name = String::new();
        let bytes = format(
            &Message::Alert(Box::new(alert)),
            &odd,
            Timestamp::UNIX_EPOCH,
            MAX_STREAM,
        );
        let message = String::from_utf8(bytes).unwrap();
        let (header, _, msg) = parse(&message);
        assert_eq!(header[0], "<133>1", "local0, notice");
        assert_eq!(header[2], "host_name_");
        assert_eq!(header[3], "-");
        assert_eq!(msg, "flag stale raised on 00:30:e6:11:22:04");
    }

    #[test]
    fn long_values_and_messages_are_cut_to_fit() {
        let mut alert = raised(1, Flag::Unmanaged);
        alert.asset.as_mut().unwrap().hostname = Some("é".repeat(5_000));
        let bytes = format(
            &Message::Alert(Box::new(alert)),
            &header(),
            Timestamp::UNIX_EPOCH,
            MAX_UDP,
        );
        assert!(bytes.len() <= MAX_UDP);
        let message = String::from_utf8(bytes).expect("cut at characters");
        let (_, params, _) = parse(&message);
        assert_eq!(param(&params, "hostname").len(), MAX_VALUE);
    }

    #[test]
    fn summaries_and_tests_have_their_own_msgid() {
        let summary = Message::Summary(Summary {
            count: 4_997,
            first_id: 4,
            last_id: 5_000,
            window: Duration::from_secs(60),
        });
        let (header, params, msg) = parse(&text(&summary));
        assert_eq!(header[5], "alerts_suppressed");
        assert_eq!(param(&params, "count"), "4997");
        assert_eq!(param(&params, "first_event_id"), "4");
        assert_eq!(param(&params, "last_event_id"), "5000");
        assert!(msg.starts_with("4,997 more alerts suppressed"));
        let (header, params, _) = parse(&text(&Message::Test));
        assert_eq!(header[5], "alert_test");
        assert!(params.is_empty());
    }

    #[test]
    fn frames_count_octets() {
        assert_eq!(octet_counted("<14>1 é".as_bytes()), "8 <14>1 é".as_bytes());
    }
}
