//! The `[alerts]` section: what validates, what is refused and how it is named.
use super::*;

fn parse(text: &str) -> Result<AlertSettings, ConfigError> {
    let section: AlertsSection = toml::from_str(text).unwrap();
    section.validate(Path::new("/var/lib/hygie"))
}

fn reason(text: &str) -> String {
    match parse(text) {
        Err(ConfigError::Invalid { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn no_section_means_no_sink() {
    let settings = parse("").unwrap();
    assert!(settings.sinks.is_empty());
    assert_eq!(settings.max_backlog, DEFAULT_MAX_BACKLOG);
    assert_eq!(settings.state_dir, Path::new("/var/lib/hygie/alerts"));
}

#[test]
fn sinks_of_both_types_validate() {
    let settings = parse(
        r#"
        max_backlog = 500
        [[sinks]]
        name = "siem"
        type = "syslog"
        transport = "tls"
        address = "siem.example.org:6514"
        ca = "siem-ca.pem"
        facility = "local4"
        rate_per_minute = 10
        burst = 5
        [[sinks.rules]]
        flags = ["unmanaged"]
        categories = ["biomedical"]
        sites = ["north"]
        [[sinks]]
        name = "soc"
        type = "webhook"
        url = "https://soc.example.org/hook"
        secret_file = "/etc/hygie/webhook.secret"
        timeout = "3s"
        "#,
    )
    .unwrap();
    assert_eq!(settings.max_backlog, 500);
    let Target::Syslog(syslog) = &settings.sinks[0].target else {
        panic!("a syslog sink")
    };
    assert_eq!(syslog.transport, Transport::Tls);
    assert_eq!(syslog.server_name, "siem.example.org");
    assert_eq!(
        syslog.ca.as_deref(),
        Some(Path::new("/var/lib/hygie/siem-ca.pem"))
    );
    assert_eq!(syslog.facility, 20);
    assert_eq!(settings.sinks[0].limit.per_minute, 10);
    let Target::Webhook(webhook) = &settings.sinks[1].target else {
        panic!("a webhook sink")
    };
    assert_eq!(webhook.url.host(), Some("soc.example.org"));
    assert_eq!(webhook.ca, None, "the system's store");
    assert_eq!(settings.sinks[1].timeout, Duration::from_secs(3));
    assert_eq!(settings.sinks[1].rules, Rules::default_rules());
}

#[test]
fn mistakes_are_named() {
    let sink = |body: &str| format!("[[sinks]]\nname = \"s\"\n{body}");
    for (text, expected) in [
        (sink("type = \"mail\""), "neither"),
        (
            sink("type = \"syslog\"\naddress = \"h:514\""),
            "give transport",
        ),
        (
            sink("type = \"syslog\"\ntransport = \"tcp\""),
            "give address",
        ),
        (
            sink("type = \"syslog\"\ntransport = \"tls\"\naddress = \"h:6514\""),
            "needs ca",
        ),
        (
            sink("type = \"syslog\"\ntransport = \"tcp\"\naddress = \"h\""),
            "not host:port",
        ),
        (
            sink(
                "type = \"syslog\"\ntransport = \"udp\"\naddress = \"h:514\"\nurl = \"http://x/\"",
            ),
            "url is for webhook sinks",
        ),
        (
            sink(
                "type = \"syslog\"\ntransport = \"udp\"\naddress = \"h:514\"\nfacility = \"local9\"",
            ),
            "facility",
        ),
        (
            sink("type = \"webhook\"\nurl = \"https://h/\""),
            "secret_file",
        ),
        (
            sink("type = \"webhook\"\nurl = \"ftp://h/\"\nsecret_file = \"k\""),
            "http:// or https://",
        ),
        (
            sink("type = \"webhook\"\nurl = \"https://u:p@h/\"\nsecret_file = \"k\""),
            "credentials",
        ),
        (
            sink("type = \"webhook\"\nurl = \"https://h/\"\nsecret_file = \"k\"\nburst = 0"),
            "burst must be at least 1",
        ),
        (
            sink(
                "type = \"webhook\"\nurl = \"https://h/\"\nsecret_file = \"k\"\n[[sinks.rules]]\nsites = [\"a\"]",
            ),
            "a rule names flags",
        ),
        (
            sink(
                "type = \"webhook\"\nurl = \"https://h/\"\nsecret_file = \"k\"\n[[sinks.rules]]\nflags = [\"rogue\"]",
            ),
            "not a flag",
        ),
        (
            sink(
                "type = \"webhook\"\nurl = \"https://h/\"\nsecret_file = \"k\"\n[[sinks.rules]]\nevents = [\"asset_neww\"]",
            ),
            "not an event kind",
        ),
        (
            sink(
                "type = \"webhook\"\nurl = \"https://h/\"\nsecret_file = \"k\"\n[[sinks.rules]]\nflags = [\"stale\"]\ncategories = [\"medical\"]",
            ),
            "not a category",
        ),
        (
            "[[sinks]]\nname = \"a b\"\ntype = \"syslog\"".to_owned(),
            "a name is",
        ),
    ] {
        let got = reason(&text);
        assert!(got.contains(expected), "{text}\n→ {got}");
    }
    let twice =
        "[[sinks]]\nname = \"s\"\ntype = \"syslog\"\ntransport = \"udp\"\naddress = \"h:514\"\n";
    assert!(reason(&format!("{twice}{twice}")).contains("two sinks"));
    let unknown: Result<AlertsSection, _> =
        toml::from_str("[[sinks]]\nname = \"s\"\ntype = \"syslog\"\nport = 1");
    assert!(unknown.is_err(), "unknown keys are refused");
}

/// The commented example of packaging/collector.toml, uncommented, is valid.
#[test]
fn the_packaged_example_is_valid() {
    let packaged = include_str!("../../../../packaging/collector.toml");
    let start = packaged.find("# [alerts]").unwrap();
    // Settings are `# key = value` and `# [table]`; the rest is prose.
    let setting = regex::Regex::new(r"^(\[|[a-z_]+ = )").unwrap();
    let example: String = packaged[start..]
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .filter(|line| setting.is_match(line))
        .map(|line| format!("{line}\n"))
        .collect();
    let file: toml::Table = toml::from_str(&example).unwrap();
    let section: AlertsSection = file["alerts"].clone().try_into().unwrap();
    let settings = section
        .validate(Path::new("/var/lib/hygie-collector"))
        .unwrap();
    assert_eq!(settings.sinks.len(), 2);
    assert_eq!(settings.max_backlog, DEFAULT_MAX_BACKLOG);
    let siem = &settings.sinks[0];
    assert_eq!(
        siem.limit.per_minute, DEFAULT_PER_MINUTE,
        "the example shows the defaults"
    );
    assert_eq!(siem.limit.burst, DEFAULT_BURST);
    assert_eq!(siem.max_retry, DEFAULT_MAX_RETRY);
    assert_eq!(siem.rules.rules().len(), 1);
    assert!(matches!(&settings.sinks[1].target, Target::Webhook(_)));
}

#[test]
fn hosts_are_taken_from_addresses() {
    assert_eq!(host_of("siem:514"), Some("siem"));
    assert_eq!(host_of("[2001:db8::1]:6514"), Some("2001:db8::1"));
    assert_eq!(host_of("198.18.0.5:514"), Some("198.18.0.5"));
    assert_eq!(host_of("siem"), None);
    assert_eq!(host_of("siem:0"), None);
    assert_eq!(host_of(":514"), None);
}
