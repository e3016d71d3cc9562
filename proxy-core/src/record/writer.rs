//! The per-session recorder: batches events into chunks, spools, stores, seals.
//!
//! Events arrive on a queue bounded in *bytes* (see [`RecorderHandle`]). A chunk is cut when
//! its payload reaches the chunk size or when its first event is older than the chunk
//! interval; chunk 0 (the start event) is cut at once so every session is visible.
//!
//! # Pipeline
//!
//! Two tasks per session, so no stage waits for another stage's I/O:
//!
//! 1. the [`Writer`] encodes events into the open chunk, cuts it, and compresses and hashes
//!    it on a blocking thread (zstd and SHA-256 never run on the runtime's workers), chaining
//!    each chunk to the previous one's hash; it hands sealed chunks to
//! 2. the [`Storer`], which takes every chunk waiting for it as one *batch*: it writes each
//!    chunk of the batch to the spool directory and fsyncs it (in parallel, so the file
//!    system commits them together), and only when the whole batch is durable in the spool
//!    does it write the chunks to the store (overlapping; in order when there is no spool),
//!    removing each from the spool once stored. A chunk's window bytes are released once it
//!    is stored.
//!
//! While one batch is being made durable the next chunks are filled, compressed and queued,
//! so a store with a fixed per-write latency (an fsync, a network round trip) costs one
//! latency per *window*, not per chunk. The durability rule is unchanged: window bytes are
//! released only when their chunk is in the store, so the client is never more than one
//! window ahead of durable storage. Because a batch reaches the store only after all of it
//! is in the spool, a crash can never leave a stored chunk after a gap that the spool
//! cannot fill: recovery's chain stays a prefix.
//!
//! When the store fails the session is ended through the pipeline's end handle, later
//! chunks go to the spool only, and the session is left for recovery, which uploads the
//! spool and seals it as `interrupted`. When the spool fails (a full disk) the session is
//! ended the same way, but its chunks, the failed batch included, go on to the store
//! directly (in order) and it is sealed as usual: what the client saw is stored, not lost
//! with the spool.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::chunk::{self, Hash};
use super::event::{Event, Timed};
use super::handle::{Item, Shared};
use super::ledger::Ledger;
use super::seal::{self, ByteTotals, EndInfo, SealBody, SealSigner, now_ms};
use super::store::{RecordStore, chunk_name, seal_name};
use crate::channel::Channel;
use crate::pipeline::EndHandle;
use crate::status::Status;

/// Ends the session when its recording fails; shared by the writer and the storer.
#[derive(Clone)]
pub(crate) struct Failer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) end: EndHandle,
    pub(crate) session: Arc<str>,
    /// The store failed: later chunks stay in the spool and recovery seals the session.
    pub(crate) store_failed: Arc<AtomicBool>,
}

impl Failer {
    /// Whether the store failed (the recording is left for recovery).
    fn failed(&self) -> bool {
        self.store_failed.load(Ordering::Acquire)
    }

    /// The store failed: marks it, and ends the session.
    fn fail(&self, why: &str) {
        if !self.store_failed.swap(true, Ordering::AcqRel) {
            self.end_unrecordable(why);
        }
    }

    /// Ends the session because it cannot be recorded as it goes on (first reason wins);
    /// what was recorded so far is still stored and sealed unless the store failed too.
    fn end_unrecordable(&self, why: &str) {
        if self.shared.failure().is_some() {
            return;
        }
        warn!(session = %self.session, error = why, "recording failed; ending the session");
        let message = format!(
            "kubewitness: this session cannot be recorded ({why}); it was ended because \
             unrecorded sessions are not allowed"
        );
        self.shared.fail(message.clone());
        self.end.end(Status::failure("RecordingFailed", message));
    }
}

/// Counts running writer tasks, so shutdown can wait for their seals.
#[derive(Debug, Default)]
pub(crate) struct Writers {
    running: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Held by a running writer task.
pub(crate) struct Running(Arc<Writers>);

impl Writers {
    pub(crate) fn enter(self: &Arc<Writers>) -> Running {
        self.running.fetch_add(1, Ordering::AcqRel);
        Running(self.clone())
    }

