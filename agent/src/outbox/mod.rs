//! The durable outbox: every observation is on disk before anything is sent.
//!
//! A SQLite file (WAL, `synchronous = FULL`) with four tables: `pending` (encoded
//! observations, ids from `AUTOINCREMENT` so they are never reused), `batches` (sequence → a
//! contiguous id range, and a state: waiting, acknowledged, set aside), `source_positions`
//! (how far each file source has read) and `meta` (the id and counters). Beside it: `-wal`,
//! `-shm`, `.lock` and `.reserve`.
//!
//! # Invariants
//!
//! 1. An observation is committed to `pending` before it can be part of a batch, and a source
//!    position is committed in the same transaction as the observations read up to it: a crash
//!    never loses a read observation nor reads one twice.
//! 2. A batch, once formed, never changes: its sequence maps to a fixed id range, and its rows
//!    are deleted only together with it. Acknowledging, setting aside and reopening change its
//!    state, never its content. Sequences start at 1, grow by one per batch and are never
//!    reused within an outbox id. So a batch resent after a reconnect (or after
//!    [`Outbox::reopen_after`]) is byte-for-byte the batch the collector may already have
//!    committed, and the collector's cursor can recognise it.
//! 3. Rows are deleted only with their whole batch (unbatched rows: oldest first), and only
//!    - when the batch has been acknowledged for longer than `keep_acked` (default 24 h, `0s`
//!      deletes at once; Invariant 11);
//!    - when the size bound (Invariant 8) or a full filesystem (Invariant 9) needs room, in
//!      this order: acknowledged batches, then set-aside ones, then, for the size bound only,
//!      the oldest unsent observations. Every evicted unsent observation is counted
//!      (persistently, in `meta`) and logged. A formed batch may be in flight when it is
//!      evicted: its rows go, but it stays as an *evicted* batch until the collector settles
//!      it: acknowledged, or at or below the committed sequence of the next Welcome, it
//!      arrived and leaves the count; refused, above that sequence, or skipped by the uplink,
//!      it did not. So `evicted_total` counts exactly what never reached the collector
//!      (produced = delivered + evicted);
//!    - when more than [`MAX_SET_ASIDE`] batches are set aside: the oldest (counted).
//!
//!    A batch the collector refused as invalid is set aside: marked, never sent again (it
//!    would only be refused again), kept in the file for inspection.
//! 4. Unacknowledged batches are sent in sequence order; after a reconnect, and after
//!    [`Outbox::reopen_after`], all of them are sent again, oldest first, before any new batch
//!    is formed.
//! 5. The outbox id is random, created with the file and stored in it. A new file (reinstall,
//!    wiped disk, a file set aside by Invariant 10) is a new outbox whose sequences cannot be
//!    mistaken for an old one's. A copy of a file (a restored backup, a cloned machine) is
//!    detected when the collector's Welcome reports a higher committed sequence than the
//!    outbox ever formed: the outbox then takes a new id before sending anything, and forgets
//!    the batches acknowledged under the old one. (A collector restored from a backup reports a
//!    lower one: Invariant 11.)
//! 6. One process at a time: `<outbox>.lock` is held while the outbox is open. The database,
//!    its `-wal` and `-shm`, the lock and the reserve are mode 0600, and every directory the
//!    outbox creates 0700, whatever the umask: they hold a facility's device map. (SQLite
//!    gives the `-wal` and `-shm` the database's mode, which is created 0600 first; existing
//!    files are set back to 0600 at open.)
//! 7. A batch holds at most `batch_max_observations` and 4 MiB of encoded observations, so it
//!    always fits in one gRPC message.
//! 8. **Size bound.** `outbox.max_size` (M, default 256 MiB) bounds the files: after every
//!    operation returns, database + `-wal` + `-shm` + `.reserve` ≤ M. M is shared: the WAL
//!    gets J = M/16 (128 KiB to 4 MiB, whole frames; `journal_size_limit`), the reserve
//!    R = M/32 (128 KiB to 1 MiB), the shm index 32 KiB (one region, which covers 4,096 WAL
//!    frames: more than J), and the database the rest, D, counted in pages (`page_count`:
//!    deleted rows free pages that later rows reuse, so the file stays at most D). An append
//!    evicts (Invariant 3's order) until its pages fit in D less 8 (for the small tables that
//!    grow outside appends), inserts, and checks `page_count` before it commits: if the
//!    estimate was short it rolls back and evicts more. A write that leaves the WAL over J/2
//!    is followed by a checkpoint (the next write starts the WAL again), one that leaves it
//!    over J by a truncating checkpoint. At open, a file over D (a smaller `max_size` than
//!    before) is evicted down and vacuumed.
//!
//!    So the files never exceed M + X, where X is the WAL of the one operation running: the
//!    pages it writes, 4,120 bytes each (an append writes its payload plus about 12 bytes per
//!    observation over 90%-full pages, plus the few pages eviction touches); X is 0 between
//!    operations. Two exceptions, both from one append larger than the budget on its own: an
//!    append larger than D is stored whole once everything else is evicted, and one of more
//!    than 4,096 pages (16 MiB) grows the shm by 32 KiB per 4,096 pages until the outbox is
//!    closed. Measured with M = 1 MiB (`invariant_8_*` tests): at most 934,448 bytes after an
//!    operation over 120,000 appended observations, and 1,144,760 bytes while appending 2,000
//!    observations (239 KB of payload) at once. (Before, 1 MiB set let the files reach 5.6 MB.)
//! 9. **Full filesystem.** What is held is still sent and acknowledged when the outbox's
//!    filesystem is full, and a full disk never evicts an unsent observation. The reserve, R
//!    bytes of random data in `<outbox>.reserve`, is deleted the first time a write that
//!    drains the outbox (forming a batch, an Ack, setting aside, reopening) fails for lack of
//!    space, and that write runs again in the room it left. Why it is enough: with
//!    `secure_delete` off a deleted page is not rewritten, so drain writes touch a few pages
//!    each; after a checkpoint the WAL starts again at its beginning, reusing bytes it already
//!    holds, so on a full disk each drain write is preceded by one; and checkpoints write into
//!    pages the database file already has, except for pages drain writes add (a few). Appends
//!    never release the reserve: on a full disk an append may only evict acknowledged and
//!    set-aside batches and reuse their pages, the database file must not grow, and if that
//!    is not enough nothing is stored and [`OutboxError::DiskFull`] names the filesystem
//!    (directory, device, mount point, bytes free). The reserve is written again once the
//!    filesystem has room for it twice over, which ends the full-disk mode.
//! 10. **Unusable files.** A file that is not an SQLite database, fails `PRAGMA quick_check`,
//!     has a newer layout (`user_version`) or is not an outbox is refused at open
//!     ([`OutboxError::Unusable`]); [`Outbox::open_recovering`] renames it (with its `-wal`
//!     and `-shm`) to `<name>.corrupt-<UTC timestamp>`, never deletes it, says so at ERROR,
//!     and starts a new outbox with a new id. An I/O error, a full disk or a lock held by
//!     another agent is not unusability: the file is left alone.
//! 11. **Restored collector.** An acknowledged batch is kept (and never sent) for
//!     `keep_acked`, within the size bound and first to be evicted. When a collector's Welcome
//!     reports a last committed sequence s lower than [`Outbox::highest_acked`] (it was
//!     restored from a backup), [`Outbox::reopen_after`]`(s)` makes every kept batch above s
//!     unacknowledged again; Invariants 2 and 4 then send them again, unchanged and oldest
//!     first. Batches no longer kept are counted and logged as lost to that collector.

mod append;
mod drain;
mod error;
mod evict;
mod int;
mod open;
mod recover;
mod room;
mod schema;
mod shared;
mod space;
mod store;

pub use error::{OutboxError, Unusable};
pub use shared::SharedOutbox;
pub use space::{Disk, FileSizes};
pub use store::{
    AppendOutcome, BatchSpan, DEFAULT_KEEP_ACKED, MAX_SET_ASIDE, Outbox, OutboxLimits, OutboxStats,
    SourcePosition,
};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bound_tests;

#[cfg(test)]
mod disk_tests;

#[cfg(test)]
mod recover_tests;
