//! The pure check of one session: fed the object listing, the seal and each chunk as the
//! fetcher reads them (no I/O here), it decides every [`Problem`]. Chunks are consumed one
//! at a time, so memory stays bounded by one chunk whatever the session's length.
//!
//! Every chunk is decoded (bounded), its hash computed, and the chain checked in sequence
//! order: chunk 0's `prev` is zero, each chunk's `prev` is its predecessor's hash, and the
//! seal's `finalHash` is the last chunk's hash. A broken link between `j-1` and `j` blames
//! chunk `j` when `j`'s own hash is also disowned by its successor (its header was changed),
//! otherwise chunk `j-1` (its bytes were changed). A chunk stored under another position
//! whose links still hold is *reordered*; a missing position is *missing*; objects past the
//! seal's count are *extra data after seal*. The seal's counts and byte totals must match
//! the events, its signature must verify, and its key must be the one chunk 0 declared (and
//! a trusted key, when keys are given). Garbage never panics and never passes.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::{Problem, SessionReport, order};
use crate::channel::Channel;
use crate::record::chunk::{self, Hash};
use crate::record::event::Event;
use crate::record::seal::{self, Seal};
use crate::record::store::{CHUNK_SUFFIX, SEAL_NAME};

struct Entry {
    pos: u64,
    hash: Hash,
    prev: Hash,
    seq: u64,
}

/// The check of one session in progress.
pub(crate) struct SessionCheck {
    prefix: String,
    id: Option<u128>,
    report: SessionReport,
    problems: BTreeSet<Problem>,
    positions: BTreeSet<u64>,
    has_seal: bool,
    seal: Option<Seal>,
    seal_key: Option<VerifyingKey>,
    entries: Vec<Entry>,
    declared_signer: Option<Option<String>>,
}

