//! The seed inputs of `portforward_serve`, as unit tests.

use super::*;

/// Mode bits (see `wire::Mode`).
const TUNNEL: u8 = 0x01;
const ECHO: u8 = 0x04;
const HOLD: u8 = 0x10;
const DROP_PAIRS: u8 = 0x80;

/// A SYN_STREAM on a fresh id: `streamtype` error (0) or data (1), port 8080, request id
/// `rid`.
fn syn(kind: u8, rid: u8) -> [u8; 4] {
    [0, 0, kind, rid]
}

/// DATA on the most recently opened stream.
fn data(payload: &[u8], fin: bool) -> Vec<u8> {
    let mut op = vec![1, 0, (payload.len() as u8) << 1 | u8::from(fin)];
    op.extend_from_slice(payload);
    op
}

fn pair_with_data(mode: u8) -> Vec<u8> {
    let mut input = vec![mode];
    input.extend(syn(0, 7));
    input.extend(syn(1, 7));
    input.extend(data(b"GET / HTTP/1.1\r\n\r\n", false));
    input.extend(data(b"", true));
    // A second, so the replies are out before the client's EOF (which, in the tunnel
    // without a close frame, ends the WebSocket both ways).
    input.extend([6, 1]);
    input
}

#[tokio::test(start_paused = true)]
async fn a_valid_pair_with_data_is_forwarded() {
    for mode in [0, ECHO, TUNNEL, TUNNEL | ECHO | 0x02, HOLD | 0x20 | 0x40] {
        let out = run(&pair_with_data(mode)).await;
        assert_eq!((out.announced, out.delivered), (1, 18), "mode {mode:#x}");
        assert!(out.back > 0, "mode {mode:#x}: replies written");
    }
}

#[tokio::test(start_paused = true)]
async fn bad_headers_announce_nothing() {
    let mut input = vec![ECHO];
    // streamtype other, missing; port 0..; port missing; request id too long; arbitrary.
    input.extend([0, 0, 0x02, 0, 0, 0, 0x03, 0, 0, 0x08, 0, 0, 0, 0x0c, 0]);
    input.extend([
        0,
        0,
        0x01 | 0x08,
        2,
        0,
        0,
        0,
        0x20,
        0,
        0,
        0x31,
        3,
        b'a',
        b' ',
        b'b',
    ]);
    // A data stream whose port differs from its error stream's.
    input.extend([0, 0, 0x00, 9, 0, 0, 0x05, 9, 9]);
    input.extend(data(b"lost", true));
    let out = run(&input).await;
    assert_eq!((out.announced, out.delivered), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_pair_flood_stops_at_the_cap() {
    let mut flood = Vec::new();
    for rid in 0..100u8 {
        flood.extend(syn(0, rid));
        flood.extend(syn(1, rid));
        // A second between pairs: the driver has seen a dropped pair end before the next.
        flood.extend([6, 1]);
    }
    // Held pairs count against the cap; dropped ones make room for the next.
    let held = run(&[&[HOLD][..], &flood].concat()).await;
    assert_eq!(held.announced, MAX_PAIRS);
    let dropped = run(&[&[DROP_PAIRS][..], &flood].concat()).await;
    assert_eq!(dropped.announced, 100);
    // Back to back, the cap may refuse pairs whose end the driver has not seen yet.
    let unpaused: Vec<u8> = (0..100u8)
        .flat_map(|rid| [syn(0, rid), syn(1, rid)])
        .flatten()
        .collect();
    let fast = run(&[&[DROP_PAIRS][..], &unpaused].concat()).await;
    assert!((MAX_PAIRS..=100).contains(&fast.announced));
}

#[tokio::test(start_paused = true)]
async fn pauses_pings_and_resets_end_cleanly() {
    // An incomplete pair timed out, a ping, a reset of a live pair, the tunnel's controls.
    let mut input = vec![TUNNEL | ECHO];
    input.extend(syn(0, 1));
    input.extend([6, 40, 3, 0, 1]);
    input.extend(syn(0, 2));
    input.extend(syn(1, 2));
    input.extend(data(b"abc", false));
    input.extend([2, 0, 5, 8, 0x10, b'p', b'i', b'n', b'g', 8, 0x03]);
    let out = run(&input).await;
    assert_eq!((out.announced, out.delivered), (1, 3));
    run(b"").await;
    run(&[0, 9]).await;
}

#[tokio::test(start_paused = true)]
async fn data_on_streams_never_opened_is_not_amplified() {
    // Found by this harness: each 8-byte DATA on a stream never opened drew a 16-byte
    // reset; the driver now answers MAX_INVALID_STREAM_RESETS of them, then gives up.
    let mut input = vec![0];
    for _ in 0..1000 {
        input.extend([1, 0xc0, 0x00, 0x63, 0]);
    }
    let out = run(&input).await;
    assert!(out.back <= BACK_SLACK, "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn halves_that_time_out_draw_one_reset_each() {
    // 64 error streams without their data stream, timed out, nineteen times over: each
    // draws a SYN_REPLY and a RST_STREAM (more than its SYN_STREAM: PER_STREAM).
    let mut input = vec![0];
    for _ in 0..19 {
        input.extend((0..64u8).flat_map(|rid| syn(0, rid)));
        input.extend([6, 31]);
    }
    let out = run(&input).await;
    assert_eq!(out.announced, 0);
    assert!(out.back > wire::script(&input).sent, "{out:?}");
}
