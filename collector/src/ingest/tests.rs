//! The writer's logic against an in-memory store: group commits, replays, failures.

use std::collections::HashMap;
use std::sync::Mutex;

use hygie_proto::{MacAddr, Observation, Source};

use super::*;
use crate::cursor::CommittedSequences;
use crate::inventory::Inventory;
use crate::store::{Commit, RegistrySnapshot};

/// What the fake database holds.
#[derive(Default)]
struct Shelf {
    inventory: Inventory,
    cursors: HashMap<(AgentId, OutboxId), CommittedSequences>,
    history: usize,
    events: usize,
    event_kinds: Vec<crate::audit::EventKind>,
    commits: usize,
    fail_commits: usize,
    /// Makes each commit slow, so submissions pile up behind it.
    commit_delay: std::time::Duration,
    /// The registry the command line keeps.
    registry: RegistrySnapshot,
    /// The verdicts' state, as last committed.
    verdict_state: crate::inventory::verdict::VerdictState,
    /// Every commit's verdict rows: (written, removed, state recorded).
    verdict_commits: Vec<VerdictCommit>,
}

/// What one commit wrote of the verdicts.
#[derive(Debug, Clone)]
struct VerdictCommit {
    written: Vec<crate::inventory::verdict::Verdict>,
    removed: Vec<MacAddr>,
    state: Option<crate::inventory::verdict::VerdictState>,
}

#[derive(Clone, Default)]
struct MemoryStore(Arc<Mutex<Shelf>>);

impl InventoryWriter for MemoryStore {
    fn verdict_state(&self) -> Result<crate::inventory::verdict::VerdictState, StoreError> {
        Ok(self.0.lock().unwrap().verdict_state.clone())
    }

    fn load_inventory(&self) -> Result<Inventory, StoreError> {
        Ok(self.0.lock().unwrap().inventory.clone())
    }

    fn load_cursors(&self) -> Result<HashMap<(AgentId, OutboxId), CommittedSequences>, StoreError> {
        Ok(self.0.lock().unwrap().cursors.clone())
    }

    fn agent_sites(&self) -> Result<HashMap<AgentId, String>, StoreError> {
        Ok(HashMap::from([(1, "chu".to_owned())]))
    }

    fn register_agent(
        &mut self,
        _identity: &AgentIdentity,
        _hello: &AgentHello,
        _now: Timestamp,
    ) -> Result<AgentId, StoreError> {
        Ok(1)
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let mut shelf = self.0.lock().unwrap();
        std::thread::sleep(shelf.commit_delay);
        if shelf.fail_commits > 0 {
            shelf.fail_commits -= 1;
            return Err(StoreError::Corrupt("disk full (simulated)".into()));
        }
        shelf.inventory = commit.inventory.clone();
        for cursor in commit.cursors {
            shelf.cursors.insert(
                (cursor.agent, cursor.outbox),
                CommittedSequences::from_stored(cursor.sequence, &cursor.gaps).unwrap(),
            );
        }
        shelf.history += commit.history.len();
        shelf.events += commit.events.len();
        shelf
            .event_kinds
            .extend(commit.events.iter().map(|event| event.kind));
        shelf.commits += 1;
        if let Some(state) = commit.verdict_state {
            shelf.verdict_state = state.clone();
        }
        shelf.verdict_commits.push(VerdictCommit {
            written: commit.verdicts.to_vec(),
            removed: commit.verdicts_removed.to_vec(),
            state: commit.verdict_state.cloned(),
        });
        Ok(())
    }

    fn prune_history(&mut self, _: Retention, _: Timestamp) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn load_registry(&self) -> Result<RegistrySnapshot, StoreError> {
        Ok(self.0.lock().unwrap().registry.clone())
    }

    fn registry_generation(&self) -> Result<i64, StoreError> {
        Ok(self.0.lock().unwrap().registry.generation)
    }

    fn load_policies(&self) -> Result<Vec<crate::store::PublishedPolicy>, StoreError> {
        Ok(Vec::new())
    }

