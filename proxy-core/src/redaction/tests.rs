use bytes::Bytes;
use tokio::task::JoinHandle;

use super::*;
use crate::peer::{DriverQueues, Peer};
use crate::pipeline::{Direction, Pipeline, SessionEnd};
use crate::status::Status;

/// A synthetic AWS access key id, assembled at run time.
fn aws_key() -> String {
    ["AK", "IA", "Z7Q3W5E8R2T4Y6U1"].concat()
}

/// A synthetic PEM private key block, assembled at run time.
fn pem_block() -> String {
    let body: String = (0..12)
        .map(|i| {
            format!(
                "{}\n",
                &"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".repeat(3)[i..i + 60]
            )
        })
        .collect();
    format!(
        "-----BEGIN {k}-----\n{body}-----END {k}-----\n",
        k = ["PRIVATE", "KEY"].join(" ")
    )
}

/// A running session whose client-bound output is redacted under fingerprint key `key`:
/// the pipeline task and the client's and the server's driver queues.
fn redacting_session(key: &[u8]) -> (JoinHandle<SessionEnd>, DriverQueues, DriverQueues) {
    let redactor = build(None, Some(key)).unwrap();
    let mut pipeline = Pipeline::new();
    pipeline.filter(
        Direction::ToClient,
        Box::new(RedactFilter::new(redactor, None)),
    );
    let (client, c) = Peer::fake();
    let (server, s) = Peer::fake();
    (tokio::spawn(pipeline.run(client, server)), c, s)
}

