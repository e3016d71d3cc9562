//! The recorder a proxy holds: configuration, store, signing key, spool; starts one writer
//! task per session and recovers sessions a crash left in the spool.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::chunk::{self, Hash};
use super::digest::Listed;
use super::event::{Event, SessionMeta, Timed};
use super::handle::{RecorderHandle, Shared};
use super::ledger::{DEFAULT_DIGEST_INTERVAL, Ledger, LedgerConfig, default_instance};
use super::seal::{self, ByteTotals, EndInfo, SealBody, SealSigner, now_ms};
use super::store::{ObjectLock, RecordStore, StoreError, chunk_name, seal_name};
use super::writer::{Failer, Writer, Writers};
use crate::channel::Channel;
use crate::pipeline::EndHandle;

/// Default chunk size: a chunk is cut once its payload reaches this. 1 MiB: every chunk
/// costs two file creations, a rename and an fsync in the spool plus one object in the
/// store (a request, for S3), so at streaming rates fewer, larger chunks are cheaper
/// (with 256 KiB chunks about 13 % of a `file://` session's CPU samples were ext4 inode
/// allocation and lookup); a quiet session still cuts a chunk every
/// [`DEFAULT_CHUNK_INTERVAL_MS`].
pub const DEFAULT_CHUNK_BYTES: usize = 1024 * 1024;
/// Default chunk interval: a chunk is cut once its first event is this old.
pub const DEFAULT_CHUNK_INTERVAL_MS: u64 = 1000;
/// Default window: how far (bytes) the client may run ahead of durable storage (8 MiB, as
/// `docs/RECORDING-FORMAT.md` states). A client faster than the store is slowed down to the
/// store's pace (backpressure through the pipeline); one that stays stuck past
/// [`super::STALL_TIMEOUT`] ends the session.
///
/// Why 8 chunks and not 2: the writer stores chunks in batches, one spool fsync round per
/// batch (see `writer.rs`), so a session's recording throughput is about
/// `(window − chunk) / (fsync + store latency)`. With the former 2 × 256 KiB window one
/// 256 KiB chunk waited for each fsync (5–15 ms on the bench machine's disk: 17–50 MiB/s);
/// 8 MiB keeps a session near the network's pace on such a disk. The window is a bound, not an
/// allocation: only a session that outruns its store holds that much.
pub const DEFAULT_WINDOW_BYTES: usize = 8 * DEFAULT_CHUNK_BYTES;
/// How long [`Recorder::close`] waits for running recordings to be sealed.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest chunk size accepted (half the reader's payload limit: a chunk may overshoot
/// by one event).
pub const MAX_CHUNK_BYTES: usize = chunk::MAX_PAYLOAD / 2;

/// The `recording` configuration key.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordingConfig {
    /// Store URL: `file:///var/lib/kubewitness/recordings`, `s3://bucket/prefix`, `gs://…`,
    /// `az://…`, `memory://` (tests).
    pub store: String,
    /// Backend options (`aws_endpoint`, `aws_region`, `aws_allow_http`, …).
    pub store_options: BTreeMap<String, String>,
    /// Where chunks wait until stored, so a crash loses at most the open chunk.
    pub spool_dir: Option<PathBuf>,
    /// Chunk size in bytes (default 1 MiB).
    pub chunk_bytes: Option<usize>,
    /// Chunk interval in milliseconds (default 1000).
    pub chunk_interval_ms: Option<u64>,
    /// The window in bytes (default [`DEFAULT_WINDOW_BYTES`], at least 2 × chunk size).
    pub window_bytes: Option<usize>,
    /// PKCS#8 PEM Ed25519 private key that signs seals; unsigned without it.
    pub signing_key: Option<PathBuf>,
    /// S3 Object Lock on every object.
    pub object_lock: Option<ObjectLockConfig>,
    /// This instance's name in `digests/<instance>/` and `audit/<instance>/` (default: the
    /// host name).
    pub instance: Option<String>,
    /// How often a signed digest is written (`30s`, `5m`; default 5 minutes).
    pub digest_interval: Option<String>,
    /// The key that signed this instance's digests so far, when `signingKey` is a new one:
    /// the next digest is signed by it and names the new key (a rotation).
    pub previous_signing_key: Option<PathBuf>,
}