    fn load_overrides(&self) -> Result<crate::policy::OverrideSnapshot, StoreError> {
        Ok(crate::policy::OverrideSnapshot::default())
    }

    fn override_generation(&self) -> Result<i64, StoreError> {
        Ok(0)
    }
}

fn fixed_clock() -> Clock {
    Arc::new(|| "2026-11-25T10:00:00Z".parse().unwrap())
}

fn batch(sequence: u64, first_mac: u64, count: u64) -> ObservationBatch {
    let observations = (first_mac..first_mac + count)
        .map(|mac| {
            Observation::new(
                MacAddr::from_u64(0x0009_5c00_0000 + mac),
                "2026-11-25T09:59:00Z".parse().unwrap(),
                Source::ArpPassive,
            )
        })
        .collect();
    ObservationBatch {
        sequence,
        observations,
    }
}

const OUTBOX: OutboxId = OutboxId([9; 16]);

/// Submits a batch and waits for its commit.
async fn commit(
    ingest: &IngestHandle,
    outbox: OutboxId,
    batch: ObservationBatch,
) -> Result<BatchOutcome, IngestError> {
    ingest
        .session(1, outbox)
        .submit(batch)
        .await?
        .await
        .unwrap()
}

fn start_with(store: &MemoryStore, settings: WriterSettings) -> (IngestHandle, WriterThread) {
    start_writer(
        store.clone(),
        settings,
        crate::classify::Rules::defaults().unwrap(),
        crate::policy::PolicyChannels::new(),
        fixed_clock(),
        crate::metrics::IngestMetrics::default(),
    )
    .unwrap()
}

fn start(store: &MemoryStore) -> (IngestHandle, WriterThread) {
    start_with(store, WriterSettings::default())
}

#[tokio::test]
async fn committed_batches_are_acknowledged_with_their_counts() {
    let store = MemoryStore::default();
    let (ingest, writer) = start(&store);
    let outcome = commit(&ingest, OUTBOX, batch(1, 0, 3)).await.unwrap();
    assert_eq!(
        outcome,
        BatchOutcome {
            sequence: 1,
            accepted: 3,
            refused_new_assets: 0,
            duplicate: false
        }
    );
    drop(ingest);
    writer.join();
    let shelf = store.0.lock().unwrap();
    assert_eq!(shelf.inventory.len(), 3);
    assert_eq!(shelf.history, 3);
    assert_eq!(shelf.cursors[&(1, OUTBOX)].high(), 1);
}

#[tokio::test]
async fn a_replayed_batch_is_acknowledged_but_counted_once() {
    let store = MemoryStore::default();
    let (ingest, writer) = start(&store);
    for _ in 0..3 {
        commit(&ingest, OUTBOX, batch(1, 0, 2)).await.unwrap();
    }
    let replay = commit(&ingest, OUTBOX, batch(1, 0, 2)).await.unwrap();
    assert!(replay.duplicate);
    assert_eq!(replay.accepted, 0);
    // The same sequence from another outbox of the same agent is new.
    let other = commit(&ingest, OutboxId([1; 16]), batch(1, 10, 2))
        .await
        .unwrap();
    assert!(!other.duplicate);
    drop(ingest);
    writer.join();
    assert_eq!(store.0.lock().unwrap().history, 4);
}

#[tokio::test]
async fn cursors_survive_a_restart() {
    let store = MemoryStore::default();
    let (ingest, writer) = start(&store);
    commit(&ingest, OUTBOX, batch(5, 0, 1)).await.unwrap();
    drop(ingest);
    writer.join();

    let (ingest, writer) = start(&store);
    let replay = commit(&ingest, OUTBOX, batch(5, 0, 1)).await.unwrap();
    assert!(replay.duplicate);
    drop(ingest);
    writer.join();
}

