//! The signed objects of an access request, under `grants/<id>/`.
//!
//! Each is a two-line signed object like seals and digests (`record/signed.rs`): a compact
//! JSON [`ObjectBody`], then its signature over [`GRANT_CONTEXT`] and the body bytes, with
//! the recording key (or `unsigned` exactly when seals are unsigned). Every object but the
//! request names the SHA-256 of the request object, so it cannot be moved to another
//! request; every object carries the writing instance, a random nonce and the time, so two
//! replicas writing the same step never produce the same bytes (the store accepts the same
//! bytes twice, and `use` must have exactly one winner).

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::Answer;
use crate::policy::WriteAction;
use crate::record::seal::{SealSigner, SignerInfo};
use crate::record::signed;

/// The format identifier in every grant object.
pub const GRANT_FORMAT: &str = "kubewitness-grant/1";
/// Prepended to the body before signing (domain separation from seals and digests).
pub const GRANT_CONTEXT: &[u8] = b"kubewitness-grant-v1\n";
/// The top-level folder of grant objects.
pub const GRANTS_DIR: &str = "grants";
/// The largest grant object a reader accepts.
pub const MAX_GRANT_OBJECT_LEN: usize = 256 * 1024;
/// The longest answer message kept.
pub const MAX_MESSAGE_LEN: usize = 1024;

/// Which step an object records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// The request itself.
    Request,
    /// One approver's approval.
    Approval,
    /// An approver's denial.
    Denial,
    /// A revocation.
    Revocation,
    /// The one-use lock of a write: whoever created it executed.
    Use,
    /// The API server's answer to the execution.
    Result,
    /// The expiry was noticed (and notified) once.
    Expired,
}

/// What a grant object says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectBody {
    /// [`GRANT_FORMAT`].
    pub format: String,
    /// The step.
    pub step: Step,
    /// The access request's id.
    pub id: String,
    /// SHA-256 of the request object, hex (every step but the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sha256: Option<String>,
    /// Who took the step.
    pub user: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// The instance that wrote it.
    pub instance: String,
    /// Random, so no two objects are the same bytes.
    pub nonce: String,
    /// The request's details (the request only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestDetails>,
    /// The server's answer (the result only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// Who signed; `None` for an unsigned deployment.
    pub signer: Option<SignerInfo>,
}

/// What a request object holds beyond the common fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestDetails {
    /// The grant asked for.
    pub grant: String,
    /// `elevation` or `write`.
    pub kind: String,
    /// The TTL once approved, seconds.
    pub ttl_seconds: u64,
    /// When the request expires unapproved, Unix milliseconds.
    pub pending_until_ms: u64,
    /// How many distinct approvers it takes.
    pub required_approvals: u32,
    /// Approved at once (`autoApprove`).
    #[serde(default)]
    pub auto_approved: bool,
    /// For a write: the exact action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteAction>,
    /// For a write: its digest (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// For a write: its one-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// For a write: the dry run's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Answer>,
}

/// A parsed grant object, with what its bytes hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantObject {
    /// The body as parsed.
    pub body: ObjectBody,
    /// The body bytes as stored (what was signed).
    pub raw_body: Vec<u8>,
    /// The signature, if signed.
    pub signature: Option<[u8; 64]>,
    /// SHA-256 of the whole object as stored, hex.
    pub sha256: String,
}

/// `grants/<id>/` for request `id`.
pub fn folder(id: &str) -> String {
    format!("{GRANTS_DIR}/{id}")
}

/// The object name of `step` of request `id`; approvals are one per approver.
pub fn object_name(id: &str, step: Step, user: &str) -> String {
    let leaf = match step {
        Step::Approval => approval_leaf(user),
        other => step_leaf(other).to_string(),
    };
    format!("{GRANTS_DIR}/{id}/{leaf}")
}

