//! gRPC over HTTP/2 by hand: one `Report` call, its length-prefixed messages, the collector's
//! replies, and how the stream ended.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::{ResponseFuture, SendRequest};
use h2::{RecvStream, SendStream};
use hygie_proto::pb;
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::report::Outcome;

const PATH: &str = "/hygie.v1.Inventory/Report";
/// The length prefix of every gRPC message: a compression flag and a big-endian length.
pub(crate) const PREFIX_LEN: usize = 5;
/// The largest reply we buffer; the collector's own limit is far below.
const MAX_REPLY: usize = 64 << 20;

/// The length prefix of a message of `len` bytes, uncompressed.
pub(crate) fn prefix(len: usize) -> [u8; PREFIX_LEN] {
    let [a, b, c, d] = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [0, a, b, c, d]
}

/// A well-formed message with its prefix.
pub(crate) fn frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut framed = Vec::with_capacity(PREFIX_LEN + body.len());
    framed.extend_from_slice(&prefix(body.len()));
    framed.extend_from_slice(&body);
    framed.into()
}

/// How an HTTP/2 error looks from here: who reset what, and why.
pub(crate) fn h2_outcome(error: &h2::Error) -> Outcome {
    let by = if error.is_remote() { "collector" } else { "us" };
    match error.reason() {
        Some(reason) if error.is_go_away() => Outcome::new("goaway", format!("{reason:?} by {by}")),
        Some(reason) if error.is_reset() => Outcome::new("reset", format!("{reason:?} by {by}")),
        _ if error.is_io() => Outcome::new("connection_error", error.to_string()),
        _ => Outcome::new("h2_error", error.to_string()),
    }
}

/// `%XX`-decoding of `grpc-message`, as gRPC encodes it.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The gRPC status in response headers (trailers-only) or trailers, if there is one.
fn grpc_status(headers: &http::HeaderMap) -> Option<Outcome> {
    let code: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    let mut detail = format!("{:?}: {message}", tonic::Code::from(code));
    if let Some(sequence) = headers
        .get(hygie_proto::REJECTED_SEQUENCE_METADATA)
        .and_then(|value| value.to_str().ok())
    {
        detail.push_str(&format!(" [rejected sequence {sequence}]"));
    }
    Some(Outcome::new("grpc_status", detail))
}

/// What the collector sent on a stream.
#[derive(Debug)]
pub(crate) enum Reply {
    Message(pb::CollectorMessage),
    End(Outcome),
}

/// The next thing that happened on a stream.
#[derive(Debug)]
pub(crate) enum Next {
    Message(pb::CollectorMessage),
    End(Outcome),
    /// Nothing arrived before the time given.
    Timeout,
}

/// One `Report` call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) sender: Sender,
    pub(crate) replies: Replies,
}

impl Call {
    /// Opens a stream, waiting at most `wait` for the connection to allow one more.
    pub(crate) async fn open(
        send: SendRequest<Bytes>,
        authority: &str,
        wait: Duration,
    ) -> Result<Call, Outcome> {
        let mut send = match tokio::time::timeout(wait, send.ready()).await {
            Ok(Ok(send)) => send,
            Ok(Err(error)) => return Err(h2_outcome(&error)),
            Err(_) => {
                return Err(Outcome::new(
                    "no_stream_slot",
                    format!("the connection allowed no new stream within {wait:?}"),
                ));
            }
        };
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("https://{authority}{PATH}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .map_err(|error| Outcome::new("bad_request", error.to_string()))?;
        let (response, stream) = send
            .send_request(request, false)
            .map_err(|error| h2_outcome(&error))?;
        let (sink, receiver) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_replies(response, sink));
        Ok(Call {
            sender: Sender { stream, sent: 0 },
            replies: Replies { receiver, reader },
        })
    }
}

/// The sending half of a call.
#[derive(Debug)]
pub(crate) struct Sender {
    stream: SendStream<Bytes>,
    /// Bytes the collector took so far (flow control granted and sent).
    pub(crate) sent: u64,
}

