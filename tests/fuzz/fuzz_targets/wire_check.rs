//! The wire check as an oracle: when `check_agent_message` (or `check_collector_message`)
//! passes and prost decodes the same bytes, every repeated field of the decoded message is
//! within `hygie_proto::limits` and each observation encodes to at most `MAX_OBSERVATION_BYTES`.
#![no_main]

use hygie_domain::limits;
use hygie_proto::pb::observation::Detail;
use hygie_proto::{pb, wire};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn within(field: &str, count: usize, max: usize) {
    assert!(
        count <= max,
        "{field}: {count} entries passed the wire check (limit {max})"
    );
}

fn check_observation(observation: &pb::Observation) {
    within("ipv4", observation.ipv4.len(), limits::MAX_ADDRESSES);
    within("ipv6", observation.ipv6.len(), limits::MAX_ADDRESSES);
    within("services", observation.services.len(), limits::MAX_SERVICES);
    for service in &observation.services {
        within("txt", service.txt.len(), limits::MAX_TXT_ENTRIES);
    }
    let items = limits::MAX_DETAIL_ITEMS;
    match &observation.detail {
        Some(Detail::Dhcp(dhcp)) => {
            within(
                "parameter_request_list",
                dhcp.parameter_request_list.len(),
                limits::MAX_PARAMETER_REQUESTS,
            );
            within("user_class", dhcp.user_class.len(), items);
        }
        Some(Detail::Lldp(lldp)) => {
            within("capabilities", lldp.capabilities.len(), items);
            within(
                "management_addresses",
                lldp.management_addresses.len(),
                items,
            );
        }
        Some(Detail::Cdp(cdp)) => {
            within("capabilities", cdp.capabilities.len(), items);
            within("addresses", cdp.addresses.len(), items);
        }
        Some(Detail::Netbios(netbios)) => within("names", netbios.names.len(), items),
        Some(Detail::Ssdp(_) | Detail::Nd(_)) | None => {}
    }
    assert!(
        observation.encoded_len() <= limits::MAX_OBSERVATION_BYTES,
        "an observation of {} bytes passed the wire check",
        observation.encoded_len()
    );
}

fn agent(data: &[u8]) {
    let Ok(_) = wire::check_agent_message(data) else {
        return;
    };
    let Ok(message) = pb::AgentMessage::decode(data) else {
        return;
    };
    use hygie_proto::pb::agent_message::Kind;
    match &message.kind {
        Some(Kind::Hello(hello)) => {
            within("interfaces", hello.interfaces.len(), limits::MAX_INTERFACES);
            for interface in &hello.interfaces {
                within(
                    "networks",
                    interface.networks.len(),
                    limits::MAX_INTERFACE_NETWORKS,
                );
            }
        }
        Some(Kind::Batch(batch)) => {
            within(
                "observations",
                batch.observations.len(),
                limits::MAX_BATCH_OBSERVATIONS,
            );
            batch.observations.iter().for_each(check_observation);
        }
        Some(Kind::Heartbeat(_)) | None => {}
    }
}

fn collector(data: &[u8]) {
    let Ok(_) = wire::check_collector_message(data) else {
        return;
    };
    let Ok(message) = pb::CollectorMessage::decode(data) else {
        return;
    };
    use hygie_proto::pb::collector_message::Kind;
    if let Some(Kind::ScanPolicy(policy)) = &message.kind {
        within("devices", policy.devices.len(), limits::MAX_POLICY_DEVICES);
        within(
            "networks",
            policy.networks.len(),
            limits::MAX_POLICY_NETWORKS,
        );
        for device in &policy.devices {
            within(
                "addresses",
                device.addresses.len(),
                limits::MAX_POLICY_DEVICE_ADDRESSES,
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((direction, message)) if direction & 1 == 1 => collector(message),
        Some((_, message)) => agent(message),
        None => {}
    }
});
