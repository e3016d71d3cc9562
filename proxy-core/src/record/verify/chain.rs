//! One instance's digest chain: every digest read, its signature, its key and its link to
//! the one before checked, and what the trusted digests list collected for the store check.
//!
//! Key trust follows the chain: with keys given, digest 0 (and any digest after a gap) must
//! be signed by one of them; each later digest by its predecessor's key, or by the key its
//! predecessor named in a rotation (`nextSigner`). Without keys, digest 0's key is trusted
//! on first use. A broken link between digests `s-1` and `s` blames `s-1` (its bytes are not
//! what `s` signed).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest as _, Sha256};

use super::StoreFinding;
use crate::record::digest::{DIGESTS_DIR, Digest, Listed, digest_name, digest_seq};
use crate::record::store::RecordStore;

/// What a chain check found and collected.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    pub(crate) instance: String,
    /// Sessions listed by trusted digests: id → (digest seq, seal hash).
    pub(crate) listed: BTreeMap<String, (u64, String)>,
    /// Grant objects listed by trusted digests: name → (digest seq, sha256).
    pub(crate) grants: BTreeMap<String, (u64, String)>,
    /// Audit segments listed by trusted digests, with their digest's seq and interval.
    pub(crate) audits: Vec<(u64, Listed, u64, u64)>,
    /// Keys that signed trusted digests or were named by trusted rotations.
    pub(crate) keys: Vec<VerifyingKey>,
    /// The interval's end of the newest digest read, and the earliest start.
    pub(crate) last_end_ms: Option<u64>,
    pub(crate) first_start_ms: Option<u64>,
    /// The longest interval any digest declares.
    pub(crate) interval_ms: u64,
    pub(crate) findings: BTreeSet<StoreFinding>,
    pub(crate) digests: u64,
}

/// A digest as read, with what the check decided about it.
struct Read {
    digest: Digest,
    hash: [u8; 32],
    trusted: bool,
}

/// Checks `instance`'s chain; `pinned` are the keys given (empty: trust on first use).
pub(crate) async fn check_chain(
    store: &RecordStore,
    instance: &str,
    pinned: &[VerifyingKey],
    tick: &(dyn Fn() + Sync),
) -> Result<Chain, String> {
    let folder = format!("{DIGESTS_DIR}/{instance}");
    let names = store.objects(&folder).await.map_err(|e| e.to_string())?;
    let mut c = Chain {
        instance: instance.to_string(),
        ..Chain::default()
    };
    let mut seqs = BTreeSet::new();
    for n in names {
        match digest_seq(&n) {
            Some(s) => {
                seqs.insert(s);
            }
            None => {
                c.findings.insert(StoreFinding::DigestModified {
                    instance: instance.into(),
                    seq: None,
                    detail: format!("unexpected object {folder}/{n}"),
                });
            }
        }
    }
    let Some(&max) = seqs.last() else {
        return Ok(c);
    };
    let mut prev: Option<Read> = None;
    for seq in 0..=max {
        if !seqs.contains(&seq) {
            c.missing(seq, prev.as_ref(), store, instance).await;
            prev = None;
            continue;
        }
        tick();
        let obj = store
            .get(&digest_name(instance, seq))
            .await
            .map_err(|e| e.to_string());
        prev = c.one(seq, obj, prev.as_ref(), pinned);
    }
    Ok(c)
}

impl Chain {
    fn modified(&mut self, seq: u64, detail: String) {
        self.findings.insert(StoreFinding::DigestModified {
            instance: self.instance.clone(),
            seq: Some(seq),
            detail,
        });
    }

    /// A gap: digest `seq` is missing; the times around it, when known.
    async fn missing(
        &mut self,
        seq: u64,
        prev: Option<&Read>,
        store: &RecordStore,
        instance: &str,
    ) {
        let after_ms = prev.map(|p| p.digest.body.end_ms);
        let next = store.get(&digest_name(instance, seq + 1)).await.ok();
        let before_ms = next
            .and_then(|o| Digest::parse(&o).ok())
            .map(|d| d.body.start_ms);
        self.findings.insert(StoreFinding::DigestMissing {
            instance: self.instance.clone(),
            seq,
            after_ms,
            before_ms,
        });
    }

