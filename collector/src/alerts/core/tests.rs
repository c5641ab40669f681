//! The dispatcher's invariants (see [`crate::alerts`]), without a network or a clock.

use std::time::{Duration, Instant};

use super::*;
use crate::alerts::alert::tests::raised;
use crate::inventory::flags::Flag;

const LIMIT: RateLimit = RateLimit {
    per_minute: 60,
    burst: 3,
    summary_interval: Duration::from_secs(60),
};

fn core(now: Instant) -> SinkCore {
    core_with(LIMIT, 1_000, Progress::default(), now)
}

fn core_with(limit: RateLimit, max_backlog: u64, progress: Progress, now: Instant) -> SinkCore {
    SinkCore::new(
        Rules::default_rules(),
        limit,
        max_backlog,
        Duration::from_secs(300),
        progress,
        now,
    )
}

fn selected(id: i64) -> Input {
    Input::Event(Candidate {
        id,
        alert: Some(Box::new(raised(id, Flag::Unmanaged))),
    })
}

fn ignored(id: i64) -> Input {
    Input::Event(Candidate { id, alert: None })
}

fn sent_ids(actions: &[Action]) -> Vec<i64> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send(Message::Alert(alert)) => Some(alert.event_id),
            _ => None,
        })
        .collect()
}

/// Delivers whatever the core sends until it sends nothing more; returns the messages.
fn deliver_all(core: &mut SinkCore, now: Instant, mut actions: Vec<Action>) -> Vec<Message> {
    let mut messages = Vec::new();
    loop {
        let Some(message) = actions.iter().find_map(|action| match action {
            Action::Send(message) => Some(message.clone()),
            _ => None,
        }) else {
            return messages;
        };
        messages.push(message);
        actions = core.step(now, Input::Delivered);
    }
}

#[test]
fn invariant_1_the_cursor_passes_an_alert_only_once_delivered() {
    let t0 = Instant::now();
    let mut core = core(t0);
    let actions = core.step(t0, selected(1));
    assert_eq!(sent_ids(&actions), [1]);
    assert_eq!(core.progress().cursor, 0, "sent, not delivered");
    // Events not selected behind it wait for it.
    core.step(t0, ignored(2));
    core.step(t0, ignored(3));
    assert_eq!(core.progress().cursor, 0);
    let actions = core.step(t0, Input::Failed { permanent: false });
    assert!(matches!(actions[0], Action::Retry { attempt: 1, .. }));
    assert_eq!(core.progress().cursor, 0, "a failure settles nothing");
    let actions = core.step(t0 + Duration::from_secs(1), Input::Tick);
    assert_eq!(sent_ids(&actions), [1], "the same alert again");
    core.step(t0 + Duration::from_secs(1), Input::Delivered);
    assert_eq!(core.progress().cursor, 3);
    assert_eq!(core.progress().delivered, 1);
}

#[test]
fn invariant_1_events_not_selected_settle_at_once_when_nothing_waits() {
    let t0 = Instant::now();
    let mut core = core(t0);
    assert!(core.step(t0, ignored(1)).is_empty());
    // Selected by kind but not by the rules (a `new` flag).
    let new_flag = Input::Event(Candidate {
        id: 2,
        alert: Some(Box::new(raised(2, Flag::New))),
    });
    assert!(core.step(t0, new_flag).is_empty());
    assert_eq!(core.progress().cursor, 2);
}

#[test]
fn invariant_1_a_restart_resumes_after_the_persisted_cursor() {
    let t0 = Instant::now();
    let mut first = core(t0);
    first.step(t0, selected(1));
    first.step(t0, Input::Delivered);
    first.step(t0, selected(2)); // sent, never acknowledged: the collector stops
    let persisted = first.progress();
    assert_eq!(persisted.cursor, 1);
    let mut second = core_with(LIMIT, 1_000, persisted, t0);
    assert_eq!(second.read_to(), 1, "reading starts after the cursor");
    assert_eq!(sent_ids(&second.step(t0, selected(2))), [2]);
}

#[test]
fn invariant_2_one_message_at_a_time_in_event_order() {
    let t0 = Instant::now();
    let mut core = core(t0);
    assert_eq!(sent_ids(&core.step(t0, selected(1))), [1]);
    assert!(
        sent_ids(&core.step(t0, selected(2))).is_empty(),
        "1 in flight"
    );
    assert!(
        !core.wants_events(),
        "no reading while a message is in flight"
    );
    assert_eq!(sent_ids(&core.step(t0, Input::Delivered)), [2]);
    // A repeated or older event is ignored.
    core.step(t0, Input::Delivered);
    assert!(core.step(t0, selected(2)).is_empty());
    assert!(core.step(t0, selected(1)).is_empty());
    assert_eq!(core.progress().delivered, 2);
}

