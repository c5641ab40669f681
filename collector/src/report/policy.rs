//! `policy show`: what each site's agents are told never to probe, and operators' decisions.

use std::fmt::Write as _;

use hygie_proto::terminal_safe;
use hygie_proto::text::{render_table, short_time};

use crate::policy::Override;
use crate::store::PublishedPolicy;

/// One table per site, then the operators' decisions.
pub fn policy_tables(sites: &[PublishedPolicy], overrides: &[Override]) -> String {
    let mut out = String::new();
    for published in sites {
        let policy = &published.policy;
        let _ = writeln!(
            out,
            "site {}: version {}, published {}, {} devices, {} networks",
            terminal_safe(&published.site, 64),
            policy.version,
            short_time(published.published_at),
            policy.devices.len(),
            policy.networks.len()
        );
        if published.passive_only {
            let _ = writeln!(
                out,
                "PASSIVE ONLY: too large for one message, so its agents are told to probe nothing"
            );
        }
        if !policy.devices.is_empty() {
            let rows: Vec<Vec<String>> = policy
                .devices
                .iter()
                .map(|(mac, device)| {
                    let addresses: Vec<String> =
                        device.addresses.iter().map(ToString::to_string).collect();
                    vec![
                        mac.to_string(),
                        device.reasons.to_string(),
                        addresses.join(" "),
                        short_time(device.since),
                    ]
                })
                .collect();
            out.push_str(&render_table(
                &["MAC", "REASONS", "ADDRESSES", "SINCE"],
                &rows,
            ));
        }
        if !policy.networks.is_empty() {
            let networks: Vec<String> = policy.networks.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "networks: {}", networks.join(", "));
        }
        out.push('\n');
    }
    if sites.is_empty() {
        out.push_str("no scan policy published yet (has the collector run since its upgrade?)\n\n");
    }
    let rows: Vec<Vec<String>> = overrides
        .iter()
        .map(|decision| {
            vec![
                decision.mac.to_string(),
                decision.decision.to_string(),
                terminal_safe(&decision.reason, 60),
                terminal_safe(&decision.by, 32),
                short_time(decision.at),
            ]
        })
        .collect();
    let _ = writeln!(out, "operator decisions: {}", overrides.len());
    if !rows.is_empty() {
        out.push_str(&render_table(
            &["MAC", "DECISION", "REASON", "BY", "AT"],
            &rows,
        ));
    }
    out
}
