//! When to try a document again, and when to stop the whole push: pure, time passed in as
//! attempt counts and a jitter draw.
//!
//! Invariants (tests in `glpi/tests.rs` are named after them):
//! 1. A document GLPI refused (4xx other than 429, or an error reply) is never sent again in
//!    the same push: the same bytes would be refused again. It is not recorded as delivered, so
//!    the next push tries it again (GLPI's rules may have changed meanwhile).
//! 2. A transient failure (network error, timeout, 5xx, 429) is retried after an exponential
//!    backoff with jitter, never shorter than GLPI's `Retry-After` and never longer than the
//!    policy's ceiling, at most `attempts` times in all.
//! 3. A refused OAuth token (401) is renewed once per document, then retried at once; a second
//!    401 is a refusal.
//! 4. After `give_up_after` documents in a row gave up on transient failures, the push stops
//!    starting new ones: GLPI is down, and a million devices must not each wait out their
//!    backoff.
//! 5. A failure that says the configuration is wrong (the endpoint is missing, GLPI asks for
//!    credentials or refuses the collector's, the inventory is disabled) stops the push at once:
//!    every other document would fail the same way.

use std::time::Duration;

/// How one attempt at delivering a document ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// GLPI answered `{"status": "ok"}`.
    Accepted,
    /// GLPI refused the document: sending it again would not help.
    Refused {
        /// HTTP status.
        status: u16,
        /// GLPI's message, or what was wrong with its reply.
        message: String,
    },
    /// The collector's token was refused (HTTP 401 with OAuth configured).
    Unauthorized {
        /// GLPI's message.
        message: String,
    },
    /// Nothing can be delivered until the configuration is fixed (Invariant 5).
    Fatal {
        /// What to fix.
        message: String,
    },
    /// Worth trying again.
    Transient {
        /// What happened.
        reason: String,
        /// GLPI's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Deliver again after this long.
    RetryAfter(Duration),
    /// Get a new token, then deliver again at once (Invariant 3).
    RenewToken,
    /// Stop: this is how the document ended.
    Done(Outcome),
}

/// How a document's delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: record its digest.
    Delivered,
    /// Refused (Invariant 1).
    Refused {
        /// HTTP status.
        status: u16,
        /// Why.
        message: String,
    },
    /// Still failing after every attempt.
    GaveUp {
        /// The last failure.
        reason: String,
    },
    /// Not delivered, and neither will the others be (Invariant 5).
    Fatal {
        /// What to fix.
        message: String,
    },
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per document, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub base: Duration,
    /// Longest wait.
    pub ceiling: Duration,
    /// Documents in a row that gave up before the push stops (Invariant 4).
    pub give_up_after: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_secs(1),
            ceiling: Duration::from_secs(60),
            give_up_after: 3,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` attempts: `base × 2^(attempt-1)`,
    /// capped, scaled by a jitter in [0.5, 1] drawn as `jitter` in [0, 1], and never below
    /// `retry_after` (itself capped).
    pub fn backoff(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let raw = self.base.saturating_mul(doubling).min(self.ceiling);
        let scaled = raw.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0);
        match retry_after {
            Some(asked) => scaled.max(asked.min(self.ceiling)),
            None => scaled,
        }
    }
}

/// The delivery of one document: counts its attempts and token renewals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    attempts: u32,
    renewed: bool,
}

impl Delivery {
    /// A delivery not yet attempted.
    pub fn new() -> Self {
        Delivery::default()
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// What follows `attempt`; `jitter` is a draw in [0, 1].
    pub fn step(&mut self, policy: &RetryPolicy, attempt: Attempt, jitter: f64) -> Next {
        self.attempts += 1;
        match attempt {
            Attempt::Accepted => Next::Done(Outcome::Delivered),
            Attempt::Refused { status, message } => {
                Next::Done(Outcome::Refused { status, message })
            }
            Attempt::Fatal { message } => Next::Done(Outcome::Fatal { message }),
            Attempt::Unauthorized { message } => {
                if self.renewed {
                    Next::Done(Outcome::Refused {
                        status: 401,
                        message,
                    })
                } else {
                    self.renewed = true;
                    // A renewal is not a failed attempt: the document was never judged.
                    self.attempts -= 1;
                    Next::RenewToken
                }
            }
            Attempt::Transient {
                reason,
                retry_after,
            } => {
                if self.attempts >= policy.attempts.max(1) {
                    Next::Done(Outcome::GaveUp { reason })
                } else {
                    Next::RetryAfter(policy.backoff(self.attempts, jitter, retry_after))
                }
            }
        }
    }
}

/// Counts documents in a row that gave up (Invariant 4), and opens at once on a fatal one
/// (Invariant 5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breaker {
    in_a_row: u32,
    fatal: bool,
}

impl Breaker {
    /// Takes note of a finished document; returns whether the push must stop.
    pub fn record(&mut self, policy: &RetryPolicy, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::GaveUp { .. } => self.in_a_row += 1,
            Outcome::Fatal { .. } => self.fatal = true,
            Outcome::Delivered | Outcome::Refused { .. } => self.in_a_row = 0,
        }
        self.is_open(policy)
    }

    /// Whether the push must stop.
    pub fn is_open(&self, policy: &RetryPolicy) -> bool {
        self.fatal || self.in_a_row >= policy.give_up_after.max(1)
    }
}
