//! What one device becomes in NetBox: pure functions of its view, no clock.
//!
//! Names are what make a re-import conflict rather than duplicate: the device's name is derived
//! from its MAC (`hygie-00095c000001`, as GLPI's `deviceid`), NetBox keeps device names unique
//! per site, interface names per device, and (by default) IP addresses globally.

use std::net::IpAddr;

use hygie_proto::MacAddr;
use sha2::{Digest, Sha256};

use crate::classify::Category;
use crate::glpi::document::{current_addresses, device_id, site_of};
use crate::inventory::flags::Flag;
use crate::safe::record_field;
use crate::views::AssetView;

/// NetBox's column widths for the fields written (`max_length` in its models).
pub mod width {
    /// Device name.
    pub const DEVICE_NAME: usize = 64;
    /// Manufacturer, role, site and device type names and slugs.
    pub const NAME: usize = 100;
    /// Serial number and asset tag.
    pub const SERIAL: usize = 50;
    /// Description.
    pub const DESCRIPTION: usize = 200;
}

/// The interface each device gets: Hygie sees one link-layer address per device.
pub const INTERFACE: &str = "lan0";
/// Its NetBox type: Hygie does not know the medium.
pub const INTERFACE_TYPE: &str = "other";
/// The site of a device no agent's site saw and no registry entry names.
pub const NO_SITE: &str = "Hygie (no site)";
/// The manufacturer of a device nothing names the maker of.
pub const UNKNOWN_MANUFACTURER: &str = "Unknown";

/// A NetBox device role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role {
    /// Its name.
    pub name: &'static str,
    /// Its slug.
    pub slug: &'static str,
    /// Its colour (hex, as NetBox takes it).
    pub color: &'static str,
}

const fn role(name: &'static str, slug: &'static str, color: &'static str) -> Role {
    Role { name, slug, color }
}

/// Every role a device can get, and which category and kinds lead to it (the documentation of
/// docs/glpi-netbox.md and what the tests check).
pub const ROLES: &[(Role, Category, &[&str])] = &[
    (
        role("Biomedical", "biomedical", "f44336"),
        Category::Biomedical,
        &[],
    ),
    (
        role("Building management", "building-management", "ff9800"),
        Category::Building,
        &[],
    ),
    (role("IoT", "iot", "9c27b0"), Category::Iot, &[]),
    (
        role("Workstation", "workstation", "2196f3"),
        Category::It,
        &["workstation"],
    ),
    (
        role("Server", "server", "3f51b5"),
        Category::It,
        &["server", "virtual_machine"],
    ),
    (
        role("Printer", "printer", "607d8b"),
        Category::It,
        &["printer", "label_printer", "scanner"],
    ),
    (
        role("Phone", "phone", "00bcd4"),
        Category::It,
        &["ip_phone", "mobile"],
    ),
    (role("IT", "it", "03a9f4"), Category::It, &[]),
    (
        role("Switch", "switch", "4caf50"),
        Category::Network,
        &["switch"],
    ),
    (
        role("Router", "router", "8bc34a"),
        Category::Network,
        &["router"],
    ),
    (
        role("Firewall", "firewall", "795548"),
        Category::Network,
        &["firewall"],
    ),
    (
        role("Wireless AP", "wireless-ap", "009688"),
        Category::Network,
        &["wireless_ap"],
    ),
    (role("Network", "network", "cddc39"), Category::Network, &[]),
    (
        role("Unclassified", "unclassified", "9e9e9e"),
        Category::Unknown,
        &[],
    ),
];

/// The role of a device of `category` and `kind`: the row naming the kind, else the
/// category's row without kinds.
pub fn role_of(category: Category, kind: &str) -> Role {
    let in_category = || ROLES.iter().filter(|(_, c, _)| *c == category);
    in_category()
        .find(|(_, _, kinds)| kinds.contains(&kind))
        .or_else(|| in_category().find(|(_, _, kinds)| kinds.is_empty()))
        .map_or(ROLES[ROLES.len() - 1].0, |(role, _, _)| *role)
}

