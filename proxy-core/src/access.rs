//! Access decisions for the server: the policy in force, label lookups, rate and stream
//! limits, and the audit line, in one place.
//!
//! When no policy file is configured the built-in policy ([`policy::BUILTIN_POLICY`])
//! applies: deny by default, with pod reads, `exec`, `attach` and `logs` allowed to every
//! authenticated caller. With a file, the file decides (and is reloaded on change).
//!
//! Order for one request: when the policy needs labels, the token bucket of the first rule
//! that asked for them, then the lookups (cached, failures too); then the decision and the
//! token bucket of the rule that decided (allowed, or came closest: denied requests pay
//! too); then (for streams) the per-identity and global stream counts. Every outcome,
//! including a rate-limit refusal, writes one audit line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::Identity;
use crate::channel::StreamOptions;
use crate::grants::{ActiveElevation, Grants};
use crate::policy::audit::{AuditRecord, AuditSink};
use crate::policy::labels::LabelCache;
use crate::policy::limiter::{Limited, Limiter, StreamPermit};
use crate::policy::store::PolicyStore;
use crate::policy::{self, Action, Elevated, Limits, Policy, RateLimit, Request, clamp_log_query};

mod hint;
use crate::request::{RequestInfo, StreamRequest};
pub(crate) use hint::{elevation_hint, write_hint};

/// Everything the server needs to decide requests.
#[derive(Debug)]
pub struct Access {
    store: Arc<PolicyStore>,
    labels: LabelCache,
    limiter: Arc<Limiter>,
    audit: Arc<AuditSink>,
    /// The access-request broker, when there is one (elevations in force are decided too).
    grants: std::sync::OnceLock<Arc<Grants>>,
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
    /// 400: the request's parameters are malformed (log parameters).
    Invalid(String),
}

impl Verdict {
    /// `allow`, `deny`, `limited` or `invalid` (the metrics' `result` label).
    pub fn result(&self) -> &'static str {
        match self {
            Verdict::Allow(_) => "allow",
            Verdict::Deny(_) => "deny",
            Verdict::Limited(_) => "limited",
            Verdict::Invalid(_) => "invalid",
        }
    }
}

/// The prefix of the rule an approved elevation adds (`grant:<grant>:<id>`).
pub const ELEVATION_RULE_PREFIX: &str = "grant:";

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

impl Grant {
    /// The access request whose approved elevation allowed this request (its rule is
    /// `grant:<grant>:<id>`): such a request goes upstream with the breakglass group.
    pub fn elevation(&self) -> Option<&str> {
        let rest = self.rule.as_deref()?.strip_prefix(ELEVATION_RULE_PREFIX)?;
        rest.rsplit_once(':').map(|(_, id)| id)
    }
}

