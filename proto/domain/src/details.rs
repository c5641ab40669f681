//! What a discovery protocol says about a device beyond its addresses and names: the DHCP
//! fingerprint, SSDP headers, LLDP / LLDP-MED and CDP fields, NetBIOS names, the IPv6 router
//! flag. One observation carries at most one [`Detail`], the one of the protocol it came from.
//!
//! Everything here is device-supplied and untrusted. [`Detail::check`] bounds every string and
//! list by [`crate::limits`] and refuses control characters, exactly as for host names and TXT
//! records; decoders clean what they read before building these values.
//!
//! Only discovery headers are kept, never payload: see `docs/data-kept.md` for the field-by-field
//! list a data-protection officer can read.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::invalid::{Invalid, InvalidMessage, check_count, check_text};
use crate::limits;

/// The protocol-specific part of an observation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// A DHCPv4 or DHCPv6 client message (or a server's binding of an address to a client).
    Dhcp(DhcpDetails),
    /// An SSDP (UPnP) announcement, search or search response.
    Ssdp(SsdpDetails),
    /// An LLDP advertisement, with its LLDP-MED inventory when present.
    Lldp(LldpDetails),
    /// A Cisco Discovery Protocol advertisement.
    Cdp(CdpDetails),
    /// NetBIOS names the device registered or listed.
    Netbios(NetbiosDetails),
    /// IPv6 neighbour discovery.
    Nd(NdDetails),
}

/// Which protocol a [`Detail`] came from: the first half of its [`DetailKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailKind {
    /// [`Detail::Dhcp`].
    Dhcp,
    /// [`Detail::Ssdp`].
    Ssdp,
    /// [`Detail::Lldp`].
    Lldp,
    /// [`Detail::Cdp`].
    Cdp,
    /// [`Detail::Netbios`].
    Netbios,
    /// [`Detail::Nd`].
    Nd,
}

impl DetailKind {
    /// Every kind.
    pub const ALL: [DetailKind; 6] = [
        DetailKind::Dhcp,
        DetailKind::Ssdp,
        DetailKind::Lldp,
        DetailKind::Cdp,
        DetailKind::Netbios,
        DetailKind::Nd,
    ];

    /// The stable name used in JSON and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            DetailKind::Dhcp => "dhcp",
            DetailKind::Ssdp => "ssdp",
            DetailKind::Lldp => "lldp",
            DetailKind::Cdp => "cdp",
            DetailKind::Netbios => "netbios",
            DetailKind::Nd => "nd",
        }
    }
}

impl fmt::Display for DetailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DetailKind {
    type Err = InvalidMessage;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        DetailKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| InvalidMessage::new("kind", Invalid::UnknownName(name.to_owned())))
    }
}

/// Where a detail is kept for one device: a device keeps the latest detail of each key, so a
/// new DHCP fingerprint replaces the old one while each SSDP notification type keeps its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DetailKey {
    /// The protocol.
    pub kind: DetailKind,
    /// What tells two details of that protocol apart for one device (`v4` / `v6` for DHCP, the
    /// notification type for SSDP, the port for LLDP and CDP, empty otherwise).
    pub slot: String,
}

impl Detail {
    /// The protocol this detail came from.
    pub fn kind(&self) -> DetailKind {
        match self {
            Detail::Dhcp(_) => DetailKind::Dhcp,
            Detail::Ssdp(_) => DetailKind::Ssdp,
            Detail::Lldp(_) => DetailKind::Lldp,
            Detail::Cdp(_) => DetailKind::Cdp,
            Detail::Netbios(_) => DetailKind::Netbios,
            Detail::Nd(_) => DetailKind::Nd,
        }
    }

