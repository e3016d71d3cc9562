//! Digests: signed, chained statements of what one kubewitness instance recorded in one
//! interval (`docs/RECORDING-FORMAT.md`, "Digests").
//!
//! A digest object is a signed two-line object like the seal (`signed.rs`), stored under
//! `digests/<instance>/<seq, 10 digits>.digest`. Its body lists every session sealed in the
//! interval with the SHA-256 of its seal object, the audit segment of the interval, and the
//! SHA-256 of the previous digest object, so deleting, adding or changing any of them breaks
//! a signed statement. A rotation names the next key in a digest signed by the current one.

use serde::{Deserialize, Serialize};

use super::seal::{SealSigner, SignerInfo};
use super::signed;

/// The format identifier in every digest.
pub const DIGEST_FORMAT: &str = "kubewitness-digest/2";
/// Prepended to the body before signing (domain separation from seals).
pub const DIGEST_CONTEXT: &[u8] = b"kubewitness-digest-v2\n";
/// The top-level folder of digests.
pub const DIGESTS_DIR: &str = "digests";
/// The suffix of digest objects.
pub const DIGEST_SUFFIX: &str = ".digest";
/// The most sessions one digest lists; more in one interval cut an early digest.
pub const MAX_DIGEST_SESSIONS: usize = 10_000;
/// The largest digest object a reader accepts (10 000 entries of about 110 bytes fit).
pub const MAX_DIGEST_LEN: usize = 2 << 20;
/// The longest instance name.
pub const MAX_INSTANCE_LEN: usize = 63;

/// A session (or audit segment) and the SHA-256 of its seal object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listed {
    /// The session id (a ULID).
    pub session: String,
    /// SHA-256 of the seal object as stored, hex.
    pub seal: String,
}

/// An object stored outside sessions (a grant object) and the SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedObject {
    /// Its name in the store (`grants/<id>/<step>`).
    pub name: String,
    /// SHA-256 of the object as stored, hex.
    pub sha256: String,
}

/// Whether a ledger entry names an object outside sessions (`grants/…`) rather than a
/// session: those are listed under `grants` in the digest.
pub fn is_object_entry(name: &str) -> bool {
    name.starts_with("grants/") && !name.contains("..") && !name.contains(' ')
}

/// What a digest says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DigestBody {
    /// [`DIGEST_FORMAT`].
    pub format: String,
    /// The instance that wrote it.
    pub instance: String,
    /// Its position in the instance's chain, from 0.
    pub seq: u64,
    /// The interval's start, Unix milliseconds (the previous digest's end).
    pub start_ms: u64,
    /// The interval's end, Unix milliseconds.
    pub end_ms: u64,
    /// The configured interval, milliseconds.
    pub interval_ms: u64,
    /// SHA-256 of the previous digest object, hex; 64 zeros for digest 0.
    pub prev: String,
    /// Sessions sealed in the interval.
    pub sessions: Vec<Listed>,
    /// The interval's audit segment (under `audit/<instance>/`), if there were decisions.
    pub audit: Option<Listed>,
    /// Grant objects stored in the interval (absent in digests without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<ListedObject>,
    /// Written by crash recovery for the interval a crash cut short.
    pub recovered: bool,
    /// Who signed; `None` for an unsigned deployment.
    pub signer: Option<SignerInfo>,
    /// A rotation: the key that signs the next digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_signer: Option<SignerInfo>,
}

/// A parsed digest object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The body as parsed.
    pub body: DigestBody,
    /// The body bytes as stored (what was signed).
    pub raw_body: Vec<u8>,
    /// The signature, if signed.
    pub signature: Option<[u8; 64]>,
}

/// Why a digest object does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed digest: {0}")]
pub struct DigestError(String);

/// The name of digest `seq` of `instance`.
pub fn digest_name(instance: &str, seq: u64) -> String {
    format!("{DIGESTS_DIR}/{instance}/{seq:010}{DIGEST_SUFFIX}")
}