#[tokio::test]
async fn a_failed_commit_is_reported_and_the_retry_applies_cleanly() {
    let store = MemoryStore::default();
    let (ingest, writer) = start(&store);
    // After start: the writer's first commit records the site's policy.
    store.0.lock().unwrap().fail_commits = 1;

    let failed = commit(&ingest, OUTBOX, batch(1, 0, 2)).await;
    assert!(matches!(failed, Err(IngestError::Store(_))));
    // The agent resends the same batch: it must not be mistaken for a replay.
    let retried = commit(&ingest, OUTBOX, batch(1, 0, 2)).await;
    assert_eq!(retried.unwrap().accepted, 2);
    drop(ingest);
    writer.join();
    let shelf = store.0.lock().unwrap();
    assert_eq!(shelf.history, 2);
    assert_eq!(shelf.inventory.len(), 2);
}

#[tokio::test]
async fn queued_batches_share_one_commit() {
    let store = MemoryStore::default();
    store.0.lock().unwrap().commit_delay = std::time::Duration::from_millis(20);
    let (ingest, writer) = start(&store);
    // Queue many batches before awaiting any outcome: the writer groups what is waiting.
    let session = ingest.session(1, OUTBOX);
    let mut pending = Vec::new();
    for sequence in 1..=16 {
        pending.push(
            session
                .submit(batch(sequence, sequence * 10, 10))
                .await
                .unwrap(),
        );
    }
    for answer in pending {
        answer.await.unwrap().unwrap();
    }
    drop((session, ingest));
    writer.join();
    let shelf = store.0.lock().unwrap();
    assert_eq!(shelf.history, 160);
    assert!(
        shelf.commits < 16,
        "{} commits for 16 batches",
        shelf.commits
    );
}

#[tokio::test]
async fn batches_queued_behind_a_failed_commit_are_fenced_not_applied() {
    let store = MemoryStore::default();
    let (ingest, writer) = start(&store);
    {
        let mut shelf = store.0.lock().unwrap();
        shelf.fail_commits = 1;
        // Slow commits, so batch 2 is queued while batch 1 fails.
        shelf.commit_delay = std::time::Duration::from_millis(50);
    }
    let session = ingest.session(1, OUTBOX);
    let first = session.submit(batch(1, 0, 2)).await.unwrap();
    let second = session.submit(batch(2, 10, 2)).await.unwrap();
    assert!(matches!(first.await.unwrap(), Err(IngestError::Store(_))));
    // Had batch 2 committed, the cursor would pass batch 1 and its resend would be "a replay".
    // It failed with batch 1's group, or was fenced in the next one.
    assert!(second.await.unwrap().is_err());
    assert!(session.is_fenced());

    // The agent reconnects (a new session) and resends both, in order.
    let retry = ingest.session(1, OUTBOX);
    let again_first = retry.submit(batch(1, 0, 2)).await.unwrap();
    let again_second = retry.submit(batch(2, 10, 2)).await.unwrap();
    assert!(!again_first.await.unwrap().unwrap().duplicate);
    assert!(!again_second.await.unwrap().unwrap().duplicate);
    drop((session, retry, ingest));
    writer.join();
    assert_eq!(
        store.0.lock().unwrap().history,
        4,
        "nothing lost, nothing twice"
    );
}

#[tokio::test]
async fn registration_reports_the_outbox_cursor() {
    let store = MemoryStore::default();
    let (ingest, writer) = start(&store);
    commit(&ingest, OUTBOX, batch(7, 0, 1)).await.unwrap();
    let hello = AgentHello {
        agent_version: "test".into(),
        hostname: "host".into(),
        interfaces: vec![],
        outbox_id: OUTBOX,
    };
    let identity = AgentIdentity::new("ward-3", "chu").unwrap();
    let registration = ingest.register(identity, hello).await.unwrap();
    assert_eq!(registration.last_committed, 7);
    drop(ingest);
    writer.join();
}