    /// Where a device keeps this detail (see [`DetailKey`]).
    pub fn key(&self) -> DetailKey {
        let slot = match self {
            Detail::Dhcp(dhcp) => dhcp.version.as_str().to_owned(),
            Detail::Ssdp(ssdp) => match (ssdp.message, &ssdp.notification_type) {
                (SsdpMessage::Search, _) | (_, None) => ssdp.message.as_str().to_owned(),
                (_, Some(nt)) => nt.clone(),
            },
            Detail::Lldp(lldp) => lldp.port_id.clone(),
            Detail::Cdp(cdp) => cdp.port_id.clone().unwrap_or_default(),
            Detail::Netbios(_) | Detail::Nd(_) => String::new(),
        };
        DetailKey {
            kind: self.kind(),
            slot,
        }
    }

    /// Checks every bound; the error names the field, e.g. `lldp.med.model`.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        let within = |name: &'static str| move |error: InvalidMessage| error.within(name);
        match self {
            Detail::Dhcp(dhcp) => dhcp.check().map_err(within("dhcp")),
            Detail::Ssdp(ssdp) => ssdp.check().map_err(within("ssdp")),
            Detail::Lldp(lldp) => lldp.check().map_err(within("lldp")),
            Detail::Cdp(cdp) => cdp.check().map_err(within("cdp")),
            Detail::Netbios(netbios) => netbios.check().map_err(within("netbios")),
            Detail::Nd(_) => Ok(()),
        }
    }

    /// Puts the detail in its normal form: sets sorted without duplicates, and no value the
    /// wire carries as "absent". Lists whose order means something (the DHCP parameter request
    /// list) keep it.
    pub fn normalise(&mut self) {
        match self {
            Detail::Lldp(lldp) => {
                sort_dedup(&mut lldp.capabilities);
                sort_dedup(&mut lldp.management_addresses);
            }
            Detail::Cdp(cdp) => {
                sort_dedup(&mut cdp.capabilities);
                sort_dedup(&mut cdp.addresses);
            }
            Detail::Netbios(netbios) => sort_dedup(&mut netbios.names),
            // The wire carries enterprise number 0 (IANA: reserved) as "none".
            Detail::Dhcp(dhcp) => {
                dhcp.vendor_enterprise = dhcp.vendor_enterprise.filter(|n| *n != 0)
            }
            Detail::Ssdp(_) | Detail::Nd(_) => {}
        }
    }
}

impl Detail {
    /// A short title for people: `DHCPv4 DISCOVER`, `SSDP notify urn:...:controllee:1`,
    /// `LLDP port eth0`.
    pub fn title(&self) -> String {
        match self {
            Detail::Dhcp(dhcp) => format!("DHCP{} {}", dhcp.version.as_str(), dhcp.message_name()),
            Detail::Ssdp(ssdp) => match &ssdp.notification_type {
                Some(nt) => format!("SSDP {} {nt}", ssdp.message.as_str()),
                None => format!("SSDP {}", ssdp.message.as_str()),
            },
            Detail::Lldp(lldp) => format!("LLDP port {}", lldp.port_id),
            Detail::Cdp(cdp) => match &cdp.port_id {
                Some(port) => format!("CDP port {port}"),
                None => "CDP".to_owned(),
            },
            Detail::Netbios(_) => "NetBIOS names".to_owned(),
            Detail::Nd(_) => "IPv6 neighbour discovery".to_owned(),
        }
    }

