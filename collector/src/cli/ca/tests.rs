//! Every `ca` path on a temporary PKI and database.

use std::path::Path;

use hygie_collector::ca::CertificateKind;
use hygie_collector::store::{EventFilter, InventoryReader};

use super::*;
use crate::cli::test_support::{config_in, mode, with_umask};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn now() -> Timestamp {
    at("2026-11-25T10:00:00Z")
}

fn run(config: &CollectorConfig, command: CaCommand) -> Result<()> {
    ca(command, config, now())
}

fn db() -> DatabaseArg {
    DatabaseArg::default()
}

fn init(config: &CollectorConfig, force: bool) -> Result<()> {
    run(
        config,
        CaCommand::Init {
            dns: vec!["localhost".into()],
            ips: vec![],
            force,
            database: db(),
        },
    )
}

fn issue_agent(
    config: &CollectorConfig,
    name: &str,
    site: &str,
    out: &Path,
    keep_previous: bool,
    force: bool,
) -> Result<()> {
    run(
        config,
        CaCommand::IssueAgent {
            name: name.into(),
            site: site.into(),
            out: out.to_owned(),
            days: 30,
            keep_previous,
            force,
            database: db(),
        },
    )
}

fn revoke_cmd(
    config: &CollectorConfig,
    name: Option<&str>,
    site: Option<&str>,
    serial: Option<&str>,
    reason: &str,
) -> Result<()> {
    run(
        config,
        CaCommand::Revoke {
            name: name.map(Into::into),
            site: site.map(Into::into),
            serial: serial.map(Into::into),
            reason: reason.into(),
            database: db(),
        },
    )
}

fn records(config: &CollectorConfig) -> Vec<CertificateRecord> {
    SqliteStore::open_reader(&config.database)
        .unwrap()
        .certificates()
        .unwrap()
}

fn event_kinds(config: &CollectorConfig) -> Vec<String> {
    let store = SqliteStore::open_reader(&config.database).unwrap();
    assert!(store.verify_events().unwrap().is_ok());
    store
        .events(&EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

fn status(config: &CollectorConfig, serial: &str) -> CertificateStatus {
    records(config)
        .iter()
        .find(|record| record.facts.serial == serial)
        .unwrap()
        .status(now())
}

fn serial_in(cert: &Path) -> String {
    let pem = std::fs::read_to_string(cert).unwrap();
    ca_lib::CertificateFacts::from_pem(CertificateKind::Agent, &pem)
        .unwrap()
        .serial
}

#[test]
fn init_logs_the_server_certificate_and_replacing_the_ca_revokes_what_it_issued() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    init(&config, false).unwrap();
    let logged = records(&config);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].facts.kind, CertificateKind::Server);
    assert_eq!(logged[0].facts.name, "localhost");
    assert!(config.signing_key.exists());

    // A second init without --force refuses and changes nothing.
    let refused = init(&config, false).unwrap_err();
    assert!(format!("{refused:#}").contains("--force"), "{refused:#}");
    assert_eq!(records(&config).len(), 1);

    issue_agent(
        &config,
        "ward-3",
        "chu",
        &dir.path().join("ward-3"),
        false,
        false,
    )
    .unwrap();
    init(&config, true).unwrap();
    let logged = records(&config);
    assert_eq!(logged.len(), 3);
    for old in &logged[..2] {
        assert_eq!(old.status(now()), CertificateStatus::Revoked);
        assert_eq!(old.revoke_reason.as_deref(), Some("CA replaced"));
    }
    assert_eq!(logged[2].status(now()), CertificateStatus::Valid);
    assert_eq!(
        event_kinds(&config),
        [
            "certificate_issued",
            "certificate_issued",
            "certificate_revoked",
            "certificate_revoked",
            "certificate_issued"
        ]
    );
}

