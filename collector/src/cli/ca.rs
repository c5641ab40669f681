//! `ca`: the CA, the collector's server certificate and the agents' client certificates.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use hygie_collector::ca::{CertificateAuthority, PkiPaths, Validity};
use hygie_collector::config::CollectorConfig;
use hygie_collector::export::signing;
use hygie_collector::identity::AgentIdentity;
use hygie_collector::server::{self, SERVER_DAYS};
use jiff::Timestamp;

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
        /// Replace an existing CA. Every agent certificate it issued stops working.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for one agent.
    IssueAgent {
        /// Agent name, unique within its site (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Site (facility) the agent belongs to.
        #[arg(long)]
        site: String,
        /// Directory to write agent.pem, agent.key and ca.pem into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Issue (or replace) the collector's server certificate.
    IssueServer {
        /// DNS names of the collector.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP addresses of the collector.
        #[arg(long = "ip", value_name = "ADDRESS")]
        ips: Vec<IpAddr>,
        /// Directory to write server.pem and server.key into (default: the configured paths).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = SERVER_DAYS)]
        days: u32,
    },
}

pub(crate) fn ca(command: CaCommand, config: &CollectorConfig) -> Result<()> {
    let now = Timestamp::now();
    let pki = &config.pki;
    match command {
        CaCommand::Init { dns, ips, force } => {
            let (default_dns, default_ips) = server::default_server_names();
            let (dns, ips) = if dns.is_empty() && ips.is_empty() {
                (default_dns, default_ips)
            } else {
                (dns, ips)
            };
            server::init_pki(pki, &dns, &ips, force, now)?;
            // The signing key is never replaced: snapshots signed with it must stay verifiable.
            let created = signing::ensure_key(&config.signing_key)?;
            println!("CA:                 {}", pki.ca_cert.display());
            println!("CA key (secret):    {}", pki.ca_key.display());
            println!(
                "server certificate: {} for {}",
                pki.server_cert.display(),
                names(&dns, &ips)
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
        CaCommand::IssueAgent {
            name,
            site,
            out,
            days,
        } => {
            let identity = AgentIdentity::new(&name, &site)?;
            let ca = load_ca(pki)?;
            let issued = ca.issue_agent(&identity, Validity::days_from(now, days))?;
            let cert = out.join("agent.pem");
            let key = out.join("agent.key");
            issued.save(&cert, &key)?;
            std::fs::write(out.join("ca.pem"), ca.cert_pem())
                .with_context(|| format!("cannot write {}", out.join("ca.pem").display()))?;
            println!("Issued {identity} for {days} days into {}.", out.display());
            println!("Copy that directory to the agent host and set in its agent.toml:\n");
            println!("[collector]");
            println!("ca = \"{}\"", out.join("ca.pem").display());
            println!("cert = \"{}\"", cert.display());
            println!("key = \"{}\"", key.display());
            Ok(())
        }
        CaCommand::IssueServer {
            dns,
            ips,
            out,
            days,
        } => {
            let ca = load_ca(pki)?;
            let issued = ca.issue_server(&dns, &ips, Validity::days_from(now, days))?;
            let (cert, key) = match &out {
                Some(dir) => (dir.join("server.pem"), dir.join("server.key")),
                None => (pki.server_cert.clone(), pki.server_key.clone()),
            };
            issued.save(&cert, &key)?;
            println!(
                "Server certificate for {} written to {}; restart the collector to use it.",
                names(&dns, &ips),
                cert.display()
            );
            Ok(())
        }
    }
}

fn load_ca(pki: &PkiPaths) -> Result<CertificateAuthority> {
    if !pki.ca_key.exists() {
        anyhow::bail!(
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
