//! One sink's dispatcher as a pure state machine: events of the log go in, in id order;
//! messages to send come out; the outcome of each send goes back in. Filtering, the rate limit,
//! summaries, retries with backoff, the backlog bound and the cursor all live here, with time
//! passed in, so the invariants of [`super`] are tested without a network or a clock. The
//! shell ([`super::dispatch`]) reads the log, sends and persists [`Progress`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::alert::{Alert, Message, Summary};
use super::rules::Rules;
use super::settings::RateLimit;

/// Most messages a sink holds in memory; beyond, [`SinkCore::wants_events`] is false and the
/// log is not read further until some are delivered (the log itself is the durable queue).
pub const QUEUE_MAX: usize = 1024;
/// The first pause after a failed delivery; it doubles with each failure (Invariant 7).
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// What a sink has done, persisted in its state file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every event up to this id is settled: delivered, covered by a delivered summary,
    /// not selected, refused or dropped (Invariant 1).
    pub cursor: i64,
    /// Alerts delivered.
    pub delivered: u64,
    /// Alerts suppressed by the rate limit and counted in a delivered summary.
    pub suppressed: u64,
    /// Events dropped unsent because the backlog was full (Invariant 4).
    pub dropped: u64,
    /// Alerts the receiver refused as malformed (HTTP 400, 413, 415, 422).
    pub refused: u64,
}

/// One event of the log, as the shell hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its id.
    pub id: i64,
    /// Its alert, if its kind may be selected at all (`None`: passed by unread).
    pub alert: Option<Box<Alert>>,
}