    /// Every field that is set, as (label, value) pairs for people. Values are the device's
    /// own text: make them safe for where they are shown.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields: Vec<(&'static str, String)> = Vec::new();
        match self {
            Detail::Dhcp(dhcp) => {
                text(&mut fields, "vendor class", &dhcp.vendor_class);
                text(&mut fields, "FQDN", &dhcp.fqdn);
                text(&mut fields, "client id", &dhcp.client_id);
                if !dhcp.parameter_request_list.is_empty() {
                    fields.push(("parameter request list", dhcp.fingerprint()));
                }
                if let Some(enterprise) = dhcp.vendor_enterprise {
                    fields.push(("vendor enterprise", enterprise.to_string()));
                }
                if !dhcp.user_class.is_empty() {
                    fields.push(("user class", dhcp.user_class.join(", ")));
                }
                if let Some(ip) = dhcp.requested_address {
                    fields.push(("requested address", ip.to_string()));
                }
            }
            Detail::Ssdp(ssdp) => {
                text(&mut fields, "SERVER", &ssdp.server);
                text(&mut fields, "USER-AGENT", &ssdp.user_agent);
                text(&mut fields, "NT/ST", &ssdp.notification_type);
                text(&mut fields, "NTS", &ssdp.notification_subtype);
                text(&mut fields, "USN", &ssdp.usn);
                text(&mut fields, "LOCATION (not fetched)", &ssdp.location);
            }
            Detail::Lldp(lldp) => {
                fields.push(("chassis id", lldp.chassis_id.clone()));
                text(&mut fields, "system name", &lldp.system_name);
                text(&mut fields, "system description", &lldp.system_description);
                text(&mut fields, "port description", &lldp.port_description);
                if !lldp.capabilities.is_empty() {
                    fields.push(("capabilities", lldp.capabilities.join(", ")));
                }
                if !lldp.management_addresses.is_empty() {
                    fields.push(("management addresses", join(&lldp.management_addresses)));
                }
                if let Some(med) = &lldp.med {
                    if let Some(class) = med.device_class {
                        fields.push(("LLDP-MED device class", class.to_string()));
                    }
                    text(&mut fields, "manufacturer", &med.manufacturer);
                    text(&mut fields, "model", &med.model);
                    text(&mut fields, "hardware revision", &med.hardware_revision);
                    text(&mut fields, "firmware revision", &med.firmware_revision);
                    text(&mut fields, "software revision", &med.software_revision);
                    text(&mut fields, "serial number", &med.serial_number);
                    text(&mut fields, "asset id", &med.asset_id);
                }
            }
            Detail::Cdp(cdp) => {
                text(&mut fields, "device id", &cdp.device_id);
                text(&mut fields, "platform", &cdp.platform);
                text(&mut fields, "software version", &cdp.software_version);
                if !cdp.capabilities.is_empty() {
                    fields.push(("capabilities", cdp.capabilities.join(", ")));
                }
                if !cdp.addresses.is_empty() {
                    fields.push(("addresses", join(&cdp.addresses)));
                }
                if let Some(vlan) = cdp.native_vlan {
                    fields.push(("native VLAN", vlan.to_string()));
                }
            }
            Detail::Netbios(netbios) => {
                text(&mut fields, "workgroup", &netbios.workgroup);
                for name in &netbios.names {
                    fields.push((
                        "name",
                        format!("{}<{:02x}> {}", name.name, name.suffix, name.role()),
                    ));
                }
            }
            Detail::Nd(nd) => {
                fields.push(("router", if nd.router { "yes" } else { "no" }.to_owned()));
            }
        }
        fields
    }
}

fn text(fields: &mut Vec<(&'static str, String)>, label: &'static str, value: &Option<String>) {
    if let Some(value) = value {
        fields.push((label, value.clone()));
    }
}

fn join(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn sort_dedup<T: Ord>(items: &mut Vec<T>) {
    items.sort_unstable();
    items.dedup();
}

/// DHCP for IPv4 or for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DhcpVersion {
    /// DHCPv4 (RFC 2131).
    #[serde(rename = "v4")]
    V4,
    /// DHCPv6 (RFC 8415).
    #[serde(rename = "v6")]
    V6,
}

impl DhcpVersion {
    /// `v4` or `v6`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DhcpVersion::V4 => "v4",
            DhcpVersion::V6 => "v6",
        }
    }
}