/// The sequence number in a digest object's name (relative to its instance folder).
pub fn digest_seq(name: &str) -> Option<u64> {
    let n = name.strip_suffix(DIGEST_SUFFIX)?;
    (n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok())?
}

/// Whether `name` may name an instance: 1 to 63 of `a-z 0-9 . _ -`, not starting with a dot.
pub fn valid_instance(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_INSTANCE_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Encodes a digest object, signed by `signer` when given.
pub fn encode(body: &DigestBody, signer: Option<&SealSigner>) -> Vec<u8> {
    let raw = serde_json::to_vec(body).expect("plain structs serialize");
    signed::encode(&raw, DIGEST_CONTEXT, signer)
}

impl Digest {
    /// Parses a digest object; strict about its shape, never panics.
    pub fn parse(object: &[u8]) -> Result<Digest, DigestError> {
        let split = signed::split(object, MAX_DIGEST_LEN).map_err(|e| DigestError(e.0))?;
        let body: DigestBody =
            serde_json::from_str(split.body).map_err(|e| DigestError(e.to_string()))?;
        if body.format != DIGEST_FORMAT {
            return Err(DigestError(format!("format {:?}", body.format)));
        }
        if body.sessions.len() + body.grants.len() > MAX_DIGEST_SESSIONS {
            return Err(DigestError("too many sessions".into()));
        }
        Ok(Digest {
            body,
            raw_body: split.body.as_bytes().to_vec(),
            signature: split.signature,
        })
    }

    /// Checks the signature against the key the body names; `Ok(None)`: unsigned.
    pub fn check_signature(&self) -> Result<Option<ed25519_dalek::VerifyingKey>, String> {
        signed::check(
            self.body.signer.as_ref(),
            self.signature.as_ref(),
            DIGEST_CONTEXT,
            &self.raw_body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(signer: &SealSigner) -> DigestBody {
        DigestBody {
            format: DIGEST_FORMAT.into(),
            instance: "kw-1".into(),
            seq: 3,
            start_ms: 10,
            end_ms: 20,
            interval_ms: 10,
            prev: "00".repeat(32),
            sessions: vec![Listed {
                session: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
                seal: "ab".repeat(32),
            }],
            audit: None,
            grants: Vec::new(),
            recovered: false,
            signer: Some(signer.info()),
            next_signer: None,
        }
    }

    #[test]
    fn digests_verify_and_any_flip_breaks_them() {
        let signer = SealSigner::from_seed(&[5; 32]);
        let obj = encode(&body(&signer), Some(&signer));
        let d = Digest::parse(&obj).unwrap();
        assert_eq!(d.body, body(&signer));
        assert_eq!(d.check_signature(), Ok(Some(signer.verifying_key())));
        for i in 0..obj.len() {
            let mut bad = obj.clone();
            bad[i] ^= 0x01;
            let ok = Digest::parse(&bad).is_ok_and(|d| d.check_signature().is_ok());
            assert!(!ok, "flip at {i} still verifies");
        }
    }

    #[test]
    fn a_seal_signature_is_not_a_digest_signature() {
        let signer = SealSigner::from_seed(&[5; 32]);
        let raw = serde_json::to_vec(&body(&signer)).unwrap();
        let forged = signed::encode(&raw, super::super::seal::SIGNING_CONTEXT, Some(&signer));
        let d = Digest::parse(&forged).unwrap();
        assert!(d.check_signature().is_err());
    }

    #[test]
    fn names_and_instances() {
        assert_eq!(digest_name("kw-1", 7), "digests/kw-1/0000000007.digest");
        assert_eq!(digest_seq("0000000007.digest"), Some(7));
        assert_eq!(digest_seq("7.digest"), None);
        assert_eq!(digest_seq("000000000x.digest"), None);
        assert!(valid_instance("node-1.eu"));
        for bad in ["", "UPPER", "a/b", "..", ".x", &"a".repeat(64)] {
            assert!(!valid_instance(bad), "{bad}");
        }
    }
}
