//! A simulated care-facility LAN: a bridge, the agent in its own namespace, and devices with
//! real vendor MACs (patient monitors, pumps, ventilators, building systems, cameras, badge
//! readers, printers, workstations, phones, one randomized MAC), several announcing DNS-SD
//! services with TXT records through mdns-sd, others speaking DHCP (udhcpc against a dnsmasq),
//! SSDP, LLDP-MED (lldpd) and NetBIOS, a router advertising IPv6 (radvd), and every device
//! doing IPv6 neighbour discovery (its kernel does).
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
pub const AGENT_MAC: MacAddr = MacAddr::new([0x02, 0x68, 0x79, 0x67, 0x00, 0x02]);
/// The agent host's address.
pub const AGENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

mod daemons;
mod devices;

pub use devices::{
    DeviceSpec, DhcpSpec, LldpSpec, NetbiosSpec, Role, ServiceSpec, SsdpSpec, Verdict,
    standard_devices,
};

/// A running simulated facility.
#[derive(Debug)]
pub struct Facility {
    /// The agent's host.
    pub agent: Host,
    /// Each device and its host.
    pub devices: Vec<(DeviceSpec, Host)>,
    responders: Vec<NsChild>,
    /// Daemons' configuration, sockets and pid files.
    _dir: tempfile::TempDir,
    /// The LAN. Declared last so it is dropped last (fields drop in declaration order): the
    /// responders stop before their namespaces are deleted.
    pub lan: Lan,
}

impl Facility {
    /// Builds the LAN with `devices`, and starts what each runs: announcers of services, SSDP
    /// and NetBIOS, DHCP clients, lldpd, the DHCP server, the IPv6 router (and the chatter of
    /// those listed in `chatty`).
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
                .add_host(spec.name, spec.mac, &format!("{}/24", spec.ip()))
                .map_err(netns)?;
            hosts.push((spec.clone(), host));
        }
        let dir = tempfile::tempdir().map_err(|source| HarnessError::Io {
            what: "creating the facility's directory".into(),
            source,
        })?;
        let mut responders = Vec::new();
        let announcer = binary("facility-device")?;
        let quiet = |command: &mut crate::netns::NsCommand| {
            command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        };
        for (spec, host) in &hosts {
            let chatter = chatty.contains(&spec.mac);
            if spec.speaks() || chatter {
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
                for ssdp in &spec.ssdp {
                    command.arg("--ssdp").arg(format!(
                        "{}|{}|uuid:{}::{}",
                        ssdp.nt, ssdp.server, spec.mac, ssdp.nt
                    ));
                }
                if let Some(netbios) = &spec.netbios {
                    command
                        .arg("--netbios")
                        .arg(format!("{}:{}", netbios.name, netbios.workgroup));
                }
                if chatter {
                    command.args(["--chatter-ms", "300"]);
                }
                // Last: everything after `--` is the repeated command.
                if let Some(dhcp) = &spec.dhcp {
                    command.args(["--every-ms", "3000", "--"]);
                    command.args(daemons::udhcpc_args(dhcp));
                }
                quiet(&mut command);
                responders.push(lan.spawn(command).map_err(netns)?);
            }
            if let Some(lldp) = &spec.lldp {
                let socket = dir.path().join(format!("lldpd-{}.socket", spec.name));
                let mut command = lan.command(&host.namespace, "unshare").map_err(netns)?;
                command
                    .args(["--uts", "sh", "-c"])
                    .arg(daemons::lldpd_script(spec.name, lldp, &socket));
                quiet(&mut command);
                responders.push(lan.spawn(command).map_err(netns)?);
            }
            match spec.role {
                Role::Device => {}
                Role::DhcpServer => {
                    let clients: Vec<&DeviceSpec> = devices
                        .iter()
                        .filter(|device| device.dhcp.is_some())
                        .collect();
                    let mut command = lan.command(&host.namespace, "dnsmasq").map_err(netns)?;
                    command.args(daemons::dnsmasq_args(dir.path(), &clients));
                    quiet(&mut command);
                    responders.push(lan.spawn(command).map_err(netns)?);
                }
                Role::Router => {
                    lan.write_sysctl(&host.namespace, "net.ipv6.conf.all.forwarding", "1")
                        .map_err(netns)?;
                    let config = dir.path().join("radvd.conf");
                    std::fs::write(&config, daemons::radvd_config()).map_err(|source| {
                        HarnessError::Io {
                            what: "writing radvd.conf".into(),
                            source,
                        }
                    })?;
                    let mut command = lan.command(&host.namespace, "radvd").map_err(netns)?;
                    command
                        .args(["-n", "-m", "stderr", "-C"])
                        .arg(&config)
                        .arg("-p")
                        .arg(dir.path().join("radvd.pid"));
                    quiet(&mut command);
                    responders.push(lan.spawn(command).map_err(netns)?);
                }
            }
        }
        Ok(Facility {
            lan,
            agent,
            devices: hosts,
            responders,
            _dir: dir,
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
