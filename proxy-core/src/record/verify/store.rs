//! The whole store: every instance's digest chain (`chain.rs`), every session against what
//! the digests list, and every listed audit segment (`docs/RECORDING-FORMAT.md`,
//! "Verifying a store").

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::chain::{Chain, check_chain};
use super::{SessionReport, verify_at};
use crate::record::digest::{DIGESTS_DIR, valid_instance};
use crate::record::segment::segment_prefix;
use crate::record::store::RecordStore;

/// Something wrong with the store as a whole (beyond one session's own record).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StoreFinding {
    /// A digest lists the session, but the store has none of it.
    SessionMissing {
        /// The session.
        session: String,
        /// The instance whose digest lists it.
        instance: String,
        /// That digest.
        digest: u64,
    },
    /// The session's seal is not the one its digest lists.
    SealMismatch {
        /// The session.
        session: String,
        /// The instance whose digest lists it.
        instance: String,
        /// That digest.
        digest: u64,
    },
    /// A sealed session that no digest lists although one should (possible injection).
    Unlisted {
        /// The session.
        session: String,
    },
    /// Sessions name an instance that has no digests at all.
    NoDigests {
        /// The instance.
        instance: String,
    },
    /// A digest is missing from the chain.
    DigestMissing {
        /// The instance.
        instance: String,
        /// Its sequence number.
        seq: u64,
        /// The end of the digest before the gap, Unix ms.
        #[serde(rename = "afterMs")]
        after_ms: Option<u64>,
        /// The start of the digest after the gap, Unix ms.
        #[serde(rename = "beforeMs")]
        before_ms: Option<u64>,
    },
    /// A digest does not parse, its signature fails, or its successor disowns it.
    DigestModified {
        /// The instance.
        instance: String,
        /// Its sequence number (`None`: an object that is no digest).
        seq: Option<u64>,
        /// What was found.
        detail: String,
    },
    /// A digest signed by a key the chain does not trust.
    DigestUnknownKey {
        /// The instance.
        instance: String,
        /// Its sequence number.
        seq: u64,
        /// The signing key's fingerprint (or `unsigned`).
        fingerprint: String,
    },
    /// A digest lists an audit segment the store does not hold.
    AuditMissing {
        /// The instance.
        instance: String,
        /// The digest listing it.
        digest: u64,
        /// The segment id.
        segment: String,
    },
    /// An audit segment does not verify or is not the one its digest lists.
    AuditModified {
        /// The instance.
        instance: String,
        /// The digest listing it.
        digest: u64,
        /// The segment id.
        segment: String,
    },
    /// A grant object does not verify, is not the one its digest lists, or tells an
    /// impossible story.
    GrantModified {
        /// The object (or the request's folder).
        object: String,
        /// What was found.
        detail: String,
    },
    /// A digest lists a grant object the store does not hold.
    GrantMissing {
        /// The object.
        object: String,
        /// The instance whose digest lists it.
        instance: String,
        /// That digest.
        digest: u64,
    },
    /// `--until` is past the newest digest by more than an interval (truncated tail?).
    Truncated {
        /// The instance.
        instance: String,
        /// The newest digest's end, Unix ms.
        #[serde(rename = "lastEndMs")]
        last_end_ms: u64,
        /// The time asked for, Unix ms.
        #[serde(rename = "untilMs")]
        until_ms: u64,
    },
}

impl std::fmt::Display for StoreFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = |ms: &Option<u64>| ms.map_or("?".to_string(), |m| m.to_string());
        match self {
            StoreFinding::SessionMissing {
                session,
                instance,
                digest,
            } => {
                write!(
                    f,
                    "session {session} listed in digest {instance}/{digest} but missing"
                )
            }
            StoreFinding::SealMismatch {
                session,
                instance,
                digest,
            } => write!(
                f,
                "session {session}: its seal is not the one digest {instance}/{digest} lists"
            ),
            StoreFinding::Unlisted { session } => write!(
                f,
                "session {session} is in no digest although older than an interval (possible injection)"
            ),
            StoreFinding::NoDigests { instance } => {
                write!(
                    f,
                    "instance {instance}: sessions name it but it has no digests"
                )
            }
            StoreFinding::DigestMissing {
                instance,
                seq,
                after_ms,
                before_ms,
            } => write!(
                f,
                "digest {instance}/{seq} missing: chain gap between {} and {} (Unix ms)",
                t(after_ms),
                t(before_ms)
            ),
            StoreFinding::DigestModified {
                instance,
                seq,
                detail,
            } => {
                write!(f, "digest {instance}/{} modified ({detail})", t(seq))
            }
            StoreFinding::DigestUnknownKey {
                instance,
                seq,
                fingerprint,
            } => {
                write!(
                    f,
                    "digest {instance}/{seq} signed by an unknown key {fingerprint}"
                )
            }
            StoreFinding::AuditMissing {
                instance,
                digest,
                segment,
            } => write!(
                f,
                "audit segment {segment} listed in digest {instance}/{digest} is missing"
            ),
            StoreFinding::AuditModified {
                instance,
                digest,
                segment,
            } => write!(
                f,
                "audit segment {segment} listed in digest {instance}/{digest} is modified"
            ),
            StoreFinding::GrantModified { object, detail } => {
                write!(f, "grant object {object} modified ({detail})")
            }
            StoreFinding::GrantMissing {
                object,
                instance,
                digest,
            } => write!(
                f,
                "grant object {object} listed in digest {instance}/{digest} is missing"
            ),
            StoreFinding::Truncated {
                instance,
                last_end_ms,
                until_ms,
            } => write!(
                f,
                "instance {instance}: the newest digest ends at {last_end_ms}, before --until {until_ms} (truncated tail?)"
            ),
        }
    }
}

