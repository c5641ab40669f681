//! Several real agents on one site, each following its own JSON-lines file, and the exact
//! account of what they produced ([`hygie_tests::tally`]).

use std::path::PathBuf;
use std::time::Duration;

use hygie_agent::outbox::{Outbox, OutboxStats};
use hygie_proto::{MacAddr, Observation};
use hygie_tests::observations::append_jsonl;
use hygie_tests::process::{Agent, AgentSpec, Collector};
use hygie_tests::tally::{self, Counts, Tally};
use hygie_tests::wait_until;

use crate::site::Site;

/// One agent of the fleet.
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) file: PathBuf,
    pub(crate) outbox: PathBuf,
    pub(crate) agent: Agent,
    produced: Vec<Observation>,
}

impl Member {
    /// Its outbox's statistics, read beside the running agent (`None` before it exists).
    pub(crate) fn stats(&self) -> Option<OutboxStats> {
        Outbox::open_read_only(&self.outbox)
            .and_then(|outbox| outbox.stats())
            .ok()
    }

    /// Whether it has read its whole file and holds nothing unacknowledged.
    pub(crate) fn drained(&self) -> bool {
        let Ok(length) = std::fs::metadata(&self.file).map(|meta| meta.len()) else {
            return false;
        };
        let Ok(outbox) = Outbox::open_read_only(&self.outbox) else {
            return false;
        };
        let read = outbox
            .source_position(&format!("file:{}", self.file.display()))
            .ok()
            .flatten()
            .map_or(0, |position| position.offset);
        read == length && outbox.stats().is_ok_and(|stats| stats.observations == 0)
    }
}

/// Agents named `names` of site `chu-test`, each following `<name>.jsonl`.
pub(crate) struct Fleet {
    pub(crate) members: Vec<Member>,
}

impl Fleet {
    /// Starts one agent per name; `configure` adjusts each specification (outbox size...).
    pub(crate) fn start(site: &Site, names: &[&str], configure: impl Fn(&mut AgentSpec)) -> Fleet {
        let members = names
            .iter()
            .map(|name| {
                let file = site.path(&format!("{name}.jsonl"));
                std::fs::write(&file, "").unwrap();
                let mut spec = AgentSpec::new(
                    site.pki.agent(name, "chu-test").unwrap(),
                    site.collector.port,
                    vec![(file.clone(), true)],
                );
                configure(&mut spec);
                let dir = site.path(name);
                let outbox = spec
                    .outbox_path
                    .clone()
                    .unwrap_or_else(|| dir.join("outbox.sqlite"));
                Member {
                    name: (*name).to_owned(),
                    file,
                    outbox,
                    agent: Agent::start(&dir, &spec).unwrap(),
                    produced: Vec::new(),
                }
            })
            .collect();
        Fleet { members }
    }

    /// Appends `observations` to member `index`'s file, and to what it produced.
    pub(crate) fn append(&mut self, index: usize, observations: &[Observation]) {
        let member = &mut self.members[index];
        append_jsonl(&member.file, observations).unwrap();
        member.produced.extend_from_slice(observations);
    }

    /// Every produced observation, by key.
    pub(crate) fn produced(&self) -> Counts {
        let mut counts = Counts::new();
        for member in &self.members {
            tally::add(&mut counts, &member.name, &member.produced);
        }
        counts
    }

    /// How many observations were produced.
    pub(crate) fn total(&self) -> u64 {
        self.members
            .iter()
            .map(|member| member.produced.len() as u64)
            .sum()
    }

    /// The distinct MACs produced: the assets the inventory must hold.
    pub(crate) fn macs(&self) -> std::collections::BTreeSet<MacAddr> {
        self.members
            .iter()
            .flat_map(|member| member.produced.iter().map(|observation| observation.mac))
            .collect()
    }

    /// Formed, unacknowledged batches over every outbox: batches in flight or waiting to go.
    pub(crate) fn unacked_batches(&self) -> u64 {
        self.members
            .iter()
            .filter_map(Member::stats)
            .map(|stats| stats.batches)
            .sum()
    }

    /// Whether every member read its whole file and has everything acknowledged.
    pub(crate) fn drained(&self) -> bool {
        self.members.iter().all(Member::drained)
    }

    /// Waits until every member is drained and the history holds as many rows as were
    /// produced; returns whether that happened within `timeout`. Then waits a moment more, so
    /// a straggling resend that would (wrongly) apply twice shows in the count.
    pub(crate) fn wait_delivered(&self, collector: &Collector, timeout: Duration) -> bool {
        let total = self.total();
        let done = wait_until(timeout, Duration::from_millis(200), || {
            self.drained() && collector.history_len() >= total
        });
        std::thread::sleep(Duration::from_millis(500));
        done
    }

    /// The history against what was produced.
    pub(crate) fn tally(&self, title: &str, collector: &Collector) -> Tally {
        let present = tally::history(&collector.database()).unwrap();
        Tally::compare(title, &self.produced(), &present)
    }

    /// Each member's outbox: its last formed sequence against the collector's cursor for it.
    pub(crate) fn cursors(&self, collector: &Collector) -> Vec<(String, u64, Option<u64>)> {
        let cursors = tally::cursors(&collector.database()).unwrap();
        self.members
            .iter()
            .map(|member| {
                let outbox = Outbox::open_read_only(&member.outbox).unwrap();
                let ours = outbox.last_sequence().unwrap();
                let theirs = cursors
                    .get(&(member.name.clone(), outbox.id().0.to_vec()))
                    .copied();
                (member.name.clone(), ours, theirs)
            })
            .collect()
    }

    /// The ends of every log, for failure messages.
    pub(crate) fn logs(&self, collector: &Collector) -> String {
        let mut text = format!("--- collector log (end) ---\n{}\n", tail(&collector.log()));
        for member in &self.members {
            text.push_str(&format!(
                "--- {} log (end) ---\n{}\n",
                member.name,
                tail(&member.agent.log())
            ));
        }
        text
    }
}

/// The last few thousand bytes of a log.
pub(crate) fn tail(text: &str) -> &str {
    const KEEP: usize = 6000;
    let mut start = text.len().saturating_sub(KEEP);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
