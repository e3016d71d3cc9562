//! Session recording: hash-chained, signed, write-once records of every exec, attach and
//! log session, and the tools to verify and export them offline.
//!
//! The format is specified in `docs/RECORDING-FORMAT.md`. In short: a session is a sequence
//! of chunk objects (`<id>/<seq>.chunk`: a fixed header with the session id, sequence number
//! and the SHA-256 of the previous chunk, then a zstd payload of events) closed by a seal
//! object (`<id>/seal`: final hash, counts, byte totals and end status, signed with Ed25519).
//!
//! # Fail closed
//!
//! [`RecordFilter`] runs last in each direction of the session pipeline. It hands every
//! frame to the session's [`RecorderHandle`] *before* passing it on; the handle's queue is
//! bounded in bytes (the window: accepted but not yet durably stored). When the window is
//! full, the filter's readiness future holds the pipeline (backpressure: the client is slowed
//! to the store's pace) for up to [`STALL_TIMEOUT`]; when storage failed or stays stuck, the
//! filter ends the session with a `RecordingFailed` status. So the client never gets more
//! than one window ahead of the store. The writer task ends the session itself when a write
//! fails, even if no further frame arrives.
//!
//! # Crash recovery
//!
//! Each cut chunk is written to the spool directory (fsync'd) before the store and removed
//! after; the session's spool directory lives until the seal is stored. On start,
//! [`Recorder::recover`] uploads whatever a crash left and seals those sessions as
//! `interrupted`.
//!
//! # Evidence across sessions (format version 2)
//!
//! [`Recorder::start_digests`] starts the instance's [`Ledger`]: every stored seal and every
//! audit line is noted, and at start-up, every `digestInterval` and at [`Recorder::close`]
//! the interval's audit segment (`segment.rs`, a session-like object under `audit/`) and a
//! signed digest chained to the previous one (`digest.rs`, under `digests/`) are stored.
//! [`verify_store`] checks the chains, what they list and the segments; [`verify_session`]
//! one session alone.

pub mod chunk;
pub mod digest;
pub mod event;
pub mod export;
mod handle;
mod keys;
mod ledger;
mod ledger_files;
mod recorder;
pub mod seal;
pub mod segment;
pub(crate) mod signed;
pub mod store;
pub mod verify;
mod writer;

/// The Ed25519 public key a seal is verified against (re-exported for embedders and tests).
pub use ed25519_dalek::VerifyingKey;
pub use event::{Event, Finding, PolicyEvent, SessionMeta, Timed};
pub use handle::{RecordError, RecordFilter, RecorderHandle, STALL_TIMEOUT, recording_failed};
pub use ledger::{DEFAULT_DIGEST_INTERVAL, Ledger};
pub use recorder::{
    CLOSE_TIMEOUT, DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_INTERVAL_MS, DEFAULT_WINDOW_BYTES,
    MAX_CHUNK_BYTES, ObjectLockConfig, Recorder, RecordingConfig,
};
pub use seal::SealSigner;
pub use store::{RecordStore, StoreError};
pub use verify::{
    GrantReport, Problem, SessionReport, StoreCheck, StoreFinding, StoreReport, verify_session,
    verify_store,
};

#[cfg(test)]
mod tests;
