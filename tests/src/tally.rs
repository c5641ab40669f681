//! Exact accounting for the fault tests: what was produced against what the collector's
//! history holds, observation by observation, keyed by (agent, MAC, seen_at). A test ends with
//! [`Tally::assert_exact`], which prints the table and, on failure, names the observations
//! missing, duplicated or unexpected.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hygie_proto::{MacAddr, Observation, pb};
use prost::Message;
use rusqlite::{Connection, OpenFlags};

/// One observation as the history stores it: seen_at in microseconds, as the collector keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The reporting agent's name.
    pub agent: String,
    /// The device.
    pub mac: MacAddr,
    /// When it was seen, in microseconds since the epoch.
    pub seen_at: i64,
}

impl Key {
    /// The key `agent`'s `observation` has in the history.
    pub fn of(agent: &str, observation: &Observation) -> Key {
        Key {
            agent: agent.to_owned(),
            mac: observation.mac,
            seen_at: observation.seen_at.as_microsecond(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = jiff::Timestamp::from_microsecond(self.seen_at)
            .map_or_else(|_| format!("{}µs", self.seen_at), |at| at.to_string());
        write!(f, "{} {} at {at}", self.agent, self.mac)
    }
}

/// How many times each observation occurs.
pub type Counts = BTreeMap<Key, u64>;

/// Adds each of `agent`'s `observations` once.
pub fn add(counts: &mut Counts, agent: &str, observations: &[Observation]) {
    for observation in observations {
        *counts.entry(Key::of(agent, observation)).or_default() += 1;
    }
}

/// How many observations `counts` holds, copies included.
pub fn rows(counts: &Counts) -> u64 {
    counts.values().sum()
}

fn read_only(database: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// Every row of the collector's observation history, counted by key.
pub fn history(database: &Path) -> rusqlite::Result<Counts> {
    let connection = read_only(database)?;
    let mut statement = connection.prepare(
        "SELECT agents.name, observations.mac, observations.seen_at
         FROM observations JOIN agents ON agents.id = observations.agent_id",
    )?;
    let mut counts = Counts::new();
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (agent, mac, seen_at) = row?;
        let mac = MacAddr::from_u64(mac.unsigned_abs());
        *counts
            .entry(Key {
                agent,
                mac,
                seen_at,
            })
            .or_default() += 1;
    }
    Ok(counts)
}

/// Each outbox's highest committed sequence, by (agent name, outbox id).
pub fn cursors(database: &Path) -> rusqlite::Result<BTreeMap<(String, Vec<u8>), u64>> {
    let connection = read_only(database)?;
    let mut statement = connection.prepare(
        "SELECT agents.name, outbox_cursors.outbox_id, outbox_cursors.sequence
         FROM outbox_cursors JOIN agents ON agents.id = outbox_cursors.agent_id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            (row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?),
            row.get::<_, i64>(2)?.unsigned_abs(),
        ))
    })?;
    rows.collect()
}

/// The observations of an outbox's formed batches up to sequence `up_to` (all if `None`),
/// counted by key under `agent`. Needs the batches still in the file (`keep_acked`).
pub fn outbox_batches(
    outbox: &Path,
    agent: &str,
    up_to: Option<u64>,
) -> Result<Counts, Box<dyn std::error::Error>> {
    let connection = read_only(outbox)?;
    let mut statement = connection.prepare(
        "SELECT pending.payload FROM batches JOIN pending
           ON pending.id BETWEEN batches.first_id AND batches.last_id
         WHERE batches.sequence <= ?1",
    )?;
    let limit = up_to.map_or(i64::MAX, |sequence| {
        i64::try_from(sequence).unwrap_or(i64::MAX)
    });
    let mut counts = Counts::new();
    let payloads = statement.query_map([limit], |row| row.get::<_, Vec<u8>>(0))?;
    for payload in payloads {
        let observation = Observation::try_from(pb::Observation::decode(payload?.as_slice())?)?;
        *counts.entry(Key::of(agent, &observation)).or_default() += 1;
    }
    Ok(counts)
}

/// Every observation an outbox holds, batched or not, acknowledged or not, counted by key
/// under `agent`.
pub fn outbox_pending(outbox: &Path, agent: &str) -> Result<Counts, Box<dyn std::error::Error>> {
    let connection = read_only(outbox)?;
    let mut statement = connection.prepare("SELECT payload FROM pending")?;
    let mut counts = Counts::new();
    let payloads = statement.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
    for payload in payloads {
        let observation = Observation::try_from(pb::Observation::decode(payload?.as_slice())?)?;
        *counts.entry(Key::of(agent, &observation)).or_default() += 1;
    }
    Ok(counts)
}

/// One line of the table: produced against present for one agent, or for all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    /// Observations produced (expected in the history).
    pub produced: u64,
    /// Rows present in the history.
    pub present: u64,
    /// Produced but absent (counting each missing copy).
    pub missing: u64,
    /// Present more often than produced: extra copies.
    pub duplicates: u64,
    /// Present but never produced.
    pub unexpected: u64,
}