/// The verdict on one access request (`grants::verify::check_store`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantReport {
    /// The request's id.
    pub id: String,
    /// The grant asked for (when the request object is readable).
    pub grant: Option<String>,
    /// Who asked.
    pub requester: Option<String>,
    /// Objects read.
    pub objects: u64,
    /// True only if nothing is wrong.
    pub intact: bool,
}

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct StoreCheck {
    /// Trusted keys (`--public-key`, keyring); empty: trust each chain's first key.
    pub keys: Vec<VerifyingKey>,
    /// Only sessions and digests from this time on (Unix ms).
    pub since_ms: Option<u64>,
    /// Only up to this time; digests must cover it (Unix ms).
    pub until_ms: Option<u64>,
    /// Only this instance's digests (and the sessions they list or that name it).
    pub instance: Option<String>,
}

/// The verdict on a store.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreReport {
    /// Every session checked.
    pub sessions: Vec<SessionReport>,
    /// What is wrong beyond single sessions.
    pub findings: Vec<StoreFinding>,
    /// Instances with digests.
    pub instances: Vec<String>,
    /// Digests read.
    pub digests: u64,
    /// Every access request checked (`grants/`, by `grants::verify::check_store`).
    pub grants: Vec<GrantReport>,
    /// The keys the store's digests made trusted, and the ones given.
    #[serde(skip)]
    pub trusted_keys: Vec<VerifyingKey>,
    /// Grant objects trusted digests list: name → (instance, digest, SHA-256).
    #[serde(skip)]
    pub listed_grants: BTreeMap<String, (String, u64, String)>,
}

impl StoreReport {
    /// True only if every session is intact and nothing else was found.
    pub fn intact(&self) -> bool {
        self.findings.is_empty() && self.sessions.iter().all(|s| s.intact)
    }
}

impl StoreCheck {
    fn in_range(&self, ms: u64) -> bool {
        self.since_ms.is_none_or(|s| ms >= s) && self.until_ms.is_none_or(|u| ms <= u)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.since_ms.is_none_or(|s| end >= s) && self.until_ms.is_none_or(|u| start <= u)
    }
}

/// Verifies the store: digests, sessions, audit segments.
pub async fn verify_store(
    store: &RecordStore,
    check: &StoreCheck,
    tick: &(dyn Fn() + Sync),
) -> Result<StoreReport, String> {
    let mut instances = store
        .folders(Some(DIGESTS_DIR))
        .await
        .map_err(|e| e.to_string())?;
    instances.retain(|i| valid_instance(i));
    if let Some(only) = &check.instance {
        instances.retain(|i| i == only);
    }
    let mut chains = Vec::new();
    let mut findings = BTreeSet::new();
    for i in &instances {
        let chain = check_chain(store, i, &check.keys, tick).await?;
        findings.extend(
            chain
                .findings
                .iter()
                .filter(|f| in_range(f, &chain, check))
                .cloned(),
        );
        chains.push(chain);
    }
    let trusted: Vec<VerifyingKey> = chains
        .iter()
        .flat_map(|c| c.keys.iter())
        .chain(&check.keys)
        .copied()
        .collect();
    let sessions = store.sessions().await.map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    for id in &sessions {
        if !check.in_range(ulid_ms(id)) {
            continue;
        }
        let r = verify_at(store, id, id, &trusted, tick).await;
        if check.instance.is_none() || r.instance == check.instance || listed_in(&chains, id) {
            findings.extend(against_digests(&r, &chains));
            reports.push(r);
        }
    }
    let present: BTreeSet<&String> = sessions.iter().collect();
    for c in &chains {
        for (id, (seq, _)) in &c.listed {
            if !present.contains(id) && check.in_range(ulid_ms(id)) {
                findings.insert(StoreFinding::SessionMissing {
                    session: id.clone(),
                    instance: c.instance.clone(),
                    digest: *seq,
                });
            }
        }
        findings.extend(audits(store, c, check, &trusted, tick).await);
        if let (Some(until), Some(last)) = (check.until_ms, c.last_end_ms)
            && last.saturating_add(c.interval_ms) < until
        {
            findings.insert(StoreFinding::Truncated {
                instance: c.instance.clone(),
                last_end_ms: last,
                until_ms: until,
            });
        }
    }
    let listed_grants = chains
        .iter()
        .flat_map(|c| {
            c.grants
                .iter()
                .map(|(n, (seq, h))| (n.clone(), (c.instance.clone(), *seq, h.clone())))
        })
        .collect();
    let named: BTreeSet<&String> = reports.iter().filter_map(|r| r.instance.as_ref()).collect();
    for i in named {
        if !chains.iter().any(|c| &c.instance == i && c.digests > 0) {
            findings.insert(StoreFinding::NoDigests {
                instance: i.clone(),
            });
        }
    }
    Ok(StoreReport {
        digests: chains.iter().map(|c| c.digests).sum(),
        sessions: reports,
        findings: findings.into_iter().collect(),
        instances,
        grants: Vec::new(),
        trusted_keys: trusted,
        listed_grants,
    })
}

