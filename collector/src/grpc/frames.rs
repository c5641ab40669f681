//! Time and memory bounds on the gRPC messages of a stream, enforced on its HTTP/2 body before
//! tonic buffers them.
//!
//! tonic buffers a message until it is complete and has no notion of how long that may take: a
//! peer that sends 15 MB of a claimed 16 MB and stops holds that memory for as long as it
//! likes. So each request body is wrapped in a [`GuardedBody`] that follows the gRPC
//! length-prefixed framing (a 1-byte flag and a 4-byte big-endian length, then the message) as
//! bytes pass and enforces:
//! - a **message deadline**: once the first byte of a message has arrived, the whole of it must
//!   arrive within `message_timeout`;
//! - an **idle timeout**: a stream that completes no message for `idle_timeout` ends. Agents
//!   send a Heartbeat when they have nothing else to send (HTTP/2 pings do not count: they keep
//!   a connection, not a stream, alive);
//! - a **wire budget** shared by all streams: when a message's length is known, that many bytes
//!   are reserved before any of it is passed on, and released once it is complete. When the
//!   budget is spent the body stops reading, and HTTP/2 flow control holds the sender back.
//!
//! Either deadline ends the stream with `DEADLINE_EXCEEDED`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::PollSemaphore;
use tonic::Status;

/// Deadlines of a stream's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDeadlines {
    /// Time a started message has to arrive whole.
    pub message_timeout: Duration,
    /// Time a stream may go without completing a message.
    pub idle_timeout: Duration,
}

impl Default for StreamDeadlines {
    fn default() -> Self {
        StreamDeadlines {
            message_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// What a chunk of body bytes did to the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent {
    /// The first byte of a message's header arrived.
    Started,
    /// The header is complete: the message is this long.
    Declared(u32),
    /// The last byte of the message arrived.
    Completed,
}

/// Where a stream is in its gRPC framing. Pure: fed bytes, it reports events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framing {
    state: State,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum State {
    #[default]
    Between,
    Header {
        have: usize,
        bytes: [u8; 5],
    },
    Body {
        remaining: u32,
    },
}

impl Framing {
    /// Whether a message has started and not completed.
    pub fn in_message(&self) -> bool {
        self.state != State::Between
    }

    /// Follows `chunk`, appending what happened to `events`.
    pub fn advance(&mut self, mut chunk: &[u8], events: &mut Vec<FrameEvent>) {
        while !chunk.is_empty() {
            match &mut self.state {
                State::Between => {
                    events.push(FrameEvent::Started);
                    self.state = State::Header {
                        have: 0,
                        bytes: [0; 5],
                    };
                }
                State::Header { have, bytes } => {
                    let take = (5 - *have).min(chunk.len());
                    bytes[*have..*have + take].copy_from_slice(&chunk[..take]);
                    *have += take;
                    chunk = &chunk[take..];
                    if *have == 5 {
                        let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                        events.push(FrameEvent::Declared(length));
                        if length == 0 {
                            events.push(FrameEvent::Completed);
                            self.state = State::Between;
                        } else {
                            self.state = State::Body { remaining: length };
                        }
                    }
                }
                State::Body { remaining } => {
                    let take = u32::try_from(chunk.len())
                        .unwrap_or(u32::MAX)
                        .min(*remaining);
                    *remaining -= take;
                    chunk = &chunk[take as usize..];
                    if *remaining == 0 {
                        events.push(FrameEvent::Completed);
                        self.state = State::Between;
                    }
                }
            }
        }
    }
}

/// A request body under [`StreamDeadlines`] and the shared wire budget.
pub struct GuardedBody {
    inner: tonic::body::Body,
    framing: Framing,
    deadlines: StreamDeadlines,
    timer: Pin<Box<Sleep>>,
    budget: PollSemaphore,
    /// The most a single message may reserve (larger ones are refused by tonic anyway).
    max_reservation: u32,
    /// Permits of the messages in flight, oldest first.
    reserved: std::collections::VecDeque<OwnedSemaphorePermit>,
    /// A data frame read but not yet passed on, waiting for `waiting_for` bytes of budget.
    held: Option<Frame<Bytes>>,
    waiting_for: Vec<u32>,
    pending_completions: usize,
    events: Vec<FrameEvent>,
    ended: bool,
}

impl std::fmt::Debug for GuardedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedBody")
            .field("framing", &self.framing)
            .field("reserved", &self.reserved.len())
            .finish_non_exhaustive()
    }
}