/// A NetBox slug for `name`: lower-case ASCII letters, digits and dashes, then a short digest
/// of the name so two names that read alike ("Acme, Inc." and "Acme Inc") never share a slug
/// (NetBox refuses a duplicate).
pub fn slug(name: &str) -> String {
    let mut readable = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            readable.push(c);
        } else if !readable.ends_with('-') && !readable.is_empty() {
            readable.push('-');
        }
    }
    let readable: String = readable.trim_end_matches('-').chars().take(80).collect();
    let digest = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    if readable.is_empty() {
        digest
    } else {
        format!("{}-{digest}", readable.trim_end_matches('-'))
    }
}

/// A NetBox device's operational status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Seen lately.
    Active,
    /// Registered, not seen for the stale window.
    Offline,
    /// Registered, never seen.
    Planned,
}

impl Status {
    /// NetBox's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Offline => "offline",
            Status::Planned => "planned",
        }
    }
}

/// One `dcim.device` row and what it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Derived from the MAC.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its manufacturer's name.
    pub manufacturer: String,
    /// Its device type's model.
    pub device_type: String,
    /// Operational status.
    pub status: Status,
    /// Its site's name.
    pub site: String,
    /// Serial number, as the device told it.
    pub serial: String,
    /// The registry's asset tag.
    pub asset_tag: String,
    /// What Hygie knows of it, in a line.
    pub description: String,
    /// The interface's MAC.
    pub mac: MacAddr,
    /// Its current addresses (one per family).
    pub addresses: Vec<IpAddr>,
}

fn field(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| record_field(text, max))
}

/// The row of `view`.
pub fn device_row(view: &AssetView) -> DeviceRow {
    let registry = view.registry.clone().unwrap_or_default();
    let manufacturer = view
        .identity
        .manufacturer
        .as_deref()
        .and_then(|text| field(text, width::NAME))
        .or_else(|| {
            view.vendor
                .as_deref()
                .and_then(|text| field(text, width::NAME))
        })
        .unwrap_or_else(|| UNKNOWN_MANUFACTURER.to_owned());
    let device_type = view
        .identity
        .model
        .as_deref()
        .and_then(|text| field(text, width::NAME))
        .unwrap_or_else(|| {
            if view.kind == "unknown" {
                "Generic device".to_owned()
            } else {
                record_field(&format!("Generic {}", view.kind), width::NAME)
            }
        });
    let status = if !view.seen {
        Status::Planned
    } else if view.flags.contains(Flag::Stale) {
        Status::Offline
    } else {
        Status::Active
    };
    let site = site_of(view)
        .and_then(|site| field(site, width::NAME))
        .unwrap_or_else(|| NO_SITE.to_owned());
    let mut description = format!("Hygie: {}/{}", view.category, view.kind);
    if !view.managed {
        description.push_str(", not in the registry");
    }
    if let Some(name) = field(&registry.name, width::DESCRIPTION) {
        description.push_str("; ");
        description.push_str(&name);
    }
    if let Some(hostname) = view.hostnames.first() {
        description.push_str("; host name ");
        description.push_str(hostname);
    }
    let (v4, v6) = current_addresses(&view.ips);
    DeviceRow {
        name: device_id(view.mac),
        role: role_of(view.category, &view.kind),
        manufacturer,
        device_type,
        status,
        site,
        serial: view
            .identity
            .serial
            .as_deref()
            .and_then(|text| field(text, width::SERIAL))
            .unwrap_or_default(),
        asset_tag: field(&registry.asset_tag, width::SERIAL).unwrap_or_default(),
        description: record_field(&description, width::DESCRIPTION),
        mac: view.mac,
        addresses: v4.into_iter().chain(v6).collect(),
    }
}

/// An address as NetBox takes it: with its prefix length (a host: /32 or /128; Hygie does not
/// know the subnet).
pub fn host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}
