//! The broker's steps: request, approve, deny, revoke, get, list. Each reads the policy in
//! force, checks who may do it, writes one create-only object and audits it.

use std::time::{Duration, SystemTime};

use super::object::{RequestDetails, Step, object_name, sha256_hex, valid_id};
use super::state::{Story, StoryError, body, live_grant, load, ms, state_word};
use super::{
    AccessRequest, GrantError, Grants, MAX_REASON_LEN, NewRequest, State, exec, object, ttl,
};
use crate::auth::Identity;
use crate::policy::{Gives, GrantDef, Policy, WriteAction};

/// The approver recorded for an `autoApprove`d request.
pub const AUTO_APPROVER: &str = "kubewitness:auto";
/// The most requests `list` reads.
pub(super) const MAX_LISTED: usize = 500;

impl Grants {
    /// The key grant objects must be signed with (`None`: unsigned deployment).
    fn key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        self.opts
            .recorder
            .signer()
            .map(crate::record::SealSigner::verifying_key)
    }

    /// Reads request `id`, checked.
    pub(super) async fn story(&self, id: &str) -> Result<Story, GrantError> {
        if !valid_id(id) {
            return Err(GrantError::NotFound(format!("no access request {id:?}")));
        }
        let key = self.key();
        load(self.opts.recorder.store(), id, key.as_ref())
            .await
            .map_err(|e| match e {
                StoryError::NotFound => GrantError::NotFound(format!("no access request {id}")),
                StoryError::Store(m) => GrantError::Unavailable(format!("the store: {m}")),
                StoryError::Bad(m) => GrantError::Conflict(format!(
                    "access request {id} is not usable: its record does not verify ({m})"
                )),
            })
    }

    /// Writes `step` of request `id` by `who`; `Conflict` when the object exists.
    pub(super) async fn put_step(
        &self,
        id: &str,
        step: Step,
        who: (&str, &[String]),
        reason: &str,
        story: Option<&Story>,
        fill: impl FnOnce(&mut object::ObjectBody),
    ) -> Result<(), GrantError> {
        let rec = &self.opts.recorder;
        let mut b = body(step, id, who.0, who.1, reason);
        b.instance = rec.instance();
        b.request_sha256 = story.map(|s| s.request.sha256.clone());
        b.signer = rec.signer().map(crate::record::SealSigner::info);
        fill(&mut b);
        let bytes = object::encode(&b, rec.signer());
        let name = object_name(id, step, who.0);
        match rec.store().put_new(&name, bytes.clone().into()).await {
            Ok(()) => {
                rec.note_object(&name, &sha256_hex(&bytes));
                Ok(())
            }
            Err(e) if e.is_conflict() => Err(GrantError::Conflict(format!("{name} exists"))),
            Err(e) => Err(GrantError::Unavailable(format!("the store: {e}"))),
        }
    }

    pub(super) async fn do_request(
        &self,
        via: super::Via<'_>,
        who: &Identity,
        new: NewRequest,
    ) -> Result<AccessRequest, GrantError> {
        let policy = self.opts.policy.current();
        let grant = policy
            .grant(&new.grant)
            .ok_or_else(|| GrantError::Invalid(format!("no grant named {:?}", new.grant)))?;
        if !grant.requesters.contains(&who.user, &who.groups) {
            return Err(GrantError::Forbidden(format!(
                "{} may not request grant {}",
                who.user, grant.name
            )));
        }
        check_reason(&new.reason, true)?;
        let ttl = ttl::parse(new.ttl.as_deref(), grant.max_ttl).map_err(GrantError::Invalid)?;
        let id = ulid::Ulid::generate().to_string();
        let mut details = details(grant, ttl)?;
        if let Gives::Write(scope) = &grant.gives {
            let action = write_action(&new, &scope.actions)?;
            action.check().map_err(GrantError::Invalid)?;
            if !scope.allows(&action) {
                return Err(GrantError::Forbidden(format!(
                    "{} is outside grant {}",
                    action.describe(),
                    grant.name
                )));
            }
            let dry = action.upstream(true, SystemTime::now());
            let answer = exec::send(via, &self.upstream_identity(who, &id), &dry).await?;
            details.dry_run = Some(exec::answer(&answer));
            details.digest = Some(action.digest());
            details.description = Some(action.describe());
            details.write = Some(action);
        }
        let auto = grant.auto_approve.contains(&who.user, &who.groups);
        details.auto_approved = auto;
        let mine = (who.user.as_str(), who.groups.as_slice());
        self.put_step(&id, Step::Request, mine, &new.reason, None, |b| {
            b.request = Some(details)
        })
        .await?;
        let mut story = self.story(&id).await?;
        self.step_done("create", who, &story, &new.reason);
        if auto {
            let auto_who = (AUTO_APPROVER, &[][..]);
            self.put_step(
                &id,
                Step::Approval,
                auto_who,
                "autoApprove",
                Some(&story),
                |_| {},
            )
            .await?;
            story = self.story(&id).await?;
            self.step_done("approve", who, &story, "autoApprove");
        }
        Ok(story.view(now_ms()))
    }

    pub(super) async fn do_review(
        &self,
        who: &Identity,
        id: &str,
        reason: &str,
        step: Step,
    ) -> Result<AccessRequest, GrantError> {
        check_reason(reason, false)?;
        let story = self.story(id).await?;
        let policy = self.opts.policy.current();
        let grant = live_grant(&policy, &story)?;
        let requester = who.user == story.requester();
        let approver = may_approve(&policy, grant, who, story.requester());
        let state = story.state(now_ms());
        let (allowed, states) = match step {
            Step::Revocation => (
                requester || approver,
                &[State::Pending, State::Approved][..],
            ),
            _ => (approver, &[State::Pending][..]),
        };
        if !allowed {
            return Err(GrantError::Forbidden(refusal(who, requester, step)));
        }
        if !states.contains(&state) {
            return Err(GrantError::Conflict(format!(
                "access request {id} is {}",
                state_word(state)
            )));
        }
        let mine = (who.user.as_str(), who.groups.as_slice());
        self.put_step(id, step, mine, reason, Some(&story), |_| {})
            .await
            .map_err(|e| match e {
                GrantError::Conflict(_) => GrantError::Conflict(format!(
                    "access request {id}: you already did that, or someone else did"
                )),
                e => e,
            })?;
        let story = self.story(id).await?;
        let verb = match step {
            Step::Approval => "approve",
            Step::Denial => "deny",
            _ => "revoke",
        };
        self.step_done(verb, who, &story, reason);
        Ok(story.view(now_ms()))
    }

    /// Whether `who` may see `story`: its requester, or someone who may approve it.
    pub(super) fn visible(&self, policy: &Policy, who: &Identity, story: &Story) -> bool {
        who.user == story.requester()
            || policy
                .grant(&story.details().grant)
                .is_some_and(|g| may_approve(policy, g, who, story.requester()))
    }

    pub(super) async fn do_get(
        &self,
        who: &Identity,
        id: &str,
    ) -> Result<AccessRequest, GrantError> {
        let story = self.story(id).await?;
        if !self.visible(&self.opts.policy.current(), who, &story) {
            return Err(GrantError::NotFound(format!("no access request {id}")));
        }
        Ok(story.view(now_ms()))
    }

    pub(super) async fn do_list(&self, who: &Identity) -> Result<Vec<AccessRequest>, GrantError> {
        let policy = self.opts.policy.current();
        let now = now_ms();
        let mut out = Vec::new();
        for story in self.recent(None).await? {
            if self.visible(&policy, who, &story) {
                out.push(story.view(now));
            }
        }
        Ok(out)
    }

    /// Requests newest first (created within `window` when given), at most
    /// [`MAX_LISTED`]; ones that do not verify are skipped with a warning.
    pub(super) async fn recent(&self, window: Option<Duration>) -> Result<Vec<Story>, GrantError> {
        let store = self.opts.recorder.store();
        let mut ids = store
            .folders(Some(object::GRANTS_DIR))
            .await
            .map_err(|e| GrantError::Unavailable(format!("the store: {e}")))?;
        ids.retain(|i| valid_id(i));
        if let Some(w) = window {
            let since = now_ms().saturating_sub(w.as_millis() as u64);
            ids.retain(|i| ulid::Ulid::from_string(i).is_ok_and(|u| u.timestamp_ms() >= since));
        }
        let mut out = Vec::new();
        for id in ids.iter().rev().take(MAX_LISTED) {
            match self.story(id).await {
                Ok(s) => out.push(s),
                Err(GrantError::Unavailable(m)) => return Err(GrantError::Unavailable(m)),
                Err(e) => tracing::warn!(%id, error = %e, "access request skipped"),
            }
        }
        Ok(out)
    }

    /// `who` upstream under request `id`: plus the breakglass group, and the request's id
    /// as an extra (so the API server's audit log names it).
    pub(super) fn upstream_identity(&self, who: &Identity, id: &str) -> Identity {
        let mut up = who.clone();
        let group = self.breakglass_group().to_string();
        if !up.groups.contains(&group) {
            up.groups.push(group);
        }
        up.extra
            .insert("kubewitness.io/access-request".into(), vec![id.to_string()]);
        up
    }

    /// Audits and notifies a step.
    pub(super) fn step_done(&self, verb: &str, who: &Identity, story: &Story, reason: &str) {
        self.invalidate();
        let view = story.view(now_ms());
        self.opts
            .audit
            .line(&super::notify::audit_line(verb, who, &view, reason));
        let event = match verb {
            "create" => "requested",
            "approve" if view.state == State::Approved => "approved",
            "approve" => return,
            "deny" => "denied",
            "revoke" => "revoked",
            "execute" => "used",
            other => other,
        };
        self.notify(event, view);
    }
}