impl Access {
    /// Decisions by `store`, audit lines to `audit`.
    pub fn new(store: Arc<PolicyStore>, audit: AuditSink) -> Access {
        Access {
            store,
            labels: LabelCache::default(),
            limiter: Limiter::new(),
            audit: Arc::new(audit),
            grants: std::sync::OnceLock::new(),
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

    /// The audit sink, shared (the access-request broker writes its steps there).
    pub(crate) fn audit_shared(&self) -> &Arc<AuditSink> {
        &self.audit
    }

    /// Decides with the elevations `grants` has in force too (set once; later calls are
    /// ignored).
    pub(crate) fn attach_grants(&self, grants: Arc<Grants>) {
        let _ = self.grants.set(grants);
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
        let (mut verdict, mut rule, mut reason) = self.judge(client, &policy, &req, query).await;
        if let Verdict::Deny(_) = verdict
            && let Some((elevated, active)) = self.elevated(identity, &policy).await
        {
            (verdict, rule, reason) = self.judge(client, &elevated, &req, query).await;
            if let Verdict::Allow(grant) = &mut verdict {
                end_with_elevation(grant, &active);
            }
        }
        if let Verdict::Deny(message) = &mut verdict {
            message.push_str(&elevation_hint(&policy.elevations_allowing(&req)));
        }
        let allowed = matches!(verdict, Verdict::Allow(_));
        crate::metrics::metrics().policy_decision(rule.as_deref(), verdict.result());
        self.audit.record(&rec.decided(allowed, rule, reason));
        verdict
    }

    /// The policy plus the elevations in force for `identity`, and those elevations, when
    /// it has any.
    async fn elevated(
        &self,
        identity: &Identity,
        policy: &Policy,
    ) -> Option<(Policy, Vec<ActiveElevation>)> {
        let active = self.grants.get()?.elevations(identity).await;
        if active.is_empty() {
            return None;
        }
        let elevated: Vec<Elevated<'_>> = active
            .iter()
            .map(|e| Elevated {
                grant: &e.grant,
                id: &e.id,
                user: &identity.user,
            })
            .collect();
        let policy = policy.with_elevations(&elevated);
        Some((policy, active))
    }

    /// The verdict, the rule behind it and the audit reason. Every request pays one token
    /// of the bucket of the rule that decided it (the one that allowed it, or the one that
    /// came closest), allowed or not; a request that needs label lookups pays before they
    /// run, so a denied or limited caller cannot make kubewitness ask upstream for more.
    async fn judge(
        &self,
        client: &kube_client::Client,
        policy: &Policy,
        req: &Request<'_>,
        query: &str,
    ) -> (Verdict, Option<String>, String) {
        let limited = |l: Limited, rule: Option<String>| {
            let reason = l.reason.clone();
            (Verdict::Limited(l), rule, reason)
        };
        let needs = policy.needs(req);
        let mut paid = None;
        let facts = if needs == policy::Needs::default() {
            policy::Facts::default()
        } else {
            if let Some((rule, rate)) = policy.lookup_payer(req) {
                if let Err(l) = self.pay(req.user, rule, Some(rate)) {
                    return limited(l, Some(rule.to_string()));
                }
                paid = Some(rule.to_string());
            }
            self.labels.facts(client, &needs).await
        };
        let decision = policy.decide(req, &facts);
        if let Some(name) = &decision.rule
            && paid.as_ref() != Some(name)
            && let Err(l) = self.pay(
                req.user,
                name,
                policy.rule(name).and_then(|r| r.limits().rate),
            )
        {
            return limited(l, decision.rule.clone());
        }
        if !decision.allowed {
            return (
                Verdict::Deny(decision.message.clone()),
                decision.rule,
                decision.reason,
            );
        }
        match self.admit(policy, req, &decision, query) {
            Ok(grant) => (Verdict::Allow(grant), decision.rule, decision.reason),
            Err(verdict) => {
                let reason = match &verdict {
                    Verdict::Limited(l) => l.reason.clone(),
                    Verdict::Invalid(why) => why.clone(),
                    _ => decision.reason.clone(),
                };
                (verdict, decision.rule, reason)
            }
        }
    }

    /// Takes one token from `user`'s bucket named `bucket` (kubewitness's own API).
    pub(crate) fn pay_api(
        &self,
        user: &str,
        bucket: &str,
        rate: RateLimit,
        now: Instant,
    ) -> Result<(), Limited> {
        self.limiter.check_request(user, bucket, &rate, now)
    }

    /// Takes one token from `user`'s bucket for `rule`, when the rule has a rate.
    fn pay(&self, user: &str, rule: &str, rate: Option<RateLimit>) -> Result<(), Limited> {
        match rate {
            Some(rate) => self
                .limiter
                .check_request(user, rule, &rate, Instant::now()),
            None => Ok(()),
        }
    }

    /// The policy's decision on `info` for `identity`, with the labels it needs, but no rate
    /// limit, stream slot or audit line: what a self review (`kubectl auth can-i`) asks.
    pub async fn review(
        &self,
        client: &kube_client::Client,
        identity: &Identity,
        info: &RequestInfo,
        stream: Option<&StreamRequest>,
    ) -> policy::Decision {
        let policy = self.store.current();
        let req = Request::new(&identity.user, &identity.groups, info, stream);
        self.decision(client, &policy, &req).await
    }

    /// The decision a self review reports for `info`. exec and attach are decided for each
    /// command some rule allows (a review names no command); the first allowing decision wins.
    pub(crate) async fn review_any_command(
        &self,
        client: &kube_client::Client,
        identity: &Identity,
        info: &RequestInfo,
    ) -> policy::Decision {
        let sub = info
            .resource()
            .filter(|r| r.is_core("pods", Some("exec")) || r.is_core("pods", Some("attach")))
            .and_then(|r| r.subresource.clone());
        let Some(sub) = sub else {
            return self.review(client, identity, info, None).await;
        };
        let r = info.resource().expect("checked above");
        let argvs = if sub == "exec" {
            self.store.current().exec_examples()
        } else {
            vec![Vec::new()]
        };
        let mut first: Option<policy::Decision> = None;
        for command in argvs {
            let stream = StreamRequest {
                subresource: sub.clone(),
                namespace: r.namespace.clone().unwrap_or_default(),
                pod: r.name.clone().unwrap_or_default(),
                container: None,
                command,
                options: StreamOptions {
                    stdout: true,
                    ..StreamOptions::default()
                },
            };
            let d = self.review(client, identity, info, Some(&stream)).await;
            if d.allowed {
                return d;
            }
            first.get_or_insert(d);
        }
        match first {
            Some(d) => d,
            None => self.review(client, identity, info, None).await,
        }
    }

    async fn decision(
        &self,
        client: &kube_client::Client,
        policy: &Policy,
        req: &Request<'_>,
    ) -> policy::Decision {
        let needs = policy.needs(req);
        let facts = if needs == policy::Needs::default() {
            policy::Facts::default()
        } else {
            self.labels.facts(client, &needs).await
        };
        policy.decide(req, &facts)
    }

    /// An allowed request's grant: its clamped log query and, for a stream, its slot.
    fn admit(
        &self,
        policy: &Policy,
        req: &Request<'_>,
        decision: &policy::Decision,
        query: &str,
    ) -> Result<Grant, Verdict> {
        let limits = decision.limits.clone().unwrap_or_default();
        let log_query = if req.action == Action::Logs {
            let q = clamp_log_query(query, &limits.logs)
                .map_err(|e| Verdict::Invalid(format!("invalid log parameters: {e}")))?;
            Some(q)
        } else {
            None
        };
        let permit = if is_stream(req) {
            let global = policy.global();
            let per_user = limits
                .rate
                .and_then(|r| r.max_concurrent_streams)
                .map_or(global.max_concurrent_streams_per_identity, |n| {
                    n.min(global.max_concurrent_streams_per_identity)
                });
            let permit = self
                .limiter
                .start_stream(req.user, Some(per_user), global.max_concurrent_streams)
                .map_err(Verdict::Limited)?;
            Some(permit)
        } else {
            None
        };
        Ok(Grant {
            rule: decision.rule.clone(),
            limits,
            log_query,
            permit,
        })
    }
}

/// Whether a request holds a stream slot while it runs: every long-running request (exec,
/// attach, logs, port-forward, watch), as kube-apiserver counts them.
fn is_stream(req: &Request<'_>) -> bool {
    match req.action {
        Action::Exec { .. } | Action::Attach { .. } | Action::Logs | Action::PortForward => true,
        Action::Read => req.info.verb == "watch",
        _ => false,
    }
}

/// The `Retry-After` value for a limit: whole seconds, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// A session an elevation allowed ends when the elevation does: its duration (and a log
/// stream's) is cut to the time the elevation has left.
fn end_with_elevation(grant: &mut Grant, active: &[ActiveElevation]) {
    let Some(elevation) = grant
        .elevation()
        .and_then(|id| active.iter().find(|e| e.id == id))
    else {
        return;
    };
    let left = elevation
        .expires_at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let cut = |d: Option<Duration>| Some(d.map_or(left, |d| d.min(left)));
    let mut limits = (*grant.limits).clone();
    limits.session.max_duration = cut(limits.session.max_duration);
    limits.logs.max_duration = cut(limits.logs.max_duration);
    grant.limits = Arc::new(limits);
}
