//! The domain form of the stream's framing messages: the agent's Hello and its batches.

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::invalid::{Invalid, InvalidMessage, check_count, check_text};
use crate::limits;
use crate::mac::MacAddr;
use crate::observation::Observation;

/// The random identity of one agent outbox; see `Hello.outbox_id` in the contract.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboxId(pub [u8; 16]);

impl OutboxId {
    /// Length in bytes.
    pub const LEN: usize = 16;

    /// Builds an id from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(OutboxId)
    }
}

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutboxId({self})")
    }
}

/// A network interface of the agent host, as reported in its Hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInterface {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Hardware address, if the interface has one.
    pub mac: Option<MacAddr>,
    /// Addresses with their prefix, e.g. `198.18.0.2/24`.
    pub networks: Vec<IpNet>,
}

/// The first message of an agent's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentHello {
    /// Version of the agent software.
    pub agent_version: String,
    /// Host name of the agent machine.
    pub hostname: String,
    /// The agent host's interfaces.
    pub interfaces: Vec<AgentInterface>,
    /// Identity of the outbox whose batches follow.
    pub outbox_id: OutboxId,
}

impl AgentHello {
    /// Checks lengths, counts and characters.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_text(
            "agent_version",
            &self.agent_version,
            limits::MAX_HELLO_TEXT_LEN,
            false,
        )?;
        check_text(
            "hostname",
            &self.hostname,
            limits::MAX_HELLO_TEXT_LEN,
            false,
        )?;
        check_count("interfaces", self.interfaces.len(), limits::MAX_INTERFACES)?;
        for (index, interface) in self.interfaces.iter().enumerate() {
            let within = |error: InvalidMessage| error.within(format_args!("interfaces[{index}]"));
            check_text("name", &interface.name, limits::MAX_INTERFACE_LEN, false)
                .map_err(within)?;
            check_count(
                "networks",
                interface.networks.len(),
                limits::MAX_INTERFACE_NETWORKS,
            )
            .map_err(within)?;
        }
        Ok(())
    }
}

/// Sequences run from 1 to `i64::MAX`, the largest integer SQLite stores.
pub fn check_sequence(sequence: u64) -> Result<(), InvalidMessage> {
    if sequence == 0 {
        return Err(InvalidMessage::new("sequence", Invalid::ZeroSequence));
    }
    if i64::try_from(sequence).is_err() {
        return Err(InvalidMessage::new(
            "sequence",
            Invalid::SequenceRange(sequence),
        ));
    }
    Ok(())
}

/// A numbered batch of observations from one outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationBatch {
    /// Position in the outbox's sequence, from 1.
    pub sequence: u64,
    /// The observations, each already checked.
    pub observations: Vec<Observation>,
}

impl ObservationBatch {
    /// An estimate of the heap the batch holds, in bytes (see [`Observation::heap_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .observations
                .iter()
                .map(Observation::heap_bytes)
                .sum::<usize>()
    }

    /// Checks the sequence number, the size and every observation.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_sequence(self.sequence)?;
        if self.observations.is_empty() {
            return Err(InvalidMessage::new("observations", Invalid::Empty));
        }
        check_count(
            "observations",
            self.observations.len(),
            limits::MAX_BATCH_OBSERVATIONS,
        )?;
        for (index, observation) in self.observations.iter().enumerate() {
            observation
                .check()
                .map_err(|error| error.within(format_args!("observations[{index}]")))?;
        }
        Ok(())
    }
}
