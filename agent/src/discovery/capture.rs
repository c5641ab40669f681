//! Frames in and out of a network interface, behind two small traits so that the discovery
//! logic runs the same on a real interface (AF_PACKET, through pnet) and on canned frames.

use std::io;
use std::time::Duration;

use hygie_proto::MacAddr;
use ipnet::Ipv4Net;
use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender, NetworkInterface};

/// Receives frames.
pub trait FrameReceiver: Send {
    /// The next frame, or `Ok(None)` when nothing arrived within the receiver's timeout.
    fn next_frame(&mut self) -> io::Result<Option<&[u8]>>;
}

/// Sends frames.
pub trait FrameSender: Send {
    /// Sends one complete Ethernet frame.
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()>;
}

/// Why an interface cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no network interface named {0:?} (see `ip link`)")]
    NoSuchInterface(String),
    #[error("interface {0} has no hardware address")]
    NoHardwareAddress(String),
    #[error(
        "capturing on {interface} needs the CAP_NET_RAW capability. Run hygie-agent as root, or grant it once with `sudo setcap cap_net_raw+ep $(command -v hygie-agent)`, or under systemd with AmbientCapabilities=CAP_NET_RAW"
    )]
    NeedsCapNetRaw { interface: String },
    #[error("cannot open a packet socket on {interface}")]
    Open {
        interface: String,
        #[source]
        source: io::Error,
    },
    #[error("{0} is not an Ethernet interface")]
    NotEthernet(String),
}

/// What discovery needs to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Name, e.g. `eth0`.
    pub name: String,
    /// Its hardware address: the sender of our probes.
    pub mac: MacAddr,
    /// Its IPv4 networks, e.g. `198.18.0.2/24`.
    pub ipv4: Vec<Ipv4Net>,
}

fn system_interface(name: &str) -> Result<NetworkInterface, CaptureError> {
    pnet_datalink::interfaces()
        .into_iter()
        .find(|interface| interface.name == name)
        .ok_or_else(|| CaptureError::NoSuchInterface(name.to_owned()))
}

/// Looks an interface up by name.
pub fn find_interface(name: &str) -> Result<InterfaceInfo, CaptureError> {
    let interface = system_interface(name)?;
    let mac = interface
        .mac
        .map(|mac| MacAddr::new(mac.octets()))
        .filter(|mac| mac.is_device())
        .ok_or_else(|| CaptureError::NoHardwareAddress(name.to_owned()))?;
    let ipv4 = interface
        .ips
        .iter()
        .filter_map(|network| match network.ip() {
            std::net::IpAddr::V4(address) => Ipv4Net::new(address, network.prefix()).ok(),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    Ok(InterfaceInfo {
        name: name.to_owned(),
        mac,
        ipv4,
    })
}

struct PnetReceiver(Box<dyn DataLinkReceiver>);
struct PnetSender(Box<dyn DataLinkSender>);

impl FrameReceiver for PnetReceiver {
    fn next_frame(&mut self) -> io::Result<Option<&[u8]>> {
        match self.0.next() {
            Ok(frame) => Ok(Some(frame)),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

impl FrameSender for PnetSender {
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.0
            .send_to(frame, None)
            .unwrap_or_else(|| Err(io::Error::other("the packet socket refused the frame")))
    }
}

/// Both directions of an opened interface.
pub type FramePair = (Box<dyn FrameSender>, Box<dyn FrameReceiver>);

/// Opens an AF_PACKET socket on the interface: a sender and a receiver whose `next_frame`
/// returns after at most `poll` without traffic.
pub fn open(interface: &str, poll: Duration) -> Result<FramePair, CaptureError> {
    let system = system_interface(interface)?;
    let config = Config {
        read_timeout: Some(poll),
        read_buffer_size: 65_536,
        write_buffer_size: 65_536,
        ..Config::default()
    };
    match pnet_datalink::channel(&system, config) {
        Ok(Channel::Ethernet(sender, receiver)) => Ok((
            Box::new(PnetSender(sender)),
            Box::new(PnetReceiver(receiver)),
        )),
        Ok(_) => Err(CaptureError::NotEthernet(interface.to_owned())),
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            Err(CaptureError::NeedsCapNetRaw {
                interface: interface.to_owned(),
            })
        }
        Err(source) => Err(CaptureError::Open {
            interface: interface.to_owned(),
            source,
        }),
    }
}
