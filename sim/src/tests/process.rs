use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::super::process::{ProcessSpec, spawn};
use super::collect;
use proxy_core::channel::{Channel, Frame, Msg, StreamOptions};
use proxy_core::peer::{MAX_FRAME_LEN, Peer};
use proxy_core::status::Status;

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn opts(stdin: bool, tty: bool) -> StreamOptions {
    StreamOptions {
        stdin,
        stdout: true,
        stderr: !tty,
        tty,
    }
}

fn run(args: &[&str], o: StreamOptions) -> Peer {
    let argv = argv(args);
    spawn(&ProcessSpec {
        argv: &argv,
        opts: o,
        dir: Path::new("/tmp"),
        hostname: "web-0",
    })
}

#[tokio::test]
async fn exit_codes_and_signals_become_statuses() {
    let mut p = run(&["sh", "-c", "echo out; echo err >&2"], opts(false, false));
    let (out, err, status) = collect(&mut p).await;
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"out\n"[..], &b"err\n"[..])
    );
    assert!(status.is_success());
    let (_, _, status) = collect(&mut run(&["sh", "-c", "exit 3"], opts(false, false))).await;
    assert_eq!(status.exit_code_value(), Some(3));
    let (_, _, status) =
        collect(&mut run(&["sh", "-c", "kill -TERM $$"], opts(false, false))).await;
    assert_eq!(status.exit_code_value(), Some(128 + 15));
}

#[tokio::test]
async fn command_not_found_is_an_internal_error() {
    let (_, _, status) = collect(&mut run(&["no-such-command-kw"], opts(false, false))).await;
    assert!(!status.is_success());
    assert_eq!(status.reason, "InternalError");
    assert!(
        status
            .message
            .contains("exec: \"no-such-command-kw\": executable file not found in $PATH"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn stdin_reaches_the_process_and_close_is_eof() {
    let mut p = run(&["cat"], opts(true, false));
    p.outgoing
        .send(Msg::Data(Frame::new(
            Channel::Stdin,
            Bytes::from_static(b"hello "),
        )))
        .await
        .unwrap();
    p.outgoing
        .send(Msg::Data(Frame::new(
            Channel::Stdin,
            Bytes::from_static(b"sim\n"),
        )))
        .await
        .unwrap();
    p.outgoing.send(Msg::Close(Channel::Stdin)).await.unwrap();
    let (out, _, status) = collect(&mut p).await;
    assert_eq!(out, b"hello sim\n");
    assert!(status.is_success());
}

#[tokio::test]
async fn dropping_outgoing_cancels_the_process() {
    let Peer {
        mut incoming,
        outgoing,
        done,
    } = run(&["sleep", "60"], opts(true, false));
    drop(outgoing);
    let msg = tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("killed promptly");
    let Some(Msg::Data(Frame {
        channel: Channel::Error,
        bytes,
    })) = msg
    else {
        panic!("{msg:?}")
    };
    assert_eq!(
        Status::from_error_stream(proxy_core::channel::Protocol::V4, &bytes).exit_code_value(),
        Some(128 + 9)
    );
    assert!(incoming.recv().await.is_none());
    done.await.unwrap().unwrap();
}

#[tokio::test]
async fn tty_runs_on_a_pty_and_applies_resizes() {
    let mut p = run(
        &[
            "sh",
            "-c",
            "read _; stty size; test -t 0 && echo tty; echo $TERM",
        ],
        opts(true, true),
    );
    p.outgoing
        .send(Msg::Data(Frame::new(
            Channel::Resize,
            Bytes::from_static(b"{\"Width\":132,"),
        )))
        .await
        .unwrap();
    p.outgoing
        .send(Msg::Data(Frame::new(
            Channel::Resize,
            Bytes::from_static(b"\"Height\":43}\n"),
        )))
        .await
        .unwrap();
    // Give the resize a moment to land before the shell asks for the size.
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.outgoing
        .send(Msg::Data(Frame::new(
            Channel::Stdin,
            Bytes::from_static(b"go\r"),
        )))
        .await
        .unwrap();
    let (out, err, status) = collect(&mut p).await;
    let text = String::from_utf8_lossy(&out);
    assert!(err.is_empty(), "a tty has no stderr");
    assert!(text.contains("43 132"), "{text:?}");
    assert!(text.contains("tty\r\n"), "{text:?}");
    assert!(text.contains("xterm"), "{text:?}");
    assert!(status.is_success());
}

#[tokio::test]
async fn large_output_streams_byte_exact_in_bounded_frames() {
    const LEN: usize = 64 * 1024 * 1024;
    // `seq` output is deterministic; compare a running FNV-1a hash instead of buffering.
    let script = format!("seq 1 100000000 | head -c {LEN}");
    let mut p = run(&["sh", "-c", &script], opts(false, false));
    let expected = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("seq 1 100000000 | head -c {LEN} | cksum"))
        .output()
        .unwrap();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let (mut total, mut status) = (0usize, None);
    while let Some(msg) = p.incoming.recv().await {
        let Msg::Data(Frame { channel, bytes }) = msg else {
            continue;
        };
        match channel {
            Channel::Stdout => {
                assert!(bytes.len() <= MAX_FRAME_LEN);
                total += bytes.len();
                for b in bytes.iter() {
                    hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
                }
            }
            Channel::Error => status = Some(bytes),
            _ => {}
        }
    }
    assert_eq!(total, LEN);
    assert!(status.is_some());
    // Recompute the hash from a second run of the same deterministic command.
    let again = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("seq 1 100000000 | head -c {LEN}"))
        .output()
        .unwrap();
    let mut want = 0xcbf2_9ce4_8422_2325u64;
    for b in &again.stdout {
        want = (want ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    assert_eq!(hash, want);
    assert!(expected.status.success());
}
