//! Offline verification of recorded sessions (this module) and of a whole store: digests,
//! audit segments and key rotations (`store.rs`).
//!
//! A session is checked in two parts: [`verify_session`] fetches (lists the session's
//! objects, reads the seal, then each chunk in order) and feeds what it read to the pure
//! check in `check.rs`, which decides every [`Problem`] without doing I/O.

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::seal::ByteTotals;
use super::store::{CHUNK_SUFFIX, RecordStore, SEAL_NAME};

mod chain;
mod check;
mod store;
pub(crate) use check::SessionCheck;
pub use store::{GrantReport, StoreCheck, StoreFinding, StoreReport, verify_store};

/// One thing wrong with a session's record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Problem {
    /// No seal: still running, or crashed and not yet recovered.
    Unsealed,
    /// Chunk `chunk` was altered (or truncated, or does not decode).
    ModifiedChunk {
        /// Position.
        chunk: u64,
        /// What was found.
        detail: String,
    },
    /// No object at position `chunk`.
    MissingChunk {
        /// Position.
        chunk: u64,
    },
    /// An authentic chunk stored at the wrong position.
    Reordered {
        /// Position it was found at.
        chunk: u64,
        /// Sequence number it carries.
        seq: u64,
    },
    /// Objects beyond what the seal covers.
    ExtraAfterSeal {
        /// The object's name within the session.
        object: String,
    },
    /// The seal does not parse or does not match the chunks.
    ModifiedSeal {
        /// What was found.
        detail: String,
    },
    /// The seal's signature does not verify.
    BadSignature {
        /// What was found.
        detail: String,
    },
    /// Signed by a key other than the declared or pinned one.
    UnknownKey {
        /// The fingerprint of the key that signed.
        fingerprint: String,
    },
    /// The store could not be read.
    Unreadable {
        /// What failed.
        detail: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unsealed => write!(f, "unsealed (still running or crashed)"),
            Problem::ModifiedChunk { chunk, detail } => {
                write!(f, "modified chunk {chunk} ({detail})")
            }
            Problem::MissingChunk { chunk } => write!(f, "missing chunk {chunk}"),
            Problem::Reordered { chunk, seq } => {
                write!(f, "reordered: chunk {chunk} holds sequence {seq}")
            }
            Problem::ExtraAfterSeal { object } => write!(f, "extra data after seal: {object}"),
            Problem::ModifiedSeal { detail } => write!(f, "modified seal ({detail})"),
            Problem::BadSignature { detail } => write!(f, "bad signature ({detail})"),
            Problem::UnknownKey { fingerprint } => write!(f, "unknown key {fingerprint}"),
            Problem::Unreadable { detail } => write!(f, "unreadable ({detail})"),
        }
    }
}

/// The verdict on one session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionReport {
    /// The session id.
    pub session: String,
    /// True only if nothing is wrong.
    pub intact: bool,
    /// Everything found wrong.
    pub problems: Vec<Problem>,
    /// Chunks read.
    pub chunks: u64,
    /// Events decoded.
    pub events: u64,
    /// Bytes per channel, from the events.
    pub bytes: ByteTotals,
    /// The end reason from a valid seal (`completed`, `interrupted`, …).
    pub end_reason: Option<String>,
    /// The signer's fingerprint; `None` for unsigned.
    pub signer: Option<String>,
    /// Whether the signer matched a pinned key.
    pub pinned: bool,
    /// SHA-256 of the seal object as stored, hex (what digests list).
    pub seal_hash: Option<String>,
    /// The instance the start event names (version 2 recordings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Start time from the start event, Unix milliseconds.
    pub start_ms: Option<u64>,
    /// End time from the seal, Unix milliseconds.
    pub end_ms: Option<u64>,
}

impl SessionReport {
    /// `ok`, `ok (unsigned)`, or the first problem.
    pub fn summary(&self) -> String {
        match self.problems.first() {
            Some(p) => p.to_string(),
            None if self.signer.is_none() => "ok (unsigned)".into(),
            None => "ok".into(),
        }
    }
}

/// Verifies one session; with `pinned`, its seal must be signed by that key; `tick` is
/// called once per object read (for progress bars).
pub async fn verify_session(
    store: &RecordStore,
    session: &str,
    pinned: Option<&VerifyingKey>,
    tick: &(dyn Fn() + Sync),
) -> SessionReport {
    let trusted: Vec<VerifyingKey> = pinned.into_iter().copied().collect();
    verify_at(store, session, session, &trusted, tick).await
}

/// Verifies the session `id` whose objects are under `prefix` (its id for a session, a
/// longer path for an audit segment).
pub(crate) async fn verify_at(
    store: &RecordStore,
    id: &str,
    prefix: &str,
    trusted: &[VerifyingKey],
    tick: &(dyn Fn() + Sync),
) -> SessionReport {
    let names = match store.objects(prefix).await {
        Ok(n) => n,
        Err(e) => return SessionCheck::unreadable(id, e.to_string()),
    };
    let mut check = SessionCheck::new(id, prefix, names);
    let seal = if check.has_seal() {
        tick();
        let got = store.get(&format!("{prefix}/{SEAL_NAME}")).await;
        Some(got.map_err(|e| e.to_string()))
    } else {
        None
    };
    for pos in check.seal(seal) {
        tick();
        let name = format!("{prefix}/{pos:010}{CHUNK_SUFFIX}");
        let got = store.get(&name).await.map_err(|e| e.to_string());
        check.chunk(pos, got);
    }
    check.finish(trusted)
}

/// Problems in a stable order: the most telling first.
pub(crate) fn order(problems: BTreeSet<Problem>) -> Vec<Problem> {
    let rank = |p: &Problem| match p {
        Problem::Unreadable { .. } => 0,
        Problem::ModifiedChunk { .. } => 1,
        Problem::MissingChunk { .. } => 2,
        Problem::Reordered { .. } => 3,
        Problem::ExtraAfterSeal { .. } => 4,
        Problem::BadSignature { .. } => 5,
        Problem::UnknownKey { .. } => 6,
        Problem::ModifiedSeal { .. } => 7,
        Problem::Unsealed => 8,
    };
    let mut v: Vec<Problem> = problems.into_iter().collect();
    v.sort_by_key(|p| rank(p));
    v
}
