//! What the agent says about its host in the Hello.

use hygie_proto::text::clean_label;
use hygie_proto::{AgentHello, AgentInterface, MacAddr, OutboxId, limits};
use ipnet::IpNet;

/// The Hello for this host: version, host name and interfaces with their addresses.
pub fn hello(outbox_id: OutboxId) -> AgentHello {
    AgentHello {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        hostname: host_name(),
        interfaces: interfaces(),
        outbox_id,
    }
}

/// Host and interface names, without the characters the contract refuses, within its limits.
fn clamp(text: &str, max: usize) -> String {
    clean_label(text, max).unwrap_or_default()
}

fn host_name() -> String {
    hygie_proto::kernel_hostname()
        .map(|name| clamp(&name, limits::MAX_HELLO_TEXT_LEN))
        .unwrap_or_default()
}

fn interfaces() -> Vec<AgentInterface> {
    pnet_datalink::interfaces()
        .into_iter()
        .filter(|interface| !interface.is_loopback())
        .take(limits::MAX_INTERFACES)
        .map(|interface| AgentInterface {
            name: clamp(&interface.name, limits::MAX_INTERFACE_LEN),
            mac: interface
                .mac
                .map(|mac| MacAddr::new(mac.octets()))
                .filter(|mac| !mac.is_zero()),
            networks: interface
                .ips
                .iter()
                .filter_map(|network| IpNet::new(network.ip(), network.prefix()).ok())
                .take(limits::MAX_INTERFACE_NETWORKS)
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_hosts_hello_passes_the_contract_checks() {
        let hello = hello(OutboxId([0; 16]));
        assert_eq!(hello.check(), Ok(()));
        assert_eq!(hello.agent_version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn clamp_drops_control_characters_and_bounds_length() {
        assert_eq!(clamp("ho\u{1b}st", 10), "host");
        assert_eq!(clamp("abcdef", 3), "abc");
    }
}
