//! `policy`: what each site's agents are told never to probe, and operators' decisions about
//! single devices. Decisions are written here and picked up by the running collector on its
//! next tick; `show` reads what the collector last published.

use std::net::IpAddr;

use anyhow::{Result, bail};
use clap::Subcommand;
use hygie_collector::config::CollectorConfig;
use hygie_collector::policy::{Decision, Override, Reasons};
use hygie_collector::report;
use hygie_collector::store::{
    InventoryReader, OverrideChange, OverrideOutcome, PublishedPolicy, SqliteStore,
};
use hygie_proto::{MacAddr, ProtectionReason};
use ipnet::IpNet;
use jiff::Timestamp;
use serde::Serialize;

use super::open::{DatabaseArg, open_reader, open_writer};
use super::operator::operator;
use super::output::{Format, print, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// What each site's agents are told never to probe (devices with their addresses and
    /// reasons, networks), as the collector last published it, and operators' decisions.
    Show {
        /// Only this site.
        #[arg(long)]
        site: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Let agents probe a device its category (biomedical) protects. A registry entry marked
    /// do-not-probe, a site exclusion or a denial still protects it.
    Allow(DecisionArgs),
    /// Never let any site's agents probe a device, whatever it is.
    Deny(DecisionArgs),
    /// Remove the decision recorded about a device.
    Clear {
        /// The device's MAC address.
        mac: MacAddr,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct DecisionArgs {
    /// The device's MAC address.
    mac: MacAddr,
    /// Why (kept with the decision and in the event log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    database: DatabaseArg,
}

pub(crate) fn policy(
    command: PolicyCommand,
    config: &CollectorConfig,
    now: Timestamp,
) -> Result<()> {
    match command {
        PolicyCommand::Show {
            site,
            format,
            database,
        } => show(&open_reader(config, &database)?, site.as_deref(), format),
        PolicyCommand::Allow(args) => decide(config, args, Decision::Allow, now),
        PolicyCommand::Deny(args) => decide(config, args, Decision::Deny, now),
        PolicyCommand::Clear { mac, database } => {
            let mut store = open_writer(config, &database)?;
            let outcome = store.change_override(
                OverrideChange::Clear {
                    mac,
                    by: operator(),
                },
                now,
            )?;
            if let OverrideOutcome::Cleared { before } = outcome {
                println!(
                    "{mac}: the decision to {} probing it ({}) is cleared.",
                    before.decision,
                    report::safe_lines(&before.reason).trim_end()
                );
            }
            pending_note();
            Ok(())
        }
    }
}

fn decide(
    config: &CollectorConfig,
    args: DecisionArgs,
    decision: Decision,
    now: Timestamp,
) -> Result<()> {
    let mac = args.mac;
    if !mac.is_device() {
        bail!("{mac} is a multicast or all-zero address, not a device");
    }
    let reason = hygie_collector::registry::check_field("reason", &args.reason)
        .map_err(anyhow::Error::msg)?;
    if reason.is_empty() {
        bail!("--reason is empty: say why, for whoever reads the event log");
    }
    let mut store = open_writer(config, &args.database)?;
    let outcome = store.change_override(
        OverrideChange::Decide {
            mac,
            decision,
            reason,
            by: operator(),
        },
        now,
    )?;
    match (outcome, decision) {
        (OverrideOutcome::Unchanged, _) => println!("{mac}: unchanged (already decided so)."),
        (_, Decision::Allow) => println!("{mac}: probing allowed."),
        (_, Decision::Deny) => println!("{mac}: probing denied at every site."),
    }
    if decision == Decision::Allow {
        still_protected_note(&store, mac)?;
    }
    if !store.seen(mac)? {
        eprintln!("note: {mac} has not been seen on the network (yet).");
    }
    pending_note();
    Ok(())
}

/// `allow` lifts only a category's protection: say so when something else protects it.
fn still_protected_note(store: &SqliteStore, mac: MacAddr) -> Result<()> {
    for published in store.policies()? {
        let Some(device) = published.policy.devices.get(&mac) else {
            continue;
        };
        let others: Reasons = device
            .reasons
            .iter()
            .filter(|reason| *reason != ProtectionReason::Biomedical)
            .collect();
        if !others.is_empty() {
            eprintln!(
                "note: {mac} stays protected at site {} ({others}): allow lifts only a category's protection.",
                published.site
            );
        }
    }
    Ok(())
}

fn pending_note() {
    eprintln!("note: a running collector applies it within a few seconds (see `policy show`).");
}

#[derive(Serialize)]
struct ShowJson<'a> {
    sites: Vec<SiteJson<'a>>,
    overrides: &'a [Override],
}

#[derive(Serialize)]
struct SiteJson<'a> {
    site: &'a str,
    version: u64,
    published_at: Timestamp,
    passive_only: bool,
    networks: &'a [IpNet],
    devices: Vec<DeviceJson<'a>>,
}

#[derive(Serialize)]
struct DeviceJson<'a> {
    mac: MacAddr,
    /// The reason agents are given (the strongest).
    reason: Option<ProtectionReason>,
    reasons: Reasons,
    addresses: &'a [IpAddr],
    since: Timestamp,
}

fn show(store: &SqliteStore, site: Option<&str>, format: Format) -> Result<()> {
    let (mut sites, overrides) = store
        .consistent(|store| -> Result<_> { Ok((store.policies()?, store.overrides()?)) })??;
    if let Some(wanted) = site {
        let known: Vec<String> = sites
            .iter()
            .map(|published| published.site.clone())
            .collect();
        sites.retain(|published| published.site == wanted);
        if sites.is_empty() {
            bail!(
                "no scan policy for site {wanted:?} (sites: {})",
                if known.is_empty() {
                    "none yet".to_owned()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    match format {
        Format::Table => print(&report::policy_tables(&sites, &overrides)),
        Format::Json => print_json(&ShowJson {
            sites: sites.iter().map(site_json).collect(),
            overrides: &overrides,
        }),
    }
}

fn site_json(published: &PublishedPolicy) -> SiteJson<'_> {
    SiteJson {
        site: &published.site,
        version: published.policy.version,
        published_at: published.published_at,
        passive_only: published.passive_only,
        networks: &published.policy.networks,
        devices: published
            .policy
            .devices
            .iter()
            .map(|(mac, device)| DeviceJson {
                mac: *mac,
                reason: device.reasons.primary(),
                reasons: device.reasons,
                addresses: &device.addresses,
                since: device.since,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
