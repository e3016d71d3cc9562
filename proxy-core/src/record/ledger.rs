//! The ledger of one instance: collects the seals stored and the audit lines decided in
//! each interval, and writes the interval's audit segment and signed digest
//! (`digest.rs`, `segment.rs`) every `digestInterval`, at shutdown, and at start-up (for
//! the interval a crash cut short, `recovered`, or the time the instance was down).
//!
//! # Crash safety
//!
//! With a spool directory, what the next digest must list is also kept in
//! `<spoolDir>/ledger-<instance>/`: `sealed` (one `<session> <seal hash>` line per seal
//! stored, fsync'd before the seal's spool directory is removed), `audit` (the decision
//! lines, appended whole; not fsync'd: a killed process loses nothing the kernel has) and
//! `state.json` (the chain's head and whether the instance is running). Both lists are
//! rewritten only once a digest holding them is stored. On start, a state left `open` means
//! the last run crashed: the ledger writes a `recovered` digest over the lost interval with
//! what the files hold and the sessions recovery sealed. The head in `state.json` also
//! survives the deletion of the newest digest from the store: the next digest still
//! follows the deleted one, so the gap is visible.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::digest::{
    self, DIGEST_FORMAT, Digest, DigestBody, Listed, ListedObject, MAX_DIGEST_SESSIONS,
    digest_name, digest_seq, is_object_entry,
};
use super::event::MAX_EVENT_BODY;
use super::ledger_files::{Files, Head};
use super::seal::{SealSigner, now_ms};
use super::segment::Segment;
use super::store::{RecordStore, StoreError};
use crate::policy::audit::AuditTee;

/// Default `recording.digestInterval`.
pub const DEFAULT_DIGEST_INTERVAL: Duration = Duration::from_secs(300);

/// What the ledger needs from the recording configuration.
#[derive(Debug)]
pub(crate) struct LedgerConfig {
    pub(crate) instance: String,
    pub(crate) interval: Duration,
    pub(crate) spool: Option<PathBuf>,
    pub(crate) chunk_bytes: usize,
    pub(crate) signer: Option<SealSigner>,
    /// The key that signed the chain so far, when rotating to `signer`.
    pub(crate) previous: Option<SealSigner>,
}

/// Audit bytes waiting in memory that cut an early digest (a flood of decisions cannot
/// grow memory for a whole interval).
pub(crate) const MAX_PENDING_AUDIT: usize = 8 << 20;

/// Lines and seals not yet in a stored digest.
#[derive(Debug, Default)]
struct Pending {
    sessions: Vec<Listed>,
    audit: Vec<Vec<u8>>,
    audit_bytes: usize,
}

/// Writes one instance's digests and audit segments.
#[derive(Debug)]
pub struct Ledger {
    store: RecordStore,
    cfg: LedgerConfig,
    files: Option<Files>,
    pending: Mutex<Pending>,
    head: tokio::sync::Mutex<Head>,
    /// Woken when a digest's worth of sessions waits.
    full: Arc<Notify>,
    /// Set by [`Ledger::close`]: the interval task writes no more.
    closed: std::sync::atomic::AtomicBool,
}

impl Ledger {
    /// Opens the ledger of `cfg.instance`: finds the chain's head and writes the start-up
    /// digest; if the last run crashed, that is the digest it missed, listing `recovered`
    /// (sessions crash recovery sealed) too.
    pub(crate) async fn open(
        store: RecordStore,
        cfg: LedgerConfig,
        recovered: Vec<Listed>,
    ) -> Result<Arc<Ledger>, StoreError> {
        let files = cfg
            .spool
            .as_deref()
            .map(|s| Files::new(&s.join(format!("ledger-{}", cfg.instance))));
        let saved = files.as_ref().and_then(Files::load_state);
        let stored = stored_head(&store, &cfg.instance).await?;
        let crashed = saved.as_ref().is_some_and(|s| s.open);
        // The local head wins when the store lost its newest digests.
        let head = match (saved, stored) {
            (Some(s), Some(t)) if s.next >= t.next => s,
            (_, Some(t)) => t,
            (Some(s), None) => s,
            (None, None) => Head::fresh(now_ms()),
        };
        let mut pending = Pending::default();
        if let Some(f) = &files {
            pending.sessions = f.load_sealed();
            pending.audit = f.load_audit();
            pending.audit_bytes = pending.audit.iter().map(Vec::len).sum();
        }
        let must_write = crashed || !recovered.is_empty() || !pending.sessions.is_empty();
        pending.sessions.extend(recovered);
        let ledger = Arc::new(Ledger {
            store,
            cfg,
            files,
            pending: Mutex::new(pending),
            head: tokio::sync::Mutex::new(head),
            full: Arc::new(Notify::new()),
            closed: Default::default(),
        });
        // Every start writes a digest: over the time the instance was down, or, after a
        // crash, over what the crash cut short (`recovered`). So a running instance always
        // has a digest, and sessions naming an instance without one stand out.
        ledger.write_digest(must_write).await?;
        if must_write {
            info!(instance = %ledger.cfg.instance, "wrote the digest a crash missed");
        }
        ledger.save_state(true).await;
        Ok(ledger)
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.cfg.instance
    }

