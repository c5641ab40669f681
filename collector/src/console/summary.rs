//! The overview's counts and chart, kept for a while. At a million assets, counting by
//! category, flag and site reads every stored verdict (seconds on this hardware) and the chart
//! counts a month of events, while the rest of the overview is a few indexed reads.
//!
//! Invariants:
//! 1. A page never waits for a recount once one exists: it is served the last one, which says
//!    when it was taken. Before the first count ends, pages wait for it (one count, not one
//!    per page).
//! 2. A summary older than its freshness ([`fresh_for`]: twenty times what the count cost,
//!    between a second and a minute) starts one recount in the background; never two at once.
//!    A small inventory's overview is thus at most a page view behind, a million assets' at
//!    most a minute, and counting never takes more than a twentieth of the time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use super::app::{PageError, State, lock};
use super::chart;
use super::db::DbError;
use crate::inventory::flags::Flag;
use crate::store::InventoryReader;
use crate::views::Counts;

/// How long a summary that took `cost` to count is shown before a recount starts
/// (Invariant 2).
pub(crate) fn fresh_for(cost: Duration) -> Duration {
    (cost * 20).clamp(Duration::from_secs(1), Duration::from_secs(60))
}
/// Days the chart covers.
const CHART_DAYS: usize = 30;

/// Counts and the chart, as of one moment.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) counts: Counts,
    pub(crate) chart: String,
    pub(crate) taken: Timestamp,
}

/// The last summary, and whether a recount runs.
#[derive(Debug, Default)]
pub(crate) struct Summaries {
    /// The last summary, when it was counted, and how long it stays fresh.
    current: Mutex<Option<(Instant, Duration, Arc<Summary>)>>,
    recounting: AtomicBool,
}

/// The chart's first bucket: midnight UTC, `CHART_DAYS - 1` days before today's.
fn chart_start(now: Timestamp) -> Timestamp {
    let day = SignedDuration::from_hours(24);
    let today = now.as_second().div_euclid(86_400) * 86_400;
    Timestamp::from_second(today).unwrap_or(now) - day * (CHART_DAYS as i32 - 1)
}

fn flag_count(counts: &Counts, flag: Flag) -> u64 {
    counts.by_flag.get(flag.as_str()).copied().unwrap_or(0) as u64
}

fn compute<R: InventoryReader>(store: &R, now: Timestamp) -> Result<Summary, DbError> {
    let day = SignedDuration::from_hours(24);
    let (counts, timeline) = store.consistent(|store| -> Result<_, DbError> {
        Ok((
            store.counts()?,
            store.timeline(chart_start(now), day, CHART_DAYS)?,
        ))
    })??;
    let (assets, unmanaged) = chart::series(
        &timeline,
        counts.seen as u64,
        flag_count(&counts, Flag::Unmanaged),
    );
    let last = timeline.start + day * (CHART_DAYS as i32 - 1);
    Ok(Summary {
        chart: chart::svg(timeline.start, last, &assets, &unmanaged),
        counts,
        taken: now,
    })
}

async fn recount(state: &Arc<State>) -> Result<Arc<Summary>, PageError> {
    let now = state.now();
    let started = Instant::now();
    let summary = Arc::new(
        state
            .readers
            .read(move |query| compute(query.store(), now))
            .await?,
    );
    *lock(&state.summaries.current) = Some((
        Instant::now(),
        fresh_for(started.elapsed()),
        Arc::clone(&summary),
    ));
    Ok(summary)
}

impl Summaries {
    /// Counts once at start, so that the first overview need not wait for it (a page asked
    /// for before this count ends makes its own).
    pub(crate) async fn warm(state: Arc<State>) {
        if state.summaries.recounting.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(error) = recount(&state).await {
            tracing::warn!(error = %hygie_proto::error_chain(&error), "console: cannot count the overview");
        }
        state.summaries.recounting.store(false, Ordering::Release);
    }

    /// The summary to show now (Invariants 1 and 2).
    pub(crate) async fn get(state: &Arc<State>) -> Result<Arc<Summary>, PageError> {
        let current = lock(&state.summaries.current).clone();
        let Some((computed, fresh, summary)) = current else {
            // The start's count is under way: wait for it rather than count twice.
            while state.summaries.recounting.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some((_, _, summary)) = lock(&state.summaries.current).clone() {
                    return Ok(summary);
                }
            }
            return recount(state).await;
        };
        if computed.elapsed() >= fresh && !state.summaries.recounting.swap(true, Ordering::AcqRel) {
            let state = Arc::clone(state);
            tokio::spawn(async move {
                if let Err(error) = recount(&state).await {
                    tracing::warn!(error = %hygie_proto::error_chain(&error), "console: cannot recount the overview");
                }
                state.summaries.recounting.store(false, Ordering::Release);
            });
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariant_2_a_count_stays_fresh_twenty_times_its_cost_between_a_second_and_a_minute() {
        let ms = Duration::from_millis;
        assert_eq!(
            fresh_for(ms(4)),
            Duration::from_secs(1),
            "a small inventory"
        );
        assert_eq!(fresh_for(ms(200)), Duration::from_secs(4));
        assert_eq!(
            fresh_for(ms(2_700)),
            Duration::from_secs(54),
            "a million assets"
        );
        assert_eq!(fresh_for(Duration::from_secs(10)), Duration::from_secs(60));
    }

    #[test]
    fn the_chart_starts_at_midnight_utc() {
        let now: Timestamp = "2026-11-30T15:04:05Z".parse().unwrap();
        assert_eq!(
            chart_start(now),
            "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
    }
}