/// `recording.objectLock`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectLockConfig {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// Retention in days from the time each object is written.
    pub retain_days: u32,
}

impl RecordingConfig {
    /// Problems, each with its path under `recording`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if self.store.is_empty() {
            p.push(("recording.store".into(), "a store URL is required".into()));
        }
        let chunk = self.chunk();
        if chunk == 0 || chunk > MAX_CHUNK_BYTES {
            p.push((
                "recording.chunkBytes".into(),
                format!("must be between 1 and {MAX_CHUNK_BYTES}"),
            ));
        }
        if self.window() < 2 * chunk {
            p.push((
                "recording.windowBytes".into(),
                "must be at least twice chunkBytes".into(),
            ));
        }
        if self.chunk_interval_ms == Some(0) {
            p.push((
                "recording.chunkIntervalMs".into(),
                "must be positive".into(),
            ));
        }
        if let Some(name) = &self.instance
            && !super::digest::valid_instance(name)
        {
            p.push((
                "recording.instance".into(),
                "1 to 63 of a-z 0-9 . _ -, not starting with a dot".into(),
            ));
        }
        match self.digest_interval() {
            Ok(d) if d >= Duration::from_secs(1) => {}
            Ok(_) => p.push((
                "recording.digestInterval".into(),
                "must be at least 1s".into(),
            )),
            Err(e) => p.push(("recording.digestInterval".into(), e)),
        }
        if let Some(lock) = &self.object_lock
            && (lock.retain_days == 0 || !matches!(lock.mode.as_str(), "GOVERNANCE" | "COMPLIANCE"))
        {
            p.push((
                "recording.objectLock".into(),
                "mode GOVERNANCE or COMPLIANCE and retainDays > 0".into(),
            ));
        }
        p
    }

    /// The digest interval.
    pub fn digest_interval(&self) -> Result<Duration, String> {
        match &self.digest_interval {
            Some(s) => humantime::parse_duration(s).map_err(|e| format!("{s}: {e}")),
            None => Ok(DEFAULT_DIGEST_INTERVAL),
        }
    }

    /// The instance name.
    pub fn instance(&self) -> String {
        self.instance.clone().unwrap_or_else(default_instance)
    }

    fn chunk(&self) -> usize {
        self.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES)
    }

    fn window(&self) -> usize {
        self.window_bytes
            .unwrap_or(DEFAULT_WINDOW_BYTES.max(2 * self.chunk()))
    }
}

/// Records sessions.
#[derive(Debug)]
pub struct Recorder {
    config: RecordingConfig,
    store: RecordStore,
    signer: Option<SealSigner>,
    /// Digests and audit segments, once [`Recorder::start_digests`] ran.
    ledger: OnceLock<Arc<Ledger>>,
    /// Sessions crash recovery sealed, for the digest the crash missed.
    recovered: Mutex<Vec<Listed>>,
    /// Writer tasks still running (shutdown waits for their seals).
    writers: Arc<Writers>,
}

impl Recorder {
    /// Builds a recorder: opens the store and loads the signing key.
    pub fn from_config(config: &RecordingConfig) -> Result<Recorder, String> {
        let signer = match &config.signing_key {
            Some(path) => Some(SealSigner::load(&crate::files::expand_home(path))?),
            None => None,
        };
        let store = open_store(config).map_err(|e| e.to_string())?;
        Ok(Recorder::new(config.clone(), store, signer))
    }

    /// A recorder over an already opened store (tests inject faulty stores this way).
    pub fn new(
        config: RecordingConfig,
        store: RecordStore,
        signer: Option<SealSigner>,
    ) -> Recorder {
        Recorder {
            config,
            store,
            signer,
            ledger: OnceLock::new(),
            recovered: Mutex::new(Vec::new()),
            writers: Arc::default(),
        }
    }