    /// Resolves once no writer runs.
    pub(crate) async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A compressed, hashed chunk on its way to the spool and the store.
struct Sealed {
    name: String,
    object: Bytes,
    /// Window bytes its events hold; released once stored.
    accounted: usize,
}

/// A chunk object and its hash.
type SealedObject = (Bytes, Hash);

/// The running state of one session's recording (the first stage, see the module docs).
pub(crate) struct Writer {
    pub(crate) store: RecordStore,
    pub(crate) signer: Option<SealSigner>,
    /// Notes each seal for the interval's digest.
    pub(crate) ledger: Option<Arc<Ledger>>,
    pub(crate) spool: Option<PathBuf>,
    pub(crate) failer: Failer,
    pub(crate) id: u128,
    pub(crate) chunk_bytes: usize,
    pub(crate) interval: Duration,
    pub(crate) start_ms: u64,
    pub(crate) seq: u64,
    pub(crate) prev: Hash,
    pub(crate) buf: Vec<u8>,
    pub(crate) buf_events: u32,
    pub(crate) buf_accounted: usize,
    pub(crate) opened: Option<Instant>,
    pub(crate) events: u64,
    pub(crate) totals: ByteTotals,
}

impl Writer {
    /// Runs until the session's end arrives (or every handle is gone).
    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Item>, start: Timed) {
        let mut spool = self.spool_dir();
        if let Some(dir) = &spool
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            // Without a spool the chunks go to the store directly; the session still ends.
            self.failer
                .end_unrecordable(&format!("cannot create the spool directory: {e}"));
            spool = None;
        }
        let (to_storer, chunks) = mpsc::unbounded_channel();
        let storer = tokio::spawn(
            Storer {
                store: self.store.clone(),
                spool: spool.clone(),
                failer: self.failer.clone(),
            }
            .run(chunks),
        );
        self.append(start, 0);
        self.cut(&to_storer, false).await;
        let end = loop {
            let deadline = self.opened.map(|t| t + self.interval);
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = sleep_until(deadline) => {
                    self.cut(&to_storer, false).await;
                    continue;
                }
            };
            match item {
                Some(Item::Event { timed, size }) => {
                    self.append(timed, size);
                    if self.buf.len() >= self.chunk_bytes {
                        self.cut(&to_storer, true).await;
                    }
                }
                Some(Item::End(end)) => break Some(end),
                None => break None,
            }
        };
        self.cut(&to_storer, false).await;
        drop(to_storer);
        if storer.await.is_err() {
            self.failer.fail("the recording storer stopped");
        }
        if self.failer.failed() {
            // Left in the spool for recovery, which seals it as interrupted.
            warn!(session = %self.failer.session, "recording left for recovery");
            return;
        }
        self.seal(end, spool).await;
    }

    /// Stores the signed seal once every chunk is stored.
    async fn seal(&self, end: Option<EndInfo>, spool: Option<PathBuf>) {
        let session = &self.failer.session;
        let end = end.unwrap_or_else(|| EndInfo {
            reason: "interrupted".into(),
            status: "Failure".into(),
            exit_code: None,
            message: "the session ended without reporting how".into(),
            end_ms: now_ms(),
        });
        let body = SealBody {
            format: seal::FORMAT.into(),
            session: session.to_string(),
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
            .put_new(&seal_name(session), obj.clone().into())
            .await
        {
            Ok(()) => {
                // Noted (fsync'd) before the spool goes, so recovery never misses it.
                if let Some(l) = &self.ledger {
                    l.sealed(session, &obj);
                }
                if let Some(dir) = spool {
                    let _ = std::fs::remove_dir_all(dir);
                }
                debug!(%session, chunks = self.seq, "recording sealed");
            }
            Err(e) => warn!(%session, error = %e, "sealing failed; left for recovery"),
        }
    }

    fn spool_dir(&self) -> Option<PathBuf> {
        self.spool.as_ref().map(|s| s.join(&*self.failer.session))
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

    /// Cuts the open chunk, compresses and hashes it on a blocking thread, and hands it to
    /// the storer. `full` (cut for size: the session is streaming) keeps the payload
    /// buffer's capacity for the next chunk; a chunk cut by the timer or at the end lets it
    /// go, so a quiet session holds no chunk-sized buffer.
    async fn cut(&mut self, storer: &mpsc::UnboundedSender<Sealed>, full: bool) {
        if self.buf_events == 0 {
            return;
        }
        let payload = std::mem::take(&mut self.buf);
        let events = std::mem::take(&mut self.buf_events);
        let accounted = std::mem::take(&mut self.buf_accounted);
        self.opened = None;
        let (id, seq, prev) = (self.id, self.seq, self.prev);
        let job: JoinHandle<(std::io::Result<SealedObject>, Vec<u8>)> =
            tokio::task::spawn_blocking(move || {
                let sealed = chunk::encode(id, seq, &prev, events, &payload).map(|obj| {
                    let hash = chunk::hash(&obj);
                    (obj, hash)
                });
                (sealed, payload)
            });
        let (object, hash) = match job.await {
            Ok((Ok(sealed), mut payload)) => {
                if full {
                    payload.clear();
                    self.buf = payload;
                }
                sealed
            }
            Ok((Err(e), _)) => {
                self.failer.shared.release(accounted);
                return self.failer.fail(&format!("cannot compress a chunk: {e}"));
            }
            Err(e) => {
                self.failer.shared.release(accounted);
                return self.failer.fail(&format!("chunk compression stopped: {e}"));
            }
        };
        self.prev = hash;
        self.seq += 1;
        let chunk = Sealed {
            name: chunk_name(&self.failer.session, seq),
            object,
            accounted,
        };
        if let Err(mpsc::error::SendError(chunk)) = storer.send(chunk) {
            self.failer.shared.release(chunk.accounted);
            self.failer.fail("the recording storer stopped");
        }
    }
}

/// The second stage: makes batches of sealed chunks durable (see the module docs).
struct Storer {
    store: RecordStore,
    /// This session's spool directory.
    spool: Option<PathBuf>,
    failer: Failer,
}

impl Storer {
    async fn run(mut self, mut chunks: mpsc::UnboundedReceiver<Sealed>) {
        let mut batch = Vec::new();
        // The queue is bounded by the window (every chunk holds window bytes).
        while chunks.recv_many(&mut batch, usize::MAX).await > 0 {
            self.store_batch(std::mem::take(&mut batch)).await;
        }
    }

    async fn store_batch(&mut self, batch: Vec<Sealed>) {
        let spooled = self.spool_batch(&batch).await;
        if spooled.iter().all(Option::is_some) {
            // The whole batch is durable in the spool: its writes may overlap, a crash
            // between them leaves the missing ones in the spool for recovery.
            let writes = batch
                .into_iter()
                .zip(spooled)
                .map(|(chunk, spooled)| self.store_one(chunk, spooled));
            futures_util::future::join_all(writes).await;
        } else {
            // Without a spool only the order keeps the stored chunks a gap-free prefix.
            for (chunk, spooled) in batch.into_iter().zip(spooled) {
                self.store_one(chunk, spooled).await;
            }
        }
    }

    /// Writes one chunk to the store (unless the recording already failed: then it stays
    /// in the spool for recovery), removes it from the spool, and releases its window bytes.
    async fn store_one(&self, chunk: Sealed, spooled: Option<PathBuf>) {
        if !self.failer.failed() {
            let start = std::time::Instant::now();
            let stored = self.store.put_new(&chunk.name, chunk.object).await;
            crate::metrics::metrics().store_write(start.elapsed(), stored.is_ok());
            match stored {
                Ok(()) => {
                    if let Some(p) = spooled {
                        let _ = std::fs::remove_file(p);
                    }
                }
                Err(e) => self
                    .failer
                    .fail(&format!("the recording store failed: {e}")),
            }
        }
        self.failer.shared.release(chunk.accounted);
    }

    /// Writes and fsyncs every chunk of `batch` to the spool, in parallel; the paths
    /// written, in batch order (all `None` without a spool). When a write fails the spool is
    /// given up: the session ends, and this batch and later ones go to the store directly.
    async fn spool_batch(&mut self, batch: &[Sealed]) -> Vec<Option<PathBuf>> {
        let Some(dir) = &self.spool else {
            return vec![None; batch.len()];
        };
        let jobs = batch.iter().map(|chunk| {
            let (dir, name, object) = (dir.clone(), chunk.name.clone(), chunk.object.clone());
            tokio::task::spawn_blocking(move || spool_write(&dir, &name, &object))
        });
        let mut paths = Vec::with_capacity(batch.len());
        for done in futures_util::future::join_all(jobs).await {
            match done {
                Ok(Ok(p)) => paths.push(Some(p)),
                Ok(Err(e)) => {
                    self.lose_spool(&format!("cannot spool a chunk: {e}"));
                    paths.push(None);
                }
                Err(e) => {
                    self.lose_spool(&format!("spooling stopped: {e}"));
                    paths.push(None);
                }
            }
        }
        paths
    }

    /// The spool failed (a full disk): ends the session; chunks go on to the store without
    /// a spool. The directory stays until the seal is stored (it may hold chunks of this
    /// batch that are not stored yet).
    fn lose_spool(&mut self, why: &str) {
        self.spool = None;
        self.failer.end_unrecordable(why);
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
