//! The decisions of one uplink session, without I/O: what to send next, when to wait, which
//! Ack is acceptable, and what a Welcome says about the outbox. The driver in `mod.rs` does the
//! outbox and gRPC calls these decisions ask for; tests here drive the core with time passed in.
//!
//! Guarantees, each tested below:
//! - at most `window` batches are in flight; a Heartbeat still leaves when one is due;
//! - after a reconnect every unacknowledged batch goes again, oldest first, before any new batch
//!   is formed (outbox Invariant 4);
//! - a full batch is formed at once, a partial one once its first observation has waited
//!   `batch_delay`;
//! - nothing sent for `heartbeat` means a Heartbeat, so the collector can tell a quiet agent
//!   from a dead stream;
//! - Acks must come in the order batches were sent; any other is a protocol error.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Tuning of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Batches sent ahead of their Acks.
    pub window: usize,
    /// Observations in a full batch.
    pub max_observations: usize,
    /// How long a partial batch waits for more.
    pub batch_delay: Duration,
    /// Longest silence towards the collector.
    pub heartbeat: Duration,
}

/// What the driver should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send a Heartbeat.
    Heartbeat,
    /// Load and send this formed batch again.
    Resend(u64),
    /// Ask the outbox how many observations wait unbatched, then call [`SessionCore::waiting`].
    CountWaiting,
    /// Nothing until an Ack, new observations, or `until`.
    Idle { until: Instant },
}

/// What to do with the observations waiting unbatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Form a batch of up to `max_observations` and send it.
    Form,
    /// Not yet: wait until `until` (or more observations).
    Idle { until: Instant },
}

/// An Ack the session did not expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Ack for batch {got} while expecting {expected:?}")]
pub struct UnexpectedAck {
    /// The Ack's sequence.
    pub got: u64,
    /// The oldest batch in flight.
    pub expected: Option<u64>,
}

/// One session's state.
#[derive(Debug, Clone)]
pub struct SessionCore {
    settings: SessionSettings,
    resend: VecDeque<u64>,
    in_flight: VecDeque<u64>,
    /// When the oldest unbatched observation was first seen waiting.
    partial_since: Option<Instant>,
    last_sent: Instant,
}

impl SessionCore {
    /// A session that must first resend `unacknowledged` (oldest first), opened at `now`.
    pub fn new(settings: SessionSettings, mut unacknowledged: Vec<u64>, now: Instant) -> Self {
        unacknowledged.sort_unstable();
        unacknowledged.dedup();
        SessionCore {
            settings: SessionSettings {
                window: settings.window.max(1),
                ..settings
            },
            resend: unacknowledged.into(),
            in_flight: VecDeque::new(),
            partial_since: None,
            last_sent: now,
        }
    }

    fn heartbeat_due(&self) -> Instant {
        self.last_sent + self.settings.heartbeat
    }

    /// Batches sent and not yet acknowledged, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_flight.iter().copied()
    }

    /// Whether another batch may be sent now.
    pub fn window_open(&self) -> bool {
        self.in_flight.len() < self.settings.window
    }

    /// The next thing to do at `now`.
    pub fn next(&mut self, now: Instant) -> Next {
        if now >= self.heartbeat_due() {
            return Next::Heartbeat;
        }
        if !self.window_open() {
            return Next::Idle {
                until: self.heartbeat_due(),
            };
        }
        match self.resend.pop_front() {
            Some(sequence) => Next::Resend(sequence),
            None => Next::CountWaiting,
        }
    }

    /// Decides on `waiting` unbatched observations at `now` (after [`Next::CountWaiting`]).
    pub fn waiting(&mut self, waiting: u64, now: Instant) -> Fill {
        if waiting == 0 {
            self.partial_since = None;
            return Fill::Idle {
                until: self.heartbeat_due(),
            };
        }
        let full = waiting >= u64::try_from(self.settings.max_observations).unwrap_or(u64::MAX);
        let since = *self.partial_since.get_or_insert(now);
        let due = since + self.settings.batch_delay;
        if full || now >= due {
            self.partial_since = None;
            return Fill::Form;
        }
        Fill::Idle {
            until: due.min(self.heartbeat_due()),
        }
    }

    /// A batch left at `now`.
    pub fn sent(&mut self, sequence: u64, now: Instant) {
        self.in_flight.push_back(sequence);
        self.last_sent = now;
    }

    /// A Heartbeat left at `now`.
    pub fn heartbeat_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// The collector acknowledged `sequence`: it must be the oldest in flight.
    pub fn acked(&mut self, sequence: u64) -> Result<(), UnexpectedAck> {
        if self.in_flight.front() != Some(&sequence) {
            return Err(UnexpectedAck {
                got: sequence,
                expected: self.in_flight.front().copied(),
            });
        }
        self.in_flight.pop_front();
        Ok(())
    }
}