impl SessionCheck {
    /// Starts the check of session `id` whose objects, relative to `prefix`, are `names`.
    pub(crate) fn new(id: &str, prefix: &str, names: Vec<String>) -> SessionCheck {
        let mut c = SessionCheck {
            prefix: prefix.to_string(),
            id: ulid::Ulid::from_string(id).map(u128::from).ok(),
            report: SessionReport {
                session: id.to_string(),
                ..Default::default()
            },
            problems: BTreeSet::new(),
            positions: BTreeSet::new(),
            has_seal: false,
            seal: None,
            seal_key: None,
            entries: Vec::new(),
            declared_signer: None,
        };
        let mut others = Vec::new();
        for name in names {
            match name.strip_suffix(CHUNK_SUFFIX) {
                Some(n) if n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()) => {
                    c.positions.insert(n.parse::<u64>().expect("ten digits"));
                }
                _ if name == SEAL_NAME => c.has_seal = true,
                _ => others.push(name),
            }
        }
        if !c.has_seal {
            c.problems.insert(Problem::Unsealed);
        }
        for o in others {
            c.problems.insert(Problem::ExtraAfterSeal {
                object: format!("{prefix}/{o}"),
            });
        }
        c
    }

    /// A session whose objects could not be listed.
    pub(crate) fn unreadable(id: &str, detail: String) -> SessionReport {
        SessionReport {
            session: id.to_string(),
            problems: vec![Problem::Unreadable { detail }],
            ..Default::default()
        }
    }

    /// Whether a seal object is listed (then [`SessionCheck::seal`] must be called first).
    pub(crate) fn has_seal(&self) -> bool {
        self.has_seal
    }

    /// Takes the seal object as read; returns the chunk positions to read next, in order.
    pub(crate) fn seal(&mut self, object: Option<Result<Bytes, String>>) -> Vec<u64> {
        match object {
            Some(Ok(obj)) => {
                self.report.seal_hash = Some(hex::encode(Sha256::digest(&obj)));
                match Seal::parse(&obj) {
                    Ok(s) => self.accept_seal(s),
                    Err(e) => {
                        self.problems.insert(Problem::ModifiedSeal {
                            detail: e.to_string(),
                        });
                    }
                }
            }
            Some(Err(detail)) => {
                self.problems.insert(Problem::Unreadable { detail });
            }
            None => {}
        }
        let count = self.count();
        for p in self.positions.iter().filter(|p| **p >= count) {
            self.problems.insert(Problem::ExtraAfterSeal {
                object: format!("{}/{p:010}{CHUNK_SUFFIX}", self.prefix),
            });
        }
        let mut read = Vec::new();
        for pos in 0..count {
            if self.positions.contains(&pos) {
                read.push(pos);
            } else {
                self.problems.insert(Problem::MissingChunk { chunk: pos });
            }
        }
        read
    }

    fn accept_seal(&mut self, s: Seal) {
        match s.check_signature() {
            Ok(key) => self.seal_key = key,
            Err(detail) => {
                self.problems.insert(Problem::BadSignature { detail });
            }
        }
        if s.body.format != seal::FORMAT || s.body.session != self.report.session {
            self.problems.insert(Problem::ModifiedSeal {
                detail: "format or session id does not match".into(),
            });
        }
        self.report.end_reason = Some(s.body.end.reason.clone());
        self.report.end_ms = Some(s.body.end.end_ms);
        self.report.signer = s.body.signer.as_ref().map(|i| i.fingerprint.clone());
        self.seal = Some(s);
    }

    /// Chunks the seal covers (or, unsealed, up to the highest position stored).
    fn count(&self) -> u64 {
        match &self.seal {
            Some(s) => s.body.chunks,
            None => self.positions.last().map_or(0, |p| p + 1),
        }
    }

    /// Takes chunk `pos` as read.
    pub(crate) fn chunk(&mut self, pos: u64, object: Result<Bytes, String>) {
        let obj = match object {
            Ok(o) => o,
            Err(detail) => {
                self.problems
                    .insert(Problem::ModifiedChunk { chunk: pos, detail });
                return;
            }
        };
        self.report.chunks += 1;
        let modified = |detail: String| Problem::ModifiedChunk { chunk: pos, detail };
        let (header, events) = match chunk::decode(&obj) {
            Ok(d) => d,
            Err(e) => {
                self.problems.insert(modified(e.to_string()));
                return;
            }
        };
        if Some(header.session) != self.id {
            self.problems
                .insert(modified("belongs to another session".into()));
            return;
        }
        for (i, e) in events.iter().enumerate() {
            match &e.event {
                Event::Start(meta) if header.seq == 0 && i == 0 => {
                    if meta.session != self.report.session {
                        self.problems
                            .insert(modified("start event names another session".into()));
                    }
                    self.declared_signer = Some(meta.signer.clone());
                    self.report.instance = meta.instance.clone();
                    self.report.start_ms = Some(meta.start_ms);
                }
                Event::Start(_) => {
                    self.problems
                        .insert(modified("a start event out of place".into()));
                }
                Event::Data { channel, bytes } => {
                    let n = bytes.len() as u64;
                    let b = &mut self.report.bytes;
                    match channel {
                        Channel::Stdin => b.stdin += n,
                        Channel::Stdout => b.stdout += n,
                        Channel::Stderr => b.stderr += n,
                        Channel::Resize => b.resize += n,
                        Channel::Error => {}
                    }
                }
                _ => {}
            }
        }
        if header.seq == 0 && !matches!(events.first().map(|e| &e.event), Some(Event::Start(_))) {
            self.problems.insert(modified(
                "chunk 0 does not open with the start event".into(),
            ));
        }
        self.report.events += events.len() as u64;
        self.entries.push(Entry {
            pos,
            hash: chunk::hash(&obj),
            prev: header.prev,
            seq: header.seq,
        });
    }

    /// The verdict; `trusted` are the keys a seal may be signed with (none: any key the
    /// session declared).
    pub(crate) fn finish(mut self, trusted: &[VerifyingKey]) -> SessionReport {
        self.chain();
        self.keys(trusted);
        let mut r = self.report;
        r.problems = order(self.problems);
        r.intact = r.problems.is_empty();
        r
    }

    /// The chain, in sequence order. Link j joins j-1 and j; link `count` joins the seal.
    fn chain(&mut self) {
        let count = self.count();
        let problems = &mut self.problems;
        let mut entries = std::mem::take(&mut self.entries);
        // A chunk at its own position keeps its sequence number; an impostor is the
        // modified one.
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
        let final_hash = self.seal.as_ref().map(|s| s.body.final_hash.clone());
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
    }

    /// The seal against what was read, and the keys.
    fn keys(&mut self, trusted: &[VerifyingKey]) {
        let Some(s) = &self.seal else { return };
        let b = &s.body;
        let r = &mut self.report;
        if b.events != r.events || b.bytes != r.bytes {
            self.problems.insert(Problem::ModifiedSeal {
                detail: "event or byte totals do not match the chunks".into(),
            });
        }
        let sealed_fp = b.signer.as_ref().map(|i| i.fingerprint.clone());
        if let Some(declared) = &self.declared_signer
            && *declared != sealed_fp
        {
            match &sealed_fp {
                Some(fp) => self.problems.insert(Problem::UnknownKey {
                    fingerprint: fp.clone(),
                }),
                None => self.problems.insert(Problem::BadSignature {
                    detail: "the session declared a signer but the seal is unsigned".into(),
                }),
            };
        }
        if trusted.is_empty() {
            return;
        }
        match (&self.seal_key, &sealed_fp) {
            (Some(k), _) if trusted.contains(k) => r.pinned = true,
            (_, Some(fp)) => {
                self.problems.insert(Problem::UnknownKey {
                    fingerprint: fp.clone(),
                });
            }
            (_, None) => {
                self.problems.insert(Problem::BadSignature {
                    detail: "unsigned, but a public key is pinned".into(),
                });
            }
        }
    }
}