/// What a DHCP client said of itself: the fields that fingerprint it.
///
/// For DHCPv4 the parameter request list is option 55, in the client's order (the order is the
/// fingerprint: two stacks asking for the same options ask in different orders); for DHCPv6 it
/// is the option request option (ORO). A server's reply contributes only the binding of its
/// address to the client's MAC (`message_type` 5, ACK), with no other field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpDetails {
    /// DHCPv4 or DHCPv6.
    pub version: DhcpVersion,
    /// The message type code: option 53 for DHCPv4 (1 DISCOVER, 3 REQUEST, 4 DECLINE, 5 ACK,
    /// 7 RELEASE, 8 INFORM), the msg-type for DHCPv6 (1 SOLICIT, 3 REQUEST, 4 CONFIRM, 5 RENEW,
    /// 6 REBIND, 8 RELEASE, 9 DECLINE, 11 INFORMATION-REQUEST).
    pub message_type: u8,
    /// Option 55 (DHCPv4) or the ORO (DHCPv6), in the client's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_request_list: Vec<u16>,
    /// Option 60 (DHCPv4), or the vendor-class data of option 16 (DHCPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    /// The IANA enterprise number of a DHCPv6 vendor class (option 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_enterprise: Option<u32>,
    /// Option 61 (DHCPv4 client identifier) or the client DUID (DHCPv6 option 1), in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client's FQDN: option 81 (DHCPv4) or 39 (DHCPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Option 77 (DHCPv4) or 15 (DHCPv6) user classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_class: Vec<String>,
    /// Option 50, the address the client asks for (not proof that it holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_address: Option<Ipv4Addr>,
}

impl DhcpDetails {
    /// The message type's name, e.g. `DISCOVER`, `SOLICIT`.
    pub fn message_name(&self) -> &'static str {
        match (self.version, self.message_type) {
            (DhcpVersion::V4, 1) => "DISCOVER",
            (DhcpVersion::V4, 2) => "OFFER",
            (DhcpVersion::V4, 3) | (DhcpVersion::V6, 3) => "REQUEST",
            (DhcpVersion::V4, 4) | (DhcpVersion::V6, 9) => "DECLINE",
            (DhcpVersion::V4, 5) => "ACK",
            (DhcpVersion::V4, 7) | (DhcpVersion::V6, 8) => "RELEASE",
            (DhcpVersion::V4, 8) => "INFORM",
            (DhcpVersion::V6, 1) => "SOLICIT",
            (DhcpVersion::V6, 4) => "CONFIRM",
            (DhcpVersion::V6, 5) => "RENEW",
            (DhcpVersion::V6, 6) => "REBIND",
            (DhcpVersion::V6, 11) => "INFORMATION-REQUEST",
            _ => "OTHER",
        }
    }

    /// The parameter request list as fingerprint databases write it: `1,3,6,15`.
    pub fn fingerprint(&self) -> String {
        let mut text = String::new();
        for (index, code) in self.parameter_request_list.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(&code.to_string());
        }
        text
    }

    fn check(&self) -> Result<(), InvalidMessage> {
        check_count(
            "parameter_request_list",
            self.parameter_request_list.len(),
            limits::MAX_PARAMETER_REQUESTS,
        )?;
        check_optional("vendor_class", self.vendor_class.as_deref())?;
        check_optional("fqdn", self.fqdn.as_deref())?;
        if let Some(client_id) = &self.client_id {
            check_text("client_id", client_id, limits::MAX_CLIENT_ID_HEX_LEN, false)?;
            if !client_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(InvalidMessage::new("client_id", Invalid::NotHex));
            }
        }
        check_list("user_class", &self.user_class)
    }
}

/// Which SSDP message a detail came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SsdpMessage {
    /// `NOTIFY * HTTP/1.1`: the device announces itself (`NT` is what it is).
    Notify,
    /// `M-SEARCH * HTTP/1.1`: a control point searches (`ST` is what it looks for, not what it
    /// is; `USER-AGENT` describes the sender).
    Search,
    /// `HTTP/1.1 200 OK` to a search: the device answers (`ST` is what it is).
    Response,
}

impl SsdpMessage {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SsdpMessage::Notify => "notify",
            SsdpMessage::Search => "search",
            SsdpMessage::Response => "response",
        }
    }
}

