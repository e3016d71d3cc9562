//! The per-session recorder task: batches events into chunks, spools, stores, seals.
//!
//! Events arrive on a queue bounded in *bytes* (see [`RecorderHandle`]). A chunk is cut when
//! its payload reaches the chunk size or when its first event is older than the chunk
//! interval; chunk 0 (the start event) is stored at once so every session is visible. Each
//! chunk is written to the spool directory (fsync'd), then to the store, then removed from
//! the spool. When the store fails the session is ended through the pipeline's end handle,
//! later chunks go to the spool only, and the session is left for recovery, which uploads
//! the spool and seals it as `interrupted`. When the spool fails (a full disk) the session
//! is ended the same way, but its chunks, this one included, go on to the store directly
//! and it is sealed as usual: what the client saw is stored, not lost with the spool.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::chunk::{self, Hash};
use super::event::{Event, Timed};
use super::handle::{Item, Shared};
use super::seal::{self, ByteTotals, EndInfo, SealBody, SealSigner};
use super::store::{RecordStore, chunk_name, seal_name};
use crate::channel::Channel;
use crate::pipeline::EndHandle;
use crate::status::Status;

/// The running state of one session's recording.
pub(crate) struct Writer {
    pub(crate) store: RecordStore,
    pub(crate) signer: Option<SealSigner>,
    pub(crate) spool: Option<PathBuf>,
    pub(crate) session: String,
    pub(crate) id: u128,
    pub(crate) chunk_bytes: usize,
    pub(crate) interval: Duration,
    pub(crate) start_ms: u64,
    pub(crate) shared: Arc<Shared>,
    pub(crate) end: EndHandle,
    pub(crate) seq: u64,
    pub(crate) prev: Hash,
    pub(crate) buf: Vec<u8>,
    pub(crate) buf_events: u32,
    pub(crate) buf_accounted: usize,
    pub(crate) opened: Option<Instant>,
    pub(crate) events: u64,
    pub(crate) totals: ByteTotals,
    pub(crate) failed: bool,
}

impl Writer {
    /// Runs until the session's end arrives (or every handle is gone).
    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Item>, start: Timed) {
        if let Some(dir) = self.spool_dir()
            && let Err(e) = std::fs::create_dir_all(&dir)
        {
            self.lose_spool(&dir, &format!("cannot create the spool directory: {e}"));
        }
        self.append(start, 0);
        self.flush().await;
        let end = loop {
            let deadline = self.opened.map(|t| t + self.interval);
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = sleep_until(deadline) => {
                    self.flush().await;
                    continue;
                }
            };
            match item {
                Some(Item::Event { timed, size }) => {
                    self.append(timed, size);
                    if self.buf.len() >= self.chunk_bytes {
                        self.flush().await;
                    }
                }
                Some(Item::End(end)) => break Some(end),
                None => break None,
            }
        };
        self.flush().await;
        if self.failed {
            // Left in the spool for recovery, which seals it as interrupted.
            warn!(session = %self.session, "recording left for recovery");
            return;
        }
        let end = end.unwrap_or_else(|| EndInfo {
            reason: "interrupted".into(),
            status: "Failure".into(),
            exit_code: None,
            message: "the session ended without reporting how".into(),
            end_ms: now_ms(),
        });
        let body = SealBody {
            format: seal::FORMAT.into(),
            session: self.session.clone(),
            chunks: self.seq,
            final_hash: hex::encode(self.prev),
            events: self.events,
            bytes: self.totals,
            start_ms: self.start_ms,
            end,
            signer: self.signer.as_ref().map(SealSigner::info),
        };
        let obj = seal::encode(&body, self.signer.as_ref());
        match self
            .store
            .put_new(&seal_name(&self.session), obj.into())
            .await
        {
            Ok(()) => {
                if let Some(dir) = self.spool_dir() {
                    let _ = std::fs::remove_dir_all(dir);
                }
                debug!(session = %self.session, chunks = self.seq, "recording sealed");
            }
            Err(e) => {
                warn!(session = %self.session, error = %e, "sealing failed; left for recovery")
            }
        }
    }

    fn spool_dir(&self) -> Option<PathBuf> {
        self.spool.as_ref().map(|s| s.join(&self.session))
    }

    fn append(&mut self, timed: Timed, size: usize) {
        if let Event::Data { channel, bytes } = &timed.event {
            let n = bytes.len() as u64;
            match channel {
                Channel::Stdin => self.totals.stdin += n,
                Channel::Stdout => self.totals.stdout += n,
                Channel::Stderr => self.totals.stderr += n,
                Channel::Resize => self.totals.resize += n,
                Channel::Error => {}
            }
        }
        timed.encode(&mut self.buf);
        self.buf_events += 1;
        self.buf_accounted += size;
        self.events += 1;
        self.opened.get_or_insert_with(Instant::now);
    }

    /// Cuts the open chunk and stores it (or only spools it once the store has failed).
    async fn flush(&mut self) {
        if self.buf_events == 0 {
            return;
        }
        let payload = std::mem::take(&mut self.buf);
        let events = std::mem::take(&mut self.buf_events);
        let accounted = std::mem::take(&mut self.buf_accounted);
        self.opened = None;
        let obj = match chunk::encode(self.id, self.seq, &self.prev, events, &payload) {
            Ok(o) => o,
            Err(e) => return self.fail(&format!("cannot compress a chunk: {e}")),
        };
        let name = chunk_name(&self.session, self.seq);
        self.prev = chunk::hash(&obj);
        self.seq += 1;
        let spooled = match self.spool_dir() {
            Some(dir) => match spool_write(&dir, &name, &obj) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.lose_spool(&dir, &format!("cannot spool a chunk: {e}"));
                    None
                }
            },
            None => None,
        };
        if self.failed {
            self.shared.release(accounted);
            return;
        }
        match self.store.put_new(&name, obj).await {
            Ok(()) => {
                if let Some(p) = spooled {
                    let _ = std::fs::remove_file(p);
                }
            }
            Err(e) => self.fail(&format!("the recording store failed: {e}")),
        }
        self.shared.release(accounted);
    }

    /// The store failed: ends the session and leaves it to recovery.
    fn fail(&mut self, why: &str) {
        if self.failed {
            return;
        }
        self.failed = true;
        self.end_unrecordable(why);
    }

    /// The spool failed: ends the session; its chunks go on to the store without a spool.
    fn lose_spool(&mut self, dir: &Path, why: &str) {
        self.spool = None;
        if !self.failed {
            // Every chunk spooled so far is stored: nothing there for recovery.
            let _ = std::fs::remove_dir_all(dir);
        }
        self.end_unrecordable(why);
    }

    fn end_unrecordable(&self, why: &str) {
        warn!(session = %self.session, error = why, "recording failed; ending the session");
        let message = format!(
            "kubewitness: this session cannot be recorded ({why}); it was ended because \
             unrecorded sessions are not allowed"
        );
        self.shared.fail(message.clone());
        self.end.end(Status::failure("RecordingFailed", message));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Writes `obj` to `dir/<file name of name>` and syncs it.
fn spool_write(dir: &Path, name: &str, obj: &Bytes) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let file = name.rsplit('/').next().unwrap_or(name);
    let path = dir.join(file);
    let tmp = dir.join(format!("{file}.tmp"));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(obj)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    });
    if written.is_err() {
        // A partial file would keep a full disk full.
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| path)
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