/// Runs `frames` from the server through a redacting pipeline; returns (stdout, stderr,
/// frames seen by the client).
async fn through(frames: Vec<Frame>) -> (String, String, Vec<Msg>) {
    let (session, mut c, s) = redacting_session(b"test key");
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(m) = c.from_pipeline.recv().await {
            got.push(m);
        }
        got
    });
    for f in frames {
        s.to_pipeline.send(Msg::Data(f)).await.unwrap();
    }
    let status = Frame::new(Channel::Error, Status::success().to_json());
    s.to_pipeline.send(Msg::Data(status)).await.unwrap();
    drop(s);
    let got = reader.await.unwrap();
    session.await.unwrap();
    let text = |ch: Channel| {
        let bytes: Vec<u8> = got
            .iter()
            .filter_map(|m| match m {
                Msg::Data(f) if f.channel == ch => Some(f.bytes.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        String::from_utf8(bytes).unwrap()
    };
    (text(Channel::Stdout), text(Channel::Stderr), got)
}

#[tokio::test]
async fn secrets_split_across_frames_are_masked_and_the_rest_is_untouched() {
    let key = aws_key();
    let pem = pem_block();
    let out = format!("config loaded\nAWS_ACCESS_KEY_ID={key}\n{pem}done\n");
    // Split at every 7 bytes: the key and the PEM block each span several frames.
    let frames: Vec<Frame> = out
        .as_bytes()
        .chunks(7)
        .map(|c| Frame::new(Channel::Stdout, Bytes::copy_from_slice(c)))
        .collect();
    let (stdout, _, got) = through(frames).await;
    assert!(!stdout.contains(&key), "{stdout}");
    assert!(
        !stdout.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        "{stdout}"
    );
    assert!(stdout.contains("[REDACTED:"), "{stdout}");
    assert!(stdout.starts_with("config loaded\n"), "{stdout}");
    assert!(stdout.ends_with("done\n"), "{stdout}");
    // Held-back bytes came out before the status, which is last.
    assert!(matches!(got.last(), Some(Msg::Data(f)) if f.channel == Channel::Error));
}

#[tokio::test]
async fn channels_are_redacted_apart() {
    let key = aws_key();
    let (head, tail) = key.split_at(10);
    // Half a key on stdout and half on stderr is no key.
    let frames = vec![
        Frame::new(Channel::Stdout, Bytes::from(format!("a {head}"))),
        Frame::new(Channel::Stderr, Bytes::from(format!("{tail} b\n"))),
        Frame::new(Channel::Stderr, Bytes::from(format!("leak {key}\n"))),
    ];
    let (stdout, stderr, _) = through(frames).await;
    assert_eq!(stdout, format!("a {head}"));
    assert!(stderr.starts_with(&format!("{tail} b\n")), "{stderr}");
    assert!(!stderr.contains(&key), "{stderr}");
}

#[tokio::test]
async fn clean_frames_pass_without_a_copy() {
    let redactor = build(None, Some(b"k")).unwrap();
    let mut filter = RedactFilter::new(redactor, None);
    let line =
        Bytes::from_static(b"GET /healthz 200 12ms trace=4bf92f3577b34da6a3ce929d0e0e4736\n");
    let mut out = Vec::new();
    filter
        .on_msg(
            Msg::Data(Frame::new(Channel::Stdout, line.clone())),
            &mut out,
        )
        .unwrap();
    filter.on_finish(&mut out);
    let released: Vec<&Bytes> = out
        .iter()
        .filter_map(|m| match m {
            Msg::Data(f) => Some(&f.bytes),
            _ => None,
        })
        .collect();
    // Released as slices of the frame itself (possibly split where a match was possible).
    let range = line.as_ptr() as usize..line.as_ptr() as usize + line.len();
    for piece in &released {
        assert!(
            range.contains(&(piece.as_ptr() as usize)),
            "a clean piece was copied"
        );
    }
    let joined: Vec<u8> = released.iter().flat_map(|b| b.to_vec()).collect();
    assert_eq!(joined, line);
}

#[test]
fn a_disabled_config_builds_nothing_and_a_bad_rules_file_is_an_error() {
    let off = RedactionConfig {
        enabled: false,
        ..RedactionConfig::default()
    };
    assert!(off.build().unwrap().is_none());
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n- id: x\n  regex: 'a+'\n  keywords: [a]\n  bogus: 1\n",
    )
    .unwrap();
    let bad = RedactionConfig {
        rules: Some(rules),
        ..RedactionConfig::default()
    };
    let err = bad.build().unwrap_err();
    assert!(err.contains("bogus"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_prompt_shows_without_further_output() {
    let (_session, mut c, s) = redacting_session(b"k");
    s.to_pipeline
        .send(Msg::Data(Frame::new(
            Channel::Stdout,
            Bytes::from_static(b"sh-5.2# "),
        )))
        .await
        .unwrap();
    // Nothing else comes: the pause releases the prompt.
    let got = tokio::time::timeout(std::time::Duration::from_secs(1), c.from_pipeline.recv())
        .await
        .expect("the prompt was held back");
    assert_eq!(
        got,
        Some(Msg::Data(Frame::new(
            Channel::Stdout,
            Bytes::from_static(b"sh-5.2# ")
        )))
    );
    drop(s);
}

#[tokio::test(start_paused = true)]
async fn an_echo_that_could_start_a_secret_shows_without_waiting() {
    use std::time::Duration;
    use tokio::time::{Instant, timeout};

    let stdout = |s: &str| Msg::Data(Frame::new(Channel::Stdout, Bytes::from(s.to_string())));
    let (_session, mut c, s) = redacting_session(b"k");
    // Each is the start of a trigger (`sk-`, `AKIA`, `-----BEGIN `) or nothing at all.
    for echo in ["s", "A", "-----", "l"] {
        let start = Instant::now();
        s.to_pipeline.send(stdout(echo)).await.unwrap();
        let got = timeout(Duration::from_secs(1), c.from_pipeline.recv()).await;
        assert_eq!(got, Ok(Some(stdout(echo))), "{echo:?} was held back");
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "{echo:?} waited for a pause"
        );
    }
    // A secret still arriving is not released by any pause.
    let secret = ["hun", "ter", "2"].concat();
    s.to_pipeline
        .send(stdout(&format!(" password={}", &secret[..3])))
        .await
        .unwrap();
    let mut shown = String::new();
    while let Ok(Some(Msg::Data(f))) = timeout(Duration::from_secs(1), c.from_pipeline.recv()).await
    {
        shown.push_str(std::str::from_utf8(&f.bytes).unwrap());
    }
    assert!(!shown.contains("password="), "{shown:?}");
    s.to_pipeline
        .send(stdout(&format!("{}\n", &secret[3..])))
        .await
        .unwrap();
    while !shown.ends_with('\n') {
        match timeout(Duration::from_secs(1), c.from_pipeline.recv()).await {
            Ok(Some(Msg::Data(f))) => shown.push_str(std::str::from_utf8(&f.bytes).unwrap()),
            other => panic!("{other:?} after {shown:?}"),
        }
    }
    assert!(!shown.contains(&secret), "{shown:?}");
    assert!(shown.contains("password=[REDACTED:"), "{shown:?}");
}
