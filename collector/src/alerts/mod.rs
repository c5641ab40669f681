//! Alerts to the SIEM: events of the log (an asset becoming unmanaged or stale, an address
//! conflict or change, registry changes...) sent to syslog receivers (RFC 5424 over UDP, TCP
//! or TLS) and webhooks (JSON, HMAC-SHA256 signed).
//!
//! The event log is the queue: it is durable, append-only and numbered. Each sink keeps a
//! cursor, the id up to which every event is settled, in its own state file
//! (`<data_dir>/alerts/<sink>.json`, written whole or not at all). The dispatcher reads the
//! events after the cursor through the read port, makes alerts of those the sink's rules
//! select ([`rules`]), sends them within the sink's rate limit, and moves the cursor on only
//! once they are delivered. The decisions are a pure state machine ([`core::SinkCore`],
//! `step(now, input) -> actions`); [`dispatch`] and its runners do the I/O around it.
//!
//! # Invariants
//!
//! 1. **At least once.** A sink's cursor passes an event only when the event is not selected
//!    by its rules, its alert was delivered, a summary counting it was delivered, the receiver
//!    refused its message for good (Invariant 8), or the backlog bound dropped it
//!    (Invariant 4). The cursor persisted is never ahead of the one in memory, so a crash or a
//!    restart sends again what was not settled, never skips it.
//! 2. **Order.** Each event is taken once, in id order. A sink sends one message at a time, in
//!    that order; a failed message is retried before anything after it is sent.
//! 3. **Deduplication key.** Every alert carries its event's id and hash; sending the same
//!    event twice sends the same id and hash, so receivers deduplicate on them.
//! 4. **Bounded backlog.** After each look at the log, head − cursor ≤ `max_backlog`: the
//!    oldest unsettled events beyond it are dropped unsent, logged at ERROR with their ids,
//!    and counted (`dropped`, persisted, shown by `alerts status`). A sink holds at most
//!    [`core::QUEUE_MAX`] messages in memory; the log holds the rest.
//! 5. **Rate limit.** A sink sends at most `burst` alerts at once and `rate_per_minute` after
//!    that (a token bucket). An alert over the limit opens a suppression window: it and every
//!    alert selected in the next `summary_interval` are counted, not sent, and the window
//!    ends with one summary naming how many and the first and last event ids, so nothing is
//!    lost silently. Each suppressed alert is counted in exactly one summary, and the cursor
//!    passes them only when that summary is delivered.
//! 6. **Independence.** Each sink has its own cursor, queue, bucket and backoff: a dead sink
//!    never holds another back.
//! 7. **Backoff.** After a failed delivery the same message is tried again after 1 s, then
//!    2 s, 4 s... up to `max_retry_interval` (5 min by default), for as long as it takes
//!    (or until Invariant 4 drops it).
//! 8. **Refusals.** A webhook answering 400, 413, 415 or 422 refuses that message for good:
//!    it is logged at ERROR and counted (`refused`), and the sink goes on. Every other failure
//!    (no connection, timeout, TLS, 401/403, 404, 429, 5xx) is retried.
//! 9. **Hostile text.** Strings from devices and operators (host names, vendor, registry
//!    fields) never break a format: SD-PARAM values escape `"`, `\` and `]`, control and
//!    direction characters are replaced in every field ([`crate::safe`]), header fields are
//!    printable ASCII, MSG is UTF-8 with a BOM (ASCII without), and JSON is written by serde.

mod alert;
pub mod core;
pub mod dispatch;
mod rules;
mod runner;
mod settings;
pub mod source;
pub mod state;
pub mod syslog;
mod transport;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use alert::{Alert, AssetFacts, Message, Severity, Summary};
pub use dispatch::{AlertsError, Dispatcher, SinkStatus, prepare, status};
pub use rules::{Rule, Rules};
pub(crate) use settings::AlertsSection;
pub use settings::{
    AlertSettings, RateLimit, SinkSettings, SyslogTarget, Target, Transport, WebhookTarget,
};
pub use source::{EventSource, SourceFactory, StoreSource};
