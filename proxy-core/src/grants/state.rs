//! A request's story: its objects read from the store, checked, and folded into an
//! [`AccessRequest`].
//!
//! Fail closed: a request whose objects do not parse, are not signed by the recording key,
//! are stored under the wrong name or name another request is not usable; the error says
//! which object and why.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::VerifyingKey;

use super::object::{
    GRANT_FORMAT, GrantObject, MAX_GRANT_OBJECT_LEN, ObjectBody, RequestDetails, Step, folder,
    leaf_matches,
};
use super::{AccessRequest, Answer, GrantError, Review, State};
use crate::policy::audit::rfc3339;
use crate::policy::{GrantDef, Policy};
use crate::record::store::RecordStore;

/// Every object of one request, checked.
#[derive(Clone, Debug)]
pub struct Story {
    /// The request object.
    pub request: GrantObject,
    /// The approvals, oldest first.
    pub approvals: Vec<GrantObject>,
    /// The denial.
    pub denial: Option<GrantObject>,
    /// The revocation.
    pub revocation: Option<GrantObject>,
    /// The use (a write was executed).
    pub used: Option<GrantObject>,
    /// The server's answer to the execution.
    pub result: Option<GrantObject>,
    /// The expiry marker.
    pub expired: Option<GrantObject>,
}

/// Why a story cannot be read.
#[derive(Debug)]
pub enum StoryError {
    /// No request object.
    NotFound,
    /// The store failed.
    Store(String),
    /// An object does not verify: its name and why.
    Bad(String),
}

impl Story {
    /// The request's details.
    pub fn details(&self) -> &RequestDetails {
        self.request
            .body
            .request
            .as_ref()
            .expect("parse checked the request holds details")
    }

    /// The requester.
    pub fn requester(&self) -> &str {
        &self.request.body.user
    }

    /// Builds a story from objects read (`leaf` name within the folder, parsed object).
    pub fn assemble(id: &str, objects: Vec<(String, GrantObject)>) -> Result<Story, StoryError> {
        let mut request = None;
        let mut rest = Vec::new();
        for (leaf, o) in objects {
            if o.body.id != id || !leaf_matches(&leaf, &o.body) {
                return Err(StoryError::Bad(format!(
                    "{}/{leaf}: its content is not what its name says",
                    folder(id)
                )));
            }
            if o.body.step == Step::Request {
                request = Some(o);
            } else {
                rest.push((leaf, o));
            }
        }
        let request = request.ok_or(StoryError::NotFound)?;
        let mut s = Story {
            request,
            approvals: Vec::new(),
            denial: None,
            revocation: None,
            used: None,
            result: None,
            expired: None,
        };
        for (leaf, o) in rest {
            if o.body.request_sha256.as_deref() != Some(s.request.sha256.as_str()) {
                return Err(StoryError::Bad(format!(
                    "{}/{leaf}: it names another request object",
                    folder(id)
                )));
            }
            s.place(o);
        }
        s.approvals.sort_by_key(|a| a.body.at_ms);
        Ok(s)
    }

    fn place(&mut self, o: GrantObject) {
        let slot = match o.body.step {
            Step::Approval => return self.approvals.push(o),
            Step::Denial => &mut self.denial,
            Step::Revocation => &mut self.revocation,
            Step::Use => &mut self.used,
            Step::Result => &mut self.result,
            Step::Expired => &mut self.expired,
            Step::Request => return,
        };
        *slot = Some(o);
    }

    /// Approvals that count: distinct users, never the requester.
    fn counted(&self) -> Vec<&GrantObject> {
        let mut seen = std::collections::BTreeSet::new();
        self.approvals
            .iter()
            .filter(|a| a.body.user != self.requester() && seen.insert(a.body.user.as_str()))
            .collect()
    }

    /// When the approval that completed it was given, if it is complete.
    pub fn approved_at_ms(&self) -> Option<u64> {
        let counted = self.counted();
        if self.details().auto_approved
            && let Some(auto) = counted.iter().find(|a| a.body.user == super::AUTO_APPROVER)
        {
            return Some(auto.body.at_ms);
        }
        let need = self.details().required_approvals.max(1) as usize;
        counted.get(need - 1).map(|a| a.body.at_ms)
    }

