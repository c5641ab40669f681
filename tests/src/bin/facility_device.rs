//! `facility-device`: what a simulated device does besides answering ARP and neighbour
//! discovery (which its network namespace's kernel does): announce DNS-SD services with
//! mdns-sd, announce itself over SSDP (UPnP NOTIFY), register its NetBIOS names, run a command
//! again and again (a real DHCP client that exits once it has a lease), and optionally chatter
//! a gratuitous ARP now and then, as many embedded devices do. Runs inside a device namespace
//! of the simulated facility until SIGTERM. Everything it sends stays in that namespace's
//! link: multicast and the subnet's broadcast.
//!
//! ```text
//! facility-device --hostname mon-icu-01 --ip 198.18.0.11 \
//!     --service "MON-ICU-01|_http._tcp|80|md=IntelliVue MX450" [--chatter-ms 500] \
//!     [--ssdp "NT|SERVER|USN"]... [--netbios NAME:WORKGROUP] \
//!     [--every-ms 5000 -- udhcpc -i eth0 -q ...]
//! ```

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hygie_agent::discovery::capture;
use hygie_decode::arp::build_request;

struct Options {
    hostname: String,
    ip: Ipv4Addr,
    services: Vec<(String, String, u16, HashMap<String, String>)>,
    chatter: Option<Duration>,
    interface: String,
    /// (NT, SERVER, USN) of each SSDP announcement.
    ssdp: Vec<(String, String, String)>,
    /// NetBIOS name and workgroup to register.
    netbios: Option<(String, String)>,
    /// A command to run again and again, this far apart.
    every: Option<(Duration, Vec<String>)>,
}

/// How often SSDP announcements and NetBIOS registrations repeat.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(2);

fn parse() -> Result<Options> {
    let mut options = Options {
        hostname: String::new(),
        ip: Ipv4Addr::UNSPECIFIED,
        services: Vec::new(),
        chatter: None,
        interface: "eth0".into(),
        ssdp: Vec::new(),
        netbios: None,
        every: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--hostname" => options.hostname = value()?,
            "--ip" => options.ip = value()?.parse()?,
            "--interface" => options.interface = value()?,
            "--chatter-ms" => options.chatter = Some(Duration::from_millis(value()?.parse()?)),
            "--ssdp" => {
                let text = value()?;
                let [nt, server, usn] = text.splitn(3, '|').collect::<Vec<_>>()[..] else {
                    bail!("--ssdp NT|SERVER|USN, not {text:?}");
                };
                options
                    .ssdp
                    .push((nt.to_owned(), server.to_owned(), usn.to_owned()));
            }
            "--netbios" => {
                let text = value()?;
                let (name, workgroup) = text
                    .split_once(':')
                    .with_context(|| format!("--netbios NAME:WORKGROUP, not {text:?}"))?;
                options.netbios = Some((name.to_owned(), workgroup.to_owned()));
            }
            "--every-ms" => {
                let every = Duration::from_millis(value()?.parse()?);
                if args.next().as_deref() != Some("--") {
                    bail!("--every-ms N -- COMMAND ARGS...");
                }
                let command: Vec<String> = args.by_ref().collect();
                if command.is_empty() {
                    bail!("--every-ms N -- COMMAND ARGS...: no command");
                }
                options.every = Some((every, command));
            }
            "--service" => {
                // instance|type|port|k=v;k=v
                let text = value()?;
                let parts: Vec<&str> = text.splitn(4, '|').collect();
                let [instance, service_type, port, rest @ ..] = parts.as_slice() else {
                    bail!("--service INSTANCE|TYPE|PORT[|k=v;k=v], not {text:?}");
                };
                let txt = rest
                    .first()
                    .map(|pairs| {
                        pairs
                            .split(';')
                            .filter_map(|pair| pair.split_once('='))
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                options.services.push((
                    (*instance).to_owned(),
                    (*service_type).to_owned(),
                    port.parse()?,
                    txt,
                ));
            }
            other => bail!("unknown option {other}"),
        }
    }
    if options.hostname.is_empty() || options.ip.is_unspecified() {
        bail!("--hostname and --ip are required");
    }
    Ok(options)
}

fn main() -> Result<()> {
    let options = parse()?;
    let daemon = mdns_sd::ServiceDaemon::new()?;
    let host = format!("{}.local.", options.hostname);
    for (instance, service_type, port, txt) in &options.services {
        let info = mdns_sd::ServiceInfo::new(
            &format!("{service_type}.local."),
            instance,
            &host,
            std::net::IpAddr::V4(options.ip),
            *port,
            txt.clone(),
        )?;
        daemon.register(info)?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let chatter = match options.chatter {
        Some(every) => {
            let info = capture::find_interface(&options.interface)?;
            let (mut sender, _receiver) =
                capture::open(&options.interface, Duration::from_millis(100))?;
            let (stop, ip) = (Arc::clone(&stop), options.ip);
            Some(std::thread::spawn(move || {
                // A gratuitous ARP: sender and target are the device's own address.
                let frame = build_request(info.mac, ip, ip);
                while !stop.load(Ordering::Relaxed) {
                    let _ = sender.send_frame(&frame);
                    std::thread::sleep(every);
                }
            }))
        }
        None => None,
    };

    let mut workers = Vec::new();
    if !options.ssdp.is_empty() {
        let socket = std::net::UdpSocket::bind((options.ip, 0))?;
        socket.set_multicast_ttl_v4(2)?;
        let (stop, announcements, ip) = (Arc::clone(&stop), options.ssdp.clone(), options.ip);
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (nt, server, usn) in &announcements {
                    let _ = socket.send_to(
                        ssdp_notify(ip, nt, server, usn).as_bytes(),
                        (Ipv4Addr::new(239, 255, 255, 250), 1900),
                    );
                }
                sleep_unless(&stop, ANNOUNCE_EVERY);
            }
        }));
    }
    if let Some((name, workgroup)) = options.netbios.clone() {
        let socket = std::net::UdpSocket::bind((options.ip, 137))?;
        socket.set_broadcast(true)?;
        let (stop, ip) = (Arc::clone(&stop), options.ip);
        let broadcast = Ipv4Addr::from(u32::from(ip) | 0xff);
        workers.push(std::thread::spawn(move || {
            let mut id: u16 = 1;
            while !stop.load(Ordering::Relaxed) {
                for (suffix, group) in [(0x00, false), (0x20, false)] {
                    id = id.wrapping_add(1);
                    let packet = netbios_registration(id, &name, suffix, group, ip);
                    let _ = socket.send_to(&packet, (broadcast, 137));
                }
                id = id.wrapping_add(1);
                let packet = netbios_registration(id, &workgroup, 0x00, true, ip);
                let _ = socket.send_to(&packet, (broadcast, 137));
                sleep_unless(&stop, ANNOUNCE_EVERY);
            }
        }));
    }
    if let Some((every, command)) = options.every.clone() {
        let stop = Arc::clone(&stop);
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::process::Command::new(&command[0])
                    .args(&command[1..])
                    .stdin(std::process::Stdio::null())
                    .status();
                sleep_unless(&stop, every);
            }
        }));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })?;
    stop.store(true, Ordering::Relaxed);
    if let Some(chatter) = chatter {
        let _ = chatter.join();
    }
    for worker in workers {
        let _ = worker.join();
    }
    let _ = daemon.shutdown();
    Ok(())
}

