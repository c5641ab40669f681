//! EUI-48 hardware addresses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An EUI-48 (MAC) address.
///
/// Parses the spellings found in the field (`00:09:5C:11:22:01`, `00-09-5c-11-22-01`,
/// `0009.5c11.2201`, `00095c112201`) and always displays the normal form: lower case, colons.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr([u8; 6]);

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a MAC address: {reason}")]
pub struct MacParseError {
    input: String,
    reason: &'static str,
}

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// The all-zero address, used as "unknown" in ARP requests.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Wraps six octets.
    pub const fn new(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }

    /// The six octets.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Builds an address from a byte slice; `None` unless it is exactly 6 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }

    /// The I/G bit: set for group (multicast and broadcast) addresses, which never name a device.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// The U/L bit: set for locally administered addresses, such as the randomized (private)
    /// addresses of phones and laptops. Such an address carries no vendor.
    pub const fn is_locally_administered(self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// True for `00:00:00:00:00:00`.
    pub const fn is_zero(self) -> bool {
        u64::from_be_bytes([
            0, 0, self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]) == 0
    }

    /// True for an address that can identify a single device: unicast and not all-zero.
    pub const fn is_device(self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }

    /// The address as a 48-bit integer, handy as a compact database key.
    pub const fn to_u64(self) -> u64 {
        let o = self.0;
        u64::from_be_bytes([0, 0, o[0], o[1], o[2], o[3], o[4], o[5]])
    }

    /// The inverse of [`MacAddr::to_u64`]; bits above 48 are ignored.
    pub const fn from_u64(value: u64) -> Self {
        let b = value.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl MacAddr {
    /// The normal form as 17 ASCII bytes, built without the formatting machinery: a MAC is
    /// written for every observation a replay prints and every row an export signs.
    fn text(self) -> [u8; 17] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b':'; 17];
        for (index, byte) in self.0.iter().enumerate() {
            text[index * 3] = HEX[usize::from(byte >> 4)];
            text[index * 3 + 1] = HEX[usize::from(byte & 0x0f)];
        }
        text
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        // Hex digits and colons: always UTF-8.
        f.pad(std::str::from_utf8(&text).unwrap_or_default())
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| MacParseError {
            input: input.chars().take(64).collect(),
            reason,
        };
        let trimmed = input.trim();
        // Which separator (if any) and how many hex digits sit between separators.
        let (separator, group_len) = match trimmed.len() {
            17 => match trimmed.as_bytes()[2] {
                b @ (b':' | b'-') => (Some(b), 2),
                _ => return Err(fail("expected ':' or '-' between octets")),
            },
            14 => (Some(b'.'), 4),
            12 => (None, 12),
            _ => return Err(fail("expected 12 hex digits")),
        };
        let mut digits = [0u8; 12];
        let mut count = 0;
        for (index, byte) in trimmed.bytes().enumerate() {
            let is_separator_position = separator.is_some() && index % (group_len + 1) == group_len;
            if is_separator_position {
                if Some(byte) != separator {
                    return Err(fail("inconsistent separators"));
                }
                continue;
            }
            let value = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ => return Err(fail("not a hex digit")),
            };
            if count == digits.len() {
                return Err(fail("too many hex digits"));
            }
            digits[count] = value;
            count += 1;
        }
        if count != digits.len() {
            return Err(fail("expected 12 hex digits"));
        }
        let mut octets = [0u8; 6];
        for (octet, pair) in octets.iter_mut().zip(digits.chunks_exact(2)) {
            *octet = pair[0] << 4 | pair[1];
        }
        Ok(MacAddr(octets))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.text();
        serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHILIPS_MONITOR: MacAddr = MacAddr::new([0x00, 0x09, 0x5c, 0x11, 0x22, 0x01]);

    #[test]
    fn parses_every_common_spelling_to_the_same_address() {
        for spelling in [
            "00:09:5c:11:22:01",
            "00:09:5C:11:22:01",
            "00-09-5c-11-22-01",
            "0009.5c11.2201",
            "00095c112201",
            "  00:09:5c:11:22:01\n",
        ] {
            assert_eq!(
                spelling.parse::<MacAddr>(),
                Ok(PHILIPS_MONITOR),
                "{spelling}"
            );
        }
    }

    #[test]
    fn displays_the_normal_form() {
        assert_eq!(PHILIPS_MONITOR.to_string(), "00:09:5c:11:22:01");
        assert_eq!(format!("{PHILIPS_MONITOR:?}"), "MacAddr(00:09:5c:11:22:01)");
    }

    #[test]
    fn rejects_malformed_strings() {
        for bad in [
            "",
            "00:09:5c:11:22",
            "00:09:5c:11:22:01:02",
            "00:09-5c:11:22:01",
            "00:09:5c:11:22:0g",
            "0009.5c11-2201",
            "00095c11220",
            "00095c1122011",
            "zz:zz:zz:zz:zz:zz",
            "00:09:5c:11:22:é",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn error_names_the_input_and_the_reason() {
        let error = "00:09:5c:11:22:0g".parse::<MacAddr>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"00:09:5c:11:22:0g\" is not a MAC address: not a hex digit"
        );
    }

    #[test]
    fn classifies_group_local_and_zero_bits() {
        assert!(!PHILIPS_MONITOR.is_multicast());
        assert!(!PHILIPS_MONITOR.is_locally_administered());
        assert!(PHILIPS_MONITOR.is_device());

        let mdns_group: MacAddr = "01:00:5e:00:00:fb".parse().unwrap();
        assert!(mdns_group.is_multicast());
        assert!(!mdns_group.is_device());
        assert!(MacAddr::BROADCAST.is_multicast());

        let randomized: MacAddr = "da:a1:19:00:00:01".parse().unwrap();
        assert!(randomized.is_locally_administered());
        assert!(randomized.is_device());

        assert!(MacAddr::ZERO.is_zero());
        assert!(!MacAddr::ZERO.is_device());
    }

    #[test]
    fn integer_form_round_trips() {
        assert_eq!(PHILIPS_MONITOR.to_u64(), 0x0009_5c11_2201);
        assert_eq!(MacAddr::from_u64(0x0009_5c11_2201), PHILIPS_MONITOR);
        assert_eq!(MacAddr::from_u64(u64::MAX), MacAddr::BROADCAST);
    }

    #[test]
    fn from_slice_requires_six_bytes() {
        assert_eq!(
            MacAddr::from_slice(&[0, 9, 0x5c, 0x11, 0x22, 1]),
            Some(PHILIPS_MONITOR)
        );
        assert_eq!(MacAddr::from_slice(&[0; 5]), None);
        assert_eq!(MacAddr::from_slice(&[0; 7]), None);
    }

    #[test]
    fn serde_uses_the_string_form() {
        let json = serde_json::to_string(&PHILIPS_MONITOR).unwrap();
        assert_eq!(json, "\"00:09:5c:11:22:01\"");
        let back: MacAddr = serde_json::from_str("\"00-09-5C-11-22-01\"").unwrap();
        assert_eq!(back, PHILIPS_MONITOR);
        assert!(serde_json::from_str::<MacAddr>("\"nope\"").is_err());
    }

    mod properties {
        //! Every spelling the parser accepts reads back as the address it spells, and the normal
        //! form (Display, serde) round-trips.
        use proptest::prelude::*;

        use super::*;

        /// The address in each accepted spelling: colons, dashes, Cisco dots, bare hex; lower
        /// and upper case; with the surrounding whitespace a spreadsheet cell may carry.
        fn spellings(mac: MacAddr, upper: bool, padding: &str) -> Vec<String> {
            let o = mac.octets();
            let hex: String = o.iter().map(|byte| format!("{byte:02x}")).collect();
            let hex = if upper { hex.to_uppercase() } else { hex };
            let groups = |size: usize, separator: &str| {
                hex.as_bytes()
                    .chunks(size)
                    .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(separator)
            };
            [groups(2, ":"), groups(2, "-"), groups(4, "."), hex.clone()]
                .into_iter()
                .map(|spelling| format!("{padding}{spelling}{padding}"))
                .collect()
        }

        proptest! {
            #[test]
            fn display_parses_back(octets in any::<[u8; 6]>()) {
                let mac = MacAddr::new(octets);
                prop_assert_eq!(mac.to_string().parse::<MacAddr>(), Ok(mac));
            }

            #[test]
            fn every_spelling_parses_to_the_address(
                octets in any::<[u8; 6]>(),
                upper in any::<bool>(),
                padding in prop::sample::select(vec!["", " ", "\t", "\n", "  "]),
            ) {
                let mac = MacAddr::new(octets);
                for spelling in spellings(mac, upper, padding) {
                    prop_assert_eq!(spelling.parse::<MacAddr>(), Ok(mac), "{:?}", spelling);
                }
            }

            #[test]
            fn serde_round_trips(octets in any::<[u8; 6]>()) {
                let mac = MacAddr::new(octets);
                let json = serde_json::to_string(&mac).unwrap();
                prop_assert_eq!(&json, &format!("\"{mac}\""));
                prop_assert_eq!(serde_json::from_str::<MacAddr>(&json).unwrap(), mac);
            }

            /// Whatever string parses names the address its hex digits spell: the parser never
            /// invents, drops or reorders a digit, whatever else it is given.
            #[test]
            fn what_parses_is_what_its_digits_say(
                text in "[ \t]?[0-9a-fA-F:.\\-]{10,18}[ \t]?|[0-9a-fA-F]{2}([:.-][0-9a-fA-F]{2}){5}",
            ) {
                if let Ok(mac) = text.parse::<MacAddr>() {
                    let digits: String = text
                        .chars()
                        .filter(char::is_ascii_hexdigit)
                        .collect::<String>()
                        .to_lowercase();
                    prop_assert_eq!(digits, mac.to_string().replace(':', ""));
                    prop_assert_eq!(mac.to_string().parse::<MacAddr>(), Ok(mac));
                }
            }
        }
    }
}
