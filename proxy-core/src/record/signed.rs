//! Signed two-line objects, shared by seals and digests: a compact JSON body line, then
//! `ed25519 <128 lowercase hex digits>` or `unsigned`, each line ending in `\n`.
//!
//! The signature is over a domain-separation context followed by the body line's bytes
//! exactly as stored, so no JSON canonicalisation is needed: a reader verifies the bytes it
//! read, then parses them.

use ed25519_dalek::{Signature, VerifyingKey};

use super::keys::{SealSigner, SignerInfo};

/// Why a signed object does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub(crate) struct ShapeError(pub(crate) String);

/// The body line and the signature of a signed object.
#[derive(Debug)]
pub(crate) struct Split<'a> {
    pub(crate) body: &'a str,
    pub(crate) signature: Option<[u8; 64]>,
}

/// Encodes `raw_body` and its signature line (signed with `context` when `signer` is given).
pub(crate) fn encode(raw_body: &[u8], context: &[u8], signer: Option<&SealSigner>) -> Vec<u8> {
    let mut out = raw_body.to_vec();
    out.push(b'\n');
    match signer {
        Some(s) => {
            let sig = s.sign(&message(context, raw_body));
            out.extend_from_slice(b"ed25519 ");
            out.extend_from_slice(hex::encode(sig).as_bytes());
        }
        None => out.extend_from_slice(b"unsigned"),
    }
    out.push(b'\n');
    out
}

/// The bytes a signature covers.
pub(crate) fn message(context: &[u8], raw_body: &[u8]) -> Vec<u8> {
    let mut m = context.to_vec();
    m.extend_from_slice(raw_body);
    m
}

/// Splits an object of at most `max` bytes into its body line and signature; strict about
/// the shape, never panics.
pub(crate) fn split(object: &[u8], max: usize) -> Result<Split<'_>, ShapeError> {
    let bad = |m: &str| ShapeError(m.to_string());
    if object.len() > max {
        return Err(bad("too long"));
    }
    let text = std::str::from_utf8(object).map_err(|_| bad("not UTF-8"))?;
    let text = text
        .strip_suffix('\n')
        .ok_or_else(|| bad("no final newline"))?;
    let (body, sig) = text
        .split_once('\n')
        .ok_or_else(|| bad("no signature line"))?;
    if sig.contains('\n') {
        return Err(bad("more than two lines"));
    }
    let signature = match sig {
        "unsigned" => None,
        _ => {
            let hexsig = sig
                .strip_prefix("ed25519 ")
                .ok_or_else(|| bad("unknown signature line"))?;
            // Only the lowercase hex `encode` writes: `hex::decode` also takes upper case,
            // which would let a changed object still verify.
            if !hexsig
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(bad("signature is not lowercase hex"));
            }
            let raw = hex::decode(hexsig).map_err(|_| bad("signature is not hex"))?;
            Some(
                <[u8; 64]>::try_from(raw.as_slice())
                    .map_err(|_| bad("signature is not 64 bytes"))?,
            )
        }
    };
    Ok(Split { body, signature })
}

/// Checks `signature` over `context || raw_body` against the key `signer` names.
/// `Ok(None)`: unsigned.
pub(crate) fn check(
    signer: Option<&SignerInfo>,
    signature: Option<&[u8; 64]>,
    context: &[u8],
    raw_body: &[u8],
) -> Result<Option<VerifyingKey>, String> {
    match (signer, signature) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("it names a signer but carries no signature".into()),
        (None, Some(_)) => Err("it carries a signature but names no signer".into()),
        (Some(info), Some(sig)) => {
            let vk = info.key()?;
            vk.verify_strict(&message(context, raw_body), &Signature::from_bytes(sig))
                .map_err(|_| "the signature does not verify".to_string())?;
            Ok(Some(vk))
        }
    }
}
