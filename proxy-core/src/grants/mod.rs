//! Access requests: time-boxed elevations for people, one approved write for agents.
//!
//! A requester asks for a grant of the policy (`grants:`) with a reason; approvers named by
//! the grant approve or deny (never the requester, never an agent; `autoApprove` groups are
//! approved at once). An approved elevation adds the grant's rule for the requester until
//! its TTL ends; an approved write may be executed once, within its TTL, exactly as
//! approved (its digest). Every step is a create-only, signed object in the recording store
//! under `grants/<id>/`, so replicas sharing a store agree and a one-use grant is consumed
//! by at most one of them; `kubewitness verify` checks those objects.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::config::GrantsConfig;
use crate::policy::audit::AuditSink;
use crate::policy::store::PolicyStore;
use crate::policy::{Workload, WriteAction, WriteVerb};
use crate::record::Recorder;
use crate::upstream::{Origin, Upstream};

mod broker;
mod exec;
pub mod notify;
pub mod object;
pub mod state;
mod sweep;
#[cfg(test)]
mod tests;
// The flow with a real policy: needs the policy side (issue-17b) to pass.
#[cfg(test)]
mod flow_tests;
pub mod ttl;
pub mod verify;

pub use broker::AUTO_APPROVER;

/// The longest reason kept.
pub const MAX_REASON_LEN: usize = 1024;

/// What [`Grants`] is made of.
#[derive(Debug)]
pub struct GrantsOptions {
    /// Where the objects are stored and what signs them.
    pub recorder: Arc<Recorder>,
    /// The policy in force (its `grants:` and `agents:`).
    pub policy: Arc<PolicyStore>,
    /// Where each step is audited.
    pub audit: AuditSink,
    /// The breakglass group and the webhook.
    pub config: GrantsConfig,
}

/// A new access request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NewRequest {
    /// The grant's name.
    pub grant: String,
    /// Why (required, at most [`MAX_REASON_LEN`] bytes).
    pub reason: String,
    /// How long, as `30m`, `1h` (default and at most the grant's `maxTTL`).
    pub ttl: Option<String>,
    /// For a write grant: the verb; may be left out when the grant gives exactly one.
    pub action: Option<WriteVerb>,
    /// For a write grant: the object's namespace (not for node actions).
    pub namespace: Option<String>,
    /// For a write grant: the object's name.
    pub name: Option<String>,
    /// For restart and scale: the workload kind (default deployment).
    pub workload: Option<Workload>,
    /// For scale: the replica count.
    pub replicas: Option<i32>,
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for approvals.
    Pending,
    /// Approved and in force (an elevation until `expiresAt`; a write until used).
    Approved,
    /// Denied by an approver.
    Denied,
    /// Revoked by the requester or an approver.
    Revoked,
    /// Its TTL ended (approved or not).
    Expired,
    /// A write that was executed.
    Used,
}

impl State {
    /// The state as the API spells it: `pending`, `approved`, `denied`, `revoked`,
    /// `expired`, `used`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Revoked => "revoked",
            State::Expired => "expired",
            State::Used => "used",
        }
    }
}

/// One approval or denial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// The approver.
    pub user: String,
    /// Their reason.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// What the server answered a dry run or an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// The HTTP status code.
    pub code: u16,
    /// The `Status` message, or a one-line summary of the object returned.
    pub message: String,
}

/// An access request as the API, the CLI and the MCP tools show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequest {
    /// The id (a ULID).
    pub id: String,
    /// The grant asked for.
    pub grant: String,
    /// `elevation` or `write`.
    pub kind: String,
    /// Who asked.
    pub requester: String,
    /// Their groups when they asked.
    pub requester_groups: Vec<String>,
    /// Why.
    pub reason: String,
    /// The TTL asked for, in seconds.
    pub ttl_seconds: u64,
    /// When it was asked (RFC 3339).
    pub created_at: String,
    /// Where it stands now.
    pub state: State,
    /// When an approved request stops being usable (RFC 3339).
    pub expires_at: Option<String>,
    /// Approvals so far.
    pub approvals: Vec<Review>,
    /// How many it takes.
    pub required_approvals: u32,
    /// The denial, if any.
    pub denial: Option<Review>,
    /// For a write: the exact action, its one-line description and its digest.
    pub write: Option<WriteAction>,
    /// `evict pod shop/web-1`.
    pub description: Option<String>,
    /// `sha256:…` of the action.
    pub digest: Option<String>,
    /// What the API server said to the dry run at request time.
    pub dry_run: Option<Answer>,
    /// What it said to the execution.
    pub result: Option<Answer>,
}

/// Why an access-request operation failed; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// No such request (or the caller may not see it): 404.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (request this grant, approve, execute): 403.
    #[error("{0}")]
    Forbidden(String),
    /// Malformed input (unknown grant, bad TTL, action outside the grant): 400 / 422.
    #[error("{0}")]
    Invalid(String),
    /// The request is not in a state that allows it (already used, denied, expired): 409.
    #[error("{0}")]
    Conflict(String),
    /// The store or the API server failed: 503 (fail closed: nothing ran).
    #[error("{0}")]
    Unavailable(String),
}