/// The discovery headers of one SSDP message, as text. Hygie never fetches `LOCATION`: that
/// would be an active probe of the device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsdpDetails {
    /// The message.
    pub message: SsdpMessage,
    /// `NTS` of a NOTIFY: `ssdp:alive`, `ssdp:byebye` or `ssdp:update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_subtype: Option<String>,
    /// `SERVER`: OS, UPnP version and product of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `USER-AGENT` of a search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `NT` (NOTIFY) or `ST` (search, response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    /// `USN`: unique service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usn: Option<String>,
    /// `LOCATION`: the URL of the device description (never fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl SsdpDetails {
    /// The type the device says it is: `NT` of a NOTIFY or `ST` of a response (an M-SEARCH's
    /// `ST` names what the sender looks for, so it says nothing of the sender).
    pub fn device_type(&self) -> Option<&str> {
        match self.message {
            SsdpMessage::Notify | SsdpMessage::Response => self.notification_type.as_deref(),
            SsdpMessage::Search => None,
        }
    }

    fn check(&self) -> Result<(), InvalidMessage> {
        check_optional("notification_subtype", self.notification_subtype.as_deref())?;
        check_optional("server", self.server.as_deref())?;
        check_optional("user_agent", self.user_agent.as_deref())?;
        check_optional("notification_type", self.notification_type.as_deref())?;
        check_optional("usn", self.usn.as_deref())?;
        check_optional("location", self.location.as_deref())
    }
}

/// An LLDP advertisement (IEEE 802.1AB), heard on the agent's own link only: bridges do not
/// forward LLDP, so an agent hears its switch port's neighbour and nothing further.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LldpDetails {
    /// Chassis ID, as text (a MAC in its usual spelling, an address, or the name sent).
    pub chassis_id: String,
    /// Port ID, as text.
    pub port_id: String,
    /// Port description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_description: Option<String>,
    /// System name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_name: Option<String>,
    /// System description (often the OS and model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_description: Option<String>,
    /// Enabled system capabilities: `bridge`, `router`, `telephone`, `wlan_access_point`,
    /// `station`, `repeater`, `docsis`, `other`, `c_vlan`, `s_vlan`, `two_port_mac_relay`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Management addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub management_addresses: Vec<IpAddr>,
    /// LLDP-MED (ANSI/TIA-1057) device class and inventory, when the device sends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<LldpMed>,
}

/// LLDP-MED: the device class and the inventory TLVs.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LldpMed {
    /// Device class: 1-3 for endpoint classes I-III, 4 for network connectivity devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_class: Option<u8>,
    /// Hardware revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_revision: Option<String>,
    /// Firmware revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_revision: Option<String>,
    /// Software revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_revision: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Manufacturer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Asset ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
}

impl LldpDetails {
    fn check(&self) -> Result<(), InvalidMessage> {
        check_text(
            "chassis_id",
            &self.chassis_id,
            limits::MAX_DETAIL_TEXT_LEN,
            false,
        )?;
        check_text("port_id", &self.port_id, limits::MAX_DETAIL_TEXT_LEN, false)?;
        check_optional("port_description", self.port_description.as_deref())?;
        check_optional("system_name", self.system_name.as_deref())?;
        check_optional("system_description", self.system_description.as_deref())?;
        check_labels("capabilities", &self.capabilities)?;
        check_addresses("management_addresses", &self.management_addresses)?;
        if let Some(med) = &self.med {
            med.check().map_err(|error| error.within("med"))?;
        }
        Ok(())
    }
}

impl LldpMed {
    fn check(&self) -> Result<(), InvalidMessage> {
        if let Some(class) = self.device_class
            && !(1..=4).contains(&class)
        {
            return Err(InvalidMessage::new(
                "device_class",
                Invalid::OutOfRange(u64::from(class)),
            ));
        }
        check_optional("hardware_revision", self.hardware_revision.as_deref())?;
        check_optional("firmware_revision", self.firmware_revision.as_deref())?;
        check_optional("software_revision", self.software_revision.as_deref())?;
        check_optional("serial_number", self.serial_number.as_deref())?;
        check_optional("manufacturer", self.manufacturer.as_deref())?;
        check_optional("model", self.model.as_deref())?;
        check_optional("asset_id", self.asset_id.as_deref())
    }