impl Sender {
    /// Sends `data` as the collector grants flow-control window, within `limit`; a collector
    /// that stops reading shows as `send_stalled`.
    pub(crate) async fn send(&mut self, data: Bytes, limit: Duration) -> Result<(), Outcome> {
        let total = data.len();
        match tokio::time::timeout(limit, self.send_all(data)).await {
            Ok(result) => result,
            Err(_) => Err(Outcome::new(
                "send_stalled",
                format!("the collector took no more of a {total}-byte write for {limit:?}"),
            )),
        }
    }

    async fn send_all(&mut self, mut data: Bytes) -> Result<(), Outcome> {
        while !data.is_empty() {
            self.stream.reserve_capacity(data.len());
            let granted = match std::future::poll_fn(|cx| self.stream.poll_capacity(cx)).await {
                Some(Ok(granted)) => granted,
                Some(Err(error)) => return Err(h2_outcome(&error)),
                None => return Err(Outcome::new("reset", "the stream closed while sending")),
            };
            if granted == 0 {
                continue;
            }
            let chunk = data.split_to(granted.min(data.len()));
            let len = chunk.len() as u64;
            self.stream
                .send_data(chunk, false)
                .map_err(|error| h2_outcome(&error))?;
            self.sent += len;
        }
        Ok(())
    }
}

/// The receiving half of a call.
#[derive(Debug)]
pub(crate) struct Replies {
    receiver: mpsc::UnboundedReceiver<Reply>,
    reader: JoinHandle<()>,
}

impl Replies {
    /// The next message or the end of the stream, waiting until `until`.
    pub(crate) async fn next(&mut self, until: Instant) -> Next {
        match tokio::time::timeout_at(until, self.receiver.recv()).await {
            Ok(Some(Reply::Message(message))) => Next::Message(message),
            Ok(Some(Reply::End(outcome))) => Next::End(outcome),
            Ok(None) => Next::End(Outcome::new("eof", "the stream's reader stopped")),
            Err(_) => Next::Timeout,
        }
    }

    /// How the stream ends, skipping messages; `None` if it is still open at `until`.
    pub(crate) async fn end(&mut self, until: Instant) -> Option<Outcome> {
        loop {
            match self.next(until).await {
                Next::Message(_) => {}
                Next::End(outcome) => return Some(outcome),
                Next::Timeout => return None,
            }
        }
    }
}

impl Drop for Replies {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_replies(response: ResponseFuture, sink: mpsc::UnboundedSender<Reply>) {
    let end = read(response, &sink).await;
    let _ = sink.send(Reply::End(end));
}

async fn read(response: ResponseFuture, sink: &mpsc::UnboundedSender<Reply>) -> Outcome {
    let response = match response.await {
        Ok(response) => response,
        Err(error) => return h2_outcome(&error),
    };
    // A status in the headers is a trailers-only response: the call was refused outright.
    if let Some(status) = grpc_status(response.headers()) {
        return status;
    }
    if response.status() != http::StatusCode::OK {
        return Outcome::new("http_status", response.status().to_string());
    }
    let mut body = response.into_body();
    if let Err(outcome) = read_messages(&mut body, sink).await {
        return outcome;
    }
    match body.trailers().await {
        Ok(Some(trailers)) => grpc_status(&trailers)
            .unwrap_or_else(|| Outcome::new("eof", "trailers without a gRPC status")),
        Ok(None) => Outcome::new("eof", "the stream ended without a gRPC status"),
        Err(error) => h2_outcome(&error),
    }
}

async fn read_messages(
    body: &mut RecvStream,
    sink: &mpsc::UnboundedSender<Reply>,
) -> Result<(), Outcome> {
    let mut buffer = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|error| h2_outcome(&error))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        buffer.extend_from_slice(&chunk);
        while buffer.len() >= PREFIX_LEN {
            let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
            if len > MAX_REPLY {
                return Err(Outcome::new("bad_reply", format!("a {len}-byte reply")));
            }
            if buffer.len() < PREFIX_LEN + len {
                break;
            }
            let framed = buffer.split_to(PREFIX_LEN + len);
            let message = pb::CollectorMessage::decode(&framed[PREFIX_LEN..])
                .map_err(|error| Outcome::new("bad_reply", error.to_string()))?;
            let _ = sink.send(Reply::Message(message));
        }
    }
    Ok(())
}