impl Line {
    fn exact(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.unexpected == 0
    }
}

/// Produced against present, per agent and in total, with examples of what differs.
#[derive(Debug, Clone)]
pub struct Tally {
    title: String,
    per_agent: BTreeMap<String, Line>,
    total: Line,
    missing: Vec<(Key, u64)>,
    duplicated: Vec<(Key, u64)>,
    unexpected: Vec<(Key, u64)>,
    figures: Vec<(String, String)>,
}

/// How many differing observations a failure lists by name.
const EXAMPLES: usize = 20;

impl Tally {
    /// Compares `present` (the history) with `produced`.
    pub fn compare(title: &str, produced: &Counts, present: &Counts) -> Tally {
        let mut tally = Tally {
            title: title.to_owned(),
            per_agent: BTreeMap::new(),
            total: Line::default(),
            missing: Vec::new(),
            duplicated: Vec::new(),
            unexpected: Vec::new(),
            figures: Vec::new(),
        };
        let keys: std::collections::BTreeSet<&Key> =
            produced.keys().chain(present.keys()).collect();
        for key in keys {
            let want = produced.get(key).copied().unwrap_or(0);
            let have = present.get(key).copied().unwrap_or(0);
            let line = tally.per_agent.entry(key.agent.clone()).or_default();
            line.produced += want;
            line.present += have;
            if want == 0 {
                line.unexpected += have;
                tally.unexpected.push((key.clone(), have));
            } else if have < want {
                line.missing += want - have;
                tally.missing.push((key.clone(), want - have));
            } else if have > want {
                line.duplicates += have - want;
                tally.duplicated.push((key.clone(), have - want));
            }
        }
        for line in tally.per_agent.values() {
            tally.total.produced += line.produced;
            tally.total.present += line.present;
            tally.total.missing += line.missing;
            tally.total.duplicates += line.duplicates;
            tally.total.unexpected += line.unexpected;
        }
        tally
    }

    /// Adds a figure printed under the table (a seed, a number of kills, a duration).
    pub fn figure(mut self, name: &str, value: impl std::fmt::Display) -> Tally {
        self.figures.push((name.to_owned(), value.to_string()));
        self
    }

    /// The totals.
    pub fn total(&self) -> &Line {
        &self.total
    }

    /// Whether every produced observation is present exactly once and nothing else is.
    pub fn is_exact(&self) -> bool {
        self.total.exact()
    }

    /// The table, then the figures.
    pub fn table(&self) -> String {
        let mut text = format!("== {} ==\n", self.title);
        let _ = writeln!(
            text,
            "{:<16} {:>9} {:>9} {:>8} {:>10} {:>10}",
            "agent", "produced", "present", "missing", "duplicates", "unexpected"
        );
        let mut line = |name: &str, line: &Line| {
            let _ = writeln!(
                text,
                "{name:<16} {:>9} {:>9} {:>8} {:>10} {:>10}",
                line.produced, line.present, line.missing, line.duplicates, line.unexpected
            );
        };
        for (agent, counts) in &self.per_agent {
            line(agent, counts);
        }
        line("total", &self.total);
        for (name, value) in &self.figures {
            let _ = writeln!(text, "{name}: {value}");
        }
        text
    }

    /// The table and, for each kind of difference, the first few observations concerned.
    pub fn report(&self) -> String {
        let mut text = self.table();
        for (what, list) in [
            ("missing", &self.missing),
            ("duplicated (extra copies)", &self.duplicated),
            ("unexpected", &self.unexpected),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(text, "{what}: {} observations, first ones:", list.len());
            for (key, count) in list.iter().take(EXAMPLES) {
                let _ = writeln!(text, "  {key} ×{count}");
            }
        }
        text
    }

    /// Prints the table; panics with the report (and `context`, e.g. logs) unless exact.
    pub fn assert_exact(&self, context: impl FnOnce() -> String) {
        eprintln!("{}", self.table());
        assert!(self.is_exact(), "{}\n{}", self.report(), context());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(agent: &str, mac: u64, seen_at: i64) -> Key {
        Key {
            agent: agent.into(),
            mac: MacAddr::from_u64(mac),
            seen_at,
        }
    }

    #[test]
    fn a_tally_counts_missing_duplicated_and_unexpected_observations() {
        let produced: Counts = [
            (key("a", 1, 1), 1),
            (key("a", 2, 1), 1),
            (key("b", 1, 1), 1),
        ]
        .into_iter()
        .collect();
        let present: Counts = [
            (key("a", 1, 1), 3),
            (key("b", 1, 1), 1),
            (key("b", 9, 9), 1),
        ]
        .into_iter()
        .collect();
        let tally = Tally::compare("t", &produced, &present);
        assert_eq!(
            *tally.total(),
            Line {
                produced: 3,
                present: 5,
                missing: 1,
                duplicates: 2,
                unexpected: 1
            }
        );
        assert!(!tally.is_exact());
        let report = tally.report();
        assert!(report.contains("a 00:00:00:00:00:02"), "{report}");
        assert!(Tally::compare("t", &produced, &produced).is_exact());
    }
}
