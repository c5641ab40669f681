//! The simulated devices: what each is, what it announces and over which protocols, and what
//! the classifier must make of it.

use std::net::Ipv4Addr;

use hygie_collector::classify::Category;
use hygie_proto::MacAddr;

/// A DNS-SD service a device announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Instance name, e.g. `Lexmark MX622 Ward 3`.
    pub instance: &'static str,
    /// Service type without `.local`, e.g. `_ipp._tcp`.
    pub service_type: &'static str,
    /// Port.
    pub port: u16,
    /// TXT entries.
    pub txt: &'static [(&'static str, &'static str)],
}

/// A DHCP client the device runs: BusyBox's `udhcpc`, again and again (it exits once it
/// holds a lease), against the facility's dnsmasq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSpec {
    /// Option 12.
    pub hostname: &'static str,
    /// Option 60.
    pub vendor_class: &'static str,
    /// Option 55 in full, replacing udhcpc's own list (`None`: udhcpc's default, the
    /// embedded-Linux fingerprint `1,3,6,12,15,28,42`).
    pub parameters: Option<&'static [u8]>,
}

/// An SSDP announcement the device sends (UPnP NOTIFY `ssdp:alive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsdpSpec {
    /// `NT`: what it is.
    pub nt: &'static str,
    /// `SERVER`: OS, UPnP version, product.
    pub server: &'static str,
}

/// LLDP the device sends: a real `lldpd` in its namespace, with an LLDP-MED inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LldpSpec {
    /// System description.
    pub description: &'static str,
    /// LLDP-MED device class (1-3 endpoints, 4 network connectivity).
    pub med_class: u8,
    /// Inventory: manufacturer.
    pub manufacturer: &'static str,
    /// Inventory: model.
    pub model: &'static str,
    /// Inventory: firmware revision.
    pub firmware: &'static str,
    /// Inventory: serial number.
    pub serial: &'static str,
}

/// NetBIOS names the device registers by broadcast, as Windows does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetbiosSpec {
    /// Its computer name.
    pub name: &'static str,
    /// Its workgroup.
    pub workgroup: &'static str,
}

/// A role in the facility beyond being a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Just a device.
    Device,
    /// It runs the facility's DHCP server (dnsmasq).
    DhcpServer,
    /// It is the IPv6 router: radvd sends router advertisements from it.
    Router,
}

/// What the classifier must make of a device: the e2e test checks each of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Category.
    pub category: Category,
    /// Kind.
    pub kind: &'static str,
    /// Model, when the device announces one.
    pub model: Option<&'static str>,
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Short name, also its host name.
    pub name: &'static str,
    /// What it is, for people reading test output.
    pub kind: &'static str,
    /// Its MAC (real vendor prefixes).
    pub mac: MacAddr,
    /// Last octet of its address in 198.18.0.0/24.
    pub host: u8,
    /// Services it announces.
    pub services: Vec<ServiceSpec>,
    /// Its DHCP client.
    pub dhcp: Option<DhcpSpec>,
    /// Its SSDP announcements.
    pub ssdp: Vec<SsdpSpec>,
    /// Its LLDP-MED advertisements.
    pub lldp: Option<LldpSpec>,
    /// Its NetBIOS registrations.
    pub netbios: Option<NetbiosSpec>,
    /// Its role.
    pub role: Role,
    /// What the classifier must say of it (given for the devices that speak protocols beyond
    /// ARP and mDNS).
    pub verdict: Option<Verdict>,
}

impl DeviceSpec {
    fn dhcp(mut self, dhcp: DhcpSpec) -> Self {
        self.dhcp = Some(dhcp);
        self
    }

    fn ssdp(mut self, nt: &'static str, server: &'static str) -> Self {
        self.ssdp.push(SsdpSpec { nt, server });
        self
    }

    fn lldp(mut self, lldp: LldpSpec) -> Self {
        self.lldp = Some(lldp);
        self
    }

    fn netbios(mut self, name: &'static str, workgroup: &'static str) -> Self {
        self.netbios = Some(NetbiosSpec { name, workgroup });
        self
    }

    fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    fn expect(
        mut self,
        category: Category,
        kind: &'static str,
        model: Option<&'static str>,
    ) -> Self {
        self.verdict = Some(Verdict {
            category,
            kind,
            model,
        });
        self
    }

    /// Whether it runs a process besides its kernel's own answers.
    pub fn speaks(&self) -> bool {
        !self.services.is_empty()
            || self.dhcp.is_some()
            || !self.ssdp.is_empty()
            || self.netbios.is_some()
    }
}

impl DeviceSpec {
    /// Its IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, self.host)
    }
}

const fn mac(octets: [u8; 6]) -> MacAddr {
    MacAddr::new(octets)
}

