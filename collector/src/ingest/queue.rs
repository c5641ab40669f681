//! The writer's queue: control commands first, then batches taken round-robin across sessions.
//!
//! One queue in arrival order would let one agent that sends as fast as it can (a hostile
//! one, or one draining a week of backlog) put hundreds of thousands of observations ahead of
//! everyone else's next batch. Here each session has its own queue (bounded by the session's
//! permits, see `SessionQueue`), and a group commit takes one batch from each session in turn,
//! so a batch waits behind at most one group commit's worth of other agents' work.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Something with a size in observations.
pub(crate) trait Weighted {
    /// Observations it carries.
    fn weight(&self) -> usize;
}

/// What the writer takes from the queue.
#[derive(Debug)]
pub(crate) enum Taken<B, C> {
    /// Commands, and batches for one group commit.
    Work { control: Vec<C>, batches: Vec<B> },
    /// Nothing arrived within the wait.
    Idle,
    /// Every sender is gone and nothing is left.
    Closed,
}

#[derive(Debug)]
struct State<B, C> {
    control: VecDeque<C>,
    sessions: HashMap<u64, VecDeque<B>>,
    /// Sessions with queued batches, in turn order.
    turns: VecDeque<u64>,
    closed: bool,
}

/// The queue; shared between the sessions (push) and the writer thread (take).
#[derive(Debug)]
pub(crate) struct FairQueue<B, C> {
    state: Mutex<State<B, C>>,
    wake: Condvar,
}

impl<B: Weighted, C> FairQueue<B, C> {
    pub(crate) fn new() -> Self {
        FairQueue {
            state: Mutex::new(State {
                control: VecDeque::new(),
                sessions: HashMap::new(),
                turns: VecDeque::new(),
                closed: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<B, C>> {
        // Every critical section leaves the state consistent: a panic cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a batch of `session`.
    pub(crate) fn push(&self, session: u64, batch: B) {
        let mut state = self.lock();
        let queue = state.sessions.entry(session).or_default();
        queue.push_back(batch);
        if queue.len() == 1 {
            state.turns.push_back(session);
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Queues a command, handled before any batch.
    pub(crate) fn command(&self, command: C) {
        self.lock().control.push_back(command);
        self.wake.notify_one();
    }

    /// No more work will come: the writer finishes what is queued, then stops.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// Waits up to `wait` for work; takes every command and, round-robin, batches until
    /// `max_weight` observations (at least one batch).
    pub(crate) fn take(&self, max_weight: usize, wait: Duration) -> Taken<B, C> {
        let mut state = self.lock();
        if state.control.is_empty() && state.turns.is_empty() {
            if state.closed {
                return Taken::Closed;
            }
            state = self
                .wake
                .wait_timeout_while(state, wait, |state| {
                    state.control.is_empty() && state.turns.is_empty() && !state.closed
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if state.control.is_empty() && state.turns.is_empty() {
                return if state.closed {
                    Taken::Closed
                } else {
                    Taken::Idle
                };
            }
        }
        let control = state.control.drain(..).collect();
        let mut batches = Vec::new();
        let mut weight = 0;
        while weight < max_weight.max(1) {
            let Some(session) = state.turns.pop_front() else {
                break;
            };
            let State {
                sessions, turns, ..
            } = &mut *state;
            let Some(queue) = sessions.get_mut(&session) else {
                continue;
            };
            if let Some(batch) = queue.pop_front() {
                weight += batch.weight();
                batches.push(batch);
            }
            if queue.is_empty() {
                sessions.remove(&session);
            } else {
                turns.push_back(session);
            }
        }
        Taken::Work { control, batches }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    struct Batch(u64, usize);

    impl Weighted for Batch {
        fn weight(&self) -> usize {
            self.1
        }
    }

    fn work(taken: Taken<Batch, &'static str>) -> (Vec<&'static str>, Vec<u64>) {
        match taken {
            Taken::Work { control, batches } => {
                (control, batches.iter().map(|batch| batch.0).collect())
            }
            other => panic!("expected work, got {other:?}"),
        }
    }

    #[test]
    fn a_flooding_session_does_not_starve_the_others() {
        let queue = FairQueue::new();
        for _ in 0..100 {
            queue.push(1, Batch(1, 5_000));
        }
        queue.push(2, Batch(2, 10));
        let (_, first) = work(queue.take(20_000, Duration::ZERO));
        assert_eq!(
            first,
            vec![1, 2, 1, 1, 1],
            "the quiet session's batch is in the first group"
        );
    }

    #[test]
    fn commands_come_first_and_an_idle_queue_times_out() {
        let queue: FairQueue<Batch, &'static str> = FairQueue::new();
        assert!(matches!(
            queue.take(10, Duration::from_millis(1)),
            Taken::Idle
        ));
        queue.push(1, Batch(1, 1));
        queue.command("register");
        let (control, batches) = work(queue.take(10, Duration::ZERO));
        assert_eq!((control, batches), (vec!["register"], vec![1]));
    }

    #[test]
    fn a_closed_queue_drains_before_it_reports_closed() {
        let queue: FairQueue<Batch, &'static str> = FairQueue::new();
        queue.push(1, Batch(1, 1));
        queue.close();
        let (_, batches) = work(queue.take(10, Duration::from_secs(5)));
        assert_eq!(batches, vec![1]);
        assert!(matches!(
            queue.take(10, Duration::from_secs(5)),
            Taken::Closed
        ));
    }

    #[test]
    fn a_waiting_writer_wakes_for_work() {
        let queue = std::sync::Arc::new(FairQueue::<Batch, &'static str>::new());
        let writer = {
            let queue = std::sync::Arc::clone(&queue);
            std::thread::spawn(move || queue.take(10, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        queue.push(3, Batch(3, 1));
        let (_, batches) = work(writer.join().unwrap());
        assert_eq!(batches, vec![3]);
    }
}