#[test]
fn invariant_3_a_retried_alert_carries_the_same_event_id_and_hash() {
    let t0 = Instant::now();
    let mut core = core(t0);
    let first = core.step(t0, selected(7));
    core.step(t0, Input::Failed { permanent: false });
    let again = core.step(t0 + Duration::from_secs(1), Input::Tick);
    assert_eq!(first, again);
    let Action::Send(Message::Alert(alert)) = &again[0] else {
        panic!("an alert")
    };
    assert_eq!(alert.event_id, 7);
    assert_eq!(alert.event_hash, raised(7, Flag::Unmanaged).event_hash);
}

#[test]
fn invariant_4_the_backlog_is_bounded_and_drops_are_counted() {
    let t0 = Instant::now();
    let mut core = core_with(LIMIT, 10, Progress::default(), t0);
    core.step(t0, selected(1));
    core.step(t0, Input::Failed { permanent: false }); // the receiver is down
    for id in 2..=5 {
        core.step(t0, selected(id));
    }
    assert!(
        core.step(t0, Input::Head(10)).is_empty(),
        "10 behind: within the bound"
    );
    let actions = core.step(t0, Input::Head(25));
    assert_eq!(actions, [Action::Dropped { first: 1, last: 15 }]);
    assert_eq!(core.progress().cursor, 15);
    assert_eq!(core.progress().dropped, 15);
    assert_eq!(
        core.queued(),
        0,
        "the queued alerts of dropped events are gone"
    );
    assert_eq!(
        core.read_to(),
        15,
        "reading resumes after the dropped events"
    );
    // The next events still go, once the receiver is back.
    let actions = core.step(t0 + Duration::from_secs(2), selected(16));
    assert_eq!(sent_ids(&actions), [16]);
}

#[test]
fn invariant_4_a_message_in_flight_is_not_dropped_under_the_shell() {
    let t0 = Instant::now();
    let mut core = core_with(LIMIT, 10, Progress::default(), t0);
    core.step(t0, selected(1));
    assert!(core.step(t0, Input::Head(100)).is_empty());
    core.step(t0, Input::Delivered);
    assert_eq!(
        core.step(t0, Input::Head(100)),
        [Action::Dropped { first: 2, last: 90 }]
    );
}

#[test]
fn invariant_4_the_queue_in_memory_is_bounded() {
    let t0 = Instant::now();
    let limit = RateLimit {
        burst: 5_000,
        per_minute: 5_000,
        ..LIMIT
    };
    let mut core = core_with(limit, 100_000, Progress::default(), t0);
    core.step(t0, selected(1));
    core.step(t0, Input::Failed { permanent: false });
    let mut id = 2;
    while core.wants_events() {
        core.step(t0, selected(id));
        id += 1;
    }
    assert_eq!(core.queued(), QUEUE_MAX);
}

#[test]
fn invariant_5_a_burst_sends_the_budget_then_one_summary() {
    let t0 = Instant::now();
    let mut core = core(t0);
    let mut messages = Vec::new();
    // 5,000 alerts at once: a new VLAN plugged in.
    for id in 1..=5_000 {
        let actions = core.step(t0, selected(id));
        messages.extend(deliver_all(&mut core, t0, actions));
    }
    assert_eq!(messages.len(), 3, "the burst");
    assert_eq!(
        core.progress().cursor,
        3,
        "the suppressed ones are not settled yet"
    );
    assert_eq!(core.next_deadline(), Some(t0 + LIMIT.summary_interval));
    let later = t0 + LIMIT.summary_interval;
    let actions = core.step(later, Input::Tick);
    let summary = deliver_all(&mut core, later, actions);
    assert_eq!(
        summary,
        [Message::Summary(Summary {
            count: 4_997,
            first_id: 4,
            last_id: 5_000,
            window: LIMIT.summary_interval,
        })]
    );
    assert_eq!(core.progress().cursor, 5_000);
    assert_eq!(core.progress().delivered, 3);
    assert_eq!(core.progress().suppressed, 4_997);
}