/// Sleeps up to `duration`, waking early when asked to stop.
fn sleep_unless(stop: &AtomicBool, duration: Duration) {
    let deadline = std::time::Instant::now() + duration;
    while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An SSDP `ssdp:alive` announcement (UPnP Device Architecture 2.0, §1.2.2).
fn ssdp_notify(ip: Ipv4Addr, nt: &str, server: &str, usn: &str) -> String {
    format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n\
         LOCATION: http://{ip}:49153/setup.xml\r\nNT: {nt}\r\nNTS: ssdp:alive\r\n\
         SERVER: {server}\r\nUSN: {usn}\r\n\r\n"
    )
}

/// A NetBIOS name registration, broadcast as a B-node does (RFC 1002, §4.2.2): the name as
/// the question, and an NB record binding it to `ip` (unique or group) as the additional
/// record, which points back at the question's name.
fn netbios_registration(id: u16, name: &str, suffix: u8, group: bool, ip: Ipv4Addr) -> Vec<u8> {
    let mut packet = Vec::with_capacity(68);
    packet.extend_from_slice(&id.to_be_bytes());
    // Request, opcode 5 (registration), recursion desired, broadcast.
    packet.extend_from_slice(&[0x29, 0x10]);
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    // First-level encoding: 15 characters padded with spaces, the suffix, each byte as two
    // letters 'A' + nibble.
    let mut raw = [b' '; 16];
    for (slot, byte) in raw
        .iter_mut()
        .zip(name.to_ascii_uppercase().bytes().take(15))
    {
        *slot = byte;
    }
    raw[15] = suffix;
    packet.push(32);
    for byte in raw {
        packet.push(b'A' + (byte >> 4));
        packet.push(b'A' + (byte & 0x0f));
    }
    packet.push(0);
    packet.extend_from_slice(&[0x00, 0x20, 0x00, 0x01]); // NB, IN
    packet.extend_from_slice(&[0xc0, 0x0c]); // the question's name
    packet.extend_from_slice(&[0x00, 0x20, 0x00, 0x01]);
    packet.extend_from_slice(&300_000u32.to_be_bytes());
    packet.extend_from_slice(&6u16.to_be_bytes());
    packet.extend_from_slice(&(if group { 0x8000u16 } else { 0 }).to_be_bytes());
    packet.extend_from_slice(&ip.octets());
    packet
}