    /// Writes a digest every interval (or sooner when one fills up) until the ledger is
    /// dropped.
    pub(crate) fn spawn_ticker(self: &Arc<Ledger>) {
        let weak: Weak<Ledger> = Arc::downgrade(self);
        let (interval, full) = (self.cfg.interval, self.full.clone());
        tokio::spawn(async move {
            loop {
                let notified = full.notified();
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = notified => {}
                }
                let Some(ledger) = weak.upgrade() else { return };
                if ledger.closed.load(Ordering::Acquire) {
                    return;
                }
                if let Err(e) = ledger.write_digest(false).await {
                    warn!(error = %e, "writing a digest failed; its content waits for the next");
                }
            }
        });
    }

    /// Notes a seal stored for `session` (fsync'd to the spool before returning).
    pub(crate) fn sealed(&self, session: &str, seal_object: &[u8]) {
        let listed = Listed {
            session: session.to_string(),
            seal: hex::encode(Sha256::digest(seal_object)),
        };
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = &self.files
            && let Err(e) = f.append_sealed(&listed)
        {
            warn!(%session, error = %e, "cannot note the seal in the spool");
        }
        p.sessions.push(listed);
        if p.sessions.len() >= MAX_DIGEST_SESSIONS {
            self.full.notify_one();
        }
    }

    /// Notes an object stored under `grants/` (fsync'd to the spool like a seal): the next
    /// digest lists it.
    pub(crate) fn noted(&self, name: &str, sha256: &str) {
        let listed = Listed {
            session: name.to_string(),
            seal: sha256.to_string(),
        };
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = &self.files
            && let Err(e) = f.append_sealed(&listed)
        {
            warn!(object = %name, error = %e, "cannot note the object in the spool");
        }
        p.sessions.push(listed);
        if p.sessions.len() >= MAX_DIGEST_SESSIONS {
            self.full.notify_one();
        }
    }

    /// Writes the final digest and marks the instance as stopped cleanly.
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        self.write_digest(false).await?;
        self.save_state(false).await;
        Ok(())
    }

    async fn save_state(&self, open: bool) {
        let mut head = self.head.lock().await;
        head.open = open;
        if let Some(f) = &self.files
            && let Err(e) = f.save_state(&head)
        {
            warn!(error = %e, "cannot save the ledger state");
        }
    }

    /// Writes the audit segment and the digest of the interval that ends now.
    pub(crate) async fn write_digest(&self, recovered: bool) -> Result<(), StoreError> {
        let mut head = self.head.lock().await;
        let taken = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let n = p.sessions.len().min(MAX_DIGEST_SESSIONS);
            p.audit_bytes = 0;
            Pending {
                sessions: p.sessions.drain(..n).collect(),
                audit: std::mem::take(&mut p.audit),
                audit_bytes: 0,
            }
        };
        match self.store_digest(&mut head, &taken, recovered).await {
            Ok(()) => {
                let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(f) = &self.files
                    && let Err(e) = f.rewrite(&p.sessions, &p.audit, &head)
                {
                    warn!(error = %e, "cannot rewrite the ledger spool");
                }
                Ok(())
            }
            Err(e) => {
                // Back in front, in order: the next digest lists them.
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let later = std::mem::replace(&mut p.sessions, taken.sessions);
                p.sessions.extend(later);
                let later = std::mem::replace(&mut p.audit, taken.audit);
                p.audit.extend(later);
                p.audit_bytes = p.audit.iter().map(Vec::len).sum();
                Err(e)
            }
        }
    }

    async fn store_digest(
        &self,
        head: &mut Head,
        taken: &Pending,
        recovered: bool,
    ) -> Result<(), StoreError> {
        let end_ms = now_ms().max(head.start_ms);
        let audit = if taken.audit.is_empty() {
            None
        } else {
            let segment = Segment {
                instance: &self.cfg.instance,
                lines: &taken.audit,
                start_ms: head.start_ms,
                chunk_bytes: self.cfg.chunk_bytes,
            };
            Some(segment.store(&self.store, self.cfg.signer.as_ref()).await?)
        };
        let (signer, next_signer) = self.signing_key(head);
        let mut seen = std::collections::HashSet::new();
        let (grants, sessions): (Vec<Listed>, Vec<Listed>) = taken
            .sessions
            .iter()
            .filter(|l| seen.insert(&l.session))
            .cloned()
            .partition(|l| is_object_entry(&l.session));
        let grants = grants
            .into_iter()
            .map(|l| ListedObject {
                name: l.session,
                sha256: l.seal,
            })
            .collect();
        let body = DigestBody {
            format: DIGEST_FORMAT.into(),
            instance: self.cfg.instance.clone(),
            seq: head.next,
            start_ms: head.start_ms,
            end_ms,
            interval_ms: self.cfg.interval.as_millis() as u64,
            prev: hex::encode(head.prev),
            sessions,
            audit,
            grants,
            recovered,
            signer: signer.map(SealSigner::info),
            next_signer: next_signer.clone(),
        };
        let obj = digest::encode(&body, signer);
        self.store
            .put_new(
                &digest_name(&self.cfg.instance, head.next),
                obj.clone().into(),
            )
            .await?;
        head.prev = Sha256::digest(&obj).into();
        head.next += 1;
        head.start_ms = end_ms;
        head.signer = next_signer
            .map(|i| i.fingerprint)
            .or_else(|| body.signer.map(|i| i.fingerprint));
        Ok(())
    }

    /// The key for the next digest: the previous key once, naming the new one, when the
    /// chain was signed by the previous key; the configured key otherwise.
    fn signing_key(&self, head: &Head) -> (Option<&SealSigner>, Option<super::seal::SignerInfo>) {
        let current = self.cfg.signer.as_ref();
        let current_fp = current.map(|s| s.info().fingerprint);
        match (&self.cfg.previous, &head.signer) {
            (Some(prev), Some(fp)) if current_fp.as_ref() != Some(fp) => {
                if prev.info().fingerprint == *fp {
                    (Some(prev), current.map(SealSigner::info))
                } else {
                    (current, None)
                }
            }
            _ => (current, None),
        }
    }
}