/// `approval-<first 16 hex of sha256(user)>`.
pub fn approval_leaf(user: &str) -> String {
    let h = hex::encode(Sha256::digest(user.as_bytes()));
    format!("approval-{}", &h[..16])
}

fn step_leaf(step: Step) -> &'static str {
    match step {
        Step::Request => "request",
        Step::Approval => "approval",
        Step::Denial => "denial",
        Step::Revocation => "revocation",
        Step::Use => "use",
        Step::Result => "result",
        Step::Expired => "expired",
    }
}

/// Whether `leaf` (the name within a request's folder) is a name `step` may have.
pub fn leaf_matches(leaf: &str, body: &ObjectBody) -> bool {
    match body.step {
        Step::Approval => leaf == approval_leaf(&body.user),
        s => leaf == step_leaf(s),
    }
}

/// Whether `id` may name a request (a ULID).
pub fn valid_id(id: &str) -> bool {
    id.len() == 26 && ulid::Ulid::from_string(id).is_ok()
}

/// Encodes `body`, signed by `signer` when given.
pub fn encode(body: &ObjectBody, signer: Option<&SealSigner>) -> Vec<u8> {
    let raw = serde_json::to_vec(body).expect("plain structs serialize");
    signed::encode(&raw, GRANT_CONTEXT, signer)
}

/// SHA-256 of `object`, hex.
pub fn sha256_hex(object: &[u8]) -> String {
    hex::encode(Sha256::digest(object))
}

impl GrantObject {
    /// Parses a grant object; strict about its shape, never panics.
    pub fn parse(object: &[u8]) -> Result<GrantObject, String> {
        let split = signed::split(object, MAX_GRANT_OBJECT_LEN).map_err(|e| e.0)?;
        let body: ObjectBody = serde_json::from_str(split.body).map_err(|e| e.to_string())?;
        check_shape(&body)?;
        Ok(GrantObject {
            body,
            raw_body: split.body.as_bytes().to_vec(),
            signature: split.signature,
            sha256: sha256_hex(object),
        })
    }

    /// Checks the signature against the key the body names; `Ok(None)`: unsigned.
    pub fn check_signature(&self) -> Result<Option<ed25519_dalek::VerifyingKey>, String> {
        signed::check(
            self.body.signer.as_ref(),
            self.signature.as_ref(),
            GRANT_CONTEXT,
            &self.raw_body,
        )
    }

    /// Checks the signature and that it is by `expected` (`None`: must be unsigned).
    pub fn check_key(&self, expected: Option<&ed25519_dalek::VerifyingKey>) -> Result<(), String> {
        let key = self.check_signature()?;
        match (key.as_ref(), expected) {
            (None, None) => Ok(()),
            (Some(k), Some(e)) if k == e => Ok(()),
            (Some(_), Some(_)) => Err("signed by another key".into()),
            (Some(_), None) => Err("signed, but this store's objects are unsigned".into()),
            (None, Some(_)) => Err("unsigned, but this store's objects are signed".into()),
        }
    }
}

/// The rules every body follows.
fn check_shape(b: &ObjectBody) -> Result<(), String> {
    if b.format != GRANT_FORMAT {
        return Err(format!("format {:?}", b.format));
    }
    if !valid_id(&b.id) {
        return Err("the id is not a ULID".into());
    }
    let is_request = b.step == Step::Request;
    if is_request != b.request.is_some() {
        return Err("request details belong to the request alone".into());
    }
    if is_request == b.request_sha256.is_some() {
        return Err("every step but the request names the request's hash".into());
    }
    if let Some(h) = &b.request_sha256
        && !(h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err("the request hash is not 64 hex digits".into());
    }
    if b.answer.is_some() && b.step != Step::Result {
        return Err("an answer belongs to the result alone".into());
    }
    if b.user.is_empty() || b.nonce.is_empty() {
        return Err("no user or nonce".into());
    }
    Ok(())
}

/// `text` cut to at most `max` bytes on a character boundary.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
