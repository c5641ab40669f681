//! The JSON-lines source: parsing, bad lines, partial lines, resuming, following.

use std::io::Write;
use std::time::Duration;

use super::*;

fn now() -> Timestamp {
    "2026-11-25T10:00:00Z".parse().unwrap()
}

#[test]
fn a_minimal_line_gets_defaults() {
    let observation = parse_line(br#"{"mac":"00:09:5C:11:22:01"}"#, now())
        .unwrap()
        .unwrap();
    assert_eq!(observation.mac.to_string(), "00:09:5c:11:22:01");
    assert_eq!(observation.seen_at, now());
    assert_eq!(observation.source, Source::Manual);
}

#[test]
fn blank_and_comment_lines_are_ignored() {
    assert!(parse_line(b"   ", now()).unwrap().is_none());
    assert!(
        parse_line(b"# exported 2026-11-25", now())
            .unwrap()
            .is_none()
    );
}

#[test]
fn bad_lines_say_why() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "not a JSON observation"),
        (br#"{"mac":"zz"}"#, "is not a MAC address"),
        (
            br#"{"mac":"01:00:5e:00:00:01"}"#,
            "mac: 01:00:5e:00:00:01 is a multicast",
        ),
        (
            br#"{"mac":"00:09:5c:11:22:01","colour":"red"}"#,
            "unknown field `colour`",
        ),
        (
            br#"{"mac":"00:09:5c:11:22:01","hostname":"a\u001b[31mb"}"#,
            "hostname: contains a control character",
        ),
        (
            br#"{"mac":"00:09:5c:11:22:01","ips":["0.0.0.0"]}"#,
            "ips[0]: 0.0.0.0 cannot",
        ),
    ];
    for (line, expected) in cases {
        let error = parse_line(line, now()).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
    }
}

#[test]
fn the_reader_keeps_partial_lines_and_counts_offsets() {
    let mut reader = Reader {
        key: "file:test".into(),
        path: "test".into(),
        inode: 0,
        offset: 0,
        line: 0,
        partial: Vec::new(),
        discarding: None,
        report: FileReport::default(),
    };
    let first = br#"{"mac":"00:09:5c:11:22:01"}"#;
    let mut bytes = first.to_vec();
    bytes.extend_from_slice(b"\nnot json\n{\"mac\":\"00:09:5c");
    let event = reader.consume(&bytes, now());
    assert_eq!(event.observations.len(), 1);
    let position = event.position.unwrap();
    assert_eq!(position.offset, first.len() as u64 + 1 + 9);
    assert_eq!(position.line, 2);
    assert_eq!(reader.report.skipped, 1);

    let event = reader.consume(b":11:22:02\"}\n", now());
    assert_eq!(event.observations[0].mac.to_string(), "00:09:5c:11:22:02");
    assert_eq!(event.position.unwrap().offset, bytes.len() as u64 + 12);
}

#[test]
fn an_over_long_line_is_skipped_and_its_bytes_counted() {
    let mut reader = Reader {
        key: "file:test".into(),
        path: "test".into(),
        inode: 0,
        offset: 0,
        line: 0,
        partial: Vec::new(),
        discarding: None,
        report: FileReport::default(),
    };
    let long = vec![b'x'; MAX_LINE_BYTES + 10];
    reader.consume(&long, now());
    reader.consume(&long, now());
    let event = reader.consume(b"x\n{\"mac\":\"00:09:5c:11:22:03\"}\n", now());
    assert_eq!(event.observations.len(), 1);
    assert_eq!(reader.report.skipped, 1);
    assert_eq!(
        event.position.unwrap().offset,
        2 * long.len() as u64 + 2 + 28
    );
}

fn settings(path: &Path, follow: bool) -> FileSourceSettings {
    FileSourceSettings {
        path: path.to_owned(),
        follow,
        poll_interval: Duration::from_millis(20),
    }
}

async fn collect(
    receiver: &mut mpsc::Receiver<SourceEvent>,
) -> (Vec<Observation>, Option<SourcePosition>) {
    let mut observations = Vec::new();
    let mut position = None;
    while let Ok(event) = receiver.try_recv() {
        observations.extend(event.observations);
        position = event.position.or(position);
    }
    (observations, position)
}

