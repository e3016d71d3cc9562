//! Offline verification of recorded sessions.
//!
//! Every chunk is fetched and decoded (bounded), its hash computed, and the chain checked in
//! sequence order: chunk 0's `prev` is zero, each chunk's `prev` is its predecessor's hash,
//! and the seal's `finalHash` is the last chunk's hash. A broken link between `j-1` and `j`
//! blames chunk `j` when `j`'s own hash is also disowned by its successor (its header was
//! changed), otherwise chunk `j-1` (its bytes were changed). A chunk stored under another
//! position whose links still hold is *reordered*; a missing position is *missing*; objects
//! past the seal's count are *extra data after seal*. The seal's counts and byte totals must
//! match the events, its signature must verify, and its key must be the one chunk 0
//! declared (and the pinned key, when one is given). Garbage never panics and never passes.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::chunk::{self, Hash};
use super::event::Event;
use super::seal::{self, ByteTotals, Seal};
use super::store::{CHUNK_SUFFIX, RecordStore, SEAL_NAME, chunk_name, seal_name};
use crate::channel::Channel;

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

struct Entry {
    pos: u64,
    hash: Hash,
    prev: Hash,
    seq: u64,
}

/// Verifies one session; `tick` is called once per object read (for progress bars).
pub async fn verify_session(
    store: &RecordStore,
    session: &str,
    pinned: Option<&VerifyingKey>,
    tick: &(dyn Fn() + Sync),
) -> SessionReport {
    let mut r = SessionReport {
        session: session.to_string(),
        ..Default::default()
    };
    let mut problems = BTreeSet::new();
    let names = match store.objects(session).await {
        Ok(n) => n,
        Err(e) => {
            r.problems.push(Problem::Unreadable {
                detail: e.to_string(),
            });
            return r;
        }
    };
    let mut positions = BTreeSet::new();
    let mut others = Vec::new();
    let mut has_seal = false;
    for name in names {
        match name.strip_suffix(CHUNK_SUFFIX) {
            Some(n) if n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()) => {
                positions.insert(n.parse::<u64>().expect("ten digits"));
            }
            _ if name == SEAL_NAME => has_seal = true,
            _ => others.push(name),
        }
    }

    // The seal.
    let mut seal: Option<Seal> = None;
    if has_seal {
        tick();
        match store.get(&seal_name(session)).await {
            Ok(obj) => match Seal::parse(&obj) {
                Ok(s) => seal = Some(s),
                Err(e) => {
                    problems.insert(Problem::ModifiedSeal {
                        detail: e.to_string(),
                    });
                }
            },
            Err(e) => {
                problems.insert(Problem::Unreadable {
                    detail: e.to_string(),
                });
            }
        }
    } else {
        problems.insert(Problem::Unsealed);
    }
    let mut seal_key = None;
    if let Some(s) = &seal {
        match s.check_signature() {
            Ok(key) => seal_key = key,
            Err(detail) => {
                problems.insert(Problem::BadSignature { detail });
            }
        }
        if s.body.format != seal::FORMAT || s.body.session != session {
            problems.insert(Problem::ModifiedSeal {
                detail: "format or session id does not match".into(),
            });
        }
        r.end_reason = Some(s.body.end.reason.clone());
        r.signer = s.body.signer.as_ref().map(|i| i.fingerprint.clone());
    }
    let count = match &seal {
        Some(s) => s.body.chunks,
        None => positions.last().map_or(0, |p| p + 1),
    };
    for p in positions.iter().filter(|p| **p >= count) {
        problems.insert(Problem::ExtraAfterSeal {
            object: chunk_name(session, *p),
        });
    }
    for o in others {
        problems.insert(Problem::ExtraAfterSeal {
            object: format!("{session}/{o}"),
        });
    }

    // The chunks.
    let id = ulid::Ulid::from_string(session).map(u128::from).ok();
    let mut entries = Vec::new();
    let mut declared_signer: Option<Option<String>> = None;
    for pos in 0..count {
        if !positions.contains(&pos) {
            problems.insert(Problem::MissingChunk { chunk: pos });
            continue;
        }
        tick();
        let obj = match store.get(&chunk_name(session, pos)).await {
            Ok(o) => o,
            Err(e) => {
                problems.insert(Problem::ModifiedChunk {
                    chunk: pos,
                    detail: e.to_string(),
                });
                continue;
            }
        };
        r.chunks += 1;
        let modified = |detail: String| Problem::ModifiedChunk { chunk: pos, detail };
        let (header, events) = match chunk::decode(&obj) {
            Ok(d) => d,
            Err(e) => {
                problems.insert(modified(e.to_string()));
                continue;
            }
        };
        if Some(header.session) != id {
            problems.insert(modified("belongs to another session".into()));
            continue;
        }
        for (i, e) in events.iter().enumerate() {
            match &e.event {
                Event::Start(meta) if header.seq == 0 && i == 0 => {
                    if meta.session != session {
                        problems.insert(modified("start event names another session".into()));
                    }
                    declared_signer = Some(meta.signer.clone());
                }
                Event::Start(_) => {
                    problems.insert(modified("a start event out of place".into()));
                }
                Event::Data { channel, bytes } => {
                    let n = bytes.len() as u64;
                    match channel {
                        Channel::Stdin => r.bytes.stdin += n,
                        Channel::Stdout => r.bytes.stdout += n,
                        Channel::Stderr => r.bytes.stderr += n,
                        Channel::Resize => r.bytes.resize += n,
                        Channel::Error => {}
                    }
                }
                _ => {}
            }
        }
        if header.seq == 0 && !matches!(events.first().map(|e| &e.event), Some(Event::Start(_))) {
            problems.insert(modified(
                "chunk 0 does not open with the start event".into(),
            ));
        }
        r.events += events.len() as u64;
        let entry = Entry {
            pos,
            hash: chunk::hash(&obj),
            prev: header.prev,
            seq: header.seq,
        };
        entries.push(entry);
    }
    // A chunk at its own position keeps its sequence number; an impostor is the modified one.
    entries.sort_by_key(|e| (e.seq != e.pos, e.pos));
    let mut by_seq: BTreeMap<u64, Entry> = BTreeMap::new();
    for e in entries {
        if by_seq.contains_key(&e.seq) || e.seq >= count {
            problems.insert(Problem::ModifiedChunk {
                chunk: e.pos,
                detail: format!("carries sequence {}", e.seq),
            });
        } else {
            by_seq.insert(e.seq, e);
        }
    }

    // The chain, in sequence order. Link j joins j-1 and j; link `count` joins the seal.
    let final_hash = seal.as_ref().map(|s| s.body.final_hash.clone());
    let link_ok = |j: u64| -> Option<bool> {
        let want_prev = if j == 0 {
            Some([0u8; 32])
        } else {
            by_seq.get(&(j - 1)).map(|e| e.hash)
        };
        if j == count {
            let fh = final_hash.as_ref()?;
            if count == 0 {
                return Some(false);
            }
            return Some(want_prev.map(hex::encode).as_ref() == Some(fh));
        }
        let e = by_seq.get(&j)?;
        Some(want_prev? == e.prev)
    };
    let broken: BTreeSet<u64> = (0..=count).filter(|j| link_ok(*j) == Some(false)).collect();
    let mut blamed = BTreeSet::new();
    for &j in &broken {
        let seq = if broken.contains(&(j + 1)) || j == 0 {
            j
        } else {
            j - 1
        };
        if seq == count {
            continue;
        }
        blamed.insert(seq);
        let detail = if j == count {
            "its hash is not the seal's final hash".into()
        } else {
            format!("hash chain broken before chunk {j}")
        };
        match by_seq.get(&seq) {
            Some(e) => {
                problems.insert(Problem::ModifiedChunk {
                    chunk: e.pos,
                    detail,
                });
            }
            None if j == count && count == 0 => {
                problems.insert(Problem::ModifiedSeal {
                    detail: "a seal over no chunks".into(),
                });
            }
            None => {}
        }
    }
    for e in by_seq.values() {
        if e.seq != e.pos && !blamed.contains(&e.seq) {
            problems.insert(Problem::Reordered {
                chunk: e.pos,
                seq: e.seq,
            });
        }
    }

    // The seal against what was read, and the keys.
    if let Some(s) = &seal {
        let b = &s.body;
        if b.events != r.events || b.bytes != r.bytes {
            problems.insert(Problem::ModifiedSeal {
                detail: "event or byte totals do not match the chunks".into(),
            });
        }
        let sealed_fp = b.signer.as_ref().map(|i| i.fingerprint.clone());
        if let Some(declared) = &declared_signer
            && *declared != sealed_fp
        {
            match &sealed_fp {
                Some(fp) => problems.insert(Problem::UnknownKey {
                    fingerprint: fp.clone(),
                }),
                None => problems.insert(Problem::BadSignature {
                    detail: "the session declared a signer but the seal is unsigned".into(),
                }),
            };
        }
        if let Some(pin) = pinned {
            match (&seal_key, &sealed_fp) {
                (Some(k), _) if k == pin => r.pinned = true,
                (_, Some(fp)) => {
                    problems.insert(Problem::UnknownKey {
                        fingerprint: fp.clone(),
                    });
                }
                (_, None) => {
                    problems.insert(Problem::BadSignature {
                        detail: "unsigned, but a public key is pinned".into(),
                    });
                }
            }
        }
    }
    r.problems = order(problems);
    r.intact = r.problems.is_empty();
    r
}

/// Problems in a stable order: the most telling first.
fn order(problems: BTreeSet<Problem>) -> Vec<Problem> {
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
