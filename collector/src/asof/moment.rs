//! The moment `--at` names, and the refusals: unreadable, in the future, a day not over yet,
//! before the history kept. Pure: the present is passed in.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::AsOfError;
use crate::asof::PastObservation;

/// A past moment to rebuild the inventory at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    at: Timestamp,
}

impl Moment {
    /// The moment `at`, unchecked (tests and callers that checked it themselves).
    pub fn new(at: Timestamp) -> Self {
        Moment { at }
    }

    /// The instant.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// Whether an observation was part of the inventory at the moment: made and received by
    /// then (Invariant 1).
    pub fn includes(&self, row: &PastObservation) -> bool {
        row.received_at <= self.at && row.observation.seen_at <= self.at
    }
}

/// Reads `--at`: an RFC 3339 time, or a date meaning the end of that day, UTC (its last
/// microsecond). Refuses a moment after `now`, and a date whose day is not over.
pub fn parse_at(text: &str, now: Timestamp) -> Result<Moment, AsOfError> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        if at > now {
            return Err(AsOfError::Future { asked: at, now });
        }
        return Ok(Moment { at });
    }
    let date: Date = text
        .parse()
        .map_err(|_| AsOfError::Unreadable(text.to_owned()))?;
    let unreadable = || AsOfError::Unreadable(text.to_owned());
    let next_day = date
        .tomorrow()
        .map_err(|_| unreadable())?
        .to_zoned(TimeZone::UTC)
        .map_err(|_| unreadable())?
        .timestamp();
    let end = next_day
        .checked_sub(SignedDuration::from_micros(1))
        .map_err(|_| unreadable())?;
    if end > now {
        return Err(
            if date
                .to_zoned(TimeZone::UTC)
                .is_ok_and(|start| start.timestamp() <= now)
            {
                AsOfError::DayNotOver { date, now }
            } else {
                AsOfError::Future { asked: end, now }
            },
        );
    }
    Ok(Moment { at: end })
}

/// What the store holds that bounds how far back a reconstruction can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryBounds {
    /// The collector's first record: its first event or observation, whichever is older.
    pub first_record: Option<Timestamp>,
    /// When the oldest observation still kept was received.
    pub oldest_kept: Option<Timestamp>,
    /// Whether observations were pruned.
    pub pruned: bool,
}

impl HistoryBounds {
    /// The earliest moment a reconstruction can show.
    pub fn earliest(&self) -> Result<Timestamp, AsOfError> {
        if self.pruned {
            self.oldest_kept.ok_or(AsOfError::NoHistory)
        } else {
            self.first_record.ok_or(AsOfError::NoRecord)
        }
    }

    /// Refuses a moment before [`HistoryBounds::earliest`].
    pub fn admit(&self, moment: &Moment) -> Result<(), AsOfError> {
        let earliest = self.earliest()?;
        if moment.at < earliest {
            return Err(AsOfError::BeforeHistory {
                asked: moment.at,
                earliest,
                pruned: self.pruned,
            });
        }
        Ok(())
    }
}
