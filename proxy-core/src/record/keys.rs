//! Ed25519 keys: the signer of seals and digests, the public half recorded in them
//! ([`SignerInfo`], named by its SHA-256 fingerprint), and public keys loaded for `verify`.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The signing key's public half, recorded so a verifier can pin it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignerInfo {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, hex.
    pub public_key: String,
    /// SHA-256 of the public key, hex.
    pub fingerprint: String,
}

impl SignerInfo {
    /// The key, checked against the recorded algorithm and fingerprint.
    pub fn key(&self) -> Result<VerifyingKey, String> {
        let raw = hex::decode(&self.public_key).map_err(|_| "public key is not hex")?;
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| "public key is not 32 bytes".to_string())?;
        let vk = VerifyingKey::from_bytes(&raw).map_err(|e| e.to_string())?;
        if self.algorithm != "ed25519" || fingerprint(&vk) != self.fingerprint {
            return Err("the signer's fingerprint does not match its key".into());
        }
        Ok(vk)
    }
}

/// The Ed25519 key that signs seals.
#[derive(Clone)]
pub struct SealSigner {
    key: SigningKey,
}

impl std::fmt::Debug for SealSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealSigner")
            .field("fingerprint", &self.info().fingerprint)
            .finish()
    }
}

/// SHA-256 of a public key, hex.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl SealSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> SealSigner {
        SealSigner {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Loads a PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`).
    pub fn load(path: &Path) -> Result<SealSigner, String> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let key = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| format!("{}: not a PKCS#8 Ed25519 private key: {e}", path.display()))?;
        Ok(SealSigner { key })
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as recorded in seals.
    pub fn info(&self) -> SignerInfo {
        let vk = self.verifying_key();
        SignerInfo {
            algorithm: "ed25519".into(),
            public_key: hex::encode(vk.as_bytes()),
            fingerprint: fingerprint(&vk),
        }
    }

    /// The private key as a PKCS#8 PEM document (what [`SealSigner::load`] reads).
    pub fn to_pkcs8_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        self.key
            .to_pkcs8_pem(Default::default())
            .expect("an Ed25519 key encodes")
            .to_string()
    }

    /// The public key as a PEM `PUBLIC KEY` (SPKI) document, for `verify --public-key`.
    pub fn public_key_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        self.verifying_key()
            .to_public_key_pem(Default::default())
            .expect("an Ed25519 key encodes")
    }
}

/// Loads a public key for pinning: an SPKI PEM file, or 64 hex digits.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_public_key(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a public key: an SPKI PEM document, or 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let trimmed = text.trim();
    if trimmed.len() == 64
        && let Ok(raw) = hex::decode(trimmed)
    {
        let raw: [u8; 32] = raw.try_into().expect("32 bytes");
        return VerifyingKey::from_bytes(&raw)
            .map_err(|e| format!("not an Ed25519 public key: {e}"));
    }
    VerifyingKey::from_public_key_pem(trimmed)
        .map_err(|e| format!("not an Ed25519 public key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_load_from_pem_files() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let pem = key.to_pkcs8_pem(Default::default()).unwrap();
        std::fs::write(dir.path().join("k.pem"), pem.as_bytes()).unwrap();
        let s = SealSigner::load(&dir.path().join("k.pem")).unwrap();
        std::fs::write(dir.path().join("k.pub"), s.public_key_pem()).unwrap();
        assert_eq!(
            load_public_key(&dir.path().join("k.pub")).unwrap(),
            s.verifying_key()
        );
        std::fs::write(dir.path().join("hex.pub"), s.info().public_key).unwrap();
        assert_eq!(
            load_public_key(&dir.path().join("hex.pub")).unwrap(),
            s.verifying_key()
        );
        std::fs::write(dir.path().join("junk"), "nope").unwrap();
        assert!(SealSigner::load(&dir.path().join("junk")).is_err());
        assert!(load_public_key(&dir.path().join("junk")).is_err());
    }
}
