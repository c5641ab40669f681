//! Attacks on the collector's buffers: amplified batches, stalled messages, many streams.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Backoff, Ctx, REPLY_LIMIT, SEND_LIMIT, open_at_end, open_with_hello};
use crate::grpc::Call;
use crate::messages;
use crate::net::Pool;
use crate::report::{Gauge, Outcome, Report};

/// `amplify`: streams that say Hello, then send a batch of millions of empty observations,
/// alternating between the sizes asked for (some within the collector's size limit, some
/// beyond it), again and again.
pub(super) async fn amplify(ctx: Arc<Ctx>, report: Arc<Report>) {
    let bodies: Arc<Vec<(usize, Bytes)>> = Arc::new(
        ctx.options
            .amplify_observations
            .iter()
            .map(|&count| (count, messages::amplified(count)))
            .collect(),
    );
    if bodies.is_empty() {
        return;
    }
    let streams = ctx.options.amplify_streams;
    let pool = Arc::new(Pool::new(Arc::clone(&ctx.target), streams));
    let mut units = JoinSet::new();
    for unit in 0..streams {
        let (ctx, report, pool, bodies) = (
            Arc::clone(&ctx),
            Arc::clone(&report),
            Arc::clone(&pool),
            Arc::clone(&bodies),
        );
        units.spawn(async move {
            let mut round = unit;
            while ctx.running() {
                let (count, body) = &bodies[round % bodies.len()];
                round += 1;
                let label = format!("{count} empty observations");
                let started = Instant::now();
                let outcome = match open_with_hello(&ctx, &pool, unit, messages::outbox()).await {
                    Err(outcome) => outcome,
                    Ok((mut call, _)) => {
                        let outcome = tokio::select! {
                            sent = call.sender.send(body.clone(), SEND_LIMIT) => match sent {
                                Ok(()) => {
                                    report.add("messages_sent_whole", 1);
                                    call.replies.end(ctx.within(REPLY_LIMIT)).await.unwrap_or_else(
                                        || Outcome::new("no_reply", "no answer to the whole message"),
                                    )
                                }
                                Err(outcome) => settle(&mut call, outcome).await,
                            },
                            end = call.replies.end(ctx.deadline) => end.unwrap_or_else(open_at_end),
                        };
                        report.add("bytes_sent", call.sender.sent);
                        report.add("messages_started", 1);
                        outcome
                    }
                };
                report.outcome(unit, &outcome.labelled(&label), started.elapsed());
                // No backoff: a refusal is the expected answer, and each round sends megabytes.
                ctx.pause().await;
            }
        });
    }
    units.join_all().await;
}

/// How long a write cut short may wait for the status that explains it.
const STATUS_WAIT: Duration = Duration::from_secs(1);

/// A write failed (the collector reset the stream, or stopped reading): the gRPC status the
/// collector sent, if one comes, says more than the reset that followed it.
async fn settle(call: &mut Call, failed: Outcome) -> Outcome {
    match call.replies.end(Instant::now() + STATUS_WAIT).await {
        Some(status) if status.kind == "grpc_status" => status,
        _ => failed,
    }
}

/// `stall`: streams that say Hello, then send a length prefix claiming a large message and most
/// of its body, then nothing, holding the stream open until the collector ends it.
pub(super) async fn stall(ctx: Arc<Ctx>, report: Arc<Report>) {
    let message = messages::stalled(ctx.options.stall_claim, ctx.options.stall_percent);
    let pool = Arc::new(Pool::new(
        Arc::clone(&ctx.target),
        ctx.options.stall_connections,
    ));
    let held = Gauge::new(Arc::clone(&report), "held_streams_peak");
    let mut units = JoinSet::new();
    for unit in 0..ctx.options.stall_streams {
        let (ctx, report, pool, message, held) = (
            Arc::clone(&ctx),
            Arc::clone(&report),
            Arc::clone(&pool),
            message.clone(),
            Arc::clone(&held),
        );
        units.spawn(async move {
            let mut backoff = Backoff::new();
            while ctx.running() {
                let started = Instant::now();
                let outcome = match open_with_hello(&ctx, &pool, unit, messages::outbox()).await {
                    Err(outcome) => outcome,
                    Ok((mut call, _)) => {
                        let outcome = tokio::select! {
                            sent = call.sender.send(message.clone(), SEND_LIMIT) => match sent {
                                Ok(()) => {
                                    report.add("partial_messages_sent", 1);
                                    let _held = held.enter();
                                    call.replies.end(ctx.deadline).await.unwrap_or_else(open_at_end)
                                }
                                Err(outcome) => settle(&mut call, outcome).await,
                            },
                            end = call.replies.end(ctx.deadline) => end.unwrap_or_else(open_at_end),
                        };
                        report.add("bytes_sent", call.sender.sent);
                        outcome
                    }
                };
                report.outcome(unit, &outcome, started.elapsed());
                backoff.after(&ctx, started.elapsed()).await;
            }
        });
    }
    units.join_all().await;
}

/// `streams`: one connection opening hundreds of concurrent streams, each saying Hello for an
/// outbox of its own and then holding the stream open, silent.
pub(super) async fn streams(ctx: Arc<Ctx>, report: Arc<Report>) {
    let pool = Arc::new(Pool::new(Arc::clone(&ctx.target), 1));
    let open = Gauge::new(Arc::clone(&report), "concurrent_welcomed_peak");
    let mut units = JoinSet::new();
    for unit in 0..ctx.options.streams {
        let (ctx, report, pool, open) = (
            Arc::clone(&ctx),
            Arc::clone(&report),
            Arc::clone(&pool),
            Arc::clone(&open),
        );
        units.spawn(async move {
            let mut backoff = Backoff::new();
            while ctx.running() {
                let started = Instant::now();
                let outcome = match open_with_hello(&ctx, &pool, 0, messages::outbox()).await {
                    Err(outcome) => outcome,
                    Ok((mut call, _)) => {
                        report.add("welcomed", 1);
                        if let Ok(send) = pool.get(0).await {
                            // usize::MAX until the collector advertises a limit.
                            let max = send.current_max_send_streams();
                            if max != usize::MAX {
                                report.peak("server_max_concurrent_streams", max as u64);
                            }
                        }
                        let _open = open.enter();
                        call.replies
                            .end(ctx.deadline)
                            .await
                            .unwrap_or_else(open_at_end)
                    }
                };
                report.outcome(unit, &outcome, started.elapsed());
                backoff.after(&ctx, started.elapsed()).await;
            }
        });
    }
    units.join_all().await;
}