/// Whether a chain finding falls in the range asked for.
fn in_range(f: &StoreFinding, c: &Chain, check: &StoreCheck) -> bool {
    match f {
        StoreFinding::DigestMissing {
            after_ms,
            before_ms,
            ..
        } => check.overlaps(after_ms.unwrap_or(0), before_ms.unwrap_or(u64::MAX)),
        _ => check.overlaps(c.first_start_ms.unwrap_or(0), u64::MAX),
    }
}

fn listed_in(chains: &[Chain], id: &str) -> bool {
    chains.iter().any(|c| c.listed.contains_key(id))
}

/// A session against the digests: listed with its seal's hash, or recent enough not to be.
fn against_digests(r: &SessionReport, chains: &[Chain]) -> Option<StoreFinding> {
    let listed: BTreeMap<&str, (&Chain, u64, &String)> = chains
        .iter()
        .filter_map(|c| {
            c.listed
                .get(&r.session)
                .map(|(s, h)| (c.instance.as_str(), (c, *s, h)))
        })
        .collect();
    if let Some((c, seq, hash)) = listed.values().next() {
        return (r.seal_hash.as_ref() != Some(*hash) && r.seal_hash.is_some()).then(|| {
            StoreFinding::SealMismatch {
                session: r.session.clone(),
                instance: c.instance.clone(),
                digest: *seq,
            }
        });
    }
    let ended = r.end_ms?;
    let covered = chains
        .iter()
        .filter(|c| r.instance.as_ref().is_none_or(|i| *i == c.instance))
        .any(|c| match (c.first_start_ms, c.last_end_ms) {
            (Some(first), Some(last)) => {
                first <= ended && ended.saturating_add(c.interval_ms) <= last
            }
            _ => false,
        });
    covered.then(|| StoreFinding::Unlisted {
        session: r.session.clone(),
    })
}

/// The audit segments a chain lists: present, intact, and the ones listed.
async fn audits(
    store: &RecordStore,
    c: &Chain,
    check: &StoreCheck,
    trusted: &[VerifyingKey],
    tick: &(dyn Fn() + Sync),
) -> Vec<StoreFinding> {
    let mut out = Vec::new();
    for (seq, listed, start, end) in &c.audits {
        if !check.overlaps(*start, *end) {
            continue;
        }
        let prefix = segment_prefix(&c.instance, &listed.session);
        let (instance, digest, segment) = (c.instance.clone(), *seq, listed.session.clone());
        match store.objects(&prefix).await {
            Ok(names) if names.is_empty() => {
                out.push(StoreFinding::AuditMissing {
                    instance,
                    digest,
                    segment,
                });
                continue;
            }
            Ok(_) => {}
            Err(_) => {
                out.push(StoreFinding::AuditMissing {
                    instance,
                    digest,
                    segment,
                });
                continue;
            }
        }
        let r = verify_at(store, &listed.session, &prefix, trusted, tick).await;
        if !r.intact || r.seal_hash.as_ref() != Some(&listed.seal) {
            out.push(StoreFinding::AuditModified {
                instance,
                digest,
                segment,
            });
        }
    }
    out
}

/// The time a ULID carries (0 when it is none).
fn ulid_ms(id: &str) -> u64 {
    ulid::Ulid::from_string(id).map_or(0, |u| u.timestamp_ms())
}