impl GuardedBody {
    /// Wraps a request body.
    pub fn new(
        inner: tonic::body::Body,
        deadlines: StreamDeadlines,
        budget: Arc<Semaphore>,
        max_reservation: u32,
    ) -> Self {
        GuardedBody {
            inner,
            framing: Framing::default(),
            deadlines,
            timer: Box::pin(tokio::time::sleep(deadlines.idle_timeout)),
            budget: PollSemaphore::new(budget),
            max_reservation,
            reserved: std::collections::VecDeque::new(),
            held: None,
            waiting_for: Vec::new(),
            pending_completions: 0,
            events: Vec::new(),
            ended: false,
        }
    }

    fn expired(&mut self) -> Status {
        self.ended = true;
        if self.framing.in_message() {
            Status::deadline_exceeded(format!(
                "a message was not completed within {:?} of its first byte",
                self.deadlines.message_timeout
            ))
        } else {
            Status::deadline_exceeded(format!(
                "nothing received for {:?} (agents send a heartbeat when idle)",
                self.deadlines.idle_timeout
            ))
        }
    }

    /// Applies the events of the frame just read; what needs budget is queued in
    /// `waiting_for`, completions that must wait for it are counted.
    fn follow(&mut self, data: &Bytes) {
        self.events.clear();
        self.framing.advance(data, &mut self.events);
        let now = Instant::now();
        for event in std::mem::take(&mut self.events) {
            match event {
                FrameEvent::Started => {
                    self.timer
                        .as_mut()
                        .reset(now + self.deadlines.message_timeout);
                }
                FrameEvent::Declared(length) => {
                    self.waiting_for.push(length.clamp(1, self.max_reservation));
                }
                FrameEvent::Completed => {
                    // Messages complete in order, and those holding budget are older than those
                    // still waiting for it: release at once when the completed one holds some.
                    if self.reserved.pop_front().is_none() {
                        self.pending_completions += 1;
                    }
                    if !self.framing.in_message() {
                        self.timer.as_mut().reset(now + self.deadlines.idle_timeout);
                    }
                }
            }
        }
    }

    /// Acquires the budget the held frame waits for; ready once all of it is held.
    fn poll_budget(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        while let Some(&needed) = self.waiting_for.first() {
            match self.budget.poll_acquire_many(cx, needed) {
                Poll::Ready(Some(permit)) => {
                    self.reserved.push_back(permit);
                    self.waiting_for.remove(0);
                }
                Poll::Ready(None) => {
                    return Poll::Ready(Err(Status::unavailable("the collector is shutting down")));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        for _ in 0..std::mem::take(&mut self.pending_completions) {
            self.reserved.pop_front();
        }
        Poll::Ready(Ok(()))
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.held.is_some() {
            match this.poll_budget(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(this.held.take().map(Ok)),
                Poll::Ready(Err(status)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(status)));
                }
                Poll::Pending => {
                    // Waiting for budget is the collector's doing, not the peer's: the message
                    // deadline still runs, so a stream cannot wait forever either.
                    if this.timer.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(this.expired())));
                    }
                    return Poll::Pending;
                }
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let Some(data) = frame.data_ref() else {
                    return Poll::Ready(Some(Ok(frame)));
                };
                let data = data.clone();
                this.follow(&data);
                if this.waiting_for.is_empty() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                this.held = Some(frame);
                match this.poll_budget(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(this.held.take().map(Ok)),
                    Poll::Ready(Err(status)) => {
                        this.ended = true;
                        Poll::Ready(Some(Err(status)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Poll::Ready(Some(Err(status))) => Poll::Ready(Some(Err(status))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(this.expired())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.held.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The tower layer that wraps every request body in a [`GuardedBody`].
#[derive(Debug, Clone)]
pub struct GuardLayer {
    deadlines: StreamDeadlines,
    budget: Arc<Semaphore>,
    max_reservation: u32,
}

impl GuardLayer {
    /// Guards with these deadlines and a wire budget of `budget_bytes` shared by all streams.
    pub fn new(deadlines: StreamDeadlines, budget_bytes: usize) -> Self {
        let max_reservation = u32::try_from(hygie_proto::limits::MAX_MESSAGE_BYTES)
            .unwrap_or(u32::MAX)
            .min(u32::try_from(budget_bytes).unwrap_or(u32::MAX));
        GuardLayer {
            deadlines,
            budget: Arc::new(Semaphore::new(budget_bytes.min(Semaphore::MAX_PERMITS))),
            max_reservation: max_reservation.max(1),
        }
    }

    /// Bytes of the wire budget not reserved right now.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service whose request bodies are guarded.
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    layer: GuardLayer,
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for Guarded<S>
where
    S: tower::Service<http::Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let layer = &self.layer;
        let request = request.map(|body| {
            tonic::body::Body::new(GuardedBody::new(
                body,
                layer.deadlines,
                Arc::clone(&layer.budget),
                layer.max_reservation,
            ))
        });
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests;