    /// True when no inventory field is set.
    pub fn is_empty(&self) -> bool {
        *self == LldpMed::default()
    }
}

/// A Cisco Discovery Protocol advertisement, heard on the agent's own link only.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdpDetails {
    /// Device ID (usually the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Platform, e.g. `cisco WS-C3560G-24PS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Software version (the first line of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// The sending port, e.g. `GigabitEthernet0/1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_id: Option<String>,
    /// Capabilities: `router`, `transparent_bridge`, `source_route_bridge`, `switch`, `host`,
    /// `igmp`, `repeater`, `phone`, `remote`, `cvta`, `two_port_mac_relay`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Addresses the device lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    /// Native VLAN of the sending port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_vlan: Option<u16>,
}

impl CdpDetails {
    fn check(&self) -> Result<(), InvalidMessage> {
        check_optional("device_id", self.device_id.as_deref())?;
        check_optional("platform", self.platform.as_deref())?;
        check_optional("software_version", self.software_version.as_deref())?;
        check_optional("port_id", self.port_id.as_deref())?;
        check_labels("capabilities", &self.capabilities)?;
        check_addresses("addresses", &self.addresses)
    }
}

/// One NetBIOS name: up to 15 characters, a suffix byte saying what it is, unique or group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetbiosName {
    /// The name without its padding, e.g. `WS-PHARMACY`.
    pub name: String,
    /// The 16th byte: `0x00` workstation, `0x20` file server, `0x1b` domain master browser...
    pub suffix: u8,
    /// A group name (a workgroup or domain) rather than one host's.
    #[serde(default)]
    pub group: bool,
}

impl NetbiosName {
    /// What the suffix says the name is.
    pub fn role(&self) -> &'static str {
        match (self.suffix, self.group) {
            (0x00, false) => "workstation",
            (0x00, true) => "workgroup",
            (0x03, _) => "messenger",
            (0x1b, _) => "domain_master_browser",
            (0x1c, true) => "domain_controllers",
            (0x1d, _) => "master_browser",
            (0x1e, true) => "browser_election",
            (0x20, _) => "file_server",
            _ => "other",
        }
    }
}

/// NetBIOS names a device registered or listed in a node status answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetbiosDetails {
    /// The names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<NetbiosName>,
    /// The workgroup or domain (a group name with suffix `0x00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workgroup: Option<String>,
}

impl NetbiosDetails {
    fn check(&self) -> Result<(), InvalidMessage> {
        check_count("names", self.names.len(), limits::MAX_DETAIL_ITEMS)?;
        for (index, name) in self.names.iter().enumerate() {
            check_text(
                &format!("names[{index}]"),
                &name.name,
                limits::MAX_NETBIOS_NAME_LEN,
                false,
            )?;
        }
        check_optional("workgroup", self.workgroup.as_deref())
    }
}

/// IPv6 neighbour discovery: whether the device acts as a router.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct NdDetails {
    /// It sent a router advertisement, or a neighbour advertisement with the router flag.
    pub router: bool,
}

fn check_optional(path: &str, value: Option<&str>) -> Result<(), InvalidMessage> {
    match value {
        Some(value) => check_text(path, value, limits::MAX_DETAIL_TEXT_LEN, false),
        None => Ok(()),
    }
}

fn check_list(path: &str, values: &[String]) -> Result<(), InvalidMessage> {
    check_count(path, values.len(), limits::MAX_DETAIL_ITEMS)?;
    for (index, value) in values.iter().enumerate() {
        check_text(
            &format!("{path}[{index}]"),
            value,
            limits::MAX_DETAIL_TEXT_LEN,
            false,
        )?;
    }
    Ok(())
}

/// Capability names: short snake_case labels.
fn check_labels(path: &str, labels: &[String]) -> Result<(), InvalidMessage> {
    check_count(path, labels.len(), limits::MAX_DETAIL_ITEMS)?;
    for (index, label) in labels.iter().enumerate() {
        let ok = !label.is_empty()
            && label.len() <= limits::MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(InvalidMessage::new(
                format!("{path}[{index}]"),
                Invalid::NotALabel,
            ));
        }
    }
    Ok(())
}