/// Something that happened to the sink.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The next event of the log (ids only grow).
    Event(Candidate),
    /// The log's last id, for the backlog bound.
    Head(i64),
    /// The message last sent was delivered.
    Delivered,
    /// The message last sent was not delivered.
    Failed {
        /// The receiver refused it for good (it would refuse it again).
        permanent: bool,
    },
    /// Time passed.
    Tick,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this message, then report [`Input::Delivered`] or [`Input::Failed`].
    Send(Message),
    /// The last send failed; the next attempt is in `after`.
    Retry {
        /// Failures in a row.
        attempt: u32,
        /// Pause before the next attempt.
        after: Duration,
    },
    /// The receiver refused the message of these events for good; they are settled.
    Refused {
        /// First event it covered.
        first: i64,
        /// Last event it covered.
        last: i64,
    },
    /// The backlog was over its bound: these events were dropped unsent.
    Dropped {
        /// First dropped event.
        first: i64,
        /// Last dropped event.
        last: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Queued {
    message: Message,
    /// First event it covers (for [`Action::Refused`]).
    first: i64,
    /// Delivering it settles every event up to this id.
    up_to: i64,
}

#[derive(Debug, Clone, Copy)]
struct Suppression {
    opened: Instant,
    count: u64,
    first: i64,
    last: i64,
    up_to: i64,
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    attempt: u32,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One sink's state machine.
#[derive(Debug)]
pub struct SinkCore {
    rules: Rules,
    limit: RateLimit,
    max_backlog: u64,
    max_retry: Duration,
    progress: Progress,
    read_to: i64,
    queue: VecDeque<Queued>,
    in_flight: bool,
    retry: Option<Retry>,
    suppression: Option<Suppression>,
    bucket: Bucket,
}

impl SinkCore {
    /// A sink resuming from `progress` (events after its cursor are read again).
    pub fn new(
        rules: Rules,
        limit: RateLimit,
        max_backlog: u64,
        max_retry: Duration,
        progress: Progress,
        now: Instant,
    ) -> SinkCore {
        SinkCore {
            rules,
            limit,
            max_backlog,
            max_retry,
            progress,
            read_to: progress.cursor,
            queue: VecDeque::new(),
            in_flight: false,
            retry: None,
            suppression: None,
            bucket: Bucket {
                tokens: f64::from(limit.burst),
                at: now,
            },
        }
    }

    /// What is settled so far (to persist).
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The last event id handed over: the next read starts after it.
    pub fn read_to(&self) -> i64 {
        self.read_to
    }

    /// The rules, for the shell to skip reading assets of events none may select.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Whether more events may be handed over now.
    pub fn wants_events(&self) -> bool {
        !self.in_flight && self.queue.len() < QUEUE_MAX
    }

    /// Messages waiting (the one in flight included).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// When the core next needs a [`Input::Tick`]: a retry due or a summary to close.
    pub fn next_deadline(&self) -> Option<Instant> {
        let retry = self
            .retry
            .filter(|_| !self.queue.is_empty() && !self.in_flight)
            .map(|retry| retry.at);
        let summary = self
            .suppression
            .map(|suppression| suppression.opened + self.limit.summary_interval);
        match (retry, summary) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles one input at `now`.
    pub fn step(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        self.close_suppression(now);
        match input {
            Input::Event(candidate) => self.event(now, candidate),
            Input::Head(head) => self.head(head, &mut actions),
            Input::Delivered => self.delivered(),
            Input::Failed { permanent } => self.failed(now, permanent, &mut actions),
            Input::Tick => {}
        }
        self.close_suppression(now);
        if !self.in_flight
            && let Some(front) = self.queue.front()
            && self.retry.is_none_or(|retry| retry.at <= now)
        {
            self.in_flight = true;
            actions.push(Action::Send(front.message.clone()));
        }
        actions
    }

    fn event(&mut self, now: Instant, candidate: Candidate) {
        // Invariant 2: each event once, in order; a repeat is ignored.
        if candidate.id <= self.read_to {
            return;
        }
        let id = candidate.id;
        self.read_to = id;
        let Some(alert) = candidate.alert.filter(|alert| self.rules.selects(alert)) else {
            self.settle_through(id);
            return;
        };
        if let Some(suppression) = &mut self.suppression {
            suppression.count += 1;
            suppression.last = id;
            suppression.up_to = id;
        } else if self.take_token(now) {
            self.queue.push_back(Queued {
                message: Message::Alert(alert),
                first: id,
                up_to: id,
            });
        } else {
            self.suppression = Some(Suppression {
                opened: now,
                count: 1,
                first: id,
                last: id,
                up_to: id,
            });
        }
    }

    /// An event nothing is sent for: settled now if nothing before it waits, else with the
    /// last thing that waits (Invariant 1).
    fn settle_through(&mut self, id: i64) {
        if let Some(suppression) = &mut self.suppression {
            suppression.up_to = id;
        } else if let Some(last) = self.queue.back_mut() {
            last.up_to = id;
        } else {
            self.progress.cursor = id;
        }
    }

    fn take_token(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.bucket.at).as_secs_f64();
        let capacity = f64::from(self.limit.burst);
        self.bucket.tokens =
            (self.bucket.tokens + elapsed * f64::from(self.limit.per_minute) / 60.0).min(capacity);
        self.bucket.at = self.bucket.at.max(now);
        if self.bucket.tokens >= 1.0 {
            self.bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Invariant 5: a suppression window ends with its summary, queued like an alert.
    fn close_suppression(&mut self, now: Instant) {
        let Some(suppression) = self.suppression else {
            return;
        };
        let window = now.saturating_duration_since(suppression.opened);
        if window < self.limit.summary_interval {
            return;
        }
        self.suppression = None;
        self.queue.push_back(Queued {
            message: Message::Summary(Summary {
                count: suppression.count,
                first_id: suppression.first,
                last_id: suppression.last,
                window,
            }),
            first: suppression.first,
            up_to: suppression.up_to,
        });
    }

    fn head(&mut self, head: i64, actions: &mut Vec<Action>) {
        let behind = u64::try_from(head.saturating_sub(self.progress.cursor)).unwrap_or(0);
        // A message in flight is never dropped under the shell's feet: checked next time.
        if behind <= self.max_backlog || self.in_flight {
            return;
        }
        // Invariant 4: keep the newest `max_backlog` events, drop the older ones.
        let keep = i64::try_from(self.max_backlog).unwrap_or(i64::MAX);
        let new_cursor = head - keep;
        actions.push(Action::Dropped {
            first: self.progress.cursor + 1,
            last: new_cursor,
        });
        self.progress.dropped += u64::try_from(new_cursor - self.progress.cursor).unwrap_or(0);
        self.queue.retain(|queued| queued.up_to > new_cursor);
        if self
            .suppression
            .is_some_and(|suppression| suppression.up_to <= new_cursor)
        {
            self.suppression = None;
        }
        self.progress.cursor = new_cursor;
        self.read_to = self.read_to.max(new_cursor);
    }

    fn delivered(&mut self) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        self.retry = None;
        let Some(front) = self.queue.pop_front() else {
            return;
        };
        self.progress.cursor = self.progress.cursor.max(front.up_to);
        match front.message {
            Message::Alert(_) => self.progress.delivered += 1,
            Message::Summary(summary) => self.progress.suppressed += summary.count,
            Message::Test => {}
        }
    }

    fn failed(&mut self, now: Instant, permanent: bool, actions: &mut Vec<Action>) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        if permanent {
            self.retry = None;
            if let Some(front) = self.queue.pop_front() {
                self.progress.cursor = self.progress.cursor.max(front.up_to);
                self.progress.refused += 1;
                actions.push(Action::Refused {
                    first: front.first,
                    last: front.up_to,
                });
            }
            return;
        }
        // Invariant 7: 1 s, 2 s, 4 s... up to max_retry.
        let attempt = self
            .retry
            .map_or(1, |retry| retry.attempt.saturating_add(1));
        let after = FIRST_RETRY
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.max_retry);
        self.retry = Some(Retry {
            attempt,
            at: now + after,
        });
        actions.push(Action::Retry { attempt, after });
    }
}

#[cfg(test)]
mod tests;
