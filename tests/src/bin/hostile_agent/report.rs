//! What the collector did, as JSON lines on stdout, so a test can parse them:
//!
//! - `{"type":"event", ...}`: the first few occurrences of each outcome, with the unit (stream or
//!   connection) and how long after it started;
//! - `{"type":"summary", "attack": ..., "counters": {...}, "outcomes": [...]}`: one per attack at
//!   the end, every outcome counted with its fastest and slowest time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// Events printed per distinct outcome: enough to see it, not thousands of lines.
const EVENTS_PER_OUTCOME: u64 = 3;
/// Details longer than this are cut: a collector's message may quote a whole field path.
const MAX_DETAIL: usize = 240;

/// How one unit of an attack ended (or why it could not start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// What happened: `grpc_status`, `reset`, `closed`, `open_at_end`, ...
    pub(crate) kind: &'static str,
    /// The status code and message, the reset reason, the I/O error.
    pub(crate) detail: String,
}

impl Outcome {
    pub(crate) fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.len() > MAX_DETAIL {
            let mut cut = MAX_DETAIL;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
            detail.push('…');
        }
        Outcome { kind, detail }
    }

    /// The same outcome with `label` before its detail (e.g. the size of the message sent).
    pub(crate) fn labelled(self, label: &str) -> Self {
        Outcome::new(self.kind, format!("{label}: {}", self.detail))
    }
}

#[derive(Debug, Default)]
struct Tally {
    count: u64,
    min_ms: u64,
    max_ms: u64,
    sum_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    outcomes: BTreeMap<(&'static str, String), Tally>,
    counters: BTreeMap<&'static str, u64>,
}

/// The record of one attack.
#[derive(Debug)]
pub(crate) struct Report {
    attack: &'static str,
    started: Instant,
    inner: Mutex<Inner>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Report {
    pub(crate) fn new(attack: &'static str) -> Self {
        Report {
            attack,
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panicking task must not hide the other tasks' figures.
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut inner)
    }

    /// Records how unit `unit` ended, `after` its start.
    pub(crate) fn outcome(&self, unit: usize, outcome: &Outcome, after: Duration) {
        let ms = millis(after);
        let seen = self.with(|inner| {
            let tally = inner
                .outcomes
                .entry((outcome.kind, outcome.detail.clone()))
                .or_default();
            if tally.count == 0 || ms < tally.min_ms {
                tally.min_ms = ms;
            }
            tally.max_ms = tally.max_ms.max(ms);
            tally.sum_ms = tally.sum_ms.saturating_add(ms);
            tally.count += 1;
            tally.count
        });
        if seen <= EVENTS_PER_OUTCOME {
            println!(
                "{}",
                json!({
                    "type": "event",
                    "attack": self.attack,
                    "unit": unit,
                    "kind": outcome.kind,
                    "detail": outcome.detail,
                    "after_ms": ms,
                    "at_ms": millis(self.started.elapsed()),
                })
            );
        }
    }

    /// Adds `n` to a counter.
    pub(crate) fn add(&self, counter: &'static str, n: u64) {
        self.with(|inner| *inner.counters.entry(counter).or_default() += n);
    }

    /// Raises a high-water mark to `n`.
    pub(crate) fn peak(&self, counter: &'static str, n: u64) {
        self.with(|inner| {
            let value = inner.counters.entry(counter).or_default();
            *value = (*value).max(n);
        });
    }

    /// Prints the summary line.
    pub(crate) fn summary(&self) {
        let line = self.with(|inner| {
            let outcomes: Vec<_> = inner
                .outcomes
                .iter()
                .map(|((kind, detail), tally)| {
                    json!({
                        "kind": kind,
                        "detail": detail,
                        "count": tally.count,
                        "min_ms": tally.min_ms,
                        "max_ms": tally.max_ms,
                        "mean_ms": tally.sum_ms / tally.count.max(1),
                    })
                })
                .collect();
            json!({
                "type": "summary",
                "attack": self.attack,
                "elapsed_ms": millis(self.started.elapsed()),
                "counters": inner.counters,
                "outcomes": outcomes,
            })
        });
        println!("{line}");
    }
}

/// A count of units currently in some state, whose high-water mark is reported.
#[derive(Debug)]
pub(crate) struct Gauge {
    report: Arc<Report>,
    name: &'static str,
    current: AtomicU64,
}

impl Gauge {
    pub(crate) fn new(report: Arc<Report>, name: &'static str) -> Arc<Self> {
        Arc::new(Gauge {
            report,
            name,
            current: AtomicU64::new(0),
        })
    }

    /// One more unit in the state, until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> GaugeGuard {
        let now = self.current.fetch_add(1, Ordering::AcqRel) + 1;
        self.report.peak(self.name, now);
        GaugeGuard(Arc::clone(self))
    }
}

/// Leaves the state when dropped.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::AcqRel);
    }
}
