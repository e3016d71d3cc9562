//! The ledger's spool files (`<spoolDir>/ledger-<instance>/`): the chain's head and
//! whether the instance is running (`state.json`), the seals not yet in a stored digest
//! (`sealed`), and the decision lines not yet in a stored segment (`audit`). See
//! `ledger.rs` for when each is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chunk::Hash;
use super::digest::{Listed, MAX_DIGEST_SESSIONS};

/// The most bytes of spooled audit lines read back on recovery (older lines beyond it
/// are still in the audit file or stdout sink; the store keeps the newest).
const MAX_AUDIT_SPOOL: u64 = 64 << 20;
/// The most bytes of the `sealed` list read back (entries are under 100 bytes).
const MAX_SEALED_SPOOL: u64 = (MAX_DIGEST_SESSIONS as u64) * 1024;

/// The chain's head: what the next digest follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Head {
    /// The next digest's sequence number.
    pub(crate) next: u64,
    /// SHA-256 of the last digest object (zeros before the first).
    #[serde(with = "hex_hash")]
    pub(crate) prev: Hash,
    /// The next interval's start, Unix milliseconds.
    pub(crate) start_ms: u64,
    /// The fingerprint of the key the next digest must be signed with.
    pub(crate) signer: Option<String>,
    /// The instance is running (a crash leaves it true).
    pub(crate) open: bool,
}

impl Head {
    /// A chain that has no digest yet, starting at `now_ms`.
    pub(crate) fn fresh(now_ms: u64) -> Head {
        Head {
            next: 0,
            prev: [0; 32],
            start_ms: now_ms,
            signer: None,
            open: false,
        }
    }
}

/// The spool files of one instance's ledger.
#[derive(Debug)]
pub(crate) struct Files {
    dir: PathBuf,
}

impl Files {
    pub(crate) fn new(dir: &Path) -> Files {
        Files {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn load_state(&self) -> Option<Head> {
        let text = read_bounded(&self.path("state.json"), 4096)?;
        serde_json::from_slice(&text).ok()
    }

    /// Seals noted but not yet in a stored digest (malformed lines are skipped).
    pub(crate) fn load_sealed(&self) -> Vec<Listed> {
        let text = read_bounded(&self.path("sealed"), MAX_SEALED_SPOOL).unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| {
                let (session, seal) = l.split_once(' ')?;
                let ok = (ulid::Ulid::from_string(session).is_ok()
                    || super::digest::is_object_entry(session))
                    && seal.len() == 64
                    && seal.bytes().all(|b| b.is_ascii_hexdigit());
                ok.then(|| Listed {
                    session: session.into(),
                    seal: seal.into(),
                })
            })
            .collect()
    }

    /// Decision lines not yet in a stored segment (whole lines only).
    pub(crate) fn load_audit(&self) -> Vec<Vec<u8>> {
        let text = read_bounded(&self.path("audit"), MAX_AUDIT_SPOOL).unwrap_or_default();
        text.split_inclusive(|b| *b == b'\n')
            .filter(|l| l.ends_with(b"\n"))
            .map(<[u8]>::to_vec)
            .collect()
    }

    pub(crate) fn append_sealed(&self, l: &Listed) -> std::io::Result<()> {
        let mut f = self.append("sealed")?;
        f.write_all(format!("{} {}\n", l.session, l.seal).as_bytes())?;
        f.sync_data()
    }

    pub(crate) fn append_audit(&self, line: &[u8]) -> std::io::Result<()> {
        self.append("audit")?.write_all(line)
    }

    fn append(&self, name: &str) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
    }

    pub(crate) fn save_state(&self, head: &Head) -> std::io::Result<()> {
        let json = serde_json::to_vec(head).map_err(std::io::Error::other)?;
        self.replace("state.json", &json)
    }

    /// After a digest is stored: the lists hold only what came after it.
    pub(crate) fn rewrite(
        &self,
        sessions: &[Listed],
        audit: &[Vec<u8>],
        head: &Head,
    ) -> std::io::Result<()> {
        let sealed: String = sessions
            .iter()
            .map(|l| format!("{} {}\n", l.session, l.seal))
            .collect();
        self.replace("sealed", sealed.as_bytes())?;
        self.replace("audit", &audit.concat())?;
        self.save_state(head)
    }

    /// Replaces `name` atomically (write, fsync, rename).
    fn replace(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.path(&format!("{name}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.path(name))
    }
}

/// Reads at most `max` bytes of `path`; `None` when it is missing or longer.
fn read_bounded(path: &Path, max: u64) -> Option<Vec<u8>> {
    let len = std::fs::metadata(path).ok()?.len();
    if len > max {
        tracing::warn!(path = %path.display(), len, "ledger spool file too long; ignored");
        return None;
    }
    std::fs::read(path).ok()
}

/// A hash as 64 hex digits in `state.json`.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::record::chunk::Hash;

    pub(super) fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        let raw = hex::decode(text).map_err(serde::de::Error::custom)?;
        raw.try_into()
            .map_err(|_| serde::de::Error::custom("not 32 bytes"))
    }
}
