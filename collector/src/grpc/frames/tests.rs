//! The framing on literal bytes, and the guard's deadlines and budget under paused time.

use std::future::poll_fn;

use tokio::sync::mpsc;

use super::*;

fn message(payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
    bytes.extend(payload);
    bytes
}

#[test]
fn framing_follows_messages_split_and_joined_anyhow() {
    use FrameEvent::*;
    let mut framing = Framing::default();
    let mut events = Vec::new();
    let mut stream = message(b"abc");
    stream.extend(message(b""));
    stream.extend(message(b"hello"));
    // One byte at a time.
    for byte in &stream {
        framing.advance(std::slice::from_ref(byte), &mut events);
    }
    let expected = vec![
        Started,
        Declared(3),
        Completed,
        Started,
        Declared(0),
        Completed,
        Started,
        Declared(5),
        Completed,
    ];
    assert_eq!(events, expected);
    assert!(!framing.in_message());
    // All at once.
    let mut joined = Framing::default();
    let mut at_once = Vec::new();
    joined.advance(&stream, &mut at_once);
    assert_eq!(at_once, expected);
    // A header cut in the middle leaves the stream inside a message.
    let mut cut = Framing::default();
    let mut events = Vec::new();
    cut.advance(&stream[..3], &mut events);
    assert_eq!(events, vec![Started]);
    assert!(cut.in_message());
}

/// A request body fed from a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.0
            .poll_recv(cx)
            .map(|data| data.map(|data| Ok(Frame::data(data))))
    }
}

const DEADLINES: StreamDeadlines = StreamDeadlines {
    message_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(30),
};

fn guarded(budget: &Arc<Semaphore>) -> (mpsc::Sender<Bytes>, GuardedBody) {
    let (sender, receiver) = mpsc::channel(8);
    let body = GuardedBody::new(
        tonic::body::Body::new(ChannelBody(receiver)),
        DEADLINES,
        Arc::clone(budget),
        1 << 20,
    );
    (sender, body)
}

async fn next(body: &mut GuardedBody) -> Option<Result<Frame<Bytes>, Status>> {
    poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

#[tokio::test(start_paused = true)]
async fn a_silent_stream_ends_after_the_idle_timeout() {
    let budget = Arc::new(Semaphore::new(1000));
    let (_sender, mut body) = guarded(&budget);
    let started = Instant::now();
    let status = next(&mut body).await.unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert!(status.message().contains("nothing received"), "{status:?}");
    assert_eq!(started.elapsed(), DEADLINES.idle_timeout);
    assert!(
        next(&mut body).await.is_none(),
        "the body ends after the error"
    );
}

#[tokio::test(start_paused = true)]
async fn complete_messages_keep_a_stream_alive() {
    let budget = Arc::new(Semaphore::new(1000));
    let (sender, mut body) = guarded(&budget);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        sender
            .send(Bytes::from(message(b"heartbeat")))
            .await
            .unwrap();
        assert!(next(&mut body).await.unwrap().is_ok());
    }
    assert_eq!(
        budget.available_permits(),
        1000,
        "completed messages give their budget back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_started_message_must_finish_within_its_deadline() {
    let budget = Arc::new(Semaphore::new(1000));
    let (sender, mut body) = guarded(&budget);
    let whole = message(&[7; 100]);
    sender
        .send(Bytes::copy_from_slice(&whole[..50]))
        .await
        .unwrap();
    assert!(next(&mut body).await.unwrap().is_ok());
    assert_eq!(
        budget.available_permits(),
        900,
        "the declared length is reserved"
    );
    let started = Instant::now();
    let status = next(&mut body).await.unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert!(status.message().contains("not completed"), "{status:?}");
    assert_eq!(started.elapsed(), DEADLINES.message_timeout);
    drop(body);
    assert_eq!(
        budget.available_permits(),
        1000,
        "an ended stream gives its budget back"
    );
}

#[tokio::test(start_paused = true)]
async fn the_shared_budget_holds_a_second_stream_back_until_the_first_finishes() {
    let budget = Arc::new(Semaphore::new(150));
    let (first_sender, mut first) = guarded(&budget);
    let (second_sender, mut second) = guarded(&budget);
    let whole = message(&[1; 100]);
    first_sender
        .send(Bytes::copy_from_slice(&whole[..10]))
        .await
        .unwrap();
    assert!(next(&mut first).await.unwrap().is_ok());
    second_sender
        .send(Bytes::copy_from_slice(&whole[..10]))
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let frame = next(&mut second).await;
        (frame, second)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "no budget for the second message yet"
    );
    first_sender
        .send(Bytes::copy_from_slice(&whole[10..]))
        .await
        .unwrap();
    assert!(next(&mut first).await.unwrap().is_ok());
    let (frame, _second) = waiting.await.unwrap();
    assert!(
        frame.unwrap().is_ok(),
        "the second stream proceeds once budget is back"
    );
}
