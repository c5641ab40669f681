//! Offline IEEE registry lookup (macaddr-ouidb: MA-L, MA-M, MA-S and IAB blocks; longest prefix
//! wins). The data ships inside the binary; updating it means updating the crate.

use hygie_domain::MacAddr;
use serde::{Deserialize, Serialize};

/// The registered owner of a MAC address block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vendor {
    /// Organization name as registered with the IEEE.
    pub name: String,
    /// The block's prefix in hex: 6 digits (MA-L), 7 (MA-M) or 9 (MA-S/IAB).
    pub prefix: String,
}

/// What the registry says of a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VendorLookup {
    /// A locally administered (randomized or private) address: it names no vendor.
    Randomized,
    /// An address in a registered block.
    Registered(Vendor),
    /// An address in no registered block.
    Unregistered,
}

/// Date of the embedded IEEE data.
pub fn registry_date() -> &'static str {
    macaddr_ouidb::OUI_DB.updated
}

/// Looks the vendor of `mac` up.
pub fn lookup(mac: MacAddr) -> VendorLookup {
    if mac.is_locally_administered() {
        return VendorLookup::Randomized;
    }
    match macaddr_ouidb::OUI_DB.lookup(mac.octets()) {
        Some(entry) => VendorLookup::Registered(Vendor {
            name: entry.name().trim().to_owned(),
            prefix: entry.prefix_hex(),
        }),
        None => VendorLookup::Unregistered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendor(mac: &str) -> VendorLookup {
        lookup(mac.parse().unwrap())
    }

    #[test]
    fn longest_prefix_wins() {
        // MA-L
        assert_eq!(
            vendor("00:09:5c:11:22:01"),
            VendorLookup::Registered(Vendor {
                name: "Philips Medical Systems - Cardiac and Monitoring Systems (CMS)".into(),
                prefix: "00095C".into()
            })
        );
        // MA-M (28 bits) and MA-S (36 bits) carved from IEEE blocks; the medical-device list of
        // the test corpus gives these prefixes.
        let VendorLookup::Registered(mam) = vendor("1c:c0:e1:20:00:01") else {
            panic!()
        };
        assert_eq!(
            (mam.prefix.as_str(), mam.name.as_str()),
            ("1CC0E12", "Abbott Medical Optics Inc.")
        );
        let VendorLookup::Registered(mas) = vendor("70:b3:d5:53:f0:01") else {
            panic!()
        };
        assert_eq!(mas.prefix, "70B3D553F");
        assert!(mas.name.starts_with("Abbott Diagnostics"));
    }

    #[test]
    fn locally_administered_addresses_have_no_vendor() {
        assert_eq!(vendor("da:a1:19:11:22:18"), VendorLookup::Randomized);
        assert_eq!(vendor("02:00:00:00:00:01"), VendorLookup::Randomized);
    }

    #[test]
    fn the_registry_date_is_known() {
        assert!(registry_date().starts_with("20"));
    }
}
