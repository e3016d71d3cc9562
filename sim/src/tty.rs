//! The process peer on a pseudo-terminal (`tty=true`), with `pty-process`.
//!
//! stdout and stderr are one stream (the terminal), delivered on the Stdout channel. Resize
//! messages set the terminal size. Closing stdin sends the terminal's end-of-file character
//! (`^D`), which is what typing it would do: a terminal has no half-close.

use tokio::io::AsyncWriteExt;

use super::process::{ProcessSpec, deliver_only, environment, finish, pump_output, start_failure};
use super::resize::ResizeDecoder;
use proxy_core::channel::{Channel, Frame, Msg};
use proxy_core::peer::{DriverQueues, Peer, PeerError, PeerQueues};

/// The terminal size before the client sends one.
const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// The end-of-file character of a terminal in canonical mode.
const VEOF: u8 = 0x04;

/// Spawns `spec` on a new pseudo-terminal and drives it.
pub(crate) fn spawn(spec: &ProcessSpec<'_>, peer: PeerQueues, queues: DriverQueues) -> Peer {
    let argv0 = spec.argv[0].clone();
    let started = pty_process::open().and_then(|(pty, pts)| {
        pty.resize(pty_process::Size::new(DEFAULT_SIZE.0, DEFAULT_SIZE.1))?;
        let child = pty_process::Command::new(&argv0)
            .args(&spec.argv[1..])
            .env_clear()
            .envs(environment(spec))
            .current_dir(spec.dir)
            .kill_on_drop(true)
            .spawn(pts)?;
        Ok((pty, child))
    });
    let done = match started {
        Ok((pty, child)) => tokio::spawn(drive(pty, child, queues)),
        Err(e) => {
            let err = match e {
                pty_process::Error::Io(io) => io,
                other => std::io::Error::other(other.to_string()),
            };
            tokio::spawn(deliver_only(queues, start_failure(&argv0, &err)))
        }
    };
    peer.with_driver(done)
}

async fn drive(
    pty: pty_process::Pty,
    mut child: tokio::process::Child,
    queues: DriverQueues,
) -> Result<(), PeerError> {
    let DriverQueues {
        to_pipeline,
        mut from_pipeline,
    } = queues;
    let (reader, mut writer) = pty.into_split();
    let output = tokio::spawn(pump_output(
        reader,
        Channel::Stdout,
        to_pipeline.clone(),
        true,
    ));
    let mut resize = ResizeDecoder::default();
    let mut resizing = true;
    let mut listening = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(PeerError::io)?,
            msg = from_pipeline.recv(), if listening => match msg {
                Some(Msg::Data(Frame { channel: Channel::Stdin, bytes })) => {
                    if writer.write_all(&bytes).await.is_err() {
                        tracing::debug!("sim: terminal input failed");
                    }
                }
                Some(Msg::Close(Channel::Stdin)) => {
                    let _ = writer.write_all(&[VEOF]).await;
                }
                Some(Msg::Data(Frame { channel: Channel::Resize, bytes })) if resizing => {
                    match resize.push(&bytes) {
                        Ok(sizes) => {
                            for s in sizes {
                                if let Err(e) = writer.resize(pty_process::Size::new(s.height, s.width)) {
                                    tracing::debug!(error = %e, "sim: resize failed");
                                }
                            }
                        }
                        Err(e) => {
                            // Like the kubelet: a broken resize stream stops resizing only.
                            tracing::debug!(error = %e, "sim: resize stream unusable");
                            resizing = false;
                        }
                    }
                }
                Some(_) => {}
                None => {
                    listening = false;
                    let _ = child.start_kill();
                }
            },
        }
    };
    // The terminal reports EIO once the child (and its children) let go of it.
    finish(output, from_pipeline, listening, to_pipeline, status).await
}