    /// Starts writing digests and audit segments (`docs/RECORDING-FORMAT.md`, version 2):
    /// writes the digest a crash missed (listing what [`Recorder::recover`] sealed), then
    /// one every `digestInterval`. Sessions started afterwards name the instance. Call
    /// once, after `recover`; [`Recorder::close`] writes the last digest.
    pub async fn start_digests(&self) -> Result<Arc<Ledger>, String> {
        if let Some(l) = self.ledger.get() {
            return Ok(l.clone());
        }
        let previous = match &self.config.previous_signing_key {
            Some(p) => Some(SealSigner::load(&crate::files::expand_home(p))?),
            None => None,
        };
        let cfg = LedgerConfig {
            instance: self.config.instance(),
            interval: self.config.digest_interval()?,
            spool: self.config.spool_dir.clone(),
            chunk_bytes: self.config.chunk(),
            signer: self.signer.clone(),
            previous,
        };
        let recovered =
            std::mem::take(&mut *self.recovered.lock().unwrap_or_else(|e| e.into_inner()));
        let ledger = Ledger::open(self.store.clone(), cfg, recovered)
            .await
            .map_err(|e| format!("digests: {e}"))?;
        ledger.spawn_ticker();
        let _ = self.ledger.set(ledger.clone());
        Ok(ledger)
    }