/// The standard facility: 31 devices across the hygiene rule's domains. Those speaking only
/// ARP and mDNS also make up `packaging/examples/facility.jsonl`.
pub fn standard_devices() -> Vec<DeviceSpec> {
    let device = |name, kind, octets, host, services| DeviceSpec {
        name,
        kind,
        mac: mac(octets),
        host,
        services,
        dhcp: None,
        ssdp: Vec::new(),
        lldp: None,
        netbios: None,
        role: Role::Device,
        verdict: None,
    };
    vec![
        device(
            "mon-icu-01",
            "patient monitor (Philips)",
            [0x00, 0x09, 0x5c, 0x11, 0x22, 0x01],
            11,
            vec![ServiceSpec {
                instance: "MON-ICU-01",
                service_type: "_http._tcp",
                port: 80,
                txt: &[("md", "IntelliVue MX450"), ("path", "/")],
            }],
        ),
        device(
            "mon-icu-02",
            "patient monitor (Philips)",
            [0x00, 0x09, 0xfb, 0x11, 0x22, 0x02],
            12,
            vec![],
        ),
        device(
            "carescape-b450",
            "patient monitor (GE Healthcare)",
            [0x44, 0x4b, 0x5d, 0x11, 0x22, 0x03],
            13,
            vec![],
        ),
        device(
            "vent-rea-1",
            "ventilator (Draeger)",
            [0x00, 0x30, 0xe6, 0x11, 0x22, 0x04],
            14,
            vec![],
        ),
        device(
            "mindray-bs-01",
            "bedside monitor (Mindray)",
            [0x00, 0xa0, 0x37, 0x11, 0x22, 0x05],
            15,
            vec![],
        ),
        device(
            "pump-baxter-7",
            "infusion pump (Baxter)",
            [0x58, 0x42, 0xe4, 0x11, 0x22, 0x06],
            16,
            vec![],
        ),
        device(
            "spaceplus-01",
            "infusion pump (B. Braun)",
            [0x00, 0x12, 0x21, 0x11, 0x22, 0x07],
            17,
            vec![],
        ),
        device(
            "alaris-gw",
            "infusion gateway (BD Alaris)",
            [0x00, 0xd0, 0x75, 0x11, 0x22, 0x08],
            18,
            vec![],
        ),
        device(
            "masimo-root-3",
            "pulse oximetry (Masimo)",
            [0xe0, 0xc2, 0xb7, 0x11, 0x22, 0x09],
            19,
            vec![],
        ),
        device(
            "connex-vsm",
            "vital signs monitor (Welch Allyn)",
            [0x00, 0x1a, 0xfa, 0x11, 0x22, 0x0a],
            20,
            vec![],
        ),
        device(
            "jci-nae-01",
            "building automation (Johnson Controls)",
            [0x00, 0x10, 0x8d, 0x11, 0x22, 0x0b],
            31,
            vec![],
        ),
        device(
            "desigo-pxc",
            "HVAC controller (Siemens Building Technologies)",
            [0x00, 0x05, 0x19, 0x11, 0x22, 0x0c],
            32,
            vec![],
        ),
        device(
            "niagara-jace",
            "BMS controller (Tridium)",
            [0x00, 0x01, 0xf0, 0x11, 0x22, 0x0d],
            33,
            vec![ServiceSpec {
                instance: "JACE-8000",
                service_type: "_http._tcp",
                port: 80,
                txt: &[],
            }],
        ),
        device(
            "trane-tracer",
            "HVAC controller (Trane)",
            [0x00, 0x12, 0xea, 0x11, 0x22, 0x0e],
            34,
            vec![],
        ),
        device(
            "axis-cam-hall",
            "camera (Axis)",
            [0xb8, 0xa4, 0x4f, 0x11, 0x22, 0x0f],
            41,
            vec![ServiceSpec {
                instance: "AXIS P3245 - hall",
                service_type: "_axis-video._tcp",
                port: 80,
                txt: &[("macaddress", "B8A44F11220F")],
            }],
        ),
        device(
            "cam-parking",
            "camera (Hikvision)",
            [0x0c, 0x75, 0xd2, 0x11, 0x22, 0x10],
            42,
            vec![],
        ),
        device(
            "badge-reader-b2",
            "access control (Honeywell)",
            [0x00, 0x40, 0x84, 0x11, 0x22, 0x11],
            43,
            vec![],
        ),
        device(
            "lexmark-ward3",
            "printer (Lexmark)",
            [0x00, 0x21, 0xb7, 0x11, 0x22, 0x12],
            51,
            vec![ServiceSpec {
                instance: "Lexmark MX622 Ward 3",
                service_type: "_ipp._tcp",
                port: 631,
                txt: &[
                    ("ty", "Lexmark MX622ade"),
                    ("usb_MFG", "Lexmark"),
                    ("rp", "ipp/print"),
                ],
            }],
        ),
        device(
            "brother-admissions",
            "printer (Brother)",
            [0x00, 0x1b, 0xa9, 0x11, 0x22, 0x13],
            52,
            vec![ServiceSpec {
                instance: "Brother HL-L2350DW",
                service_type: "_ipp._tcp",
                port: 631,
                txt: &[("ty", "Brother HL-L2350DW series")],
            }],
        ),
        device(
            "zebra-lab-labels",
            "label printer (Zebra)",
            [0x90, 0x75, 0xde, 0x11, 0x22, 0x14],
            53,
            vec![ServiceSpec {
                instance: "Zebra ZD621 Lab",
                service_type: "_pdl-datastream._tcp",
                port: 9100,
                txt: &[("usb_MFG", "Zebra Technologies"), ("usb_MDL", "ZD621")],
            }],
        ),
        device(
            "ws-nurse-station-3",
            "workstation (Dell)",
            [0xd0, 0x43, 0x1e, 0x11, 0x22, 0x15],
            61,
            vec![ServiceSpec {
                instance: "WS-NURSE-STATION-3",
                service_type: "_smb._tcp",
                port: 445,
                txt: &[],
            }],
        ),
        device(
            "ws-pharmacy",
            "workstation (HP)",
            [0x9c, 0x7b, 0xef, 0x11, 0x22, 0x16],
            62,
            vec![],
        ),
        device(
            "phone-ward3",
            "IP phone (Yealink)",
            [0x80, 0x5e, 0xc0, 0x11, 0x22, 0x17],
            63,
            vec![],
        ),
        // Devices known by what they say rather than by their MAC: the module maker's MAC of
        // a monitor that names itself in DHCP and LLDP-MED, a pump behind a Wi-Fi module, a
        // Windows workstation, a waiting-room TV and a smart plug announcing themselves over
        // SSDP, the ward's IPv6 router, and the facility's DHCP server.
        device(
            "mon-icu-05",
            "patient monitor on a Lantronix module (DHCP, LLDP-MED)",
            [0x00, 0x80, 0xa3, 0x11, 0x22, 0x20],
            21,
            vec![],
        )
        .dhcp(DhcpSpec {
            hostname: "mon-icu-05",
            vendor_class: "Philips IntelliVue MX450",
            parameters: None,
        })
        .lldp(LldpSpec {
            description: "IntelliVue MX450 patient monitor",
            med_class: 1,
            manufacturer: "Philips Medical Systems",
            model: "IntelliVue MX450",
            firmware: "M.00.03",
            serial: "DE71234567",
        })
        .expect(
            Category::Biomedical,
            "patient_monitor",
            Some("IntelliVue MX450"),
        ),
        device(
            "pump-icu-09",
            "infusion pump on a Silex Wi-Fi module (DHCP)",
            [0x1c, 0xbc, 0xec, 0x11, 0x22, 0x21],
            22,
            vec![],
        )
        .dhcp(DhcpSpec {
            hostname: "pump-icu-09",
            vendor_class: "BD Alaris PC 8015",
            parameters: None,
        })
        .expect(Category::Biomedical, "infusion_pump", Some("Alaris PC")),
        device(
            "ws-radiology",
            "Windows workstation (DHCP, NetBIOS)",
            [0x0c, 0xc4, 0x7a, 0x11, 0x22, 0x22],
            64,
            vec![],
        )
        .dhcp(DhcpSpec {
            hostname: "WS-RADIOLOGY",
            vendor_class: "MSFT 5.0",
            parameters: Some(&[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]),
        })
        .netbios("WS-RADIOLOGY", "CHU")
        .expect(Category::It, "workstation", None),
        device(
            "tv-waiting-room",
            "smart TV (SSDP)",
            [0xac, 0x5a, 0xf0, 0x11, 0x22, 0x23],
            71,
            vec![],
        )
        .ssdp(
            "urn:schemas-upnp-org:device:MediaRenderer:1",
            "Linux/4.4.84 UPnP/1.0 WebOS TV/5.0",
        )
        .ssdp(
            "urn:dial-multiscreen-org:service:dial:1",
            "Linux/4.4.84 UPnP/1.0 WebOS TV/5.0",
        )
        .expect(Category::Iot, "media_player", None),
        device(
            "plug-office-2",
            "smart plug (SSDP)",
            [0x94, 0x10, 0x3e, 0x11, 0x22, 0x24],
            72,
            vec![],
        )
        .ssdp(
            "urn:Belkin:device:controllee:1",
            "Unspecified, UPnP/1.0, Unspecified",
        )
        .expect(Category::Iot, "smart_plug", None),
        device(
            "gw-ward3",
            "ward router (IPv6 router advertisements)",
            [0x00, 0x1e, 0xbd, 0x11, 0x22, 0x25],
            1,
            vec![],
        )
        .role(Role::Router)
        .expect(Category::Network, "router", None),
        device(
            "dhcp-ward3",
            "DHCP server (dnsmasq)",
            [0x0c, 0xc4, 0x7a, 0x11, 0x22, 0x26],
            253,
            vec![],
        )
        .role(Role::DhcpServer),
        device(
            "visitor-phone",
            "smartphone, randomized MAC",
            [0xda, 0xa1, 0x19, 0x11, 0x22, 0x18],
            99,
            vec![ServiceSpec {
                instance: "Visitor iPhone",
                service_type: "_companion-link._tcp",
                port: 49152,
                txt: &[("rpVr", "360.4")],
            }],
        ),
    ]
}