#[test]
fn invariant_5_the_bucket_refills_at_the_rate() {
    let t0 = Instant::now();
    let mut core = core(t0);
    for id in 1..=3 {
        let actions = core.step(t0, selected(id));
        deliver_all(&mut core, t0, actions);
    }
    // 60 a minute: one more after a second.
    let t1 = t0 + Duration::from_secs(1);
    let actions = core.step(t1, selected(4));
    assert_eq!(sent_ids(&actions), [4]);
    core.step(t1, Input::Delivered);
    assert!(
        sent_ids(&core.step(t1, selected(5))).is_empty(),
        "suppressed"
    );
    // Within the window, even with tokens back, alerts join the window's count.
    let t2 = t1 + Duration::from_secs(30);
    assert!(sent_ids(&core.step(t2, selected(6))).is_empty());
    let t3 = t1 + LIMIT.summary_interval;
    let actions = core.step(t3, selected(7));
    let messages = deliver_all(&mut core, t3, actions);
    assert!(matches!(
        messages[0],
        Message::Summary(Summary {
            count: 2,
            first_id: 5,
            last_id: 6,
            ..
        })
    ));
    assert!(matches!(&messages[1], Message::Alert(alert) if alert.event_id == 7));
    assert_eq!(core.progress().cursor, 7);
}

#[test]
fn invariant_5_a_storm_sends_at_most_the_rate_plus_one_summary_a_window() {
    let t0 = Instant::now();
    let mut core = core(t0);
    let mut alerts = 0;
    let mut summaries = 0;
    let mut counted = 0;
    // 100 alerts a second for ten minutes.
    for second in 0..600u64 {
        let now = t0 + Duration::from_secs(second);
        for n in 0..100 {
            let id = i64::try_from(second * 100 + n + 1).unwrap();
            let actions = core.step(now, selected(id));
            for message in deliver_all(&mut core, now, actions) {
                match message {
                    Message::Alert(_) => alerts += 1,
                    Message::Summary(summary) => {
                        summaries += 1;
                        counted += summary.count;
                    }
                    Message::Test => {}
                }
            }
        }
    }
    let end = t0 + Duration::from_secs(660);
    let actions = core.step(end, Input::Tick);
    for message in deliver_all(&mut core, end, actions) {
        if let Message::Summary(summary) = message {
            summaries += 1;
            counted += summary.count;
        }
    }
    assert!(alerts <= 3 + 600, "{alerts} alerts");
    assert!(summaries <= 11, "{summaries} summaries");
    assert_eq!(alerts + counted, 60_000, "every alert sent or counted once");
    assert_eq!(core.progress().cursor, 60_000);
}

#[test]
fn invariant_6_each_sink_keeps_its_own_state() {
    let t0 = Instant::now();
    let mut dead = core(t0);
    let mut alive = core(t0);
    for id in 1..=3 {
        dead.step(t0, selected(id));
        dead.step(t0, Input::Failed { permanent: false });
        let actions = alive.step(t0, selected(id));
        deliver_all(&mut alive, t0, actions);
    }
    assert_eq!(dead.progress().cursor, 0);
    assert_eq!(alive.progress().cursor, 3);
}

#[test]
fn invariant_7_backoff_doubles_up_to_the_ceiling() {
    let t0 = Instant::now();
    let mut core = SinkCore::new(
        Rules::default_rules(),
        LIMIT,
        1_000,
        Duration::from_secs(10),
        Progress::default(),
        t0,
    );
    let mut now = t0;
    let mut pauses = Vec::new();
    let mut actions = core.step(now, selected(1));
    for _ in 0..6 {
        assert_eq!(sent_ids(&actions), [1]);
        let failed = core.step(now, Input::Failed { permanent: false });
        let Action::Retry { after, .. } = failed[0] else {
            panic!("a retry")
        };
        pauses.push(after.as_secs());
        assert_eq!(core.next_deadline(), Some(now + after));
        assert!(
            core.step(now + after - Duration::from_millis(1), Input::Tick)
                .is_empty()
        );
        now += after;
        actions = core.step(now, Input::Tick);
    }
    assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
    core.step(now, Input::Delivered);
    // A success resets the pause.
    core.step(now, selected(2));
    let failed = core.step(now, Input::Failed { permanent: false });
    assert_eq!(
        failed,
        [Action::Retry {
            attempt: 1,
            after: Duration::from_secs(1)
        }]
    );
}

#[test]
fn invariant_8_a_refused_alert_is_counted_and_passed() {
    let t0 = Instant::now();
    let mut core = core(t0);
    core.step(t0, selected(1));
    core.step(t0, ignored(2));
    let actions = core.step(t0, Input::Failed { permanent: true });
    assert_eq!(actions, [Action::Refused { first: 1, last: 2 }]);
    assert_eq!(core.progress().cursor, 2);
    assert_eq!(core.progress().refused, 1);
    assert_eq!(sent_ids(&core.step(t0, selected(3))), [3]);
}