/// What a collector's Welcome says about this outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WelcomeVerdict {
    /// The collector and the outbox agree: carry on.
    InStep,
    /// The collector holds batches this outbox never formed: the outbox is a copy (a restored
    /// backup, a cloned machine) and must take a new id before sending anything.
    OutboxCopied {
        /// The collector's committed sequence.
        collector: u64,
        /// The outbox's last formed sequence.
        ours: u64,
    },
    /// The collector lost batches it had acknowledged (restored from a backup): the outbox
    /// resends those it still keeps, from `after` on.
    CollectorBehind {
        /// The collector's committed sequence.
        after: u64,
        /// The highest sequence the outbox had seen acknowledged.
        acknowledged: u64,
    },
}

/// Compares the collector's committed sequence with what the outbox formed and saw acknowledged.
pub fn welcome_verdict(collector: u64, formed: u64, acknowledged: u64) -> WelcomeVerdict {
    if collector > formed {
        WelcomeVerdict::OutboxCopied {
            collector,
            ours: formed,
        }
    } else if collector < acknowledged {
        WelcomeVerdict::CollectorBehind {
            after: collector,
            acknowledged,
        }
    } else {
        WelcomeVerdict::InStep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: SessionSettings = SessionSettings {
        window: 2,
        max_observations: 100,
        batch_delay: Duration::from_millis(500),
        heartbeat: Duration::from_secs(60),
    };

    #[test]
    fn unacknowledged_batches_go_first_oldest_first_within_the_window() {
        let now = Instant::now();
        let mut core = SessionCore::new(SETTINGS, vec![9, 7, 8], now);
        assert_eq!(core.next(now), Next::Resend(7));
        core.sent(7, now);
        assert_eq!(core.next(now), Next::Resend(8));
        core.sent(8, now);
        assert!(matches!(core.next(now), Next::Idle { .. }), "window full");
        core.acked(7).unwrap();
        assert_eq!(core.next(now), Next::Resend(9));
        core.sent(9, now);
        core.acked(8).unwrap();
        assert_eq!(
            core.next(now),
            Next::CountWaiting,
            "new batches only after the resends"
        );
    }

    #[test]
    fn a_full_batch_is_formed_at_once_a_partial_one_after_its_delay() {
        let start = Instant::now();
        let mut core = SessionCore::new(SETTINGS, Vec::new(), start);
        assert_eq!(core.waiting(100, start), Fill::Form);
        assert_eq!(
            core.waiting(3, start),
            Fill::Idle {
                until: start + SETTINGS.batch_delay
            }
        );
        let later = start + Duration::from_millis(200);
        assert_eq!(
            core.waiting(5, later),
            Fill::Idle {
                until: start + SETTINGS.batch_delay
            },
            "the delay runs from the first waiting observation"
        );
        assert_eq!(core.waiting(5, start + SETTINGS.batch_delay), Fill::Form);
        assert!(matches!(core.waiting(0, start), Fill::Idle { .. }));
    }

    #[test]
    fn silence_means_a_heartbeat_even_with_the_window_full() {
        let start = Instant::now();
        let mut core = SessionCore::new(SETTINGS, Vec::new(), start);
        core.sent(1, start);
        core.sent(2, start);
        assert_eq!(
            core.next(start),
            Next::Idle {
                until: start + SETTINGS.heartbeat
            }
        );
        let due = start + SETTINGS.heartbeat;
        assert_eq!(core.next(due), Next::Heartbeat);
        core.heartbeat_sent(due);
        assert!(matches!(core.next(due), Next::Idle { .. }));
    }

    #[test]
    fn acks_out_of_order_are_refused() {
        let now = Instant::now();
        let mut core = SessionCore::new(SETTINGS, Vec::new(), now);
        core.sent(4, now);
        core.sent(5, now);
        assert_eq!(
            core.acked(5),
            Err(UnexpectedAck {
                got: 5,
                expected: Some(4)
            })
        );
        assert_eq!(core.acked(4), Ok(()));
        assert_eq!(core.in_flight().collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn a_welcome_tells_a_copied_outbox_from_a_restored_collector() {
        assert_eq!(welcome_verdict(10, 12, 10), WelcomeVerdict::InStep);
        assert_eq!(
            welcome_verdict(15, 12, 10),
            WelcomeVerdict::OutboxCopied {
                collector: 15,
                ours: 12
            }
        );
        assert_eq!(
            welcome_verdict(4, 12, 10),
            WelcomeVerdict::CollectorBehind {
                after: 4,
                acknowledged: 10
            }
        );
        assert_eq!(welcome_verdict(0, 0, 0), WelcomeVerdict::InStep);
    }
}