#[test]
fn issue_agent_writes_private_files_logs_them_and_supersedes_the_previous() {
    with_umask(0o000, || {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        init(&config, false).unwrap();
        assert_eq!(mode(&config.data_dir), 0o700);
        assert_eq!(mode(config.pki.ca_key.parent().unwrap()), 0o700);
        assert_eq!(mode(&config.pki.ca_key), 0o600);
        assert_eq!(mode(&config.pki.server_key), 0o600);
        assert_eq!(mode(&config.pki.ca_cert), 0o644);
        assert_eq!(mode(&config.signing_key), 0o600);
        assert_eq!(mode(&config.database), 0o600);

        let out = dir.path().join("agents").join("ward-3");
        issue_agent(&config, "ward-3", "chu", &out, false, false).unwrap();
        assert_eq!(mode(&out), 0o700);
        assert_eq!(mode(&out.join("agent.key")), 0o600);
        assert_eq!(mode(&out.join("agent.pem")), 0o644);
        assert_eq!(mode(&out.join("ca.pem")), 0o644);
        let first = serial_in(&out.join("agent.pem"));
        assert_eq!(status(&config, &first), CertificateStatus::Valid);

        // Re-issuing into the same directory needs --force...
        let key_before = std::fs::read(out.join("agent.key")).unwrap();
        let refused = issue_agent(&config, "ward-3", "chu", &out, false, false).unwrap_err();
        assert!(refused.to_string().contains("--force"), "{refused}");
        assert_eq!(std::fs::read(out.join("agent.key")).unwrap(), key_before);
        assert_eq!(records(&config).len(), 2);
        // ...and revokes the certificate it replaces.
        issue_agent(&config, "ward-3", "chu", &out, false, true).unwrap();
        let second = serial_in(&out.join("agent.pem"));
        assert_ne!(first, second);
        assert_eq!(status(&config, &first), CertificateStatus::Revoked);
        assert_eq!(status(&config, &second), CertificateStatus::Valid);

        // --keep-previous leaves the earlier one in force (a rollover).
        let other = dir.path().join("ward-3-new");
        issue_agent(&config, "ward-3", "chu", &other, true, false).unwrap();
        let third = serial_in(&other.join("agent.pem"));
        assert_eq!(status(&config, &second), CertificateStatus::Valid);
        assert_eq!(status(&config, &third), CertificateStatus::Valid);
        // No temporary file is left behind.
        let mut names: Vec<_> = std::fs::read_dir(&other)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["agent.key", "agent.pem", "ca.pem"]);

        let store = SqliteStore::open_reader(&config.database).unwrap();
        let revoked = store.revoked_serials().unwrap();
        assert!(revoked.contains(&first) && !revoked.contains(&second));
    });
}

#[test]
fn issue_agent_needs_a_ca_and_a_valid_identity() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let error = issue_agent(
        &config,
        "ward-3",
        "chu",
        &dir.path().join("a"),
        false,
        false,
    )
    .unwrap_err();
    assert!(error.to_string().contains("ca init"), "{error}");
    init(&config, false).unwrap();
    assert!(
        issue_agent(
            &config,
            "ward 3",
            "chu",
            &dir.path().join("a"),
            false,
            false
        )
        .is_err()
    );
    assert!(!dir.path().join("a").exists());
}

#[test]
fn issue_server_replaces_the_configured_certificate_and_guards_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    init(&config, false).unwrap();
    let first = records(&config)[0].facts.serial.clone();
    let issue = |out: Option<PathBuf>, keep_previous, force| {
        run(
            &config,
            CaCommand::IssueServer {
                dns: vec!["localhost".into()],
                ips: vec!["127.0.0.1".parse().unwrap()],
                out,
                days: 30,
                keep_previous,
                force,
                database: db(),
            },
        )
    };
    issue(None, false, false).unwrap();
    let logged = records(&config);
    assert_eq!(logged.len(), 2);
    assert_eq!(status(&config, &first), CertificateStatus::Revoked);
    let pem = std::fs::read_to_string(&config.pki.server_cert).unwrap();
    let facts = ca_lib::CertificateFacts::from_pem(CertificateKind::Server, &pem).unwrap();
    assert_eq!(facts.serial, logged[1].facts.serial);

    let out = dir.path().join("elsewhere");
    issue(Some(out.clone()), true, false).unwrap();
    assert_eq!(mode(&out.join("server.key")), 0o600);
    assert!(issue(Some(out.clone()), true, false).is_err());
    issue(Some(out), true, true).unwrap();
    assert_eq!(records(&config).len(), 4);
    assert_eq!(
        status(&config, &logged[1].facts.serial),
        CertificateStatus::Valid
    );
}

