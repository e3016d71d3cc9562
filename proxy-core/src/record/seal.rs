//! The seal: the last object of a session, carrying the final chain hash, the counts and the
//! end status, signed with Ed25519.
//!
//! The object is two lines: the body (compact JSON, [`SealBody`]) and the signature line,
//! `ed25519 <128 hex digits>` or `unsigned`. The signature is over
//! `SIGNING_CONTEXT || body bytes` exactly as stored, so no JSON canonicalisation is needed.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

pub use super::keys::{SealSigner, SignerInfo, fingerprint, load_public_key, parse_public_key};
use super::signed;

/// The format identifier in every seal.
pub const FORMAT: &str = "kubewitness-recording/1";
/// Prepended to the body before signing (domain separation).
pub const SIGNING_CONTEXT: &[u8] = b"kubewitness-seal-v1\n";
/// The largest seal object a reader accepts.
pub const MAX_SEAL_LEN: usize = 64 * 1024;

/// Bytes per channel as the client saw or sent them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByteTotals {
    /// Channel 0.
    pub stdin: u64,
    /// Channel 1.
    pub stdout: u64,
    /// Channel 2.
    pub stderr: u64,
    /// Channel 4.
    pub resize: u64,
}

/// How the session ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndInfo {
    /// `completed`, `ended`, `clientGone`, `serverLost` or `interrupted`.
    pub reason: String,
    /// `Success` or `Failure` (the status the client was sent).
    pub status: String,
    /// The process exit code, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// The status message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// End time, Unix milliseconds.
    pub end_ms: u64,
}

/// What a seal says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SealBody {
    /// [`FORMAT`].
    pub format: String,
    /// The session id.
    pub session: String,
    /// Number of chunks (sequence numbers `0..chunks`).
    pub chunks: u64,
    /// SHA-256 of the last chunk object, hex.
    pub final_hash: String,
    /// Number of events in all chunks.
    pub events: u64,
    /// Bytes per channel.
    pub bytes: ByteTotals,
    /// Start time, Unix milliseconds.
    pub start_ms: u64,
    /// How it ended.
    pub end: EndInfo,
    /// Who signed; `None` for an unsigned deployment.
    pub signer: Option<SignerInfo>,
}

/// A parsed seal object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The body as parsed.
    pub body: SealBody,
    /// The body bytes as stored (what was signed).
    pub raw_body: Vec<u8>,
    /// The signature, if signed.
    pub signature: Option<[u8; 64]>,
}

/// Why a seal object is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Not two newline-terminated lines, too long, or not UTF-8 JSON.
    #[error("malformed seal: {0}")]
    Malformed(String),
}

/// Encodes a seal object, signing it when `signer` is given.
pub fn encode(body: &SealBody, signer: Option<&SealSigner>) -> Vec<u8> {
    let raw = serde_json::to_vec(body).expect("plain structs serialize");
    signed::encode(&raw, SIGNING_CONTEXT, signer)
}

impl Seal {
    /// Parses a seal object; strict about its shape, never panics.
    pub fn parse(object: &[u8]) -> Result<Seal, SealError> {
        let split = signed::split(object, MAX_SEAL_LEN).map_err(|e| SealError::Malformed(e.0))?;
        let parsed: SealBody =
            serde_json::from_str(split.body).map_err(|e| SealError::Malformed(e.to_string()))?;
        Ok(Seal {
            body: parsed,
            raw_body: split.body.as_bytes().to_vec(),
            signature: split.signature,
        })
    }

    /// Checks the signature against the public key the body names. `Ok(None)`: unsigned.
    pub fn check_signature(&self) -> Result<Option<VerifyingKey>, String> {
        signed::check(
            self.body.signer.as_ref(),
            self.signature.as_ref(),
            SIGNING_CONTEXT,
            &self.raw_body,
        )
        .map_err(|e| format!("the seal: {e}"))
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(signer: Option<&SealSigner>) -> SealBody {
        SealBody {
            format: FORMAT.into(),
            session: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            chunks: 2,
            final_hash: "00".repeat(32),
            events: 9,
            bytes: ByteTotals::default(),
            start_ms: 1,
            end: EndInfo {
                reason: "completed".into(),
                status: "Success".into(),
                exit_code: Some(0),
                message: String::new(),
                end_ms: 2,
            },
            signer: signer.map(SealSigner::info),
        }
    }

    #[test]
    fn signed_seals_verify_and_any_flip_breaks_them() {
        let signer = SealSigner::from_seed(&[7; 32]);
        let obj = encode(&body(Some(&signer)), Some(&signer));
        let seal = Seal::parse(&obj).unwrap();
        assert_eq!(seal.body, body(Some(&signer)));
        assert_eq!(
            seal.check_signature().unwrap(),
            Some(signer.verifying_key())
        );
        for i in 0..obj.len() {
            let mut bad = obj.clone();
            bad[i] ^= 0x01;
            let ok = Seal::parse(&bad).is_ok_and(|s| s.check_signature().is_ok());
            assert!(!ok, "flip at {i} still verifies");
        }
    }

    #[test]
    fn upper_case_signature_hex_is_refused() {
        // Found by the `recording_verify` fuzz target: flipping 0x20 turns a hex digit
        // `a`-`f` into `A`-`F`; `hex::decode` read the same signature, so a changed seal
        // object still verified.
        let signer = SealSigner::from_seed(&[7; 32]);
        let obj = encode(&body(Some(&signer)), Some(&signer));
        let line = obj.iter().rposition(|&b| b == b' ').unwrap() + 1;
        for i in line..obj.len() - 1 {
            let mut bad = obj.clone();
            bad[i] ^= 0x20;
            let ok = Seal::parse(&bad).is_ok_and(|s| s.check_signature().is_ok());
            assert!(!ok, "case flip at {i} still verifies");
        }
        let upper = String::from_utf8(obj.clone()).unwrap().to_uppercase();
        let (body_part, sig) = upper.split_once('\n').unwrap();
        let mixed = format!(
            "{}\n{}",
            std::str::from_utf8(&obj[..body_part.len()]).unwrap(),
            sig.replacen("ED25519", "ed25519", 1)
        );
        assert!(Seal::parse(mixed.as_bytes()).is_err());
    }

    #[test]
    fn unsigned_seals_say_so() {
        let obj = encode(&body(None), None);
        assert!(obj.ends_with(b"\nunsigned\n"));
        assert_eq!(Seal::parse(&obj).unwrap().check_signature(), Ok(None));
    }

    #[test]
    fn a_seal_resigned_with_another_key_names_that_key() {
        let real = SealSigner::from_seed(&[7; 32]);
        let other = SealSigner::from_seed(&[8; 32]);
        let obj = encode(&body(Some(&other)), Some(&other));
        let vk = Seal::parse(&obj).unwrap().check_signature().unwrap();
        assert_ne!(vk, Some(real.verifying_key()));
    }
}
