//! `idle-tls` and `idle-tcp`: many connections that never say anything, each reopened as soon
//! as the collector closes it, to hold as many of its descriptors as it lets us.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Backoff, Ctx, open_at_end};
use crate::report::{Gauge, Outcome, Report};

/// Connections held open at once, `tls`: after a complete handshake with the agent certificate
/// (never sending the HTTP/2 preface); otherwise plain TCP that never starts TLS.
pub(super) async fn connections(ctx: Arc<Ctx>, report: Arc<Report>, tls: bool) {
    let count = if tls {
        ctx.options.idle_tls
    } else {
        ctx.options.idle_tcp
    };
    // Handshakes cost us CPU too: a few at a time is enough to fill any table quickly.
    let gate = Arc::new(Semaphore::new(ctx.options.connect_parallel.max(1)));
    let open = Gauge::new(Arc::clone(&report), "open_peak");
    let mut units = JoinSet::new();
    for unit in 0..count {
        let (ctx, report, gate, open) = (
            Arc::clone(&ctx),
            Arc::clone(&report),
            Arc::clone(&gate),
            Arc::clone(&open),
        );
        units.spawn(async move {
            let mut backoff = Backoff::new();
            while ctx.running() {
                let started = Instant::now();
                let permit = gate.acquire().await;
                let outcome = if tls {
                    match until_deadline(&ctx, ctx.target.tls()).await {
                        Ok(mut stream) => {
                            drop(permit);
                            report.add("opened", 1);
                            let _open = open.enter();
                            hold(&ctx, &mut stream).await
                        }
                        Err(outcome) => outcome,
                    }
                } else {
                    match until_deadline(&ctx, ctx.target.tcp()).await {
                        Ok(mut stream) => {
                            drop(permit);
                            report.add("opened", 1);
                            let _open = open.enter();
                            hold(&ctx, &mut stream).await
                        }
                        Err(outcome) => outcome,
                    }
                };
                report.outcome(unit, &outcome, started.elapsed());
                backoff.after(&ctx, started.elapsed()).await;
            }
        });
    }
    units.join_all().await;
}

/// A connection attempt, cut short by the deadline: one still pending then was neither
/// accepted nor refused (a collector out of descriptors leaves it in its listen backlog).
async fn until_deadline<T>(
    ctx: &Ctx,
    connect: impl Future<Output = Result<T, Outcome>>,
) -> Result<T, Outcome> {
    tokio::select! {
        result = connect => result,
        () = tokio::time::sleep_until(ctx.deadline) => Err(Outcome::new(
            "pending_at_end",
            "still connecting when the attack ended",
        )),
    }
}

/// Reads (and ignores) whatever the collector sends until it closes the connection or the
/// attack ends.
async fn hold(ctx: &Ctx, stream: &mut (impl AsyncRead + Unpin)) -> Outcome {
    let mut buffer = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) => return Outcome::new("closed", "by the collector"),
                Ok(_) => {}
                Err(error) => return Outcome::new("closed", error.to_string()),
            },
            () = tokio::time::sleep_until(ctx.deadline) => return open_at_end(),
        }
    }
}
