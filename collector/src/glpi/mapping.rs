//! Which GLPI item type a device becomes.
//!
//! GLPI's inventory schema (glpi-project/inventory_format) accepts five item types:
//! `Unmanaged`, `Computer`, `Phone`, `NetworkEquipment` and `Printer`; a network device also
//! carries a `type` among `Unmanaged`, `Computer`, `Networking`, `Printer`, `Storage`, `Power`,
//! `Phone`, `Video` and `KVM` (GLPI files the last five as network equipment). Devices absent from
//! the registry always go as `Unmanaged`: GLPI lists them for someone to look at, which is what
//! an unmanaged device needs. A registered device goes as its kind's item type ([`KIND_TYPES`]),
//! then its category's ([`CATEGORY_TYPES`]), else as `Unmanaged` too: GLPI has no type for
//! biomedical, building or IoT equipment, and its administrators convert such items by hand (or
//! to a GLPI 11 custom asset) once, which later pushes then update.

use serde::Serialize;

use crate::classify::Category;
use crate::views::AssetView;

/// A GLPI item type the schema accepts (`itemtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ItemType {
    /// Found on the network, not (yet) an asset of a known type.
    Unmanaged,
    /// Workstation, server, virtual machine.
    Computer,
    /// IP phone, mobile phone.
    Phone,
    /// Switch, router, firewall, access point, UPS, camera.
    NetworkEquipment,
    /// Printer.
    Printer,
}

impl ItemType {
    /// Every item type, in the schema's order.
    pub const ALL: [ItemType; 5] = [
        ItemType::Unmanaged,
        ItemType::Computer,
        ItemType::Phone,
        ItemType::NetworkEquipment,
        ItemType::Printer,
    ];

    /// The name GLPI knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Unmanaged => "Unmanaged",
            ItemType::Computer => "Computer",
            ItemType::Phone => "Phone",
            ItemType::NetworkEquipment => "NetworkEquipment",
            ItemType::Printer => "Printer",
        }
    }

    /// Whether GLPI reads the device from `content.network_device` (it reads computers and
    /// phones from `hardware`, `bios` and `networks`).
    pub fn is_network_device(self) -> bool {
        !matches!(self, ItemType::Computer | ItemType::Phone)
    }
}

/// The `type` of a `content.network_device` (GLPI's device types of network discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetworkType {
    /// Not known.
    Unmanaged,
    /// Switch, router, firewall, access point.
    Networking,
    /// Printer.
    Printer,
    /// UPS.
    Power,
    /// Camera.
    Video,
}

impl NetworkType {
    /// The name in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Unmanaged => "Unmanaged",
            NetworkType::Networking => "Networking",
            NetworkType::Printer => "Printer",
            NetworkType::Power => "Power",
            NetworkType::Video => "Video",
        }
    }
}

/// What a device becomes in GLPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlpiType {
    /// The item type.
    pub itemtype: ItemType,
    /// The network device type (for the item types read from `network_device`).
    pub network: NetworkType,
}

impl GlpiType {
    const UNMANAGED: GlpiType = GlpiType {
        itemtype: ItemType::Unmanaged,
        network: NetworkType::Unmanaged,
    };

    const fn of(itemtype: ItemType, network: NetworkType) -> GlpiType {
        GlpiType { itemtype, network }
    }
}

/// Registered devices of these kinds (the classifier's, `collector/classify/rules`) go as these
/// types; the table is the documentation (docs/glpi-netbox.md) and what the tests check.
pub const KIND_TYPES: &[(&str, ItemType, NetworkType)] = &[
    ("workstation", ItemType::Computer, NetworkType::Unmanaged),
    ("server", ItemType::Computer, NetworkType::Unmanaged),
    (
        "virtual_machine",
        ItemType::Computer,
        NetworkType::Unmanaged,
    ),
    ("ip_phone", ItemType::Phone, NetworkType::Unmanaged),
    ("mobile", ItemType::Phone, NetworkType::Unmanaged),
    ("printer", ItemType::Printer, NetworkType::Printer),
    ("label_printer", ItemType::Printer, NetworkType::Printer),
    (
        "switch",
        ItemType::NetworkEquipment,
        NetworkType::Networking,
    ),
    (
        "router",
        ItemType::NetworkEquipment,
        NetworkType::Networking,
    ),
    (
        "firewall",
        ItemType::NetworkEquipment,
        NetworkType::Networking,
    ),
    (
        "wireless_ap",
        ItemType::NetworkEquipment,
        NetworkType::Networking,
    ),
    ("ups", ItemType::NetworkEquipment, NetworkType::Power),
    ("camera", ItemType::NetworkEquipment, NetworkType::Video),
];

/// Registered devices whose kind is not in [`KIND_TYPES`] go as their category's type here;
/// categories not listed (biomedical, building, IoT, IT without a known kind, unknown) go as
/// `Unmanaged`.
pub const CATEGORY_TYPES: &[(Category, ItemType, NetworkType)] = &[(
    Category::Network,
    ItemType::NetworkEquipment,
    NetworkType::Networking,
)];

/// The GLPI type of a registered device of `category` and `kind`.
pub fn registered_type(category: Category, kind: &str) -> GlpiType {
    if let Some((_, itemtype, network)) = KIND_TYPES.iter().find(|(k, _, _)| *k == kind) {
        return GlpiType::of(*itemtype, *network);
    }
    CATEGORY_TYPES
        .iter()
        .find(|(c, _, _)| *c == category)
        .map_or(GlpiType::UNMANAGED, |(_, itemtype, network)| {
            GlpiType::of(*itemtype, *network)
        })
}

/// The GLPI type of `view`: `Unmanaged` unless registered.
pub fn glpi_type(view: &AssetView) -> GlpiType {
    if view.managed {
        registered_type(view.category, &view.kind)
    } else {
        GlpiType::UNMANAGED
    }
}