impl AuditTee for Ledger {
    fn line(&self, line: &[u8]) {
        // An event body is bounded; a decision line is far below it.
        let line = if line.len() > MAX_EVENT_BODY {
            format!("{{\"truncated\":{}}}\n", line.len()).into_bytes()
        } else {
            line.to_vec()
        };
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = &self.files
            && let Err(e) = f.append_audit(&line)
        {
            warn!(error = %e, "cannot spool an audit line");
        }
        p.audit_bytes += line.len();
        p.audit.push(line);
        if p.audit_bytes >= MAX_PENDING_AUDIT {
            self.full.notify_one();
        }
    }
}

/// The head of `instance`'s chain as stored: after its highest-numbered digest.
async fn stored_head(store: &RecordStore, instance: &str) -> Result<Option<Head>, StoreError> {
    let folder = format!("{}/{instance}", digest::DIGESTS_DIR);
    let names = store.objects(&folder).await?;
    let Some(seq) = names.iter().filter_map(|n| digest_seq(n)).max() else {
        return Ok(None);
    };
    let obj = store.get(&digest_name(instance, seq)).await?;
    let parsed = Digest::parse(&obj).map_err(|e| StoreError::io(e.to_string()))?;
    let b = parsed.body;
    Ok(Some(Head {
        next: seq + 1,
        prev: Sha256::digest(&obj).into(),
        start_ms: b.end_ms,
        signer: b.next_signer.or(b.signer).map(|i| i.fingerprint),
        open: false,
    }))
}

/// The default instance name: the host name, lower case, made a valid instance name.
pub(crate) fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    instance_name(&host)
}

/// `name` made a valid instance name (`kubewitness` when nothing usable is left).
pub(crate) fn instance_name(name: &str) -> String {
    let mut s: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .take(digest::MAX_INSTANCE_LEN)
        .collect();
    while s.starts_with('.') {
        s.remove(0);
    }
    if s.is_empty() {
        "kubewitness".into()
    } else {
        s
    }
}
