//! Work on the machine's other cores, handed back in order: snapshot rows are signed (export)
//! or checked (verify) in chunks on worker threads while the calling thread reads the next
//! rows.
//!
//! Invariants:
//! 1. Results come back in the order their chunks were made, whatever thread finished first.
//! 2. For a caller that takes every ready result after each push, at most [`DEPTH_PER_WORKER`]
//!    chunks per worker, plus one, are in flight (queued, being worked on or waiting to be
//!    handed out): memory stays flat whatever the number of rows.
//! 3. A worker that panics stops the pool ([`Stopped`]) instead of leaving the caller waiting
//!    for a result that will never come.
//! 4. Dropping the pool stops its threads (once they finish the chunk at hand) and waits for
//!    them.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// Chunks per worker in flight: one being worked on, one queued behind it.
pub(crate) const DEPTH_PER_WORKER: usize = 2;

/// A worker thread stopped (it panicked): the pool cannot finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a worker thread stopped; see the message above")]
pub(crate) struct Stopped;

/// Worker threads for this machine: one per core.
pub(crate) fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A pool mapping chunks of `T` to one `U` each, in order.
pub(crate) struct Ordered<T, U> {
    work: Option<mpsc::SyncSender<(u64, Vec<T>)>>,
    done: mpsc::Receiver<(u64, Option<U>)>,
    threads: Vec<JoinHandle<()>>,
    chunk: Vec<T>,
    chunk_len: usize,
    depth: u64,
    /// Chunks sent, received back, handed out.
    sent: u64,
    received: u64,
    next: u64,
    waiting: BTreeMap<u64, U>,
}

impl<T, U> std::fmt::Debug for Ordered<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("threads", &self.threads.len())
            .field("chunk_len", &self.chunk_len)
            .field("sent", &self.sent)
            .field("received", &self.received)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, U: Send + 'static> Ordered<T, U> {
    /// Starts `workers` threads (at least one) applying `work` to chunks of `chunk_len` items.
    pub(crate) fn new<F>(workers: usize, chunk_len: usize, work: F) -> std::io::Result<Self>
    where
        F: Fn(Vec<T>) -> U + Send + Sync + 'static,
    {
        let workers = workers.max(1);
        let depth = workers * DEPTH_PER_WORKER;
        // The queue holds what is in flight beyond the chunks being worked on; `push` bounds
        // the total (invariant 2), so results never block a worker.
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<T>)>(depth);
        let (done_tx, done_rx) = mpsc::channel();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let work = Arc::new(work);
        let mut threads = Vec::with_capacity(workers);
        for _ in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let work = Arc::clone(&work);
            let thread = std::thread::Builder::new()
                .name("hygie-rows".into())
                .spawn(move || {
                    loop {
                        let next = match work_rx.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok((seq, items)) = next else { return };
                        // Invariant 3: a panic is reported as a missing result.
                        let result = catch_unwind(AssertUnwindSafe(|| work(items))).ok();
                        let stop = result.is_none();
                        if done_tx.send((seq, result)).is_err() || stop {
                            return;
                        }
                    }
                })?;
            threads.push(thread);
        }
        Ok(Ordered {
            work: Some(work_tx),
            done: done_rx,
            threads,
            chunk: Vec::with_capacity(chunk_len.max(1)),
            chunk_len: chunk_len.max(1),
            depth: depth as u64,
            sent: 0,
            received: 0,
            next: 0,
            waiting: BTreeMap::new(),
        })
    }

    /// Adds an item; sends its chunk when full, waiting while too many are in flight.
    pub(crate) fn push(&mut self, item: T) -> Result<(), Stopped> {
        self.chunk.push(item);
        if self.chunk.len() >= self.chunk_len {
            self.send_chunk()?;
        }
        Ok(())
    }

    /// The next result in order, if it is back (does not wait).
    pub(crate) fn ready(&mut self) -> Result<Option<U>, Stopped> {
        while let Ok(done) = self.done.try_recv() {
            self.keep(done)?;
        }
        Ok(self.hand_out())
    }

    /// Sends what is left of the current chunk and waits for every result: `ready` then hands
    /// them all out.
    pub(crate) fn flush(&mut self) -> Result<(), Stopped> {
        self.send_chunk()?;
        while self.received < self.sent {
            self.receive()?;
        }
        Ok(())
    }

    fn send_chunk(&mut self) -> Result<(), Stopped> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        // Invariant 2: results not yet handed out count as in flight, or one slow chunk would
        // let the later ones pile up behind it. Once the oldest is back, the caller takes it
        // right after this push.
        while self.sent - self.next >= self.depth && !self.waiting.contains_key(&self.next) {
            self.receive()?;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_len));
        let work = self.work.as_ref().ok_or(Stopped)?;
        work.send((self.sent, chunk)).map_err(|_| Stopped)?;
        self.sent += 1;
        Ok(())
    }

    fn receive(&mut self) -> Result<(), Stopped> {
        let done = self.done.recv().map_err(|_| Stopped)?;
        self.keep(done)
    }

    fn keep(&mut self, (seq, result): (u64, Option<U>)) -> Result<(), Stopped> {
        self.received += 1;
        self.waiting.insert(seq, result.ok_or(Stopped)?);
        Ok(())
    }

    fn hand_out(&mut self) -> Option<U> {
        let result = self.waiting.remove(&self.next)?;
        self.next += 1;
        Some(result)
    }
}

