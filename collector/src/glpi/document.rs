//! One GLPI inventory document per device, in the native JSON format
//! (glpi-project/inventory_format), built from the device's view alone: pure, no clock.
//!
//! Every document is a network-discovery result (`"action": "netdiscovery"`), the way a GLPI
//! agent reports the devices it finds on a network: GLPI then handles it as partial (it never
//! removes what an agent's own inventory or an SNMP network inventory recorded), finds the item
//! with its import rules (MAC first), and leaves a network equipment or printer it already
//! inventoried as it was. Computers and phones are read by GLPI from `hardware`, `bios` and
//! `networks`; every other type from `network_device`.
//!
//! `deviceid` is derived from the MAC (`hygie-00095c000001`): GLPI keeps an agent record per
//! `deviceid` for computers and phones and ties it to one item, so each device needs its own
//! (one shared id would tie every computer Hygie sends to the last one sent). For the other
//! types GLPI keeps no agent record. The collector's own identity travels in the
//! `GLPI-Agent-ID` header ([`super::client`]).
//!
//! Device-supplied text (host names, manufacturer, model, firmware, serial) and the registry's
//! fields pass through [`crate::safe::record_field`], as for the CSV snapshot; MACs and
//! addresses are printed by Hygie itself.

use std::net::IpAddr;

use hygie_proto::MacAddr;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::mapping::{GlpiType, glpi_type};
use crate::safe::record_field;
use crate::views::AssetView;

/// The longest text GLPI keeps in the columns these fields land in (`varchar(255)`).
pub const MAX_FIELD: usize = 255;

/// What every document says of its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentContext {
    /// `content.versionclient`, e.g. `Hygie-collector_v0.1.0`.
    pub version: String,
    /// GLPI's `tag` (entity rules can route by it): a fixed text where `{site}` stands for the
    /// device's site; `None` sends none.
    pub tag: Option<String>,
}

impl DocumentContext {
    /// The context of this build, with `tag`.
    pub fn this_build(tag: Option<String>) -> Self {
        DocumentContext {
            version: format!("Hygie-collector_v{}", env!("CARGO_PKG_VERSION")),
            tag,
        }
    }
}

/// A document ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The device.
    pub mac: MacAddr,
    /// What it goes as.
    pub glpi: GlpiType,
    /// The JSON, as sent (before compression).
    pub body: Vec<u8>,
    /// SHA-256 of `body`: what the push remembers to send only changed devices.
    pub digest: [u8; 32],
}

/// The `deviceid` of a device's documents.
pub fn device_id(mac: MacAddr) -> String {
    format!("hygie-{:012x}", mac.to_u64())
}

#[derive(Debug, Serialize)]
struct Root {
    action: &'static str,
    deviceid: String,
    itemtype: &'static str,
    partial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    content: Content,
}

#[derive(Debug, Serialize)]
struct Content {
    versionclient: String,
    versionprovider: VersionProvider,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_device: Option<NetworkDevice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hardware: Option<Hardware>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bios: Option<Bios>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    networks: Vec<Network>,
}

#[derive(Debug, Serialize)]
struct VersionProvider {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct NetworkDevice {
    #[serde(rename = "type")]
    kind: &'static str,
    mac: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    firmware: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assettag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<String>,
    description: String,
}

#[derive(Debug, Serialize)]
struct Hardware {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    description: String,
}

#[derive(Debug, Serialize)]
struct Bios {
    #[serde(skip_serializing_if = "Option::is_none")]
    smanufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    smodel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assettag: Option<String>,
}

#[derive(Debug, Serialize)]
struct Network {
    description: &'static str,
    mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipaddress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipaddress6: Option<String>,
}

/// The name given to the network port GLPI creates for the device.
const PORT_NAME: &str = "Hygie discovery";

/// A neutralised, non-empty field.
fn field(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| record_field(text, MAX_FIELD))
}