#[test]
fn revoke_by_name_site_and_serial() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    init(&config, false).unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    issue_agent(&config, "ward-3", "chu", &a, false, false).unwrap();
    issue_agent(&config, "ward-3", "other", &b, false, false).unwrap();
    issue_agent(&config, "lab", "chu", &c, false, false).unwrap();
    let (sa, sb, sc) = (
        serial_in(&a.join("agent.pem")),
        serial_in(&b.join("agent.pem")),
        serial_in(&c.join("agent.pem")),
    );

    let ambiguous = revoke_cmd(&config, Some("ward-3"), None, None, "lost").unwrap_err();
    assert!(ambiguous.to_string().contains("give --site"), "{ambiguous}");
    revoke_cmd(&config, Some("ward-3"), Some("chu"), None, "laptop stolen").unwrap();
    assert_eq!(status(&config, &sa), CertificateStatus::Revoked);
    assert_eq!(status(&config, &sb), CertificateStatus::Valid);
    revoke_cmd(&config, Some("ward-3"), None, None, "decommissioned").unwrap();
    assert_eq!(status(&config, &sb), CertificateStatus::Revoked);
    let none = revoke_cmd(&config, Some("ward-3"), None, None, "again").unwrap_err();
    assert!(none.to_string().contains("in force"), "{none}");

    // A serial as people copy it: upper case, colon-separated, zero-padded.
    let spelled = format!("00{}", sc.to_uppercase());
    let spelled: Vec<String> = spelled
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8(pair.to_vec()).unwrap())
        .collect();
    revoke_cmd(&config, None, None, Some(&spelled.join(":")), "compromised").unwrap();
    assert_eq!(status(&config, &sc), CertificateStatus::Revoked);
    // Again: a no-op, not an error.
    revoke_cmd(&config, None, None, Some(&sc), "compromised").unwrap();

    assert!(revoke_cmd(&config, None, None, Some("zz"), "x").is_err());
    assert!(revoke_cmd(&config, None, None, Some("abcdef"), "x").is_err());
    assert!(revoke_cmd(&config, None, None, Some(&sc), "").is_err());
    assert!(revoke_cmd(&config, None, None, Some(&sc), "two\nlines").is_err());
    assert!(revoke_cmd(&config, None, None, Some(&sc), &"x".repeat(201)).is_err());

    let record = records(&config)
        .into_iter()
        .find(|record| record.facts.serial == sa)
        .unwrap();
    assert_eq!(record.revoke_reason.as_deref(), Some("laptop stolen"));
    let kinds = event_kinds(&config);
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| *kind == "certificate_revoked")
            .count(),
        3
    );
}

#[test]
fn list_shows_every_certificate_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    init(&config, false).unwrap();
    let a = dir.path().join("a");
    issue_agent(&config, "ward-3", "chu", &a, false, false).unwrap();
    revoke_cmd(&config, Some("ward-3"), None, None, "lost").unwrap();
    for format in [Format::Table, Format::Json] {
        run(
            &config,
            CaCommand::List {
                format,
                database: db(),
            },
        )
        .unwrap();
    }
    let logged = records(&config);
    let rows = serde_json::to_value(list_rows(&logged, now())).unwrap();
    assert_eq!(rows[0]["kind"], "server");
    assert_eq!(rows[0]["status"], "valid");
    assert!(rows[0].get("site").is_none());
    assert_eq!(rows[1]["kind"], "agent");
    assert_eq!(rows[1]["site"], "chu");
    assert_eq!(rows[1]["name"], "ward-3");
    assert_eq!(rows[1]["status"], "revoked");
    assert_eq!(rows[1]["revoke_reason"], "lost");
    assert_eq!(rows[1]["serial"], logged[1].facts.serial);
    let later = serde_json::to_value(list_rows(&logged, at("2030-01-01T00:00:00Z"))).unwrap();
    assert_eq!(later[0]["status"], "expired");
    let table = report::certificates_table(&logged, now());
    assert!(table.starts_with("SERIAL"), "{table}");
    assert!(
        table.contains("revoked") && table.contains("lost"),
        "{table}"
    );
}
