//! The durable outbox: every observation is on disk before anything is sent.
//!
//! A SQLite file (WAL, `synchronous = FULL`) with three tables: `pending` (encoded
//! observations, ids from `AUTOINCREMENT` so they are never reused), `batches` (sequence → a
//! contiguous id range) and `source_positions` (how far each file source has read).
//!
//! # Invariants
//!
//! 1. An observation is committed to `pending` before it can be part of a batch, and a source
//!    position is committed in the same transaction as the observations read up to it: a crash
//!    never loses a read observation nor reads one twice.
//! 2. A batch, once formed, never changes: its sequence maps to a fixed id range. Sequences start
//!    at 1, grow by one per batch and are never reused within an outbox id. So a batch resent
//!    after a reconnect is byte-for-byte the batch the collector may already have committed, and
//!    the collector's cursor can recognise it.
//! 3. Rows are deleted only when their batch is acknowledged, set aside (refused by the collector
//!    as invalid, kept in `set_aside` for inspection), or evicted by the size bound below.
//! 4. Unacknowledged batches are sent in sequence order; after a reconnect all of them are sent
//!    again, oldest first, before any new batch is formed.
//! 5. The outbox id is random, created with the file and stored in it. A new file (reinstall,
//!    wiped disk) is a new outbox whose sequences cannot be mistaken for an old one's. A copy of
//!    a file (a restored backup, a cloned machine) is detected when the collector's Welcome
//!    reports a higher committed sequence than the outbox ever formed: the outbox then takes a
//!    new id before sending anything.
//! 6. One process at a time: `<outbox>.lock` is held while the outbox is open.
//! 7. A batch holds at most `batch_max_observations` and 4 MiB of encoded observations, so it
//!    always fits in one gRPC message.
//!
//! # When full
//!
//! The stored payload bytes are bounded (`outbox.max_size`, default 256 MiB). Appending past the
//! bound evicts the oldest observations first, a whole batch at a time when the oldest rows are
//! batched; every evicted observation is counted (persistently, in `meta`) and logged. Oldest
//! first because the newest observations describe the network as it is now, and a device still
//! present will be seen again. Batches the collector refused as invalid are set aside outside
//! the bound, at most [`MAX_SET_ASIDE`] of them (older ones are deleted and counted). The SQLite
//! file itself may exceed the bound by its page overhead.

mod store;

mod shared;

pub use shared::SharedOutbox;
pub use store::{
    AppendOutcome, BatchSpan, MAX_SET_ASIDE, Outbox, OutboxError, OutboxStats, SourcePosition,
};

#[cfg(test)]
mod tests;
