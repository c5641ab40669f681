//! A simulated care-facility LAN: a bridge, the agent in its own namespace, and devices with
//! real vendor MACs (patient monitors, pumps, ventilators, building systems, cameras, badge
//! readers, printers, workstations, phones, one randomized MAC), several announcing DNS-SD
//! services with TXT records through mdns-sd.
//!
//! Everything lives in namespaces this harness creates ([`crate::netns::Lan`]), on
//! 198.18.0.0/24 (RFC 2544). The collector runs in the agent's namespace and listens on that
//! namespace's loopback, so the uplink never leaves it and discovery runs on `eth0` only.
//! Dropping the [`Facility`] stops every process and deletes every namespace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hygie_proto::MacAddr;

use crate::bins::binary;
use crate::netns::{Host, Lan, NsChild};
use crate::pki::TestPki;
use crate::process::{Collector, HarnessError};
use crate::wait_until;

/// The facility's subnet.
pub const SUBNET: &str = "198.18.0.0/24";
/// The agent host's MAC (locally administered, as a VM's would be).
pub const AGENT_MAC: [u8; 6] = [0x02, 0x68, 0x79, 0x67, 0x00, 0x02];
/// The agent host's address.
pub const AGENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

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

/// The standard facility: 24 devices across the hygiene rule's domains. The same devices make
/// up `packaging/examples/facility.jsonl`.
pub fn standard_devices() -> Vec<DeviceSpec> {
    let device = |name, kind, octets, host, services| DeviceSpec {
        name,
        kind,
        mac: mac(octets),
        host,
        services,
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

/// A running simulated facility.
#[derive(Debug)]
pub struct Facility {
    /// The agent's host.
    pub agent: Host,
    /// Each device and its host.
    pub devices: Vec<(DeviceSpec, Host)>,
    responders: Vec<NsChild>,
    /// The LAN. Declared last so it is dropped last (fields drop in declaration order): the
    /// responders stop before their namespaces are deleted.
    pub lan: Lan,
}

impl Facility {
    /// Builds the LAN with `devices`, and starts the announcers of those with services (and
    /// the chatter of those listed in `chatty`).
    pub fn build(
        label: &str,
        devices: &[DeviceSpec],
        chatty: &[MacAddr],
    ) -> Result<Self, HarnessError> {
        let mut lan = Lan::new(label).map_err(netns)?;
        let agent = lan
            .add_host("agent", AGENT_MAC, &format!("{AGENT_IP}/24"))
            .map_err(netns)?;
        let mut hosts = Vec::new();
        for spec in devices {
            let host = lan
                .add_host(spec.name, spec.mac.octets(), &format!("{}/24", spec.ip()))
                .map_err(netns)?;
            hosts.push((spec.clone(), host));
        }
        let mut responders = Vec::new();
        let announcer = binary("facility-device")?;
        for (spec, host) in &hosts {
            let chatter = chatty.contains(&spec.mac);
            if spec.services.is_empty() && !chatter {
                continue;
            }
            let mut command = lan.command(&host.namespace, &announcer).map_err(netns)?;
            command.args(["--hostname", spec.name, "--ip", &spec.ip().to_string()]);
            for service in &spec.services {
                let txt: Vec<String> = service
                    .txt
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                command.arg("--service").arg(format!(
                    "{}|{}|{}|{}",
                    service.instance,
                    service.service_type,
                    service.port,
                    txt.join(";")
                ));
            }
            if chatter {
                command.args(["--chatter-ms", "300"]);
            }
            command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            responders.push(lan.spawn(command).map_err(netns)?);
        }
        Ok(Facility {
            lan,
            agent,
            devices: hosts,
            responders,
        })
    }

    /// Starts a collector inside the agent's namespace, on its loopback.
    pub fn start_collector(&mut self, collector: &Collector) -> Result<NsChild, HarnessError> {
        let mut command = self
            .lan
            .command(&self.agent.namespace, binary("hygie-collector")?)
            .map_err(netns)?;
        command.args(collector.serve_args());
        let (stdout, stderr) = collector.log_files()?;
        command
            .stdout(stdout)
            .stderr(stderr)
            .env("RUST_LOG", "info");
        let child = self.lan.spawn(command).map_err(netns)?;
        if !wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
            collector.log().contains("collector serving")
        }) {
            return Err(HarnessError::Timeout(format!(
                "the collector did not start in the agent namespace:\n{}",
                collector.log()
            )));
        }
        Ok(child)
    }

    /// Starts `hygie-agent run` inside the agent's namespace with the configuration file at
    /// `config`, logging to `log`.
    pub fn start_agent(&mut self, config: &Path, log: &Path) -> Result<NsChild, HarnessError> {
        let mut command = self
            .lan
            .command(&self.agent.namespace, binary("hygie-agent")?)
            .map_err(netns)?;
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| HarnessError::Io {
                    what: format!("opening {}", path.display()),
                    source,
                })
        };
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(open(log)?)
            .stderr(open(log)?);
        self.lan.spawn(command).map_err(netns)
    }

    /// Captures everything crossing the agent's bridge port into `file` (tcpdump, in the
    /// bridge's namespace). Stop it with `terminate` before reading the file.
    pub fn capture_agent_port(&mut self, file: &Path) -> Result<NsChild, HarnessError> {
        let port = self
            .lan
            .port_of(&self.agent.namespace)
            .ok_or_else(|| HarnessError::Timeout("the agent has no bridge port".into()))?
            .to_owned();
        let namespace = self.lan.bridge_namespace().to_owned();
        let mut command = self.lan.command(&namespace, "tcpdump").map_err(netns)?;
        command
            .args(["-i", &port, "-U", "-n", "-w"])
            .arg(file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = self.lan.spawn(command).map_err(netns)?;
        // tcpdump says "listening on ..." once the capture runs. A reader thread forwards its
        // stderr (and keeps draining it, so tcpdump never blocks on a full pipe), and the wait
        // has a deadline, so a tcpdump that hangs fails the test instead of stalling it.
        let stderr = child
            .take_stderr()
            .ok_or_else(|| HarnessError::Timeout("tcpdump has no stderr".into()))?;
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut seen = String::new();
        while !seen.contains("listening on") {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(_) => {
                    return Err(HarnessError::Timeout(format!(
                        "tcpdump did not start within 20 s: {seen}"
                    )));
                }
            }
        }
        Ok(child)
    }

    /// How many announcer processes run.
    pub fn announcers(&self) -> usize {
        self.responders.len()
    }
}

fn netns(error: crate::netns::NetnsError) -> HarnessError {
    HarnessError::Netns(Box::new(error))
}

/// A configuration for an agent in the facility, reporting to `port` on its namespace's
/// loopback, with the given `[discovery]` section.
pub fn agent_config(
    dir: &Path,
    pki: &TestPki,
    port: u16,
    discovery: &str,
) -> Result<PathBuf, HarnessError> {
    let certs = pki.agent("ward-3", "chu-test").map_err(|error| {
        HarnessError::Timeout(format!("cannot issue the agent certificate: {error}"))
    })?;
    let config = dir.join("agent.toml");
    let text = format!(
        "[collector]\nendpoint = \"https://127.0.0.1:{port}\"\n\
         ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
         [uplink]\nbatch_max_delay = \"100ms\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"1s\"\n\
         [outbox]\npath = \"{}\"\n\
         [discovery]\n{discovery}\n",
        certs.ca.display(),
        certs.cert.display(),
        certs.key.display(),
        dir.join("outbox.sqlite").display(),
    );
    std::fs::write(&config, text).map_err(|source| HarnessError::Io {
        what: "writing agent.toml".into(),
        source,
    })?;
    Ok(config)
}
