//! Writes upstream: the dry run at request time, and the one execution of an approved
//! write (the `use` lock first, then the request kubewitness builds, then the answer kept).

use std::time::{Duration, SystemTime};

use super::object::{MAX_MESSAGE_LEN, Step, bounded};
use super::state::{Story, ms};
use super::{Answer, Executed, GrantError, Grants, State, Via};
use crate::auth::Identity;
use crate::policy::write::UpstreamWrite;
use crate::policy::{Gives, WriteAction};
use crate::upstream::{ForwardError, SentAnswer};

/// How far back `execute_matching` looks: a write waits at most its grant's maxTTL
/// (≤ 1 h) for approval and is usable at most that long after.
const MATCH_WINDOW: Duration = Duration::from_secs(2 * 3600 + 60);

/// Sends `write` as `identity`; an unreachable server fails closed.
pub(super) async fn send(
    via: Via<'_>,
    identity: &Identity,
    write: &UpstreamWrite,
) -> Result<SentAnswer, GrantError> {
    via.upstream
        .send_as(identity, write, via.origin)
        .await
        .map_err(|e| match e {
            ForwardError::Request(e) => GrantError::Invalid(e.to_string()),
            ForwardError::Unreachable(m) => GrantError::Unavailable(m),
        })
}

/// What the server said, in one bounded line: a `Status`'s message, or the object's kind
/// and name.
pub(super) fn answer(a: &SentAnswer) -> Answer {
    Answer {
        code: a.status.as_u16(),
        message: bounded(&summary(&a.body), MAX_MESSAGE_LEN),
    }
}

fn summary(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::from_utf8_lossy(body)
            .lines()
            .next()
            .unwrap_or("")
            .into();
    };
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).unwrap_or("");
    if s("/kind") == "Status" {
        return s("/message").to_string();
    }
    let ns = s("/metadata/namespace");
    let name = s("/metadata/name");
    match ns {
        "" => format!("{} {name}", s("/kind")),
        ns => format!("{} {ns}/{name}", s("/kind")),
    }
}

impl Grants {
    pub(super) async fn do_execute(
        &self,
        via: Via<'_>,
        who: &Identity,
        id: &str,
        action: Option<&WriteAction>,
    ) -> Result<Executed, GrantError> {
        let story = self.story(id).await?;
        if who.user != story.requester() {
            return Err(GrantError::Forbidden(format!(
                "only the requester of {id} may execute it"
            )));
        }
        let approved = self.executable(&story, action)?;
        let mine = (who.user.as_str(), who.groups.as_slice());
        self.put_step(id, Step::Use, mine, "", Some(&story), |_| {})
            .await
            .map_err(|e| match e {
                GrantError::Conflict(_) => {
                    GrantError::Conflict(format!("access request {id} was already used"))
                }
                e => e,
            })?;
        let write = approved.upstream(false, SystemTime::now());
        let sent = send(via, &self.upstream_identity(who, id), &write).await;
        let kept = match &sent {
            Ok(a) => answer(a),
            Err(e) => Answer {
                code: e.status().as_u16(),
                message: bounded(&e.to_string(), MAX_MESSAGE_LEN),
            },
        };
        let stored = self
            .put_step(id, Step::Result, mine, "", Some(&story), |b| {
                b.answer = Some(kept)
            })
            .await;
        if let Err(e) = stored {
            tracing::error!(%id, error = %e, "the execution's answer was not stored");
        }
        let story = self.story(id).await.unwrap_or(story);
        self.step_done("execute", who, &story, "");
        let sent = sent?;
        Ok(Executed {
            id: id.to_string(),
            code: sent.status,
            content_type: sent.content_type,
            body: sent.body,
        })
    }

    /// The approved action of `story` if it may run now: approved, within its TTL, its grant
    /// still in the policy and covering it, its digest intact and (when the caller names an
    /// action) the same.
    fn executable(
        &self,
        story: &Story,
        action: Option<&WriteAction>,
    ) -> Result<WriteAction, GrantError> {
        let id = &story.request.body.id;
        let d = story.details();
        let (Some(approved), Some(digest)) = (&d.write, &d.digest) else {
            return Err(GrantError::Invalid(format!("{id} is not a write request")));
        };
        let state = story.state(ms(SystemTime::now()));
        if state != State::Approved {
            return Err(GrantError::Conflict(format!(
                "access request {id} is {}",
                super::state::state_word(state)
            )));
        }
        if approved.digest() != *digest {
            return Err(GrantError::Conflict(format!(
                "access request {id}: the stored action does not match its digest"
            )));
        }
        if action.is_some_and(|a| a.digest() != *digest) {
            return Err(GrantError::Conflict(format!(
                "access request {id}: that is not the approved action ({})",
                d.description.as_deref().unwrap_or("")
            )));
        }
        let policy = self.opts.policy.current();
        let grant = super::state::live_grant(&policy, story)?;
        match &grant.gives {
            Gives::Write(scope) if scope.allows(approved) => Ok(approved.clone()),
            _ => Err(GrantError::Conflict(format!(
                "grant {} no longer covers {}",
                grant.name,
                approved.describe()
            ))),
        }
    }

    pub(super) async fn do_execute_matching(
        &self,
        via: Via<'_>,
        who: &Identity,
        action: &WriteAction,
    ) -> Option<Result<Executed, GrantError>> {
        let digest = action.digest();
        let now = ms(SystemTime::now());
        let stories = match self.recent(Some(MATCH_WINDOW)).await {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let found = stories.into_iter().find(|s| {
            s.requester() == who.user
                && s.details().digest.as_deref() == Some(digest.as_str())
                && s.state(now) == State::Approved
        })?;
        let id = found.request.body.id.clone();
        Some(self.do_execute(via, who, &id, Some(action)).await)
    }
}