impl<T, U> Drop for Ordered<T, U> {
    fn drop(&mut self) {
        // Invariant 4: a closed queue ends every worker's loop.
        self.work = None;
        for thread in self.threads.drain(..) {
            // A worker's panic was already reported as `Stopped`.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<T: Send + 'static>(pool: &mut Ordered<T, Vec<T>>, out: &mut Vec<T>) {
        while let Some(chunk) = pool.ready().unwrap() {
            out.extend(chunk);
        }
    }

    /// Invariant 1: chunks that finish out of order are handed out in order.
    #[test]
    fn invariant_1_results_come_back_in_order() {
        let mut pool = Ordered::new(3, 4, |chunk: Vec<u64>| {
            // Earlier chunks take longer.
            let first = chunk.first().copied().unwrap_or_default();
            std::thread::sleep(std::time::Duration::from_micros(
                2000u64.saturating_sub(first),
            ));
            chunk
        })
        .unwrap();
        let mut out = Vec::new();
        for item in 0..1001 {
            pool.push(item).unwrap();
            drain(&mut pool, &mut out);
        }
        pool.flush().unwrap();
        drain(&mut pool, &mut out);
        assert_eq!(out, (0..1001).collect::<Vec<_>>());
    }

    /// Invariant 2: a caller that pushes faster than the workers go waits; nothing piles up.
    #[test]
    fn invariant_2_at_most_the_depth_is_in_flight() {
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (counting, highest) = (Arc::clone(&live), Arc::clone(&most));
        let mut pool = Ordered::new(2, 10, move |chunk: Vec<u32>| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            chunk
        })
        .unwrap();
        let mut out = Vec::new();
        for item in 0..2000 {
            pool.push(item).unwrap();
            let in_flight = usize::try_from(pool.sent - pool.next).unwrap();
            highest.fetch_max(in_flight, std::sync::atomic::Ordering::Relaxed);
            counting.store(in_flight, std::sync::atomic::Ordering::Relaxed);
            drain(&mut pool, &mut out);
        }
        pool.flush().unwrap();
        drain(&mut pool, &mut out);
        assert_eq!(out.len(), 2000);
        assert!(most.load(std::sync::atomic::Ordering::Relaxed) <= 2 * DEPTH_PER_WORKER + 1);
        assert!(live.load(std::sync::atomic::Ordering::Relaxed) <= 2 * DEPTH_PER_WORKER + 1);
    }

    /// Invariants 3 and 4: a panicking worker stops the pool; dropping it ends the threads.
    #[test]
    fn invariant_3_4_a_panic_stops_the_pool_and_drop_ends_the_threads() {
        let mut pool = Ordered::new(2, 1, |chunk: Vec<u32>| {
            assert!(chunk[0] != 5, "deliberate test panic");
            chunk
        })
        .unwrap();
        let mut stopped = false;
        for item in 0..100 {
            if pool.push(item).is_err() || pool.ready().is_err() {
                stopped = true;
                break;
            }
        }
        assert!(stopped || pool.flush().is_err() || pool.ready().is_err());
        drop(pool);
    }
}