impl GrantError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            GrantError::NotFound(_) => http::StatusCode::NOT_FOUND,
            GrantError::Forbidden(_) => http::StatusCode::FORBIDDEN,
            GrantError::Invalid(_) => http::StatusCode::UNPROCESSABLE_ENTITY,
            GrantError::Conflict(_) => http::StatusCode::CONFLICT,
            GrantError::Unavailable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The Kubernetes `Status` reason (`NotFound`, `Forbidden`, `Invalid`, `Conflict`,
    /// `ServiceUnavailable`).
    pub fn reason(&self) -> &'static str {
        match self {
            GrantError::NotFound(_) => "NotFound",
            GrantError::Forbidden(_) => "Forbidden",
            GrantError::Invalid(_) => "Invalid",
            GrantError::Conflict(_) => "Conflict",
            GrantError::Unavailable(_) => "ServiceUnavailable",
        }
    }
}

/// An approved elevation in force for a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveElevation {
    /// The access request's id.
    pub id: String,
    /// The grant.
    pub grant: String,
    /// When it ends.
    pub expires_at: SystemTime,
}

/// An executed write: the server's answer, passed back to the caller as is.
#[derive(Clone, Debug)]
pub struct Executed {
    /// The access request's id.
    pub id: String,
    /// The HTTP status the API server answered.
    pub code: http::StatusCode,
    /// Its content type.
    pub content_type: Option<String>,
    /// Its body (bounded).
    pub body: Bytes,
}

/// Where a write or a dry run goes: the upstream and the caller's address.
#[derive(Clone, Copy, Debug)]
pub struct Via<'a> {
    /// The API server.
    pub upstream: &'a Upstream,
    /// The original client.
    pub origin: &'a Origin,
}

/// The access-request broker.
#[derive(Debug)]
pub struct Grants {
    opts: GrantsOptions,
    notifier: Option<notify::Notifier>,
    cache: sweep::Cache,
}

impl Grants {
    /// A broker over `opts`. A webhook that cannot be set up is logged and left out
    /// (configuration checks refuse it before this).
    pub fn new(opts: GrantsOptions) -> Grants {
        let notifier = opts
            .config
            .notify
            .as_ref()
            .filter(|n| !n.url.is_empty())
            .and_then(|n| match notify::Notifier::new(n) {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::error!(error = %e, "grants.notify: no notifications");
                    None
                }
            });
        Grants {
            opts,
            notifier,
            cache: sweep::Cache::default(),
        }
    }

    /// The group approved requests carry upstream.
    pub fn breakglass_group(&self) -> &str {
        self.opts.config.breakglass_group()
    }

    /// Files a request by `who`; a write is dry-run upstream first (as `who`, plus the
    /// breakglass group) and the answer kept with the request. Auto-approved when `who` is
    /// in the grant's `autoApprove`.
    pub async fn request(
        &self,
        via: Via<'_>,
        who: &Identity,
        new: NewRequest,
    ) -> Result<AccessRequest, GrantError> {
        self.do_request(via, who, new).await
    }

    /// Approves request `id` as `who`.
    pub async fn approve(
        &self,
        who: &Identity,
        id: &str,
        reason: &str,
    ) -> Result<AccessRequest, GrantError> {
        self.do_review(who, id, reason, object::Step::Approval)
            .await
    }

    /// Denies request `id` as `who` (an approver).
    pub async fn deny(
        &self,
        who: &Identity,
        id: &str,
        reason: &str,
    ) -> Result<AccessRequest, GrantError> {
        self.do_review(who, id, reason, object::Step::Denial).await
    }

    /// Revokes request `id` (its requester or an approver).
    pub async fn revoke(
        &self,
        who: &Identity,
        id: &str,
        reason: &str,
    ) -> Result<AccessRequest, GrantError> {
        self.do_review(who, id, reason, object::Step::Revocation)
            .await
    }

    /// Request `id`, if `who` requested it or may approve it.
    pub async fn get(&self, who: &Identity, id: &str) -> Result<AccessRequest, GrantError> {
        self.do_get(who, id).await
    }

    /// The requests `who` made or may approve, newest first.
    pub async fn list(&self, who: &Identity) -> Result<Vec<AccessRequest>, GrantError> {
        self.do_list(who).await
    }

    /// The elevations in force for `who` (cheap: cached, refreshed from the store at most
    /// every few seconds so approvals on other replicas are seen).
    pub async fn elevations(&self, who: &Identity) -> Vec<ActiveElevation> {
        self.do_elevations(who).await
    }

    /// Executes approved write `id` for its requester `who`: checks the action's digest
    /// (against `action` when the caller names one), the TTL and that it was never used
    /// (a create-only `use` object: at most one replica wins), sends it upstream as `who`
    /// plus the breakglass group, and stores the answer.
    pub async fn execute(
        &self,
        via: Via<'_>,
        who: &Identity,
        id: &str,
        action: Option<&WriteAction>,
    ) -> Result<Executed, GrantError> {
        self.do_execute(via, who, id, action).await
    }

    /// The kubectl path: executes the approved, unused write of `who` whose action is
    /// exactly `action`, if there is one (`None`: no such approval; the write stays denied).
    pub async fn execute_matching(
        &self,
        via: Via<'_>,
        who: &Identity,
        action: &WriteAction,
    ) -> Option<Result<Executed, GrantError>> {
        self.do_execute_matching(via, who, action).await
    }

    /// Starts the background work (expiry notifications, cache refresh) on the current
    /// Tokio runtime; stops when the last `Arc` is dropped.
    pub fn start(self: &Arc<Grants>) {
        self.spawn_sweeper();
    }

    /// How long a request waits for approval before it expires.
    pub fn pending_timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }
}
