//! Audit segments: the decision lines of one interval, stored as a session-like object
//! under `audit/<instance>/<ULID>/` in the chunk and seal format of sessions (a start event
//! of kind `audit`, then one data event on channel 1 per line), so the same check verifies
//! them and a digest lists them by their seal's hash.

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::chunk::{self, Hash};
use super::digest::Listed;
use super::event::{Event, SessionMeta, Timed};
use super::seal::{self, ByteTotals, EndInfo, SealBody, SealSigner, now_ms};
use super::store::{CHUNK_SUFFIX, RecordStore, SEAL_NAME, StoreError};
use crate::channel::Channel;

/// The top-level folder of audit segments.
pub const AUDIT_DIR: &str = "audit";

/// Where audit segment `id` of `instance` is stored.
pub fn segment_prefix(instance: &str, id: &str) -> String {
    format!("{AUDIT_DIR}/{instance}/{id}")
}

/// What one segment holds.
pub(crate) struct Segment<'a> {
    pub(crate) instance: &'a str,
    pub(crate) lines: &'a [Vec<u8>],
    pub(crate) start_ms: u64,
    pub(crate) chunk_bytes: usize,
}

/// A chunked event stream being cut into chunk objects.
struct Cutter {
    id: u128,
    prev: Hash,
    seq: u64,
    buf: Vec<u8>,
    events: u32,
    objects: Vec<Bytes>,
}

impl Cutter {
    fn push(&mut self, timed: &Timed, limit: usize) -> std::io::Result<()> {
        timed.encode(&mut self.buf);
        self.events += 1;
        if self.buf.len() >= limit {
            self.cut()?;
        }
        Ok(())
    }

    fn cut(&mut self) -> std::io::Result<()> {
        if self.events == 0 {
            return Ok(());
        }
        let obj = chunk::encode(self.id, self.seq, &self.prev, self.events, &self.buf)?;
        self.prev = chunk::hash(&obj);
        self.seq += 1;
        self.buf.clear();
        self.events = 0;
        self.objects.push(obj);
        Ok(())
    }
}

impl Segment<'_> {
    /// Stores the segment (chunks, then the signed seal); what a digest lists for it.
    pub(crate) async fn store(
        &self,
        store: &RecordStore,
        signer: Option<&SealSigner>,
    ) -> Result<Listed, StoreError> {
        let id = ulid::Ulid::generate();
        let session = id.to_string();
        let prefix = segment_prefix(self.instance, &session);
        let (objects, body) = self
            .encode(id, signer)
            .map_err(|e| StoreError::io(format!("{prefix}: {e}")))?;
        for (seq, obj) in objects.into_iter().enumerate() {
            store
                .put_new(&format!("{prefix}/{seq:010}{CHUNK_SUFFIX}"), obj)
                .await?;
        }
        let seal = seal::encode(&body, signer);
        let hash = hex::encode(Sha256::digest(&seal));
        store
            .put_new(&format!("{prefix}/{SEAL_NAME}"), seal.into())
            .await?;
        Ok(Listed {
            session,
            seal: hash,
        })
    }

    fn encode(
        &self,
        id: ulid::Ulid,
        signer: Option<&SealSigner>,
    ) -> std::io::Result<(Vec<Bytes>, SealBody)> {
        let meta = SessionMeta {
            session: id.to_string(),
            kind: "audit".into(),
            user: "kubewitness".into(),
            start_ms: self.start_ms,
            signer: signer.map(|s| s.info().fingerprint),
            instance: Some(self.instance.to_string()),
            ..SessionMeta::default()
        };
        let mut cut = Cutter {
            id: u128::from(id),
            prev: [0; 32],
            seq: 0,
            buf: Vec::new(),
            events: 0,
            objects: Vec::new(),
        };
        let limit = self.chunk_bytes.max(1);
        let start = Timed {
            t_us: 0,
            event: Event::Start(Box::new(meta)),
        };
        cut.push(&start, limit)?;
        let mut stdout = 0u64;
        for line in self.lines {
            stdout += line.len() as u64;
            let data = Timed {
                t_us: 0,
                event: Event::Data {
                    channel: Channel::Stdout,
                    bytes: Bytes::copy_from_slice(line),
                },
            };
            cut.push(&data, limit)?;
        }
        cut.cut()?;
        let body = SealBody {
            format: seal::FORMAT.into(),
            session: id.to_string(),
            chunks: cut.seq,
            final_hash: hex::encode(cut.prev),
            events: 1 + self.lines.len() as u64,
            bytes: ByteTotals {
                stdout,
                ..ByteTotals::default()
            },
            start_ms: self.start_ms,
            end: EndInfo {
                reason: "completed".into(),
                status: "Success".into(),
                exit_code: None,
                message: String::new(),
                end_ms: now_ms(),
            },
            signer: signer.map(SealSigner::info),
        };
        Ok((cut.objects, body))
    }
}
