//! Access decisions for the server: the policy in force, label lookups, rate and stream
//! limits, and the audit line, in one place.
//!
//! When no policy file is configured the built-in policy ([`policy::BUILTIN_POLICY`])
//! applies: deny by default, with pod reads, `exec`, `attach` and `logs` allowed to every
//! authenticated caller. With a file, the file decides (and is reloaded on change).
//!
//! Order for one request: decide (with the labels the policy needs, looked up as
//! kubewitness), then the rule's token bucket, then (for streams) the per-user and global
//! stream counts. Every outcome, including a rate-limit refusal, writes one audit line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::Identity;
use crate::policy::audit::{AuditRecord, AuditSink};
use crate::policy::labels::LabelCache;
use crate::policy::limiter::{Limited, Limiter, StreamPermit};
use crate::policy::store::PolicyStore;
use crate::policy::{self, Action, Limits, Policy, Request, clamp_log_query};
use crate::request::{RequestInfo, StreamRequest};

/// Everything the server needs to decide requests.
#[derive(Debug)]
pub struct Access {
    store: Arc<PolicyStore>,
    labels: LabelCache,
    limiter: Arc<Limiter>,
    audit: AuditSink,
    /// Masks secrets in the argv written to the audit log.
    argv_redactor: Option<redact::Redactor>,
}

/// What the server does with a request.
#[derive(Debug)]
pub enum Verdict {
    /// Go ahead within these limits.
    Allow(Grant),
    /// 403 with this message.
    Deny(String),
    /// 429: over a rate or stream limit.
    Limited(Limited),
}

/// An allowed request's limits and, for streams, its slot.
#[derive(Debug)]
pub struct Grant {
    /// The rule that allowed it (`None` for discovery).
    pub rule: Option<String>,
    /// The limits that apply.
    pub limits: Arc<Limits>,
    /// For a log request, the clamped query to send upstream.
    pub log_query: Option<String>,
    /// For streams, the slot held while the stream runs.
    pub permit: Option<StreamPermit>,
}

impl Access {
    /// Decisions by `store`, audit lines to `audit`.
    pub fn new(store: Arc<PolicyStore>, audit: AuditSink) -> Access {
        Access {
            store,
            labels: LabelCache::default(),
            limiter: Limiter::new(),
            audit,
            argv_redactor: None,
        }
    }

    /// Masks secrets in the argv of audit records with `redactor` (decisions still see the
    /// real argv).
    pub fn with_argv_redactor(mut self, redactor: Option<redact::Redactor>) -> Access {
        self.argv_redactor = redactor;
        self
    }

    /// The built-in policy, audit lines to stdout.
    pub fn builtin() -> Access {
        Access::new(
            Arc::new(PolicyStore::fixed(Policy::builtin())),
            AuditSink::stdout(),
        )
    }

    /// The policy store (for reloads).
    pub fn store(&self) -> &Arc<PolicyStore> {
        &self.store
    }

    /// The audit sink (the Prometheus gateway writes its lines there too).
    pub fn audit(&self) -> &AuditSink {
        &self.audit
    }

    /// Streams running now.
    pub fn streams(&self) -> u64 {
        self.limiter.streams()
    }

    /// Records a request refused before it could be decided (unclassifiable).
    pub fn refused(&self, identity: &Identity, method: &http::Method, path: &str, why: &str) {
        let info = RequestInfo {
            verb: method.as_str().to_ascii_lowercase(),
            target: crate::request::Target::NonResource(path.to_string()),
        };
        let rec = AuditRecord::new(&identity.user, &identity.groups, &info).decided(
            false,
            None,
            format!("request refused: {why}"),
        );
        self.audit.record(&rec);
    }

    /// Decides `info` for `identity`; `stream` is the parsed exec/attach parameters,
    /// `query` the raw query (clamped for logs).
    pub async fn decide(
        &self,
        client: &kube_client::Client,
        identity: &Identity,
        info: &RequestInfo,
        stream: Option<&StreamRequest>,
        query: &str,
    ) -> Verdict {
        let policy = self.store.current();
        let req = Request::new(&identity.user, &identity.groups, info, stream);
        let needs = policy.needs(&req);
        let facts = if needs == policy::Needs::default() {
            policy::Facts::default()
        } else {
            self.labels.facts(client, &needs).await
        };
        let decision = policy.decide(&req, &facts);
        let mut rec = AuditRecord::new(&identity.user, &identity.groups, info);
        rec.argv = stream
            .filter(|s| s.subresource == "exec")
            .map(|s| match &self.argv_redactor {
                Some(r) => crate::redaction::mask_argv(r, &s.command),
                None => s.command.clone(),
            });
        rec.container = match stream {
            Some(s) => s.container.clone(),
            None if req.action == Action::Logs => crate::channel::url_pairs(query)
                .find(|(k, _)| k == "container")
                .map(|(_, v)| v),
            None => None,
        };
        let verdict = self.limit(&policy, &req, &decision, query);
        let (allowed, reason) = match &verdict {
            Verdict::Allow(_) => (true, decision.reason.clone()),
            Verdict::Deny(message) => (false, denial_reason(&decision, message)),
            Verdict::Limited(l) => (false, l.reason.clone()),
        };
        self.audit
            .record(&rec.decided(allowed, decision.rule.clone(), reason));
        verdict
    }

    fn limit(
        &self,
        policy: &Policy,
        req: &Request<'_>,
        decision: &policy::Decision,
        query: &str,
    ) -> Verdict {
        if !decision.allowed {
            return Verdict::Deny(decision.message.clone());
        }
        let limits = decision.limits.clone().unwrap_or_default();
        let rule = decision.rule.clone();
        if let (Some(rate), Some(name)) = (&limits.rate, &rule)
            && let Err(l) = self
                .limiter
                .check_request(req.user, name, rate, Instant::now())
        {
            return Verdict::Limited(l);
        }
        let log_query = if req.action == Action::Logs {
            match clamp_log_query(query, &limits.logs) {
                Ok(q) => Some(q),
                Err(e) => {
                    return Verdict::Deny(format!("kubewitness: {} denied: {e}", req.describe()));
                }
            }
        } else {
            None
        };
        let streaming = matches!(
            req.action,
            Action::Exec { .. } | Action::Attach { .. } | Action::Logs
        );
        let permit = if streaming {
            let per_user = limits.rate.and_then(|r| r.max_concurrent_streams);
            match self.limiter.start_stream(
                req.user,
                per_user,
                policy.global().max_concurrent_streams,
            ) {
                Ok(p) => Some(p),
                Err(l) => return Verdict::Limited(l),
            }
        } else {
            None
        };
        Verdict::Allow(Grant {
            rule,
            limits,
            log_query,
            permit,
        })
    }
}

/// The reason for the audit line: the policy's, or the log-parameter refusal's.
fn denial_reason(decision: &policy::Decision, message: &str) -> String {
    if decision.allowed {
        message
            .rsplit_once(" denied: ")
            .map(|(_, r)| r.to_string())
            .unwrap_or_else(|| message.to_string())
    } else {
        decision.reason.clone()
    }
}

/// The `Retry-After` value for a limit: whole seconds, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}
