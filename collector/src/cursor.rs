//! Which batches of one agent outbox are committed: the idempotency of ingest.
//!
//! An outbox numbers its batches 1, 2, 3… and the collector must apply each exactly once,
//! however often an agent resends it (a lost Ack, a crash after the commit). Sequences are not
//! dense on the wire: a batch the agent set aside, or evicted when its disk was full, is never
//! sent, so the collector may commit 7 right after 4. Taking "at or below the highest
//! committed" as "already committed" would then call a late 5 a duplicate and lose it.
//!
//! So a cursor is the highest committed sequence *and* the gaps below it that were never
//! committed. A batch in a gap is new and is applied (filling its place); only a sequence that
//! was really committed is acknowledged as a duplicate. Gaps are few in practice (each is a
//! batch an agent gave up on); at most [`MAX_GAPS`] are kept per outbox, the oldest forgotten
//! first, which only matters to a batch resent after [`MAX_GAPS`] newer gaps: it is then taken
//! for a duplicate.

use std::fmt;
use std::str::FromStr;

/// Gaps kept per outbox.
pub const MAX_GAPS: usize = 256;

/// The committed sequences of one outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedSequences {
    high: u64,
    /// Inclusive ranges never committed, sorted, disjoint, all below `high`.
    gaps: Vec<(u64, u64)>,
}

impl CommittedSequences {
    /// Nothing committed yet.
    pub fn new() -> Self {
        CommittedSequences::default()
    }

    /// Everything up to `high` committed (a cursor from before gaps were tracked).
    pub fn up_to(high: u64) -> Self {
        CommittedSequences {
            high,
            gaps: Vec::new(),
        }
    }

    /// The highest committed sequence (0 if none).
    pub fn high(&self) -> u64 {
        self.high
    }

    /// The never-committed ranges below [`CommittedSequences::high`].
    pub fn gaps(&self) -> &[(u64, u64)] {
        &self.gaps
    }

    /// Whether `sequence` was committed.
    pub fn contains(&self, sequence: u64) -> bool {
        sequence != 0
            && sequence <= self.high
            && !self
                .gaps
                .iter()
                .any(|&(first, last)| first <= sequence && sequence <= last)
    }

    /// Records `sequence` as committed.
    pub fn insert(&mut self, sequence: u64) {
        if sequence == 0 || self.contains(sequence) {
            return;
        }
        if sequence > self.high {
            if sequence > self.high + 1 {
                self.gaps.push((self.high + 1, sequence - 1));
                if self.gaps.len() > MAX_GAPS {
                    self.gaps.remove(0);
                }
            }
            self.high = sequence;
            return;
        }
        let Some(index) = self
            .gaps
            .iter()
            .position(|&(first, last)| first <= sequence && sequence <= last)
        else {
            return;
        };
        let (first, last) = self.gaps[index];
        match (first == sequence, last == sequence) {
            (true, true) => {
                self.gaps.remove(index);
            }
            (true, false) => self.gaps[index].0 = sequence + 1,
            (false, true) => self.gaps[index].1 = sequence - 1,
            (false, false) => {
                self.gaps[index].1 = sequence - 1;
                self.gaps.insert(index + 1, (sequence + 1, last));
            }
        }
    }
}

/// The stored form of the gaps: `3-5,9-9` (empty when there are none).
impl fmt::Display for CommittedSequences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (first, last)) in self.gaps.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}-{last}")?;
        }
        Ok(())
    }
}

/// Stored gaps that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor gaps {0:?}")]
pub struct InvalidGaps(pub String);

impl CommittedSequences {
    /// Rebuilds a cursor from its stored high mark and gaps.
    pub fn from_stored(high: u64, gaps: &str) -> Result<Self, InvalidGaps> {
        let invalid = || InvalidGaps(gaps.chars().take(80).collect());
        let mut parsed: Vec<(u64, u64)> = Vec::new();
        for range in gaps.split(',').filter(|range| !range.is_empty()) {
            let (first, last) = range.split_once('-').ok_or_else(invalid)?;
            let (first, last) = (
                u64::from_str(first).map_err(|_| invalid())?,
                u64::from_str(last).map_err(|_| invalid())?,
            );
            let after_previous = parsed.last().is_none_or(|&(_, end)| first > end + 1);
            if first == 0 || first > last || last >= high || !after_previous {
                return Err(invalid());
            }
            parsed.push((first, last));
        }
        Ok(CommittedSequences { high, gaps: parsed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_sequences_have_no_gaps() {
        let mut committed = CommittedSequences::new();
        for sequence in 1..=5 {
            assert!(!committed.contains(sequence));
            committed.insert(sequence);
        }
        assert!(committed.contains(3));
        assert_eq!(committed.high(), 5);
        assert!(committed.gaps().is_empty());
        assert!(!committed.contains(0) && !committed.contains(6));
    }

    #[test]
    fn a_skipped_batch_is_not_a_duplicate_when_it_comes_late() {
        let mut committed = CommittedSequences::new();
        committed.insert(1);
        committed.insert(4);
        assert!(!committed.contains(2) && !committed.contains(3));
        assert_eq!(committed.to_string(), "2-3");
        committed.insert(3);
        assert!(committed.contains(3) && !committed.contains(2));
        assert_eq!(committed.to_string(), "2-2");
        committed.insert(2);
        assert!(committed.gaps().is_empty());
    }

    #[test]
    fn filling_the_middle_of_a_gap_splits_it() {
        let mut committed = CommittedSequences::up_to(1);
        committed.insert(10);
        committed.insert(5);
        assert_eq!(committed.to_string(), "2-4,6-9");
        let stored = CommittedSequences::from_stored(committed.high(), &committed.to_string());
        assert_eq!(stored, Ok(committed));
    }

    #[test]
    fn the_oldest_gaps_are_forgotten_first() {
        let mut committed = CommittedSequences::new();
        for index in 0..=MAX_GAPS as u64 {
            committed.insert(2 * index + 2);
        }
        assert_eq!(committed.gaps().len(), MAX_GAPS);
        assert!(committed.contains(1), "the oldest gap was forgotten");
        assert!(!committed.contains(3));
    }

    #[test]
    fn corrupt_stored_gaps_are_refused() {
        for gaps in ["x", "3", "5-3", "0-1", "2-10", "2-3,3-4", "4-5,2-3"] {
            assert!(CommittedSequences::from_stored(10, gaps).is_err(), "{gaps}");
        }
        assert!(CommittedSequences::from_stored(10, "").is_ok());
    }
}
