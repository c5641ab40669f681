//! The attacks, each a set of concurrent units (streams or connections) that keep at it until
//! the deadline: whatever the collector does to a unit is recorded, and the unit starts again.
//!
//! A unit the collector refuses at once backs off (up to [`MAX_PAUSE`]): the load stays the
//! attack's own (held connections, held streams), not a reconnection storm, which would measure
//! the cost of a TLS handshake instead of the defence against what the unit does.

mod agent;
mod flood;
mod idle;

use std::sync::Arc;
use std::time::Duration;

use hygie_proto::pb;
use tokio::time::Instant;

use crate::grpc::{Call, Next};
use crate::messages;
use crate::net::{Pool, Target};
use crate::report::{Outcome, Report};
use crate::{Attack, Options};

/// Pause before a unit tries again, so a refusing collector is not met with a busy loop.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause of a unit the collector keeps refusing.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// A unit ended sooner than this was refused rather than served.
const QUICK: Duration = Duration::from_secs(1);
/// How long opening a stream may wait for the connection to allow it.
const STREAM_WAIT: Duration = Duration::from_secs(5);
/// How long a Welcome may take after the Hello.
const WELCOME_WAIT: Duration = Duration::from_secs(10);
/// How long one write may wait for flow-control window.
const SEND_LIMIT: Duration = Duration::from_secs(30);
/// How long a complete message may wait for its answer.
const REPLY_LIMIT: Duration = Duration::from_secs(30);

/// What every attack shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) target: Arc<Target>,
    pub(crate) deadline: Instant,
    pub(crate) options: Options,
}

impl Ctx {
    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    async fn pause(&self) {
        tokio::time::sleep_until(self.deadline.min(Instant::now() + RETRY_PAUSE)).await;
    }

    /// `limit` from now, but no later than the deadline.
    fn within(&self, limit: Duration) -> Instant {
        self.deadline.min(Instant::now() + limit)
    }
}

/// The pauses of one unit between its attempts.
#[derive(Debug)]
struct Backoff {
    pause: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff { pause: RETRY_PAUSE }
    }

    /// Pauses after an attempt that lasted `lasted`: longer each time it was cut short.
    async fn after(&mut self, ctx: &Ctx, lasted: Duration) {
        let pause = self.pause;
        self.pause = if lasted < QUICK {
            (pause * 2).min(MAX_PAUSE)
        } else {
            RETRY_PAUSE
        };
        tokio::time::sleep_until(ctx.deadline.min(Instant::now() + pause)).await;
    }
}

/// Outcome of a unit still open when the attack ends.
fn open_at_end() -> Outcome {
    Outcome::new("open_at_end", "still open when the attack ended")
}

/// Runs one attack to the deadline.
pub(crate) async fn run(attack: Attack, ctx: Arc<Ctx>, report: Arc<Report>) {
    match attack {
        Attack::Amplify => flood::amplify(ctx, report).await,
        Attack::Stall => flood::stall(ctx, report).await,
        Attack::Streams => flood::streams(ctx, report).await,
        Attack::IdleTls => idle::connections(ctx, report, true).await,
        Attack::IdleTcp => idle::connections(ctx, report, false).await,
        Attack::Invent => agent::invent(ctx, report).await,
        Attack::Regress => agent::regress(ctx, report).await,
        Attack::All => {}
    }
}

/// Opens a stream on connection `unit` of `pool` and says Hello for `outbox`.
async fn open_with_hello(
    ctx: &Ctx,
    pool: &Pool,
    unit: usize,
    outbox: [u8; 16],
) -> Result<(Call, pb::Welcome), Outcome> {
    let send = pool.get(unit).await?;
    let mut call = Call::open(send, pool.authority(), STREAM_WAIT).await?;
    call.sender
        .send(messages::hello(outbox), SEND_LIMIT)
        .await?;
    let until = ctx.within(WELCOME_WAIT);
    loop {
        match call.replies.next(until).await {
            Next::Message(pb::CollectorMessage {
                kind: Some(pb::collector_message::Kind::Welcome(welcome)),
            }) => return Ok((call, welcome)),
            Next::Message(_) => {}
            Next::End(outcome) => return Err(outcome),
            Next::Timeout if !ctx.running() => return Err(open_at_end()),
            Next::Timeout => {
                return Err(Outcome::new(
                    "no_welcome",
                    format!("no Welcome within {WELCOME_WAIT:?} of the Hello"),
                ));
            }
        }
    }
}
