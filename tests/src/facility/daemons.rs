//! The real daemons some simulated devices run, each in its device's namespace and talking only
//! on that namespace's link: dnsmasq (the DHCP server), lldpd (LLDP-MED), radvd (IPv6 router
//! advertisements), and BusyBox's udhcpc (the DHCP clients, run by `facility-device`).

use std::net::Ipv4Addr;
use std::path::Path;

use super::devices::{DeviceSpec, DhcpSpec, LldpSpec};

/// The addresses dnsmasq hands to clients it has no reservation for (none, in the facility:
/// every client gets its own static address back, so DHCP never gives a device a second one).
const DYNAMIC_RANGE: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(198, 18, 0, 200),
    Ipv4Addr::new(198, 18, 0, 240),
);

/// IPv6 documentation prefix the router advertises (RFC 3849).
pub(super) const IPV6_PREFIX: &str = "2001:db8:ac::/64";

/// `dnsmasq` as the facility's DHCP server only (DNS off), reserving each client's own
/// address for its MAC, logging to stderr, writing nothing but its pid file in `dir`.
pub(super) fn dnsmasq_args(dir: &Path, clients: &[&DeviceSpec]) -> Vec<String> {
    let mut args = vec![
        "--no-daemon".to_owned(),
        "--port=0".to_owned(),
        "--interface=eth0".to_owned(),
        "--bind-interfaces".to_owned(),
        format!(
            "--dhcp-range={},{},255.255.255.0,2m",
            DYNAMIC_RANGE.0, DYNAMIC_RANGE.1
        ),
        "--dhcp-authoritative".to_owned(),
        "--leasefile-ro".to_owned(),
        "--no-resolv".to_owned(),
        "--no-hosts".to_owned(),
        "--log-facility=-".to_owned(),
        format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
    ];
    for client in clients {
        args.push(format!("--dhcp-host={},{}", client.mac, client.ip()));
    }
    args
}

/// `udhcpc` asking once for a lease and exiting, configuring nothing (`-s /bin/true`): the
/// device keeps its static address; what matters is what the client says.
pub(super) fn udhcpc_args(dhcp: &DhcpSpec) -> Vec<String> {
    let mut args: Vec<String> = [
        "udhcpc",
        "-i",
        "eth0",
        "-f",
        "-q",
        "-n",
        "-t",
        "3",
        "-T",
        "1",
        "-A",
        "1",
        "-s",
        "/bin/true",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(["-x".to_owned(), format!("hostname:{}", dhcp.hostname)]);
    args.extend(["-V".to_owned(), dhcp.vendor_class.to_owned()]);
    if let Some(parameters) = dhcp.parameters {
        // -o drops udhcpc's own list; each -O adds one code, in order.
        args.push("-o".to_owned());
        for code in parameters {
            args.extend(["-O".to_owned(), code.to_string()]);
        }
    }
    args
}

/// A shell script running `lldpd` in a UTS namespace of its own (so its system name is the
/// device's, not this machine's), then configuring the LLDP-MED inventory and a 1 s transmit
/// interval through `lldpcli`, and waiting for it.
pub(super) fn lldpd_script(name: &str, lldp: &LldpSpec, socket: &Path) -> String {
    let socket = socket.display();
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let configure = [
        format!("inventory manufacturer {}", quote(lldp.manufacturer)),
        format!("inventory model {}", quote(lldp.model)),
        format!("inventory firmware-revision {}", quote(lldp.firmware)),
        format!("inventory serial-number {}", quote(lldp.serial)),
        "lldp tx-interval 1".to_owned(),
    ]
    .map(|line| format!("lldpcli -u {socket} configure {line} >/dev/null"))
    .join("\n");
    format!(
        "hostname {name}\n\
         lldpd -d -M {class} -I eth0 -u {socket} -S {description} &\n\
         pid=$!\n\
         for _ in 1 2 3 4 5 6 7 8 9 10; do\n\
         \x20 lldpcli -u {socket} show chassis >/dev/null 2>&1 && break\n\
         \x20 sleep 0.2\n\
         done\n\
         {configure}\n\
         wait $pid\n",
        class = lldp.med_class,
        description = quote(lldp.description),
    )
}

/// radvd's configuration: advertisements every 3 to 4 s of the documentation prefix.
pub(super) fn radvd_config() -> String {
    format!(
        "interface eth0 {{\n  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  \
         prefix {IPV6_PREFIX} {{ AdvOnLink on; AdvAutonomous on; }};\n}};\n"
    )
}
