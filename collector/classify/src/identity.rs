//! What a device says it is: manufacturer, model, firmware and serial number, from the fields
//! that carry them, most trustworthy first: the LLDP-MED inventory, a rule naming the model
//! (from a host name or a TXT pattern), DNS-SD TXT records (`usb_MFG`/`usb_MDL`, `ty`, `md`,
//! `model`...), the CDP platform and software version, and last the product token of an SSDP
//! `SERVER` header.

use hygie_domain::{CdpDetails, Detail, LldpMed, SsdpDetails};
use serde::{Deserialize, Serialize};

use crate::Facts;

/// Longest value kept for each field.
const MAX_LEN: usize = 128;

/// Manufacturer, model, firmware and serial number, each when the device told it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Who made it, as the device says (not its MAC vendor, which may be a module maker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// The model, e.g. `IntelliVue MX450`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Firmware or software version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Serial number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl Identity {
    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Identity::default()
    }
}

/// TXT keys naming the manufacturer, in order of preference (compared case-insensitively).
const MANUFACTURER_KEYS: &[&str] = &["usb_mfg", "manufacturer", "mfg", "vendor"];
/// TXT keys naming the model, in order of preference.
pub(crate) const MODEL_KEYS: &[&str] = &[
    "usb_mdl",
    "ty",
    "model_number",
    "md",
    "model",
    "mdl",
    "product",
];
/// TXT keys naming the firmware.
const FIRMWARE_KEYS: &[&str] = &["fw", "fwversion", "firmware", "firmware_version", "sw"];
/// SSDP product tokens that name nothing.
const SSDP_PLACEHOLDERS: &[&str] = &["unspecified", "unknown", "upnp", "-"];

fn keep(value: &str) -> Option<String> {
    // `product=(Lexmark MX622)`: CUPS-style parentheses.
    let value = value
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    (!value.is_empty()).then(|| hygie_domain::text::clean_value(value, MAX_LEN))
}

fn txt_value(facts: &Facts<'_>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|wanted| {
        facts.services.iter().find_map(|service| {
            service
                .txt
                .iter()
                .find(|(key, value)| key.eq_ignore_ascii_case(wanted) && value.is_some())
                .and_then(|(_, value)| keep(value.as_deref()?))
        })
    })
}

/// `Linux/3.14.0 UPnP/1.0 IpBridge/1.9.0` → (`IpBridge`, `1.9.0`): the UPnP architecture
/// says SERVER is "OS/version UPnP/version product/version".
fn ssdp_product(ssdp: &SsdpDetails) -> Option<(String, Option<String>)> {
    let server = ssdp.server.as_deref()?;
    let tokens: Vec<&str> = server
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|token| !token.is_empty())
        .collect();
    let upnp = tokens
        .iter()
        .position(|token| token.to_ascii_lowercase().starts_with("upnp/"))?;
    let product = tokens.get(upnp + 1)?;
    let (name, version) = match product.split_once('/') {
        Some((name, version)) => (name, Some(version)),
        None => (*product, None),
    };
    if SSDP_PLACEHOLDERS.contains(&name.to_ascii_lowercase().as_str()) {
        return None;
    }
    Some((keep(name)?, version.and_then(keep)))
}

/// `cisco WS-C3560G-24PS` → (`Cisco`, `WS-C3560G-24PS`).
fn cdp_platform(cdp: &CdpDetails) -> Option<(Option<String>, String)> {
    let platform = cdp.platform.as_deref()?.trim();
    match platform.split_once(' ') {
        Some((maker, model)) if maker.eq_ignore_ascii_case("cisco") => {
            Some((Some("Cisco".to_owned()), keep(model)?))
        }
        _ => Some((None, keep(platform)?)),
    }
}

/// The identity the facts give; `rule_model` is the model the verdict's rules named (from a
/// host name or TXT pattern), second only to the LLDP-MED inventory.
pub(crate) fn from_facts(facts: &Facts<'_>, rule_model: Option<String>) -> Identity {
    let med: Option<&LldpMed> = facts.details.iter().find_map(|detail| match detail {
        Detail::Lldp(lldp) => lldp.med.as_ref().filter(|med| !med.is_empty()),
        _ => None,
    });
    let cdp = facts.details.iter().find_map(|detail| match detail {
        Detail::Cdp(cdp) => Some(cdp),
        _ => None,
    });
    let ssdp = facts.details.iter().find_map(|detail| match detail {
        Detail::Ssdp(ssdp) => ssdp_product(ssdp),
        _ => None,
    });
    let med_field =
        |field: fn(&LldpMed) -> Option<&String>| med.and_then(field).and_then(|v| keep(v));
    let cdp_parts = cdp.and_then(cdp_platform);
    Identity {
        manufacturer: med_field(|med| med.manufacturer.as_ref())
            .or_else(|| txt_value(facts, MANUFACTURER_KEYS))
            .or_else(|| cdp_parts.as_ref().and_then(|(maker, _)| maker.clone())),
        model: med_field(|med| med.model.as_ref())
            .or(rule_model)
            .or_else(|| txt_value(facts, MODEL_KEYS))
            .or_else(|| cdp_parts.as_ref().map(|(_, model)| model.clone()))
            .or_else(|| ssdp.as_ref().map(|(product, _)| product.clone())),
        firmware: med_field(|med| med.firmware_revision.as_ref())
            .or_else(|| med_field(|med| med.software_revision.as_ref()))
            .or_else(|| txt_value(facts, FIRMWARE_KEYS))
            .or_else(|| cdp.and_then(|cdp| keep(cdp.software_version.as_deref()?)))
            .or_else(|| ssdp.and_then(|(_, version)| version)),
        serial: med_field(|med| med.serial_number.as_ref()),
    }
}
