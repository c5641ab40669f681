//! `facility-device`: what a simulated device does besides answering ARP (which its network
//! namespace's kernel does): announce DNS-SD services with mdns-sd, and optionally chatter a
//! gratuitous ARP now and then, as many embedded devices do. Runs inside a device namespace of
//! the simulated facility until SIGTERM.
//!
//! ```text
//! facility-device --hostname mon-icu-01 --ip 198.18.0.11 \
//!     --service "MON-ICU-01|_http._tcp|80|md=IntelliVue MX450" [--chatter-ms 500]
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
}

fn parse() -> Result<Options> {
    let mut options = Options {
        hostname: String::new(),
        ip: Ipv4Addr::UNSPECIFIED,
        services: Vec::new(),
        chatter: None,
        interface: "eth0".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--hostname" => options.hostname = value()?,
            "--ip" => options.ip = value()?.parse()?,
            "--interface" => options.interface = value()?,
            "--chatter-ms" => options.chatter = Some(Duration::from_millis(value()?.parse()?)),
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
    let _ = daemon.shutdown();
    Ok(())
}
