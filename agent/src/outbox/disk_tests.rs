//! Invariant 9 on a real full filesystem: a small tmpfs, filled to the last byte. Needs root
//! (to mount it): skipped otherwise, unless `HYGIE_REQUIRE_NETNS` is set, which makes a missing
//! capability fail.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::tests::{macs, observations};
use super::*;

/// A tmpfs of `bytes` on a temporary directory, unmounted when dropped (also on a panic).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when not root (and not required).
    fn mount(bytes: u64) -> Option<Tmpfs> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("HYGIE_REQUIRE_NETNS").is_none(),
                "HYGIE_REQUIRE_NETNS is set but mounting a tmpfs needs root"
            );
            eprintln!("SKIPPED: mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let options = format!("size={bytes},mode=0700");
        mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(options.as_str()),
        )
        .unwrap();
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem refuses: nothing is left for anyone.
    fn fill(&self) -> u64 {
        let mut file = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0x5a; 4096];
        let mut written = 0;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                Err(error) => panic!("filling: {error}"),
            }
        }
        // Ends on a partial page; the last few bytes go one at a time.
        while let Ok(1) = file.write(&[0x5a]) {
            written += 1;
        }
        written
    }

    fn free(&self) -> u64 {
        space::free_bytes(self.path()).unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

/// Appends 500 observations at a time until the disk refuses; returns how many are held.
fn append_until_full(outbox: &mut Outbox) -> (u64, OutboxError) {
    let mut held = 0;
    loop {
        match outbox.append(&observations(500, held), &[]) {
            Ok(outcome) => {
                assert_eq!(outcome.evicted, 0, "the disk fills before max_size");
                held += 500;
            }
            Err(error) => return (held, error),
        }
    }
}

/// What the uplink does: up to 16 batches in flight, each acknowledged in order.
fn drain(outbox: &mut Outbox) -> BTreeSet<u64> {
    let mut delivered = BTreeSet::new();
    loop {
        let mut window = outbox.unacked().unwrap();
        while window.len() < 16 {
            match outbox.form_batch(500, u64::MAX).unwrap() {
                Some(span) => window.push(span),
                None => break,
            }
        }
        if window.is_empty() {
            return delivered;
        }
        for span in window {
            let batch = outbox.load(span.sequence).unwrap().unwrap();
            for mac in macs(&batch) {
                assert!(delivered.insert(mac), "observation {mac} delivered twice");
            }
            outbox.ack(span.sequence).unwrap();
        }
    }
}

/// An outbox whose bound is far above the disk: the filesystem fills first.
fn outbox_on(disk: &Tmpfs, max_bytes: u64) -> (PathBuf, Outbox) {
    let path = disk.path().join("outbox.sqlite");
    let outbox = Outbox::open(&path, max_bytes).unwrap();
    (path, outbox)
}

#[test]
fn invariant_9_a_full_disk_still_sends_and_acknowledges_everything_held() {
    let Some(disk) = Tmpfs::mount(8 * 1024 * 1024) else {
        return;
    };
    let (path, mut outbox) = outbox_on(&disk, 256 * 1024 * 1024);
    let (held, error) = append_until_full(&mut outbox);
    // Appending fails as a full disk, naming it.
    let OutboxError::DiskFull { disk: named, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(named.dir, disk.path());
    assert_eq!(named.mount.as_deref(), Some(disk.path()));
    let message = error.to_string();
    eprintln!("{message}");
    assert!(
        message.starts_with(&format!(
            "the outbox's filesystem ({}, device 0:",
            disk.path().display()
        )) && message.contains("is full")
            && !message.contains("unreachable"),
        "{message}"
    );
    // Whatever SQLite left free is taken too.
    disk.fill();
    assert_eq!(disk.free(), 0);
    assert!(matches!(
        outbox.append(&observations(1, held), &[]),
        Err(OutboxError::DiskFull { .. })
    ));
    assert!(outbox.stats().unwrap().disk_full);

    // Everything held goes out exactly once, and every Ack is recorded.
    let started = std::time::Instant::now();
    let delivered = drain(&mut outbox);
    eprintln!(
        "full disk: {held} observations held, {} delivered and acknowledged in {:?}",
        delivered.len(),
        started.elapsed()
    );
    assert_eq!(delivered, (0..held).collect());
    let stats = outbox.stats().unwrap();
    assert_eq!((stats.observations, stats.batches), (0, 0));

    // New observations fit again, in the pages the acknowledged batches leave (Invariant 3:
    // on a full disk they are the first to go).
    let outcome = outbox.append(&observations(500, held), &[]).unwrap();
    assert_eq!((outcome.stored, outcome.evicted), (500, 0));
    assert!(outbox.stats().unwrap().acked_observations < held);

    // A restart on the full disk still opens, and still sends.
    drop(outbox);
    let mut outbox = Outbox::open(&path, 256 * 1024 * 1024).unwrap();
    assert_eq!(drain(&mut outbox).len(), 500);
}

#[test]
fn invariant_9_a_full_disk_never_evicts_unsent_observations() {
    let Some(disk) = Tmpfs::mount(4 * 1024 * 1024) else {
        return;
    };
    let (_path, mut outbox) = outbox_on(&disk, 256 * 1024 * 1024);
    let (held, _) = append_until_full(&mut outbox);
    disk.fill();
    for round in 0..20 {
        let refused = outbox.append(&observations(200, held + round * 200), &[]);
        assert!(
            matches!(refused, Err(OutboxError::DiskFull { .. })),
            "{refused:?}"
        );
    }
    let stats = outbox.stats().unwrap();
    assert_eq!((stats.observations, stats.evicted_total), (held, 0));
    assert_eq!(drain(&mut outbox), (0..held).collect());
}

#[test]
fn invariant_9_the_reserve_comes_back_when_the_disk_has_room() {
    let Some(disk) = Tmpfs::mount(6 * 1024 * 1024) else {
        return;
    };
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![1u8; 2 * 1024 * 1024]).unwrap();
    // 16 MiB: a reserve of 512 KiB.
    let (path, mut outbox) = outbox_on(&disk, 16 * 1024 * 1024);
    assert_eq!(FileSizes::of(&path).reserve, 512 * 1024, "written at open");
    let (held, _) = append_until_full(&mut outbox);
    disk.fill();
    drain(&mut outbox);
    assert_eq!(FileSizes::of(&path).reserve, 0, "released for the drain");
    // Someone frees space: the next write puts the reserve back and leaves the full-disk mode.
    std::fs::remove_file(&ballast).unwrap();
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    outbox.append(&observations(10, held), &[]).unwrap();
    assert!(!outbox.stats().unwrap().disk_full);
    assert_eq!(FileSizes::of(&path).reserve, 512 * 1024);
}