    /// At shutdown: waits (up to [`CLOSE_TIMEOUT`]) for running recordings to be sealed,
    /// then writes the last digest.
    pub async fn close(&self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.writers.idle()).await;
        if let Some(l) = self.ledger.get()
            && let Err(e) = l.close().await
        {
            warn!(error = %e, "writing the last digest failed");
        }
    }

    /// The store.
    pub fn store(&self) -> &RecordStore {
        &self.store
    }

    /// The signing key, if any.
    pub fn signer(&self) -> Option<&SealSigner> {
        self.signer.as_ref()
    }

    /// The instance name (`recording.instance`, default the host name).
    pub fn instance(&self) -> String {
        self.config.instance()
    }

    /// Notes an object stored outside sessions (`grants/…`) with the SHA-256 of its bytes
    /// (hex), so the next digest lists it and its deletion is detectable.
    pub fn note_object(&self, name: &str, sha256: &str) {
        if let Some(l) = self.ledger.get() {
            l.noted(name, sha256);
        }
    }

    /// Starts recording a session; `end` lets the recorder end it when storage fails.
    ///
    /// A `meta.session` that is a ULID names the session (the server passes the `Audit-ID`
    /// it sent upstream, so the API server's audit log and the recording share one id);
    /// anything else is replaced by a new ULID.
    pub fn start(&self, mut meta: SessionMeta, end: EndHandle) -> RecorderHandle {
        let id = meta
            .session
            .parse::<ulid::Ulid>()
            .unwrap_or_else(|_| ulid::Ulid::generate());
        meta.session = id.to_string();
        meta.start_ms = now_ms();
        meta.signer = self.signer.as_ref().map(|s| s.info().fingerprint);
        let ledger = self.ledger.get().cloned();
        meta.instance = ledger.as_ref().map(|l| l.instance().to_string());
        // Object Lock retention counts from the session's start.
        let store = if self.config.object_lock.is_some() {
            open_store(&self.config).unwrap_or_else(|e| {
                warn!(error = %e, "reopening the store for object lock failed");
                self.store.clone()
            })
        } else {
            self.store.clone()
        };
        let shared = Arc::new(Shared::new(self.config.window()));
        let (tx, rx) = mpsc::unbounded_channel();
        let started = std::time::Instant::now();
        let session: Arc<str> = meta.session.clone().into();
        let writer = Writer {
            store,
            signer: self.signer.clone(),
            ledger,
            spool: self.config.spool_dir.clone(),
            failer: Failer {
                shared: shared.clone(),
                end,
                session: session.clone(),
                store_failed: Arc::default(),
            },
            id: u128::from(id),
            chunk_bytes: self.config.chunk(),
            interval: Duration::from_millis(
                self.config
                    .chunk_interval_ms
                    .unwrap_or(DEFAULT_CHUNK_INTERVAL_MS),
            ),
            start_ms: meta.start_ms,
            seq: 0,
            prev: [0; 32],
            buf: Vec::new(),
            buf_events: 0,
            buf_accounted: 0,
            opened: None,
            events: 0,
            totals: ByteTotals::default(),
        };
        let start = Timed {
            t_us: 0,
            event: Event::Start(Box::new(meta)),
        };
        let running = self.writers.enter();
        tokio::spawn(async move {
            writer.run(rx, start).await;
            drop(running);
        });
        RecorderHandle::new(tx, shared, started, session)
    }

    /// Uploads what a crash or a storage failure left in the spool and seals each such
    /// session as `interrupted`. Returns the sessions sealed.
    pub async fn recover(&self) -> Result<Vec<String>, String> {
        let Some(spool) = &self.config.spool_dir else {
            return Ok(Vec::new());
        };
        let entries = match std::fs::read_dir(spool) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", spool.display())),
        };
        let mut sealed = Vec::new();
        for entry in entries.flatten() {
            let dir = entry.path();
            let Some(session) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if ulid::Ulid::from_string(&session).is_err() || !dir.is_dir() {
                continue;
            }
            match self.recover_one(&session, &dir).await {
                Ok(true) => {
                    info!(%session, "recovered an interrupted recording");
                    sealed.push(session);
                }
                Ok(false) => {}
                Err(e) => warn!(%session, error = %e, "recovery failed; will retry"),
            }
        }
        Ok(sealed)
    }

    async fn recover_one(&self, session: &str, dir: &std::path::Path) -> Result<bool, StoreError> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in &files {
            let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(super::store::CHUNK_SUFFIX)
                && let Ok(bytes) = std::fs::read(f)
            {
                self.store
                    .put_new(&format!("{session}/{name}"), bytes.into())
                    .await?;
            }
        }
        if let Ok(seal) = self.store.get(&seal_name(session)).await {
            // Sealed, but the crash came before the ledger noted it.
            self.note_recovered(session, &seal);
            let _ = std::fs::remove_dir_all(dir);
            return Ok(false);
        }
        let Some(body) = self.interrupted_seal(session).await? else {
            warn!(%session, "nothing recoverable was stored; leaving the spool as it is");
            return Ok(false);
        };
        let obj = seal::encode(&body, self.signer.as_ref());
        self.store
            .put_new(&seal_name(session), obj.clone().into())
            .await?;
        self.note_recovered(session, &obj);
        let _ = std::fs::remove_dir_all(dir);
        Ok(true)
    }

    fn note_recovered(&self, session: &str, seal: &[u8]) {
        let listed = Listed {
            session: session.to_string(),
            seal: hex::encode(Sha256::digest(seal)),
        };
        match self.ledger.get() {
            Some(l) => l.sealed(session, seal),
            None => self
                .recovered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(listed),
        }
    }

    /// The seal for the longest valid prefix of a session's chunks.
    async fn interrupted_seal(&self, session: &str) -> Result<Option<SealBody>, StoreError> {
        let (mut prev, mut chunks, mut events, mut start_ms) = ([0u8; 32] as Hash, 0u64, 0, 0);
        let mut totals = ByteTotals::default();
        loop {
            let obj = match self.store.get(&chunk_name(session, chunks)).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e),
            };
            let Ok((h, evs)) = chunk::decode(&obj) else {
                break;
            };
            if h.seq != chunks || h.prev != prev {
                break;
            }
            for e in &evs {
                match &e.event {
                    Event::Start(m) => start_ms = m.start_ms,
                    Event::Data { channel, bytes } => {
                        let n = bytes.len() as u64;
                        match channel {
                            Channel::Stdin => totals.stdin += n,
                            Channel::Stdout => totals.stdout += n,
                            Channel::Stderr => totals.stderr += n,
                            Channel::Resize => totals.resize += n,
                            Channel::Error => {}
                        }
                    }
                    _ => {}
                }
            }
            events += evs.len() as u64;
            prev = chunk::hash(&obj);
            chunks += 1;
        }
        if chunks == 0 {
            return Ok(None);
        }
        Ok(Some(SealBody {
            format: seal::FORMAT.into(),
            session: session.to_string(),
            chunks,
            final_hash: hex::encode(prev),
            events,
            bytes: totals,
            start_ms,
            end: EndInfo {
                reason: "interrupted".into(),
                status: "Failure".into(),
                exit_code: None,
                message: "kubewitness stopped or lost its store before the session was sealed"
                    .into(),
                end_ms: now_ms(),
            },
            signer: self.signer.as_ref().map(SealSigner::info),
        }))
    }
}

fn open_store(config: &RecordingConfig) -> Result<RecordStore, StoreError> {
    let options: Vec<(String, String)> = config
        .store_options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let lock = config.object_lock.as_ref().map(|l| ObjectLock {
        mode: l.mode.clone(),
        retain: Duration::from_secs(u64::from(l.retain_days) * 86_400),
    });
    RecordStore::open(&config.store, &options, lock.as_ref())
}
