//! Arbitrary bytes as a `hygie.v1.ScanPolicy`, converted as the agent does: a converted policy
//! passes its check, is its own fitted form, survives domain → wire → domain (invariant 4 of
//! `hygie_fuzz`), and its guard protects every device and network it lists.
#![no_main]

use hygie_domain::ScanPolicy;
use hygie_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(wire) = pb::ScanPolicy::decode(data) else {
        return;
    };
    let Ok(policy) = ScanPolicy::try_from(wire) else {
        return;
    };
    if let Err(error) = policy.check() {
        panic!("a converted policy fails its check: {error}");
    }
    assert_eq!(policy.clone().fitted(), policy);
    let back = ScanPolicy::try_from(pb::ScanPolicy::from(&policy));
    assert_eq!(back.as_ref(), Ok(&policy));
    let guard = policy.guard();
    for device in &policy.devices {
        assert!(
            guard.protects_mac(device.mac),
            "{device:?} is not protected"
        );
        for ip in &device.addresses {
            assert!(!guard.permits(*ip, None), "{device:?} may be probed");
        }
    }
    for network in &policy.networks {
        assert!(
            !guard.permits(network.addr(), None),
            "{network} may be probed"
        );
    }
});
