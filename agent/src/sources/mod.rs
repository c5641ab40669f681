//! Where observations come from. A source knows nothing of the uplink: it sends
//! [`SourceEvent`]s into a channel that the outbox writer drains.

pub mod file;

use hygie_proto::Observation;

use crate::outbox::SourcePosition;

/// Observations from one source, with the position to save atomically with them (for sources
/// that can resume, such as files).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceEvent {
    /// What was observed.
    pub observations: Vec<Observation>,
    /// How far the source has read, once these are stored.
    pub position: Option<SourcePosition>,
}