/// The device's current addresses: the most recently seen IPv4 and IPv6 (a global or unique
/// local one before a link-local one). Older addresses are history, not the device's state:
/// GLPI would keep them on the port.
pub fn current_addresses(ips: &[IpAddr]) -> (Option<IpAddr>, Option<IpAddr>) {
    let usable = |ip: &&IpAddr| !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast());
    let v4 = ips.iter().filter(usable).find(|ip| ip.is_ipv4()).copied();
    let link_local = |ip: &IpAddr| match ip {
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    };
    let v6s = || ips.iter().filter(usable).filter(|ip| ip.is_ipv6());
    let v6 = v6s()
        .find(|ip| !link_local(ip))
        .or_else(|| v6s().next())
        .copied();
    (v4, v6)
}

/// The name GLPI shows: the registry's, else the most recent host name.
fn display_name(view: &AssetView) -> Option<String> {
    view.registry
        .as_ref()
        .and_then(|registry| field(&registry.name))
        .or_else(|| view.hostnames.first().and_then(|name| field(name)))
}

/// The device's site: its registry entry's, else the first site that saw it.
pub fn site_of(view: &AssetView) -> Option<&str> {
    view.registry
        .as_ref()
        .map(|registry| registry.site.as_str())
        .filter(|site| !site.is_empty())
        .or_else(|| {
            view.seen_by
                .iter()
                .find_map(|agent| agent.split_once('/').map(|(site, _)| site))
        })
}

fn description(view: &AssetView) -> String {
    let mut text = format!("Hygie: {}/{}", view.category, view.kind);
    if let Some(vendor) = &view.vendor {
        text.push_str("; MAC vendor ");
        text.push_str(vendor);
    }
    if let Some(hostname) = view.hostnames.first() {
        text.push_str("; host name ");
        text.push_str(hostname);
    }
    record_field(&text, MAX_FIELD)
}

/// The document for `view`.
pub fn build(view: &AssetView, context: &DocumentContext) -> Document {
    let glpi = glpi_type(view);
    let mac = view.mac.to_string();
    let (v4, v6) = current_addresses(&view.ips);
    let registry = view.registry.clone().unwrap_or_default();
    let identity = &view.identity;
    let manufacturer = identity
        .manufacturer
        .as_deref()
        .and_then(field)
        .or_else(|| view.vendor.as_deref().and_then(field));
    let model = identity.model.as_deref().and_then(field);
    let serial = identity.serial.as_deref().and_then(field);
    let mut content = Content {
        versionclient: context.version.clone(),
        versionprovider: VersionProvider {
            name: "Hygie",
            version: env!("CARGO_PKG_VERSION"),
        },
        network_device: None,
        hardware: None,
        bios: None,
        networks: Vec::new(),
    };
    if glpi.itemtype.is_network_device() {
        content.network_device = Some(NetworkDevice {
            kind: glpi.network.as_str(),
            mac,
            ips: v4
                .iter()
                .chain(v6.iter())
                .map(ToString::to_string)
                .collect(),
            name: display_name(view),
            manufacturer,
            model,
            serial,
            firmware: identity.firmware.as_deref().and_then(field),
            assettag: field(&registry.asset_tag),
            location: field(&registry.location),
            contact: field(&registry.owner),
            description: description(view),
        });
    } else {
        content.hardware = Some(Hardware {
            name: display_name(view),
            description: description(view),
        });
        content.bios = Some(Bios {
            smanufacturer: manufacturer,
            smodel: model,
            ssn: serial,
            assettag: field(&registry.asset_tag),
        });
        content.networks = vec![Network {
            description: PORT_NAME,
            mac: mac.clone(),
            ipaddress: v4.map(|ip| ip.to_string()),
            ipaddress6: None,
        }];
        if let Some(v6) = v6 {
            content.networks.push(Network {
                description: PORT_NAME,
                mac,
                ipaddress: None,
                ipaddress6: Some(v6.to_string()),
            });
        }
    }
    let tag = context.tag.as_deref().and_then(|tag| {
        let tag = tag.replace("{site}", site_of(view).unwrap_or_default());
        field(&tag)
    });
    let root = Root {
        action: "netdiscovery",
        deviceid: device_id(view.mac),
        itemtype: glpi.itemtype.as_str(),
        partial: true,
        tag,
        content,
    };
    // Plain structs of strings and booleans always serialize.
    let body = serde_json::to_vec(&root).unwrap_or_default();
    let digest = Sha256::digest(&body).into();
    Document {
        mac: view.mac,
        glpi,
        body,
        digest,
    }
}