#[tokio::test]
async fn reads_a_whole_file_then_resumes_after_the_saved_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obs.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, r#"{{"mac":"00:09:5c:11:22:01"}}"#).unwrap();
    writeln!(file, "garbage").unwrap();
    write!(file, r#"{{"mac":"00:09:5c:11:22:02"}}"#).unwrap(); // no final newline
    drop(file);

    let (sender, mut receiver) = mpsc::channel(16);
    let report = FileSource::new(settings(&path, false))
        .run(None, sender, CancellationToken::new())
        .await;
    assert_eq!(
        report,
        FileReport {
            observations: 2,
            skipped: 1
        }
    );
    let (observations, position) = collect(&mut receiver).await;
    assert_eq!(observations.len(), 2);
    let position = position.unwrap();
    assert_eq!(position.offset, std::fs::metadata(&path).unwrap().len());

    // More lines appended; a restart from the saved position reads only those.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(file).unwrap();
    writeln!(file, r#"{{"mac":"00:09:5c:11:22:03"}}"#).unwrap();
    drop(file);
    let (sender, mut receiver) = mpsc::channel(16);
    FileSource::new(settings(&path, false))
        .run(Some(position), sender, CancellationToken::new())
        .await;
    let (observations, _) = collect(&mut receiver).await;
    assert_eq!(
        observations
            .iter()
            .map(|o| o.mac.to_string())
            .collect::<Vec<_>>(),
        ["00:09:5c:11:22:03"]
    );
}

#[tokio::test]
async fn following_picks_up_appended_lines_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obs.jsonl");
    std::fs::write(&path, "").unwrap();
    let (sender, mut receiver) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let task =
        tokio::spawn(FileSource::new(settings(&path, true)).run(None, sender, shutdown.clone()));

    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(file, r#"{{"mac":"00:09:5c:11:22:01"}}"#).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.observations.len(), 1);

    shutdown.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.observations, 1);
}

/// Waits for `count` observations on `receiver`; returns the MACs seen.
async fn receive(receiver: &mut mpsc::Receiver<SourceEvent>, count: usize) -> Vec<String> {
    let mut macs = Vec::new();
    while macs.len() < count {
        match tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await {
            Ok(Some(event)) => macs.extend(event.observations.iter().map(|o| o.mac.to_string())),
            _ => break,
        }
    }
    macs
}

#[tokio::test]
async fn a_missing_file_is_waited_for_then_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.jsonl");
    let (sender, mut receiver) = mpsc::channel(16);
    let task = tokio::spawn(FileSource::new(settings(&path, false)).run(
        None,
        sender,
        CancellationToken::new(),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "still looking for it");
    std::fs::write(&path, "{\"mac\":\"00:09:5c:11:22:01\"}\n").unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.observations, 1);
    assert_eq!(receive(&mut receiver, 1).await, ["00:09:5c:11:22:01"]);
}

#[tokio::test]
async fn a_followed_file_that_disappears_is_picked_up_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obs.jsonl");
    let line = |n: u8| format!("{{\"mac\":\"00:09:5c:11:22:{n:02x}\"}}\n");
    let (sender, mut receiver) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    // Absent at start, even when following.
    let task =
        tokio::spawn(FileSource::new(settings(&path, true)).run(None, sender, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(60)).await;
    std::fs::write(&path, line(1)).unwrap();
    assert_eq!(receive(&mut receiver, 1).await, ["00:09:5c:11:22:01"]);
    // Deleted, then written anew: the new file is read from its start.
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    std::fs::write(&path, format!("{}{}", line(2), line(3))).unwrap();
    assert_eq!(
        receive(&mut receiver, 2).await,
        ["00:09:5c:11:22:02", "00:09:5c:11:22:03"]
    );
    shutdown.cancel();
    let report = task.await.unwrap();
    assert_eq!(report.observations, 3);
}

#[tokio::test]
async fn an_unreadable_path_is_retried_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: opening it for reading fails on every try.
    let path = dir.path().join("obs.jsonl");
    std::fs::create_dir(&path).unwrap();
    let (sender, mut receiver) = mpsc::channel(16);
    let task = tokio::spawn(FileSource::new(settings(&path, false)).run(
        None,
        sender,
        CancellationToken::new(),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished());
    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, "{\"mac\":\"00:09:5c:11:22:07\"}\n").unwrap();
    assert_eq!(receive(&mut receiver, 1).await, ["00:09:5c:11:22:07"]);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn rotation_keeps_the_old_files_tail_and_reads_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obs.jsonl");
    let line = |n: u8| format!("{{\"mac\":\"00:09:5c:11:22:{n:02x}\"}}\n");
    std::fs::write(&path, line(1)).unwrap();
    let (sender, mut receiver) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let task =
        tokio::spawn(FileSource::new(settings(&path, true)).run(None, sender, shutdown.clone()));
    let mut seen = std::collections::BTreeSet::new();
    async fn wait_for(
        count: usize,
        receiver: &mut mpsc::Receiver<SourceEvent>,
        seen: &mut std::collections::BTreeSet<String>,
    ) -> usize {
        while seen.len() < count {
            match tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await {
                Ok(Some(event)) => {
                    seen.extend(event.observations.iter().map(|o| o.mac.to_string()))
                }
                _ => break,
            }
        }
        seen.len()
    }
    assert_eq!(wait_for(1, &mut receiver, &mut seen).await, 1);

    // The writer renames the file, writes one last line to the old one, then starts a new one.
    let mut old = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::fs::rename(&path, dir.path().join("obs.jsonl.1")).unwrap();
    old.write_all(line(2).as_bytes()).unwrap();
    drop(old);
    std::fs::write(&path, format!("{}{}", line(3), line(4))).unwrap();

    assert_eq!(wait_for(4, &mut receiver, &mut seen).await, 4, "{seen:?}");
    shutdown.cancel();
    task.await.unwrap();
}
