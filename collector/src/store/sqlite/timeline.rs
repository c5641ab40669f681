//! How many assets appeared, and how many were flagged or cleared `unmanaged`, per time bucket:
//! the console's chart of the inventory over time. Each count reads one partial index of the
//! events (migration 9) over the window only, never the events table.

use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;

use super::{SqliteStore, micros};
use crate::store::StoreError;

/// Counts of one bucket of a [`Timeline`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimelineBucket {
    /// Assets seen for the first time.
    pub new_assets: u64,
    /// `unmanaged` raised.
    pub unmanaged_raised: u64,
    /// `unmanaged` cleared.
    pub unmanaged_cleared: u64,
}

/// Event counts per bucket from `start`, oldest first; events at or after `start +
/// buckets × width` (the clock moved on) count in the last bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Start of the first bucket.
    pub start: Timestamp,
    /// Width of each bucket.
    pub width: SignedDuration,
    /// The buckets.
    pub buckets: Vec<TimelineBucket>,
}

impl Timeline {
    /// Every count after (and including) bucket `index`: what happened since its start.
    pub fn since(&self, index: usize) -> TimelineBucket {
        self.buckets
            .iter()
            .skip(index)
            .fold(TimelineBucket::default(), |sum, bucket| TimelineBucket {
                new_assets: sum.new_assets + bucket.new_assets,
                unmanaged_raised: sum.unmanaged_raised + bucket.unmanaged_raised,
                unmanaged_cleared: sum.unmanaged_cleared + bucket.unmanaged_cleared,
            })
    }
}

/// Per bucket counts of the events matching `condition` (the exact WHERE of a partial index).
fn per_bucket(
    connection: &Connection,
    condition: &str,
    start: i64,
    width: i64,
    count: usize,
    mut each: impl FnMut(&mut TimelineBucket, u64),
    buckets: &mut [TimelineBucket],
) -> Result<(), StoreError> {
    let context = "reading the timeline";
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT (at - ?1) / ?2 AS bucket, count(*) FROM events
             WHERE {condition} AND at >= ?1 GROUP BY bucket"
        ))
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement
        .query([start, width])
        .map_err(StoreError::sqlite(context))?;
    while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
        let bucket: i64 = row.get(0).map_err(StoreError::sqlite(context))?;
        let events: i64 = row.get(1).map_err(StoreError::sqlite(context))?;
        let index = usize::try_from(bucket)
            .unwrap_or(0)
            .min(count.saturating_sub(1));
        if let Some(slot) = buckets.get_mut(index) {
            each(slot, u64::try_from(events).unwrap_or(0));
        }
    }
    Ok(())
}

/// Adds a count to the field of a bucket its query counts.
type AddCount = fn(&mut TimelineBucket, u64);

impl SqliteStore {
    /// `buckets` buckets of `width` from `start`.
    pub(super) fn read_timeline(
        &self,
        start: Timestamp,
        width: SignedDuration,
        buckets: usize,
    ) -> Result<Timeline, StoreError> {
        let width_micros = i64::try_from(width.as_micros()).unwrap_or(i64::MAX).max(1);
        let mut counts = vec![TimelineBucket::default(); buckets];
        let start_micros = micros(start);
        let conditions: [(&str, AddCount); 3] = [
            ("kind = 'asset_new'", |b, n| b.new_assets += n),
            (
                "kind = 'flag_raised' AND details = '{\"flag\":\"unmanaged\"}'",
                |b, n| b.unmanaged_raised += n,
            ),
            (
                "kind = 'flag_cleared' AND details = '{\"flag\":\"unmanaged\"}'",
                |b, n| b.unmanaged_cleared += n,
            ),
        ];
        for (condition, add) in conditions {
            per_bucket(
                &self.connection,
                condition,
                start_micros,
                width_micros,
                buckets,
                add,
                &mut counts,
            )?;
        }
        Ok(Timeline {
            start,
            width,
            buckets: counts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{EventKind, NewEvent};

    #[test]
    fn the_timeline_reads_its_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.sqlite");
        let store = SqliteStore::open_writer(&path, crate::store::Durability::Normal).unwrap();
        let day = SignedDuration::from_hours(24);
        let start: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let at = |days: i64| {
            start + SignedDuration::from_hours(24 * days) + SignedDuration::from_secs(5)
        };
        let flag = |flag: &str| serde_json::json!({ "flag": flag });
        let events = [
            NewEvent::new(at(-1), None, EventKind::AssetNew, &serde_json::json!({})),
            NewEvent::new(at(0), None, EventKind::AssetNew, &serde_json::json!({})),
            NewEvent::new(at(0), None, EventKind::FlagRaised, &flag("unmanaged")),
            NewEvent::new(at(0), None, EventKind::FlagRaised, &flag("new")),
            NewEvent::new(at(2), None, EventKind::FlagCleared, &flag("unmanaged")),
            NewEvent::new(at(9), None, EventKind::AssetNew, &serde_json::json!({})),
        ];
        super::super::events::append(&store.connection, &events, None).unwrap();
        let timeline = store.read_timeline(start, day, 3).unwrap();
        assert_eq!(timeline.buckets.len(), 3);
        assert_eq!(timeline.buckets[0].new_assets, 1);
        assert_eq!(timeline.buckets[0].unmanaged_raised, 1);
        assert_eq!(timeline.buckets[2].unmanaged_cleared, 1);
        assert_eq!(timeline.buckets[2].new_assets, 1, "later events count last");
        assert_eq!(timeline.since(1).unmanaged_cleared, 1);
        let plan: String = store
            .connection
            .query_row(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM events WHERE kind = 'asset_new' AND at >= 0",
                [],
                |row| row.get(3),
            )
            .unwrap();
        assert!(plan.contains("events_asset_new"), "{plan}");
    }
}
