//! Open `Report` streams per agent identity: one per outbox, a few per identity.
//!
//! An agent needs one stream. Two streams of the same outbox at once would interleave its
//! batches and break the cursor's ordering assumptions, so a new stream for an outbox replaces
//! the older one (which ends with `ABORTED`): the agent reconnecting after a network cut is the
//! one to keep, not the half-open stream it left behind. Streams of *different* outboxes under
//! one identity (a reinstalled agent, a copied certificate) are capped, the extra ones refused
//! with `RESOURCE_EXHAUSTED`.

use std::collections::HashMap;

use hygie_proto::OutboxId;
use tokio_util::sync::CancellationToken;

use crate::identity::AgentIdentity;

/// Identifies one open stream.
pub type StreamId = u64;

/// Refused: the identity already holds its quota of streams for other outboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this agent already has {0} streams open for other outboxes, the most allowed")]
pub struct TooManyStreams(pub usize);

#[derive(Debug)]
struct OpenStream {
    id: StreamId,
    outbox: OutboxId,
    replaced: CancellationToken,
}

/// The open streams, by identity.
#[derive(Debug)]
pub struct StreamTable {
    max_per_agent: usize,
    streams: HashMap<AgentIdentity, Vec<OpenStream>>,
    next_id: StreamId,
}

impl StreamTable {
    /// A table allowing `max_per_agent` streams per identity (at least one).
    pub fn new(max_per_agent: usize) -> Self {
        StreamTable {
            max_per_agent: max_per_agent.max(1),
            streams: HashMap::new(),
            next_id: 0,
        }
    }

    /// Registers a stream; `replaced` is cancelled if a newer stream of the same outbox comes.
    /// Returns its id, having cancelled the stream it replaces, if any.
    pub fn open(
        &mut self,
        identity: &AgentIdentity,
        outbox: OutboxId,
        replaced: CancellationToken,
    ) -> Result<StreamId, TooManyStreams> {
        let streams = self.streams.entry(identity.clone()).or_default();
        if let Some(index) = streams.iter().position(|open| open.outbox == outbox) {
            streams.remove(index).replaced.cancel();
        } else if streams.len() >= self.max_per_agent {
            return Err(TooManyStreams(streams.len()));
        }
        let id = self.next_id;
        self.next_id += 1;
        streams.push(OpenStream {
            id,
            outbox,
            replaced,
        });
        Ok(id)
    }

    /// Forgets a stream that ended (idempotent; a replaced stream is already gone).
    pub fn close(&mut self, identity: &AgentIdentity, id: StreamId) {
        if let Some(streams) = self.streams.get_mut(identity) {
            streams.retain(|open| open.id != id);
            if streams.is_empty() {
                self.streams.remove(identity);
            }
        }
    }

    /// Open streams of `identity`.
    pub fn open_of(&self, identity: &AgentIdentity) -> usize {
        self.streams.get(identity).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str) -> AgentIdentity {
        AgentIdentity::new(name, "chu").unwrap()
    }

    #[test]
    fn a_new_stream_of_an_outbox_replaces_the_old_one() {
        let mut table = StreamTable::new(2);
        let (first, second) = (CancellationToken::new(), CancellationToken::new());
        let first_id = table
            .open(&agent("a"), OutboxId([1; 16]), first.clone())
            .unwrap();
        table
            .open(&agent("a"), OutboxId([1; 16]), second.clone())
            .unwrap();
        assert!(first.is_cancelled());
        assert!(!second.is_cancelled());
        assert_eq!(table.open_of(&agent("a")), 1);
        // The replaced stream closing later does not remove its successor.
        table.close(&agent("a"), first_id);
        assert_eq!(table.open_of(&agent("a")), 1);
    }

    #[test]
    fn streams_of_other_outboxes_are_capped_per_identity() {
        let mut table = StreamTable::new(2);
        let token = CancellationToken::new;
        let one = table.open(&agent("a"), OutboxId([1; 16]), token()).unwrap();
        table.open(&agent("a"), OutboxId([2; 16]), token()).unwrap();
        assert_eq!(
            table.open(&agent("a"), OutboxId([3; 16]), token()),
            Err(TooManyStreams(2))
        );
        assert!(
            table.open(&agent("b"), OutboxId([3; 16]), token()).is_ok(),
            "per identity"
        );
        table.close(&agent("a"), one);
        assert!(table.open(&agent("a"), OutboxId([3; 16]), token()).is_ok());
    }
}
