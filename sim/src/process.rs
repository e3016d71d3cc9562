//! The "container": argv run as a local process and exposed as a [`Peer`] with client-role
//! semantics, like a client-role driver talking to a kubelet.
//!
//! * `incoming` delivers Stdout/Stderr frames (at most [`MAX_FRAME_LEN`] bytes each, read
//!   straight into a fresh buffer and frozen, so 64 MiB stream with memory bounded by the
//!   queue depth), then ONE `Frame { Error, v4 JSON Status }` — success, `NonZeroExitCode`
//!   with the exit code, or `128 + n` for a signal — and then ends.
//! * `outgoing` takes Stdin data; `Close(Stdin)` closes the child's stdin; Resize data is a
//!   JSON stream applied to the pseudo-terminal (see [`super::tty`]).
//! * Dropping every `outgoing` sender cancels the session: the child is killed.
//! * A command that cannot be started yields an `InternalError` failure worded like
//!   containerd's (`exec: "x": executable file not found in $PATH`).

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use proxy_core::channel::{Channel, Frame, Msg, StreamOptions};
use proxy_core::peer::{DriverQueues, MAX_FRAME_LEN, Peer, PeerError};
use proxy_core::status::Status;

/// `PATH` of exec'd processes.
pub const SIM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run and how.
#[derive(Clone, Debug)]
pub struct ProcessSpec<'a> {
    /// The command and its arguments (argv[0] is looked up in [`SIM_PATH`]).
    pub argv: &'a [String],
    /// Which streams the session carries; with `tty` the process runs on a pseudo-terminal.
    pub opts: StreamOptions,
    /// Working directory and `HOME`.
    pub dir: &'a Path,
    /// `HOSTNAME` (the pod name).
    pub hostname: &'a str,
}

/// The environment of an exec'd process.
pub(crate) fn environment(spec: &ProcessSpec<'_>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PATH", SIM_PATH.to_owned()),
        ("HOME", spec.dir.display().to_string()),
        ("HOSTNAME", spec.hostname.to_owned()),
    ];
    if spec.opts.tty {
        env.push(("TERM", "xterm".to_owned()));
    }
    env
}

/// The status the kubelet reports for a finished process.
pub(crate) fn exit_status(status: ExitStatus) -> Status {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255);
    match code {
        0 => Status::success(),
        n => Status::exit_code(u8::try_from(n & 0xff).unwrap_or(u8::MAX)),
    }
}

/// The failure for a command that could not be started.
pub(crate) fn start_failure(argv0: &str, err: &std::io::Error) -> Status {
    let why = match err.kind() {
        std::io::ErrorKind::NotFound => "executable file not found in $PATH".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    };
    let mut s = Status::failure(
        "InternalError",
        format!(
            "Internal error occurred: error executing command in container: failed to exec in container: \
             OCI runtime exec failed: exec failed: unable to start container process: exec: \"{argv0}\": {why}: unknown"
        ),
    );
    s.code = 500;
    s
}

/// Runs `spec` and returns its peer. Must be called inside a tokio runtime.
pub fn spawn(spec: &ProcessSpec<'_>) -> Peer {
    let (peer, queues) = Peer::channel();
    let Some((argv0, args)) = spec.argv.split_first() else {
        let status = Status::failure("BadRequest", "you must specify at least 1 command");
        return peer.with_driver(tokio::spawn(deliver_only(queues, status)));
    };
    if spec.opts.tty {
        return super::tty::spawn(spec, peer, queues);
    }
    let io = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let child = Command::new(argv0)
        .args(args)
        .env_clear()
        .envs(environment(spec))
        .current_dir(spec.dir)
        .stdin(io(spec.opts.stdin))
        .stdout(io(spec.opts.stdout))
        .stderr(io(spec.opts.stderr))
        .kill_on_drop(true)
        .spawn();
    let done = match child {
        Ok(child) => tokio::spawn(drive_pipes(child, queues)),
        Err(e) => tokio::spawn(deliver_only(queues, start_failure(argv0, &e))),
    };
    peer.with_driver(done)
}

