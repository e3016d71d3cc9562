//! The two pumps of a session, one per direction, and the chain runs they share: each
//! takes its direction's next input ([`next_input`]: a message, a pause, the sender gone, or
//! the session stopped), passes it through the filter chain with backpressure, and forwards
//! what survives.

use tokio::sync::{mpsc, watch};

use super::{EndHandle, EndSession, Filter, IDLE_FLUSH, Stop};
use crate::channel::{Channel, Frame, Msg, Protocol};
use crate::status::Status;

pub(super) struct UpEnd {
    pub(super) filters: Vec<Box<dyn Filter>>,
    pub(super) server_out: Option<mpsc::Sender<Msg>>,
}

pub(super) struct DownEnd {
    pub(super) filters: Vec<Box<dyn Filter>>,
    pub(super) client_out: mpsc::Sender<Msg>,
    pub(super) status: Option<Status>,
}

pub(super) async fn pump_to_server(
    mut client_in: mpsc::Receiver<Msg>,
    server_out: mpsc::Sender<Msg>,
    mut filters: Vec<Box<dyn Filter>>,
    end: EndHandle,
) -> UpEnd {
    let mut stopped = end.tx.subscribe();
    let mut out = Vec::new();
    loop {
        let msg = match next_input(&mut client_in, Holding::of(&filters), &mut stopped).await {
            Input::Stopped => break,
            Input::Pause => {
                release_chain(&mut filters, &mut out, Release::Idle).await;
                if !forward(&mut out, &server_out, &mut stopped).await {
                    break;
                }
                continue;
            }
            Input::Closed => {
                end.stop(Stop::ClientGone);
                break;
            }
            Input::Msg(msg) => msg,
        };
        match run_chain(&mut filters, msg, &mut out, &mut stopped).await {
            Ok(()) => {}
            Err(Halt::End(EndSession(status))) => {
                end.end(*status);
                break;
            }
            Err(Halt::Stopped) => break,
        }
        if !forward(&mut out, &server_out, &mut stopped).await {
            // The server side is gone; the other pump sees it end and reports why.
            break;
        }
    }
    UpEnd {
        filters,
        server_out: Some(server_out),
    }
}

pub(super) async fn pump_to_client(
    mut server_in: mpsc::Receiver<Msg>,
    client_out: mpsc::Sender<Msg>,
    mut filters: Vec<Box<dyn Filter>>,
    end: EndHandle,
) -> DownEnd {
    let mut stopped = end.tx.subscribe();
    let mut out = Vec::new();
    let mut status = None;
    loop {
        let msg = match next_input(&mut server_in, Holding::of(&filters), &mut stopped).await {
            Input::Stopped => break,
            Input::Pause => {
                release_chain(&mut filters, &mut out, Release::Idle).await;
                if !forward(&mut out, &client_out, &mut stopped).await {
                    end.stop(Stop::ClientGone);
                    break;
                }
                continue;
            }
            Input::Closed => None,
            Input::Msg(msg) => Some(msg),
        };
        match msg {
            None => {
                end.stop(Stop::ServerDone);
                break;
            }
            Some(Msg::Data(Frame {
                channel: Channel::Error,
                bytes,
            })) => {
                // Drivers deliver the error channel once, as v4 JSON.
                status = Some(Status::from_error_stream(Protocol::V4, &bytes));
            }
            Some(Msg::Close(Channel::Error)) => {}
            Some(msg) => {
                match run_chain(&mut filters, msg, &mut out, &mut stopped).await {
                    Ok(()) => {}
                    Err(Halt::End(EndSession(s))) => {
                        end.end(*s);
                        break;
                    }
                    Err(Halt::Stopped) => break,
                }
                if !forward(&mut out, &client_out, &mut stopped).await {
                    end.stop(Stop::ClientGone);
                    break;
                }
            }
        }
    }
    DownEnd {
        filters,
        client_out,
        status,
    }
}

/// What a pump does next.
enum Input {
    /// The session stopped.
    Stopped,
    /// A pause: filters holding bytes release what they can.
    Pause,
    /// The sending side is gone.
    Closed,
    /// A message.
    Msg(Msg),
}

/// What a direction's filters hold back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holding {
    Nothing,
    /// Bytes a pause of [`IDLE_FLUSH`] releases.
    UntilIdle,
    /// Bytes any pause releases (every holding filter says so).
    UntilAnyPause,
}

