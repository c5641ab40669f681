//! `ca`: the CA, the collector's server certificate and the agents' client certificates, and
//! the issuance log in the inventory database (every issue and revocation is also an event of
//! the audit chain).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hygie_collector::ca::{
    self as ca_lib, CertificateAuthority, CertificateRecord, CertificateStatus, IssuedCertificate,
    PkiPaths, Validity, parse_serial,
};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing;
use hygie_collector::files::{self, PUBLIC, SECRET};
use hygie_collector::identity::AgentIdentity;
use hygie_collector::report;
use hygie_collector::server::{self, CA_DAYS, SERVER_DAYS};
use hygie_collector::store::{RevokeTarget, SqliteStore};
use jiff::Timestamp;
use serde::Serialize;

use super::open::{DatabaseArg, open_reader, open_writer};
use super::output::{Format, print, print_json};

/// Longest revocation reason: it is shown in tables and stored in the audit chain.
const MAX_REASON: usize = 200;

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create the CA and the collector's server certificate.
    Init {
        /// DNS names agents use to reach the collector (default: localhost and this host).
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP addresses agents use to reach the collector (default: loopback).
        #[arg(long = "ip", value_name = "ADDRESS")]
        ips: Vec<IpAddr>,
        /// Replace an existing CA. Every certificate it issued stops working (and is logged
        /// as revoked).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Issue a client certificate for one agent. Its earlier certificates are revoked.
    IssueAgent {
        /// Agent name, unique within its site (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Site (facility) the agent belongs to.
        #[arg(long)]
        site: String,
        /// Directory to write agent.pem, agent.key and ca.pem into (created 0700).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Keep the agent's earlier certificates in force (during a planned rollover).
        #[arg(long)]
        keep_previous: bool,
        /// Overwrite an agent.key or agent.pem already in DIR.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Issue (or replace) the collector's server certificate. Earlier ones for the same name
    /// are revoked.
    IssueServer {
        /// DNS names of the collector.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP addresses of the collector.
        #[arg(long = "ip", value_name = "ADDRESS")]
        ips: Vec<IpAddr>,
        /// Directory to write server.pem and server.key into (default: the configured paths,
        /// which are replaced).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = SERVER_DAYS)]
        days: u32,
        /// Keep earlier server certificates in force.
        #[arg(long)]
        keep_previous: bool,
        /// Overwrite a server.key or server.pem already in the --out directory.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Revoke an agent's certificates (by name, and site if the name is used at several), or
    /// one certificate by serial. The collector refuses revoked certificates.
    Revoke {
        /// The agent whose certificates in force to revoke.
        #[arg(long, required_unless_present = "serial", conflicts_with = "serial")]
        name: Option<String>,
        /// The agent's site.
        #[arg(long, requires = "name")]
        site: Option<String>,
        /// The serial of one certificate (hex, as `ca list` shows it; colons and case do not
        /// matter).
        #[arg(long, value_name = "HEX")]
        serial: Option<String>,
        /// Why (kept in the log and the audit chain).
        #[arg(long, default_value = "unspecified")]
        reason: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the certificates issued, with their status (valid, expired, revoked).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

pub(crate) fn ca(command: CaCommand, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    match command {
        CaCommand::Init {
            dns,
            ips,
            force,
            database,
        } => init(config, &database, dns, ips, force, now),
        CaCommand::IssueAgent {
            name,
            site,
            out,
            days,
            keep_previous,
            force,
            database,
        } => {
            let identity = AgentIdentity::new(&name, &site)?;
            issue_agent(
                config,
                &database,
                &identity,
                &out,
                Issue {
                    days,
                    keep_previous,
                    force,
                },
                now,
            )
        }
        CaCommand::IssueServer {
            dns,
            ips,
            out,
            days,
            keep_previous,
            force,
            database,
        } => issue_server(
            config,
            &database,
            &dns,
            &ips,
            out.as_deref(),
            Issue {
                days,
                keep_previous,
                force,
            },
            now,
        ),
        CaCommand::Revoke {
            name,
            site,
            serial,
            reason,
            database,
        } => {
            let target = match (serial, name) {
                (Some(serial), _) => RevokeTarget::Serial(
                    parse_serial(&serial)
                        .with_context(|| format!("--serial {serial:?} is not a hex serial"))?,
                ),
                (None, Some(name)) => RevokeTarget::Agent { name, site },
                (None, None) => bail!("give --name (and --site) or --serial"),
            };
            revoke(config, &database, &target, &reason, now)
        }
        CaCommand::List { format, database } => {
            let store = open_reader(config, &database)?;
            let records = store.certificates()?;
            match format {
                Format::Table => print(&report::certificates_table(&records, now)),
                Format::Json => print_json(&list_rows(&records, now)),
            }
        }
    }
}

/// How to issue: validity, and what to do with what is already there.
#[derive(Debug, Clone, Copy)]
struct Issue {
    days: u32,
    keep_previous: bool,
    force: bool,
}

fn init(
    config: &CollectorConfig,
    database: &DatabaseArg,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    force: bool,
    now: Timestamp,
) -> Result<()> {
    let pki = &config.pki;
    let (default_dns, default_ips) = server::default_server_names();
    let (dns, ips) = if dns.is_empty() && ips.is_empty() {
        (default_dns, default_ips)
    } else {
        (dns, ips)
    };
    // The signing key is never replaced: snapshots signed with it must stay verifiable.
    let created = signing::ensure_key(&config.signing_key)?;
    let mut store = open_writer(config, database)?;
    let replacing = pki.ca_key.exists();
    let server = ca_lib::init(pki, &dns, &ips, force, now, CA_DAYS, SERVER_DAYS)?;
    if replacing {
        let outcome = store.revoke_certificates(&RevokeTarget::All, "CA replaced", now)?;
        if !outcome.revoked.is_empty() {
            println!(
                "The old CA's {} certificate(s) in force are logged as revoked: reissue every agent's.",
                outcome.revoked.len()
            );
        }
    }
    store.record_issued(&server.facts, false, now)?;
    println!("CA:                 {}", pki.ca_cert.display());
    println!("CA key (secret):    {}", pki.ca_key.display());
    println!(
        "server certificate: {} for {} (serial {})",
        pki.server_cert.display(),
        names(&dns, &ips),
        server.facts.serial
    );
    println!(
        "snapshot signing:   {} ({}); give auditors {}",
        config.signing_key.display(),
        if created { "created" } else { "kept" },
        signing::public_key_path(&config.signing_key).display()
    );
    println!("Next: hygie-collector ca issue-agent --name NAME --site SITE --out DIR");
    Ok(())
}

fn issue_agent(
    config: &CollectorConfig,
    database: &DatabaseArg,
    identity: &AgentIdentity,
    out: &Path,
    issue: Issue,
    now: Timestamp,
) -> Result<()> {
    let cert = out.join("agent.pem");
    let key = out.join("agent.key");
    refuse_overwrite(&[&key, &cert], issue.force)?;
    let ca = load_ca(&config.pki)?;
    let mut store = open_writer(config, database)?;
    let issued = ca.issue_agent(identity, Validity::days_from(now, issue.days))?;
    files::create_private_dir(out)?;
    let staged = vec![
        files::stage(&cert, PUBLIC, issued.cert_pem.as_bytes())?,
        files::stage(&key, SECRET, issued.key_pem.as_bytes())?,
        files::stage(&out.join("ca.pem"), PUBLIC, ca.cert_pem().as_bytes())?,
    ];
    let superseded = record_then_place(&mut store, &issued, !issue.keep_previous, staged, now)?;
    println!(
        "Issued {identity} for {} days into {} (serial {}).",
        issue.days,
        out.display(),
        issued.facts.serial
    );
    report_superseded(&superseded);
    println!("Copy that directory to the agent host and set in its agent.toml:\n");
    println!("[collector]");
    println!("ca = \"{}\"", out.join("ca.pem").display());
    println!("cert = \"{}\"", cert.display());
    println!("key = \"{}\"", key.display());
    Ok(())
}

fn issue_server(
    config: &CollectorConfig,
    database: &DatabaseArg,
    dns: &[String],
    ips: &[IpAddr],
    out: Option<&Path>,
    issue: Issue,
    now: Timestamp,
) -> Result<()> {
    let pki = &config.pki;
    let (cert, key) = match out {
        Some(dir) => {
            let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
            refuse_overwrite(&[&key, &cert], issue.force)?;
            (cert, key)
        }
        // Replacing the configured certificate is what the command is for.
        None => (pki.server_cert.clone(), pki.server_key.clone()),
    };
    let ca = load_ca(pki)?;
    let mut store = open_writer(config, database)?;
    let issued = ca.issue_server(dns, ips, Validity::days_from(now, issue.days))?;
    files::create_private_parent(&cert)?;
    files::create_private_parent(&key)?;
    let staged = vec![
        files::stage(&cert, PUBLIC, issued.cert_pem.as_bytes())?,
        files::stage(&key, SECRET, issued.key_pem.as_bytes())?,
    ];
    let superseded = record_then_place(&mut store, &issued, !issue.keep_previous, staged, now)?;
    println!(
        "Server certificate for {} written to {} (serial {}); restart the collector to use it.",
        names(dns, ips),
        cert.display(),
        issued.facts.serial
    );
    report_superseded(&superseded);
    Ok(())
}

/// Logs the certificate, then puts its files in place. The files are written in full first
/// (under temporary names), so what is logged is what is delivered; should putting them in
/// place still fail, the certificate is revoked again at once, never left in force unseen.
fn record_then_place(
    store: &mut SqliteStore,
    issued: &IssuedCertificate,
    supersede: bool,
    staged: Vec<files::Staged>,
    now: Timestamp,
) -> Result<Vec<CertificateRecord>> {
    let outcome = store.record_issued(&issued.facts, supersede, now)?;
    for file in staged {
        if let Err(error) = file.commit() {
            let serial = issued.facts.serial.clone();
            store.revoke_certificates(&RevokeTarget::Serial(serial), "not delivered", now)?;
            return Err(anyhow::Error::new(error).context(format!(
                "certificate {} was not delivered and is revoked; issue it again",
                issued.facts.serial
            )));
        }
    }
    Ok(outcome.superseded)
}

fn refuse_overwrite(paths: &[&Path], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    if let Some(existing) = paths.iter().find(|path| path.exists()) {
        bail!(
            "{} already exists: refusing to overwrite a key or certificate in use. Use --force to replace it, or another --out directory",
            existing.display()
        );
    }
    Ok(())
}

fn report_superseded(superseded: &[CertificateRecord]) {
    for record in superseded {
        println!(
            "Revoked the certificate it replaces (serial {}).",
            record.facts.serial
        );
    }
}

fn revoke(
    config: &CollectorConfig,
    database: &DatabaseArg,
    target: &RevokeTarget,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        bail!("--reason must be 1 to {MAX_REASON} characters");
    }
    if reason.chars().any(char::is_control) {
        bail!("--reason must be one line of text, without control characters");
    }
    let mut store = open_writer(config, database)?;
    let outcome = store.revoke_certificates(target, reason, now)?;
    for record in &outcome.already {
        println!(
            "{} was already revoked on {} ({}).",
            record.facts.serial,
            record
                .revoked_at
                .map(|at| at.to_string())
                .unwrap_or_default(),
            hygie_proto::terminal_safe(record.revoke_reason.as_deref().unwrap_or(""), 60)
        );
    }
    for record in &outcome.revoked {
        let facts = &record.facts;
        println!(
            "Revoked the {} certificate of {}{} (serial {}).",
            facts.kind,
            facts
                .site
                .as_deref()
                .map(|site| format!("{site}/"))
                .unwrap_or_default(),
            hygie_proto::terminal_safe(&facts.name, 64),
            facts.serial
        );
    }
    Ok(())
}

/// One row of `ca list --format json`.
#[derive(Debug, Serialize)]
struct ListRow<'a> {
    #[serde(flatten)]
    record: &'a CertificateRecord,
    status: CertificateStatus,
}

fn list_rows(records: &[CertificateRecord], now: Timestamp) -> Vec<ListRow<'_>> {
    records
        .iter()
        .map(|record| ListRow {
            record,
            status: record.status(now),
        })
        .collect()
}

fn load_ca(pki: &PkiPaths) -> Result<CertificateAuthority> {
    if !pki.ca_key.exists() {
        bail!(
            "no CA at {}: run `hygie-collector ca init` first",
            pki.ca_key.display()
        );
    }
    Ok(CertificateAuthority::load(&pki.ca_cert, &pki.ca_key)?)
}

fn names(dns: &[String], ips: &[IpAddr]) -> String {
    dns.iter()
        .cloned()
        .chain(ips.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