fn check_addresses(path: &str, addresses: &[IpAddr]) -> Result<(), InvalidMessage> {
    check_count(path, addresses.len(), limits::MAX_DETAIL_ITEMS)?;
    for (index, ip) in addresses.iter().enumerate() {
        if !crate::is_device_ip(*ip) {
            return Err(InvalidMessage::new(
                format!("{path}[{index}]"),
                Invalid::UnusableAddress(*ip),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lldp() -> LldpDetails {
        LldpDetails {
            chassis_id: "00:09:5c:11:22:01".into(),
            port_id: "eth0".into(),
            port_description: None,
            system_name: Some("mon-icu-01".into()),
            system_description: Some("IntelliVue MX450".into()),
            capabilities: vec!["station".into()],
            management_addresses: vec!["198.18.0.11".parse().unwrap()],
            med: Some(LldpMed {
                device_class: Some(1),
                model: Some("MX450".into()),
                ..LldpMed::default()
            }),
        }
    }

    #[test]
    fn refusals_name_the_nested_field() {
        let mut detail = lldp();
        detail.med.as_mut().unwrap().model = Some("x".repeat(513));
        assert_eq!(
            Detail::Lldp(detail).check().unwrap_err().to_string(),
            "lldp.med.model: 513 bytes exceed the limit of 512"
        );
        let mut detail = lldp();
        detail.capabilities.push("Tele phone".into());
        assert_eq!(
            Detail::Lldp(detail).check().unwrap_err().to_string(),
            "lldp.capabilities[1]: must be a snake_case label of at most 32 bytes"
        );
        let dhcp = DhcpDetails {
            version: DhcpVersion::V4,
            message_type: 1,
            parameter_request_list: vec![1, 3, 6],
            vendor_class: Some("udhcp\u{1b}[2J".into()),
            vendor_enterprise: None,
            client_id: Some("01b0c5".into()),
            fqdn: None,
            user_class: Vec::new(),
            requested_address: None,
        };
        assert_eq!(
            Detail::Dhcp(dhcp.clone()).check().unwrap_err().to_string(),
            "dhcp.vendor_class: contains a control character"
        );
        let hex = DhcpDetails {
            vendor_class: None,
            client_id: Some("01B0".into()),
            ..dhcp
        };
        assert_eq!(
            Detail::Dhcp(hex).check().unwrap_err().to_string(),
            "dhcp.client_id: must be lower-case hexadecimal"
        );
    }

    #[test]
    fn keys_keep_one_detail_per_slot() {
        let notify = |nt: &str| {
            Detail::Ssdp(SsdpDetails {
                message: SsdpMessage::Notify,
                notification_subtype: Some("ssdp:alive".into()),
                server: None,
                user_agent: None,
                notification_type: Some(nt.into()),
                usn: None,
                location: None,
            })
        };
        assert_ne!(
            notify("upnp:rootdevice").key(),
            notify("urn:Belkin:device:controllee:1").key()
        );
        assert_eq!(Detail::Lldp(lldp()).key().slot, "eth0");
    }

    #[test]
    fn json_form_is_tagged_by_protocol() {
        let json = serde_json::to_string(&Detail::Nd(NdDetails { router: true })).unwrap();
        assert_eq!(json, r#"{"nd":{"router":true}}"#);
        let back: Detail = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Detail::Nd(NdDetails { router: true }));
        let fingerprint = DhcpDetails {
            version: DhcpVersion::V4,
            message_type: 1,
            parameter_request_list: vec![1, 3, 6, 12, 15, 28, 42],
            vendor_class: None,
            vendor_enterprise: None,
            client_id: None,
            fqdn: None,
            user_class: Vec::new(),
            requested_address: None,
        };
        assert_eq!(fingerprint.fingerprint(), "1,3,6,12,15,28,42");
        assert_eq!(fingerprint.message_name(), "DISCOVER");
    }
}