/// A peer that only reports `status` (a command that never ran).
pub(crate) async fn deliver_only(queues: DriverQueues, status: Status) -> Result<(), PeerError> {
    let frame = Frame::new(Channel::Error, status.to_json());
    let _ = queues.to_pipeline.send(Msg::Data(frame)).await;
    Ok(())
}

/// Copies `reader` to `channel` frames until EOF, an error, or nobody listening.
/// With `eio_is_eof`, `EIO` ends the stream cleanly (a pty master once the child is gone).
pub(crate) async fn pump_output<R: AsyncRead + Unpin>(
    mut reader: R,
    channel: Channel,
    tx: mpsc::Sender<Msg>,
    eio_is_eof: bool,
) {
    let mut total = 0u64;
    loop {
        let mut buf = BytesMut::with_capacity(MAX_FRAME_LEN);
        match reader.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if tx
                    .send(Msg::Data(Frame::new(channel, buf.freeze())))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                if !(eio_is_eof && e.raw_os_error() == Some(5)) {
                    tracing::debug!(?channel, error = %e, "sim: process output failed");
                }
                break;
            }
        }
    }
    tracing::trace!(?channel, total, "sim: process output ended");
}

async fn pump_if<R: AsyncRead + Unpin>(reader: Option<R>, channel: Channel, tx: mpsc::Sender<Msg>) {
    if let Some(r) = reader {
        pump_output(r, channel, tx, false).await;
    }
}

async fn drive_pipes(mut child: Child, queues: DriverQueues) -> Result<(), PeerError> {
    let DriverQueues {
        to_pipeline,
        mut from_pipeline,
    } = queues;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let (out_tx, err_tx) = (to_pipeline.clone(), to_pipeline.clone());
    let output = tokio::spawn(async move {
        tokio::join!(
            pump_if(out, Channel::Stdout, out_tx),
            pump_if(err, Channel::Stderr, err_tx)
        );
    });
    let mut stdin = child.stdin.take();
    let mut listening = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(PeerError::io)?,
            msg = from_pipeline.recv(), if listening => match msg {
                Some(msg) => input(&mut stdin, msg).await,
                None => {
                    tracing::debug!("sim: session cancelled, killing the process");
                    listening = false;
                    stdin = None;
                    let _ = child.start_kill();
                }
            },
        }
    };
    drop(stdin);
    finish(output, from_pipeline, listening, to_pipeline, status).await
}

/// After the child exited: lets `output` drain (unless the session is cancelled meanwhile),
/// then delivers the status and ends `incoming`.
pub(crate) async fn finish(
    mut output: JoinHandle<()>,
    mut from_pipeline: mpsc::Receiver<Msg>,
    mut listening: bool,
    to_pipeline: mpsc::Sender<Msg>,
    status: ExitStatus,
) -> Result<(), PeerError> {
    loop {
        tokio::select! {
            _ = &mut output => break,
            msg = from_pipeline.recv(), if listening => if msg.is_none() {
                output.abort();
                listening = false;
            },
        }
    }
    let frame = Frame::new(Channel::Error, exit_status(status).to_json());
    let _ = to_pipeline.send(Msg::Data(frame)).await;
    Ok(())
}

async fn input(stdin: &mut Option<ChildStdin>, msg: Msg) {
    match msg {
        Msg::Data(Frame {
            channel: Channel::Stdin,
            bytes,
        }) => {
            if let Some(w) = stdin.as_mut()
                && w.write_all(&bytes).await.is_err()
            {
                // The child closed its stdin; later input is discarded like a kubelet does.
                *stdin = None;
            }
        }
        Msg::Close(Channel::Stdin) => *stdin = None,
        // Resize without a terminal, or a channel the process does not read: ignored.
        _ => {}
    }
}