#[tokio::test]
async fn a_flooding_session_does_not_hold_a_quiet_one_back() {
    let store = MemoryStore::default();
    let settings = WriterSettings {
        max_group_observations: 5_000,
        ..WriterSettings::default()
    };
    let (ingest, writer) = start_with(&store, settings);
    let flood = ingest.session(1, OUTBOX);
    let quiet = ingest.session(1, OutboxId([2; 16]));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut answers = Vec::new();
    for sequence in 1..=16 {
        let answer = flood
            .submit(batch(sequence, sequence * 5_000, 5_000))
            .await
            .unwrap();
        answers.push((format!("flood {sequence}"), answer));
    }
    let quiet_batch = batch(1, 1_000_000, 1);
    let committed_before = store.0.lock().unwrap().commits;
    answers.push(("quiet".to_owned(), quiet.submit(quiet_batch).await.unwrap()));
    let waiters: Vec<_> = answers
        .into_iter()
        .map(|(name, answer)| {
            let order = Arc::clone(&order);
            tokio::spawn(async move {
                answer.await.unwrap().unwrap();
                order.lock().unwrap().push(name);
            })
        })
        .collect();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    let quiet_at = order.iter().position(|name| name == "quiet").unwrap();
    // Groups hold one flood batch each: in arrival order the quiet batch would come last; taking
    // sessions in turn commits it at most two groups after it arrives (one may be under way).
    assert!(
        quiet_at <= committed_before + 2,
        "{committed_before} before: {order:?}"
    );
    drop((flood, quiet, ingest));
    writer.join();
}

#[tokio::test]
async fn new_assets_over_the_quota_are_refused_counted_and_recorded_once() {
    let store = MemoryStore::default();
    let settings = WriterSettings {
        quotas: QuotaLimits {
            new_assets_per_agent_per_hour: 2,
            ..QuotaLimits::default()
        },
        ..WriterSettings::default()
    };
    let (ingest, writer) = start_with(&store, settings);
    let first = commit(&ingest, OUTBOX, batch(1, 0, 5)).await.unwrap();
    assert_eq!((first.accepted, first.refused_new_assets), (2, 3));
    let second = commit(&ingest, OUTBOX, batch(2, 100, 5)).await.unwrap();
    assert_eq!((second.accepted, second.refused_new_assets), (0, 5));
    // Known devices are still applied.
    let known = commit(&ingest, OUTBOX, batch(3, 0, 2)).await.unwrap();
    assert_eq!((known.accepted, known.refused_new_assets), (2, 0));
    drop(ingest);
    writer.join();
    let shelf = store.0.lock().unwrap();
    assert_eq!(shelf.inventory.len(), 2);
    assert_eq!(
        shelf.history, 4,
        "refused observations are not in the history"
    );
    let recorded = shelf
        .event_kinds
        .iter()
        .filter(|kind| **kind == crate::audit::EventKind::AssetQuotaReached)
        .count();
    assert_eq!(recorded, 1, "one event per agent per hour");
}

#[tokio::test]
async fn a_policy_that_cannot_be_recorded_at_start_is_not_published_until_it_is() {
    let store = MemoryStore::default();
    store.0.lock().unwrap().fail_commits = 1;
    let channels = crate::policy::PolicyChannels::new();
    let (ingest, writer) = start_writer(
        store.clone(),
        WriterSettings::default(),
        crate::classify::Rules::defaults().unwrap(),
        channels.clone(),
        fixed_clock(),
        crate::metrics::IngestMetrics::default(),
    )
    .unwrap();
    let mut site = channels.subscribe("chu");
    assert_eq!(site.borrow_and_update().version, 0, "published unrecorded");
    // The writer reloads on its next tick, records the policy and publishes it.
    tokio::time::timeout(std::time::Duration::from_secs(10), site.changed())
        .await
        .expect("published once recorded")
        .unwrap();
    assert_eq!(site.borrow().version, 1);
    // Batches were applied meanwhile.
    assert_eq!(
        commit(&ingest, OUTBOX, batch(1, 0, 2))
            .await
            .unwrap()
            .accepted,
        2
    );
    drop(ingest);
    writer.join();
}

mod verdicts;