    /// When an approved request stops being usable, Unix ms.
    pub fn expires_at_ms(&self) -> Option<u64> {
        let ttl_ms = self.details().ttl_seconds.saturating_mul(1000);
        self.approved_at_ms().map(|t| t.saturating_add(ttl_ms))
    }

    /// Where the request stands at `now_ms`.
    pub fn state(&self, now_ms: u64) -> State {
        if self.used.is_some() {
            State::Used
        } else if self.revocation.is_some() {
            State::Revoked
        } else if self.denial.is_some() {
            State::Denied
        } else if let Some(end) = self.expires_at_ms() {
            if now_ms < end {
                State::Approved
            } else {
                State::Expired
            }
        } else if now_ms < self.details().pending_until_ms {
            State::Pending
        } else {
            State::Expired
        }
    }

    /// The request as the API shows it at `now_ms`.
    pub fn view(&self, now_ms: u64) -> AccessRequest {
        let r = &self.request.body;
        let d = self.details();
        let state = self.state(now_ms);
        AccessRequest {
            id: r.id.clone(),
            grant: d.grant.clone(),
            kind: d.kind.clone(),
            requester: r.user.clone(),
            requester_groups: r.groups.clone(),
            reason: r.reason.clone(),
            ttl_seconds: d.ttl_seconds,
            created_at: time(r.at_ms),
            state,
            expires_at: self.expires_at_ms().map(time),
            approvals: self.counted().into_iter().map(review).collect(),
            required_approvals: d.required_approvals,
            denial: self.denial.as_ref().map(review),
            write: d.write.clone(),
            description: d.description.clone(),
            digest: d.digest.clone(),
            dry_run: d.dry_run.clone(),
            result: self.result.as_ref().and_then(|o| o.body.answer.clone()),
        }
    }
}

fn review(o: &GrantObject) -> Review {
    Review {
        user: o.body.user.clone(),
        reason: o.body.reason.clone(),
        at: time(o.body.at_ms),
    }
}

/// Unix ms as RFC 3339.
pub fn time(ms: u64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Unix ms of `t`.
pub fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads and checks request `id`'s objects; each must be signed by `key` (`None`: unsigned).
pub async fn load(
    store: &RecordStore,
    id: &str,
    key: Option<&VerifyingKey>,
) -> Result<Story, StoryError> {
    let dir = folder(id);
    let leaves = store
        .objects(&dir)
        .await
        .map_err(|e| StoryError::Store(e.to_string()))?;
    let mut objects = Vec::new();
    for leaf in leaves {
        let name = format!("{dir}/{leaf}");
        let bytes = store
            .get_bounded(&name, MAX_GRANT_OBJECT_LEN as u64)
            .await
            .map_err(|e| {
                if e.is_too_large() {
                    StoryError::Bad(e.to_string())
                } else {
                    StoryError::Store(e.to_string())
                }
            })?;
        let o = GrantObject::parse(&bytes).map_err(|e| StoryError::Bad(format!("{name}: {e}")))?;
        o.check_key(key)
            .map_err(|e| StoryError::Bad(format!("{name}: {e}")))?;
        objects.push((leaf, o));
    }
    Story::assemble(id, objects)
}

/// A new body for `step` of request `id`, by `user`, now.
pub fn body(step: Step, id: &str, user: &str, groups: &[String], reason: &str) -> ObjectBody {
    ObjectBody {
        format: GRANT_FORMAT.into(),
        step,
        id: id.into(),
        request_sha256: None,
        user: user.into(),
        groups: groups.to_vec(),
        at_ms: ms(SystemTime::now()),
        reason: super::object::bounded(reason, super::MAX_REASON_LEN),
        instance: String::new(),
        nonce: hex::encode(rand::random::<[u8; 16]>()),
        request: None,
        answer: None::<Answer>,
        signer: None,
    }
}

/// The grant of `story`, if still in the policy.
pub(super) fn live_grant<'p>(
    policy: &'p Policy,
    story: &Story,
) -> Result<&'p GrantDef, GrantError> {
    let name = &story.details().grant;
    policy
        .grant(name)
        .ok_or_else(|| GrantError::Conflict(format!("grant {name} is no longer in the policy")))
}

/// How a state reads in a message.
pub(super) fn state_word(s: State) -> &'static str {
    match s {
        State::Used => "already used",
        s => s.as_str(),
    }
}