impl Holding {
    fn of(filters: &[Box<dyn Filter>]) -> Holding {
        let mut holding = filters.iter().filter(|f| f.holds()).peekable();
        if holding.peek().is_none() {
            Holding::Nothing
        } else if holding.all(|f| f.releases_at_any_pause()) {
            Holding::UntilAnyPause
        } else {
            Holding::UntilIdle
        }
    }
}

/// A pump's next input. A pause is [`IDLE_FLUSH`] without input, or no message waiting at
/// all when every filter that holds bytes may release them at any pause.
async fn next_input(
    input: &mut mpsc::Receiver<Msg>,
    holding: Holding,
    stopped: &mut watch::Receiver<Option<Stop>>,
) -> Input {
    if holding == Holding::UntilAnyPause {
        return match input.try_recv() {
            Ok(msg) => Input::Msg(msg),
            Err(mpsc::error::TryRecvError::Empty) => Input::Pause,
            Err(mpsc::error::TryRecvError::Disconnected) => Input::Closed,
        };
    }
    tokio::select! {
        biased;
        _ = stopped.wait_for(Option::is_some) => Input::Stopped,
        msg = input.recv() => msg.map_or(Input::Closed, Input::Msg),
        _ = tokio::time::sleep(IDLE_FLUSH), if holding == Holding::UntilIdle => Input::Pause,
    }
}

/// Sends `out` in order; false if the receiver is gone or the session stopped meanwhile.
async fn forward(
    out: &mut Vec<Msg>,
    to: &mpsc::Sender<Msg>,
    stopped: &mut watch::Receiver<Option<Stop>>,
) -> bool {
    for msg in out.drain(..) {
        let sent = tokio::select! {
            biased;
            _ = stopped.wait_for(Option::is_some) => return false,
            sent = to.send(msg) => sent,
        };
        if sent.is_err() {
            return false;
        }
    }
    true
}

/// Why a chain run stopped early.
enum Halt {
    /// A filter ended the session.
    End(EndSession),
    /// The session stopped while a filter was not ready.
    Stopped,
}

/// Passes `msg` through every filter in order, awaiting each filter's readiness; the
/// survivors end up in `out`.
async fn run_chain(
    filters: &mut [Box<dyn Filter>],
    msg: Msg,
    out: &mut Vec<Msg>,
    stopped: &mut watch::Receiver<Option<Stop>>,
) -> Result<(), Halt> {
    out.clear();
    out.push(msg);
    let mut next = Vec::new();
    for f in filters.iter_mut() {
        for m in out.drain(..) {
            if let Some(ready) = f.ready(&m) {
                tokio::select! {
                    biased;
                    _ = stopped.wait_for(Option::is_some) => return Err(Halt::Stopped),
                    _ = ready => {}
                }
            }
            f.on_msg(m, &mut next).map_err(Halt::End)?;
        }
        std::mem::swap(out, &mut next);
    }
    Ok(())
}

/// Which release a chain run asks of its filters.
#[derive(Clone, Copy)]
pub(super) enum Release {
    /// A pause: [`Filter::on_idle`].
    Idle,
    /// The end: [`Filter::on_finish`].
    Finish,
}

/// Asks every filter in order to release what it holds: what filter i releases still passes
/// filters i+1… (their readiness awaited: bounds hold while releasing too).
pub(super) async fn release_chain(
    filters: &mut [Box<dyn Filter>],
    out: &mut Vec<Msg>,
    how: Release,
) {
    out.clear();
    for i in 0..filters.len() {
        let mut released = Vec::new();
        match how {
            Release::Idle => filters[i].on_idle(&mut released),
            Release::Finish => filters[i].on_finish(&mut released),
        }
        for msg in released {
            let mut stage = vec![msg];
            for f in filters[i + 1..].iter_mut() {
                let mut next = Vec::new();
                for m in stage.drain(..) {
                    if let Some(ready) = f.ready(&m) {
                        ready.await;
                    }
                    // Releasing cannot end the session; a refused message is simply not
                    // delivered (fail closed), and the refusing filter ends the session on
                    // the next message.
                    let _ = f.on_msg(m, &mut next);
                }
                stage = next;
            }
            out.extend(stage);
        }
    }
}
