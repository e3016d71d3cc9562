//! The WebSocket server driver fed raw bytes.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::input::Input;
use crate::channel::{Msg, StreamOptions};
use crate::websocket::{WsProtocol, serve};

/// Socket buffer between the fuzzer's client and the driver.
pub(super) const PIPE: usize = 16 * 1024;
/// How long (in runtime time) the driver may take to end after the client's EOF. Run on a
/// paused-clock runtime, this only fires when the driver is stuck.
const DEADLINE: Duration = Duration::from_secs(600);

/// Raw bytes into `websocket::serve` over an in-memory duplex. The first byte picks the
/// sub-protocol, the stream options and whether the rest is sent verbatim or as a sequence
/// of masked client frames built from it. Properties: no panic; the driver delivers at most
/// as many payload bytes as the client sent; it ends once the client has sent EOF and the
/// pipeline has dropped `outgoing`; what it writes back is bounded by a constant plus what
/// the client sent (pongs).
///
/// Call on a current-thread runtime with a paused clock.
pub async fn websocket_serve(data: &[u8]) {
    let mut input = Input::new(data);
    let choice = input.byte();
    let protocol = WsProtocol::ALL[usize::from(choice & 7) % WsProtocol::ALL.len()];
    let opts = StreamOptions {
        stdin: choice & 0x08 != 0,
        stdout: choice & 0x10 != 0,
        stderr: choice & 0x20 != 0,
        tty: choice & 0x40 != 0,
    };
    let wire = if choice & 0x80 == 0 {
        input.rest().to_vec()
    } else {
        client_frames(&mut input)
    };
    let sent = wire.len();
    let (client, server) = tokio::io::duplex(PIPE);
    let mut peer = serve(server, protocol, opts);
    let (rd, mut wr) = tokio::io::split(client);
    let writer = tokio::spawn(async move {
        // The driver may stop reading (error, close); a failed write is then expected.
        let _ = wr.write_all(&wire).await;
        let _ = wr.shutdown().await;
        wr
    });
    let reader = count_read(rd);
    let run = async {
        let mut delivered = 0usize;
        while let Some(msg) = peer.incoming.recv().await {
            if let Msg::Data(frame) = msg {
                delivered += frame.bytes.len();
            }
        }
        assert!(
            delivered <= sent,
            "delivered {delivered} of {sent} bytes sent"
        );
        drop(peer.outgoing);
        let _ = peer.done.await.expect("driver task panicked");
        writer.await.expect("writer");
        reader.await.expect("reader")
    };
    let back = tokio::time::timeout(DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("{protocol:?}: driver did not end after EOF"));
    // The initial message, at most a close frame and a status (a few hundred bytes), plus a
    // pong for each ping the client sent: a pong is never longer than its masked ping, so
    // what comes back is bounded by what was sent (no amplification).
    assert!(
        back <= 1024 + sent,
        "{protocol:?}: wrote {back} bytes back for {sent} sent"
    );
}

/// Reads `rd` to its end (or first error) on a task; resolves to the number of bytes read.
pub(super) fn count_read<R>(mut rd: R) -> JoinHandle<usize>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut back = 0usize;
        let mut buf = vec![0; PIPE];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            back += n;
        }
        back
    })
}

/// Masked client frames: per frame a control byte (FIN, RSV bits, opcode), a length byte
/// (sometimes 16-bit), then that much payload from the input, masked with a zero key.
fn client_frames(input: &mut Input<'_>) -> Vec<u8> {
    let mut wire = Vec::new();
    while !input.is_empty() {
        let control = input.byte();
        let len = match input.byte() {
            126 => usize::from(input.u16()),
            n => usize::from(n % 126),
        };
        let payload = input.take(len);
        // FIN and opcode from the input; RSV bits only when the top bit pair asks for them.
        let first = if control & 0xc0 == 0xc0 {
            control
        } else {
            (control & 0x80) | (control & 0x0f)
        };
        wire.push(first);
        if payload.len() < 126 {
            wire.push(0x80 | payload.len() as u8);
        } else {
            wire.push(0x80 | 126);
            wire.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        wire.extend_from_slice(&[0; 4]);
        wire.extend_from_slice(payload);
    }
    wire
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(data: &[u8]) {
        websocket_serve(data).await;
    }

    #[tokio::test(start_paused = true)]
    async fn seeds_end_cleanly() {
        // v5 with stdin: one binary stdin message, a CLOSE of stdin, then a close frame.
        run(b"\xc8\x82\x03\x00abc\x82\x02\xff\x00\x88\x02\x03\xe8").await;
        // Garbage that is not a frame.
        run(b"\x08GET / HTTP/1.1\r\n\r\n").await;
        // v4 base64 text on stdin with a TTY resize.
        run(b"\xca\x81\x05\x30aGk=\x81\x214eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9").await;
        run(b"").await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_flood_is_answered_with_no_more_than_it_sent() {
        // Found by fuzzing: 100 pings of 11 bytes, each answered with a pong, wrote more than
        // the harness's old fixed bound; the bound is now relative to what was sent.
        let mut data = vec![0x89];
        for _ in 0..100 {
            data.extend([0x89, 11]);
            data.extend([b'p'; 11]);
        }
        run(&data).await;
    }
}