fn now_ms() -> u64 {
    ms(SystemTime::now())
}

/// Whether `who` may approve a request of `grant` by `requester`.
pub(super) fn may_approve(
    policy: &Policy,
    grant: &GrantDef,
    who: &Identity,
    requester: &str,
) -> bool {
    who.user != requester
        && !policy.is_agent(&who.user, &who.groups)
        && grant.approvers.contains(&who.user, &who.groups)
}

fn refusal(who: &Identity, requester: bool, step: Step) -> String {
    match (requester, step) {
        (true, Step::Approval | Step::Denial) => {
            "the requester cannot approve or deny their own request".into()
        }
        _ => format!("{} may not review this request", who.user),
    }
}

fn check_reason(reason: &str, required: bool) -> Result<(), GrantError> {
    if required && reason.trim().is_empty() {
        return Err(GrantError::Invalid("a reason is required".into()));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(GrantError::Invalid(format!(
            "the reason is over {MAX_REASON_LEN} bytes"
        )));
    }
    Ok(())
}

fn details(grant: &GrantDef, ttl: Duration) -> Result<RequestDetails, GrantError> {
    let kind = match grant.gives {
        Gives::Elevation(_) => "elevation",
        Gives::Write(_) => "write",
    };
    Ok(RequestDetails {
        grant: grant.name.clone(),
        kind: kind.into(),
        ttl_seconds: ttl.as_secs(),
        pending_until_ms: now_ms().saturating_add(grant.max_ttl.as_millis() as u64),
        required_approvals: grant.approvals.max(1),
        auto_approved: false,
        write: None,
        digest: None,
        description: None,
        dry_run: None,
    })
}

/// The action a new write request names.
fn write_action(
    new: &NewRequest,
    actions: &[crate::policy::WriteVerb],
) -> Result<WriteAction, GrantError> {
    let verb = match (new.action, actions) {
        (Some(v), _) => v,
        (None, [only]) => *only,
        (None, _) => {
            return Err(GrantError::Invalid(
                "the grant gives several actions: name one".into(),
            ));
        }
    };
    let name = new
        .name
        .clone()
        .ok_or_else(|| GrantError::Invalid("a write request names the object (name)".into()))?;
    Ok(WriteAction {
        verb,
        namespace: new.namespace.clone(),
        name,
        workload: new.workload,
        replicas: new.replicas,
    })
}
