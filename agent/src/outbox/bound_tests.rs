//! Invariant 8 measured: far more than `max_size` goes through the outbox, and its files are
//! weighed after every operation.

use hygie_proto::Observation;

use super::tests::observations;
use super::*;

const MAX: u64 = 1024 * 1024;

/// Observations about three times the size of the usual ones (services with TXT records).
fn rich(count: u64, first: u64) -> Vec<Observation> {
    let mut observations = observations(count, first);
    for observation in &mut observations {
        observation.services = vec![hygie_proto::MdnsService {
            instance: format!("{}._http._tcp.local.", observation.mac),
            service_type: "_http._tcp.local.".into(),
            port: Some(80),
            txt: [("md".to_owned(), Some("infusion-pump-model-7".to_owned()))].into(),
        }];
    }
    observations
}

/// Weighs the files; returns the total (database, WAL, shm and reserve).
fn weigh(path: &std::path::Path, largest: &mut FileSizes, what: &str) -> u64 {
    let sizes = FileSizes::of(path);
    let total = sizes.total();
    assert!(total <= MAX, "{what}: {sizes:?} = {total} > {MAX}");
    if total > largest.total() {
        *largest = sizes;
    }
    total
}

#[test]
fn invariant_8_the_files_stay_within_max_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = Outbox::open(&path, MAX).unwrap();
    let mut largest = FileSizes::default();
    let (mut appended, mut evicted, mut payload) = (0u64, 0u64, 0u64);
    // Many times max_size of payload through a 1 MiB outbox, with a collector that acknowledges some
    // batches, refuses a few and lets the rest wait.
    for round in 0..800u64 {
        let chunk = if round % 3 == 0 {
            rich(150, appended)
        } else {
            observations(150, appended)
        };
        payload += chunk
            .iter()
            .map(|observation| hygie_proto::encode_observation(observation).0.len() as u64)
            .sum::<u64>();
        let outcome = outbox.append(&chunk, &[]).unwrap();
        appended += chunk.len() as u64;
        evicted += outcome.evicted;
        weigh(&path, &mut largest, "after an append");
        if round % 4 == 0 {
            while let Some(span) = outbox.form_batch(200, u64::MAX).unwrap() {
                match span.sequence % 7 {
                    0 => outbox.set_aside(span.sequence, "refused").unwrap(),
                    1..=3 => outbox.ack(span.sequence).unwrap(),
                    _ => {}
                }
                weigh(&path, &mut largest, "after a batch");
            }
        }
    }
    let stats = outbox.stats().unwrap();
    assert!(evicted > 0 && stats.evicted_total == evicted);
    // Every unsent observation is stored or counted as evicted; delivered and refused ones
    // went first.
    let sent_or_refused = appended - stats.observations - evicted;
    assert!(sent_or_refused > 0, "{stats:?}");
    eprintln!(
        "max_size {MAX}: largest {largest:?} = {} bytes ({appended} observations, ~{} MiB of \
         payload in, {evicted} evicted)",
        largest.total(),
        payload >> 20
    );
    drop(outbox);
    assert!(FileSizes::of(&path).total() <= MAX);
}

#[test]
fn invariant_8_large_appends_stay_within_max_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = Outbox::open(&path, MAX).unwrap();
    let mut largest = FileSizes::default();
    // While an operation runs the WAL may hold its pages on top of its allowance (the X of
    // Invariant 8): sampled from beside.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (path, done) = (path.clone(), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(FileSizes::of(&path).total());
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            peak
        })
    };
    // The agent's writer appends up to ~2,000 observations at once.
    for round in 0..40u64 {
        outbox.append(&rich(2_000, round * 2_000), &[]).unwrap();
        weigh(&path, &mut largest, "after a large append");
        if let Some(span) = outbox.form_batch(500, u64::MAX).unwrap() {
            outbox.ack(span.sequence).unwrap();
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let one_append: u64 = rich(2_000, 0)
        .iter()
        .map(|observation| hygie_proto::encode_observation(observation).0.len() as u64)
        .sum();
    eprintln!(
        "max_size {MAX}, appends of 2,000 ({one_append} payload bytes each): largest after an \
         operation {largest:?} = {}, peak during one {peak}",
        largest.total()
    );
    // X: one append's pages in the WAL, at 4,120 bytes a page.
    assert!(peak <= MAX + (one_append + 12 * 2_000) * 4120 / 4096 * 10 / 9 + 16 * 4120);
    let newest = outbox.stats().unwrap();
    assert!(newest.observations > 2_000, "{newest:?}");
}

#[test]
fn invariant_8_a_smaller_max_size_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = Outbox::open(&path, 8 * MAX).unwrap();
    for round in 0..60 {
        outbox.append(&rich(1_000, round * 1_000), &[]).unwrap();
    }
    drop(outbox);
    assert!(
        FileSizes::of(&path).total() > 4 * MAX,
        "{:?}",
        FileSizes::of(&path)
    );
    let outbox = Outbox::open(&path, MAX).unwrap();
    let sizes = FileSizes::of(&path);
    assert!(sizes.total() <= MAX, "{sizes:?}");
    assert!(outbox.stats().unwrap().evicted_total > 0);
}

