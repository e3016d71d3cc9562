//! Findings: what was masked, where, and a keyed fingerprint — never the secret.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::{Serialize, Serializer};
use sha2::Sha256;

/// HMAC-SHA256 of a secret under the deployment key.
///
/// The same secret under the same key always yields the same fingerprint, so
/// investigators can correlate sessions; without the key the fingerprint says
/// nothing about the secret. Serialises as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// One masked secret. Offsets are in the *input* stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Id of the rule that matched, e.g. `aws-access-key-id`.
    pub rule: Arc<str>,
    /// Stream offset of the first masked input byte.
    pub offset: u64,
    /// Number of input bytes masked.
    pub len: u64,
    /// Keyed fingerprint of the masked bytes; `None` without a fingerprint key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

/// Incremental HMAC over a secret that may span several buffers.
pub(crate) struct Fingerprinter(Option<Hmac<Sha256>>);

impl Fingerprinter {
    /// Starts a fingerprint under `key`, or a no-op without one.
    pub(crate) fn new(key: Option<&[u8]>) -> Self {
        // HMAC accepts keys of any length, so this never fails.
        Self(key.and_then(|k| Hmac::<Sha256>::new_from_slice(k).ok()))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if let Some(mac) = &mut self.0 {
            mac.update(bytes);
        }
    }

    pub(crate) fn finish(self) -> Option<Fingerprint> {
        self.0
            .map(|mac| Fingerprint(mac.finalize().into_bytes().into()))
    }
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_rfc4231_case_2() {
        let mut fp = Fingerprinter::new(Some(b"Jefe"));
        fp.update(b"what do ya want ");
        fp.update(b"for nothing?");
        let hex = fp.finish().map(|f| f.to_hex());
        assert_eq!(
            hex.as_deref(),
            Some("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert!(Fingerprinter::new(None).finish().is_none());
    }
}