    /// Checks digest `seq`; what the next one links to.
    fn one(
        &mut self,
        seq: u64,
        obj: Result<bytes::Bytes, String>,
        prev: Option<&Read>,
        pinned: &[VerifyingKey],
    ) -> Option<Read> {
        self.digests += 1;
        let obj = match obj {
            Ok(o) => o,
            Err(e) => {
                self.modified(seq, e);
                return None;
            }
        };
        let hash: [u8; 32] = Sha256::digest(&obj).into();
        let digest = match Digest::parse(&obj) {
            Ok(d) => d,
            Err(e) => {
                self.modified(seq, e.to_string());
                return None;
            }
        };
        let b = &digest.body;
        if b.instance != self.instance || b.seq != seq {
            self.modified(seq, "instance or sequence does not match its name".into());
        }
        if let Some(p) = prev {
            let want = if seq == 0 { [0; 32] } else { p.hash };
            if b.prev != hex::encode(want) {
                self.modified(seq - 1, format!("its hash is not what digest {seq} names"));
            }
        } else if seq == 0 && b.prev != hex::encode([0u8; 32]) {
            self.modified(seq, "digest 0 names a predecessor".into());
        }
        let trusted = self.trust(seq, &digest, prev, pinned);
        if trusted {
            self.collect(&digest);
        }
        Some(Read {
            digest,
            hash,
            trusted,
        })
    }

    /// Whether digest `seq` is signed by a key the chain trusts; records why not.
    fn trust(
        &mut self,
        seq: u64,
        digest: &Digest,
        prev: Option<&Read>,
        pinned: &[VerifyingKey],
    ) -> bool {
        let key = match digest.check_signature() {
            Ok(k) => k,
            Err(e) => {
                self.modified(seq, format!("the digest: {e}"));
                return false;
            }
        };
        let fp = digest
            .body
            .signer
            .as_ref()
            .map_or_else(|| "unsigned".to_string(), |i| i.fingerprint.clone());
        let ok = match prev {
            // The key the trusted predecessor named (its rotation, or its own); an unsigned
            // predecessor names none: the chain stays unsigned.
            Some(p) if p.trusted => {
                let b = &p.digest.body;
                match (b.next_signer.as_ref().or(b.signer.as_ref()), &key) {
                    (None, None) => true,
                    (Some(named), Some(k)) => named.key().ok().as_ref() == Some(k),
                    _ => false,
                }
            }
            _ if !pinned.is_empty() => key.is_some_and(|k| self.trusted_keys(pinned).contains(&k)),
            // Trust on first use: digest 0, or the first after a gap, when no key is given.
            _ => true,
        };
        if !ok {
            self.findings.insert(StoreFinding::DigestUnknownKey {
                instance: self.instance.clone(),
                seq,
                fingerprint: fp,
            });
            return false;
        }
        if let Some(k) = key
            && !self.keys.contains(&k)
        {
            self.keys.push(k);
        }
        true
    }

    fn trusted_keys(&self, pinned: &[VerifyingKey]) -> Vec<VerifyingKey> {
        pinned.iter().chain(&self.keys).copied().collect()
    }

    /// Collects what a trusted digest lists.
    fn collect(&mut self, digest: &Digest) {
        let b = &digest.body;
        if let Some(next) = b.next_signer.as_ref().and_then(|i| i.key().ok())
            && !self.keys.contains(&next)
        {
            self.keys.push(next);
        }
        for l in &b.sessions {
            self.listed
                .entry(l.session.clone())
                .or_insert((b.seq, l.seal.clone()));
        }
        for g in &b.grants {
            self.grants
                .entry(g.name.clone())
                .or_insert((b.seq, g.sha256.clone()));
        }
        if let Some(a) = &b.audit {
            self.audits.push((b.seq, a.clone(), b.start_ms, b.end_ms));
        }
        self.last_end_ms = self.last_end_ms.max(Some(b.end_ms));
        self.first_start_ms = Some(
            self.first_start_ms
                .map_or(b.start_ms, |s| s.min(b.start_ms)),
        );
        self.interval_ms = self.interval_ms.max(b.interval_ms);
    }
}