#[test]
fn invariant_3_the_size_bound_evicts_acknowledged_batches_before_unsent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite"), MAX).unwrap();
    for chunk in 0..6 {
        outbox
            .append(&observations(1_000, chunk * 1_000), &[])
            .unwrap();
        outbox.form_batch(1_000, u64::MAX).unwrap().unwrap();
    }
    // The newest are acknowledged: age does not matter, delivery does.
    for sequence in 4..=6 {
        outbox.ack(sequence).unwrap();
    }
    let mut next = 6_000;
    loop {
        let before = outbox.stats().unwrap();
        let outcome = outbox.append(&observations(1_000, next), &[]).unwrap();
        next += 1_000;
        let after = outbox.stats().unwrap();
        if outcome.evicted > 0 {
            assert_eq!(
                after.acked_batches, 0,
                "unsent evicted while acked were kept"
            );
            assert!(before.acked_batches <= 1, "{before:?}");
            // The oldest unsent went first.
            assert_eq!(outbox.unacked().unwrap()[0].sequence, 2);
            break;
        }
        assert_eq!(after.evicted_total, 0);
        assert!(next < 100_000, "never evicted: {after:?}");
    }
}

/// Fills the outbox with formed 1,000-observation batches until the bound evicts one; returns
/// the outbox and the next observation number.
fn evict_a_formed_batch(outbox: &mut Outbox) -> u64 {
    let mut next = 0;
    while outbox.stats().unwrap().evicted_total == 0 {
        outbox.append(&observations(1_000, next), &[]).unwrap();
        outbox.form_batch(1_000, u64::MAX).unwrap();
        next += 1_000;
        assert!(next < 100_000, "never evicted");
    }
    next
}

#[test]
fn invariant_3_a_batch_evicted_in_flight_and_then_acknowledged_was_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite"), MAX).unwrap();
    evict_a_formed_batch(&mut outbox);
    assert_eq!(outbox.stats().unwrap().evicted_total, 1_000);
    // Batch 1 went, but it may have been sent: it is neither resent nor loadable.
    assert_eq!(outbox.unacked().unwrap()[0].sequence, 2);
    assert!(outbox.load(1).unwrap().is_none());
    // Its acknowledgement arrives: it reached the collector after all.
    outbox.ack(1).unwrap();
    let stats = outbox.stats().unwrap();
    assert_eq!(stats.evicted_total, 0);
    assert_eq!(outbox.highest_acked().unwrap(), 1);
    // Settled once: a second acknowledgement changes nothing.
    outbox.ack(1).unwrap();
    assert_eq!(outbox.stats().unwrap().evicted_total, 0);
}

#[test]
fn invariant_3_the_welcome_settles_evicted_batches_by_the_collector_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = Outbox::open(&path, MAX).unwrap();
    let mut next = evict_a_formed_batch(&mut outbox);
    while outbox.stats().unwrap().evicted_total < 3_000 {
        outbox.append(&observations(1_000, next), &[]).unwrap();
        outbox.form_batch(1_000, u64::MAX).unwrap();
        next += 1_000;
    }
    assert_eq!(outbox.stats().unwrap().evicted_total, 3_000);
    // Settling survives a restart: the evicted batches are in the file.
    drop(outbox);
    let mut outbox = Outbox::open(&path, MAX).unwrap();
    // The collector had committed batches 1 and 2 before the connection dropped, not 3.
    assert_eq!(outbox.settle_evicted(2).unwrap(), 2_000);
    assert_eq!(outbox.stats().unwrap().evicted_total, 1_000);
    // Settled: a later Welcome or acknowledgement does not count them again.
    assert_eq!(outbox.settle_evicted(3).unwrap(), 0);
    outbox.ack(3).unwrap();
    assert_eq!(outbox.stats().unwrap().evicted_total, 1_000);
}

#[test]
fn invariant_3_an_evicted_batch_skipped_or_refused_stays_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite"), MAX).unwrap();
    let mut next = evict_a_formed_batch(&mut outbox);
    while outbox.stats().unwrap().evicted_total < 2_000 {
        outbox.append(&observations(1_000, next), &[]).unwrap();
        outbox.form_batch(1_000, u64::MAX).unwrap();
        next += 1_000;
    }
    outbox.skip_evicted(1).unwrap();
    outbox.set_aside(2, "refused").unwrap();
    // Neither can be settled as delivered any more.
    assert_eq!(outbox.settle_evicted(u64::MAX >> 1).unwrap(), 0);
    outbox.ack(1).unwrap();
    assert_eq!(outbox.stats().unwrap().evicted_total, 2_000);
}
