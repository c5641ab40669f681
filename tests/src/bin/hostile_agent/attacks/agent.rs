//! Attacks that speak the contract correctly, or nearly: inventing devices as fast as the
//! collector takes them, and sequences that go backwards.

use std::sync::Arc;
use std::time::Duration;

use hygie_proto::{MacAddr, pb};
use tokio::time::Instant;

use super::{Backoff, Ctx, REPLY_LIMIT, SEND_LIMIT, open_at_end, open_with_hello};
use crate::grpc::{Call, Next};
use crate::messages::{self, MacSource};
use crate::net::Pool;
use crate::report::{Outcome, Report};

/// How long after its last batch a regressing stream may stay open before we call it accepted.
const REGRESS_WAIT: Duration = Duration::from_secs(5);
/// Pause between rounds of `regress`.
const REGRESS_PAUSE: Duration = Duration::from_secs(1);
/// A MAC the regress rounds keep reporting, so they invent nothing.
const REGRESS_MAC: MacAddr = MacAddr::new([0x00, 0x1b, 0x21, 0x0d, 0xea, 0x01]);

/// `invent`: one well-formed agent stream sending full batches of never-seen MACs, with a few
/// batches in flight, as fast as the collector acknowledges them.
pub(super) async fn invent(ctx: Arc<Ctx>, report: Arc<Report>) {
    let pool = Pool::new(Arc::clone(&ctx.target), 1);
    let outbox = messages::outbox();
    let mut macs = MacSource::random();
    let mut sequence = 1;
    let mut backoff = Backoff::new();
    while ctx.running() {
        let started = Instant::now();
        let outcome = match open_with_hello(&ctx, &pool, 0, outbox).await {
            Err(outcome) => outcome,
            Ok((mut call, welcome)) => {
                sequence = sequence.max(welcome.last_committed_sequence + 1);
                let outcome = pump(&ctx, &report, &mut call, &mut macs, &mut sequence).await;
                report.add("bytes_sent", call.sender.sent);
                outcome
            }
        };
        report.outcome(0, &outcome, started.elapsed());
        backoff.after(&ctx, started.elapsed()).await;
    }
}

/// Sends batches, keeping `invent_window` unacknowledged, until the stream ends.
async fn pump(
    ctx: &Ctx,
    report: &Report,
    call: &mut Call,
    macs: &mut MacSource,
    sequence: &mut u64,
) -> Outcome {
    let size = ctx.options.invent_batch;
    let mut in_flight = 0;
    loop {
        while in_flight < ctx.options.invent_window.max(1) && ctx.running() {
            let batch = messages::batch(*sequence, macs.take(size));
            if let Err(outcome) = call.sender.send(batch, SEND_LIMIT).await {
                return outcome;
            }
            *sequence += 1;
            in_flight += 1;
            report.add("batches_sent", 1);
            report.add("macs_sent", size as u64);
        }
        match call.replies.next(ctx.within(REPLY_LIMIT)).await {
            Next::Message(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Ack(ack)),
            }) => {
                in_flight = in_flight.saturating_sub(1);
                report.add("acks", 1);
                report.add("accepted", ack.accepted.into());
                report.add("refused_new_assets", ack.refused_new_assets.into());
            }
            Next::Message(_) => {}
            Next::End(outcome) => return outcome,
            Next::Timeout if !ctx.running() => return open_at_end(),
            Next::Timeout => {
                return Outcome::new("no_ack", format!("no Ack within {REPLY_LIMIT:?}"));
            }
        }
    }
}

/// The rounds of `regress`, in turn: each sends these sequences on one new stream.
const PATTERNS: [(&str, &[u64]); 3] = [
    ("regress 2,1", &[2, 1]),
    ("reorder 3,5,4", &[3, 5, 4]),
    ("repeat 2,2", &[2, 2]),
];

/// `regress`: streams whose batch sequences go backwards or repeat. The contract ends such a
/// stream with FAILED_PRECONDITION; an Ack for the offending batch counts as `regressed_acks`.
pub(super) async fn regress(ctx: Arc<Ctx>, report: Arc<Report>) {
    let pool = Pool::new(Arc::clone(&ctx.target), 1);
    let mut round = 0;
    while ctx.running() {
        let (label, sequences) = PATTERNS[round % PATTERNS.len()];
        round += 1;
        let started = Instant::now();
        let outcome = match open_with_hello(&ctx, &pool, 0, messages::outbox()).await {
            Err(outcome) => outcome,
            Ok((mut call, _)) => regress_round(&ctx, &report, &mut call, sequences).await,
        };
        report.add("rounds", 1);
        report.outcome(round, &outcome.labelled(label), started.elapsed());
        tokio::time::sleep_until(ctx.within(REGRESS_PAUSE)).await;
    }
}

async fn regress_round(ctx: &Ctx, report: &Report, call: &mut Call, sequences: &[u64]) -> Outcome {
    for &sequence in sequences {
        let batch = messages::batch(sequence, vec![messages::observation(REGRESS_MAC)]);
        if let Err(outcome) = call.sender.send(batch, SEND_LIMIT).await {
            return outcome;
        }
    }
    // The batches that do not raise the stream's highest sequence so far.
    let mut highest = 0;
    let offending: Vec<u64> = sequences
        .iter()
        .filter_map(|&sequence| {
            let offends = sequence <= highest;
            highest = highest.max(sequence);
            offends.then_some(sequence)
        })
        .collect();
    let mut acked = Vec::new();
    let until = ctx.within(REGRESS_WAIT);
    let outcome = loop {
        match call.replies.next(until).await {
            Next::Message(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Ack(ack)),
            }) => acked.push(ack.sequence),
            Next::Message(_) => {}
            Next::End(outcome) => break outcome,
            Next::Timeout if !ctx.running() => break open_at_end(),
            Next::Timeout => {
                break Outcome::new(
                    "stream_kept_open",
                    format!("no refusal within {REGRESS_WAIT:?}"),
                );
            }
        }
    };
    // Every Ack past the in-order ones answers an offending batch.
    let in_order = sequences.len() - offending.len();
    let regressed = acked.len().saturating_sub(in_order);
    report.add("regressed_acks", regressed as u64);
    Outcome::new(outcome.kind, format!("{} (acks {acked:?})", outcome.detail))
}
