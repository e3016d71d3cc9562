//! The write tools: an agent proposes one write with a justification
//! (`k8s_request_write`), follows it (`k8s_request_status`) and, once a human approved that
//! exact action, runs it once (`k8s_request_execute`). All three go through the
//! access-request broker ([`crate::grants::Grants`]) as the caller; there is no approve
//! tool, and nothing here approves: an agent is never an approver (the broker refuses it
//! too). They are offered only to callers who may request some write grant.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Caller;
use super::args::{MAX_NAME_LEN, Validate, name, opt_name};
use super::kube::Refused;
use super::reply::Reply;
use crate::grants::{AccessRequest, GrantError, MAX_REASON_LEN, NewRequest, Via};
use crate::policy::write::MAX_REPLICAS;
use crate::policy::{Gives, Policy, Workload, WriteAction, WriteVerb};
use crate::server::Proxy;

/// The tool names.
pub(crate) const REQUEST: &str = "k8s_request_write";
pub(crate) const STATUS: &str = "k8s_request_status";
pub(crate) const EXECUTE: &str = "k8s_request_execute";
/// The longest access-request id accepted (a ULID has 26 characters).
const MAX_ID_LEN: usize = 64;

/// `k8s_request_write`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestArgs {
    pub(crate) action: WriteVerb,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) params: Params,
    pub(crate) justification: String,
}

/// `params` of `k8s_request_write`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    pub(crate) replicas: Option<i32>,
    pub(crate) kind: Option<Workload>,
}

/// `k8s_request_status` and `k8s_request_execute`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdArgs {
    pub(crate) id: String,
}

impl Validate for RequestArgs {
    fn validate(&self) -> Result<(), String> {
        opt_name("namespace", self.namespace.as_deref())?;
        name("name", &self.name)?;
        let j = self.justification.trim();
        if j.is_empty()
            || self.justification.len() > MAX_REASON_LEN
            || self.justification.chars().any(char::is_control)
        {
            return Err(format!(
                "justification: 1 to {MAX_REASON_LEN} bytes, one line, no control characters"
            ));
        }
        match self.params.replicas {
            Some(n) if !(0..=MAX_REPLICAS).contains(&n) => Err(format!(
                "params.replicas: {n} is outside 0..={MAX_REPLICAS}"
            )),
            _ => Ok(()),
        }
    }
}

impl Validate for IdArgs {
    fn validate(&self) -> Result<(), String> {
        let ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID_LEN
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric());
        match ok {
            true => Ok(()),
            false => Err(format!(
                "id: an access request id (letters and digits, 1 to {MAX_ID_LEN})"
            )),
        }
    }
}

impl RequestArgs {
    /// The exact action proposed.
    pub(crate) fn action(&self) -> WriteAction {
        WriteAction {
            verb: self.action,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            workload: self.params.kind,
            replicas: self.params.replicas,
        }
    }
}

/// The write grants `user` may request, by name (none: the tools are not offered).
pub(crate) fn requestable(policy: &Policy, user: &str, groups: &[String]) -> Vec<String> {
    policy
        .grants()
        .iter()
        .filter(|g| matches!(g.gives, Gives::Write(_)) && g.requesters.contains(user, groups))
        .map(|g| g.name.clone())
        .collect()
}

/// The three tools, for a caller who may request `grants`.
pub(crate) fn tools(grants: &[String]) -> Vec<Tool> {
    let names = grants.join(", ");
    let human = "A human must approve it; you cannot approve anything.";
    vec![
        write_tool(
            REQUEST,
            format!(
                "Propose ONE write (evict, delete, restart, scale, cordon, uncordon) for a human \
                 to approve, with your justification. It is dry-run now (the answer is shown) \
                 and runs only after approval, once, exactly as proposed, with \
                 k8s_request_execute. Grants you may ask under: [{names}]. {human}"
            ),
            request_schema(),
            false,
        ),
        write_tool(
            STATUS,
            format!(
                "The state of an access request you made (pending, approved, denied, expired, used). {human}"
            ),
            id_schema(),
            false,
        ),
        write_tool(
            EXECUTE,
            "Run an approved write request once, exactly as approved; refused unless approved, \
             unused and within its time limit. Returns the API server's answer."
                .into(),
            id_schema(),
            true,
        ),
    ]
}

/// A tool that changes or may change the cluster: not read-only; `destructive` when it runs
/// the write.
fn write_tool(
    name: &'static str,
    description: String,
    schema: serde_json::Value,
    destructive: bool,
) -> Tool {
    let schema: JsonObject = match schema {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    let mut annotations = ToolAnnotations::new();
    annotations.read_only_hint = Some(false);
    annotations.destructive_hint = Some(destructive);
    annotations.open_world_hint = Some(false);
    Tool::new(name, description, Arc::new(schema)).with_annotations(annotations)
}

fn request_schema() -> serde_json::Value {
    let name = |what: &str| {
        json!({"type": "string", "minLength": 1, "maxLength": MAX_NAME_LEN,
               "pattern": "^[a-z0-9.-]+$", "description": what})
    };
    json!({
        "type": "object",
        "properties": {
            "action": {"type": "string",
                       "enum": ["evict", "delete", "restart", "scale", "cordon", "uncordon"]},
            "namespace": name("the object's namespace (omit for cordon and uncordon)"),
            "name": name("the pod, deployment, statefulset or node"),
            "params": {"type": "object", "additionalProperties": false, "properties": {
                "replicas": {"type": "integer", "minimum": 0, "maximum": MAX_REPLICAS,
                             "description": "for scale: the replica count"},
                "kind": {"type": "string", "enum": ["deployment", "statefulset"],
                         "description": "for restart and scale (default deployment)"},
            }},
            "justification": {"type": "string", "minLength": 1, "maxLength": MAX_REASON_LEN,
                              "description": "why, for the human who approves"},
        },
        "required": ["action", "name", "justification"],
        "additionalProperties": false,
    })
}

fn id_schema() -> serde_json::Value {
    json!({"type": "object", "additionalProperties": false, "required": ["id"],
           "properties": {"id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN,
                                 "pattern": "^[A-Za-z0-9]+$",
                                 "description": "the access request id"}}})
}

/// `k8s_request_write`: files the request under the first write grant that covers it.
pub(crate) async fn request(proxy: &Proxy, caller: &Caller, args: &RequestArgs) -> Reply {
    let Some(grants) = proxy.grants() else {
        return unavailable();
    };
    let id = &caller.identity;
    let action = args.action();
    let policy = proxy.policy();
    let Some(grant) = policy
        .writes_allowing(&id.user, &id.groups, &action)
        .first()
        .map(|g| g.name.clone())
    else {
        let grants = requestable(&policy, &id.user, &id.groups).join(", ");
        return Reply::refused(Refused::new(
            "denied",
            format!(
                "kubewitness: no write grant you may request covers this action; your write grants: [{grants}]"
            ),
        ));
    };
    let new = NewRequest {
        grant,
        reason: args.justification.clone(),
        action: Some(action.verb),
        namespace: action.namespace.clone(),
        name: Some(action.name.clone()),
        workload: action.workload,
        replicas: action.replicas,
        ..NewRequest::default()
    };
    let origin = caller.origin();
    let via = Via {
        upstream: proxy.upstream(),
        origin: &origin,
    };
    match grants.request(via, id, new).await {
        Ok(r) => {
            let mut text = show(&r);
            if r.state == crate::grants::State::Pending {
                text.push_str(&format!(
                    "\nA human must approve: `kubewitness access approve {} --reason …`. \
                     Then run k8s_request_execute with this id.",
                    r.id
                ));
            }
            Reply::text(text, Some(r.grant))
        }
        Err(e) => refused(&e),
    }
}

/// `k8s_request_status`.
pub(crate) async fn status(proxy: &Proxy, caller: &Caller, args: &IdArgs) -> Reply {
    let Some(grants) = proxy.grants() else {
        return unavailable();
    };
    match grants.get(&caller.identity, &args.id).await {
        Ok(r) => Reply::text(show(&r), Some(r.grant)),
        Err(e) => refused(&e),
    }
}

/// `k8s_request_execute`.
pub(crate) async fn execute(proxy: &Proxy, caller: &Caller, args: &IdArgs) -> Reply {
    let Some(grants) = proxy.grants() else {
        return unavailable();
    };
    let origin = caller.origin();
    let via = Via {
        upstream: proxy.upstream(),
        origin: &origin,
    };
    match grants.execute(via, &caller.identity, &args.id, None).await {
        Ok(done) => {
            let body = String::from_utf8_lossy(&done.body);
            let text = format!(
                "executed access request {}: the API server answered HTTP {}\n{body}",
                done.id,
                done.code.as_u16()
            );
            let mut reply = Reply::text(text, None);
            if !done.code.is_success() {
                reply.is_error = true;
                reply.decision = "upstreamError";
            }
            reply
        }
        Err(e) => refused(&e),
    }
}

/// What the agent sees of a request.
pub(crate) fn show(r: &AccessRequest) -> String {
    let state = serde_json::to_value(r.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut lines = vec![
        format!("id: {}", r.id),
        format!("grant: {} ({})", r.grant, r.kind),
        format!(
            "state: {state} (approvals {} of {})",
            r.approvals.len(),
            r.required_approvals
        ),
    ];
    if let Some(d) = &r.description {
        lines.push(format!("action: {d}"));
    }
    if let Some(d) = &r.digest {
        lines.push(format!("digest: {d}"));
    }
    lines.push(format!("justification: {}", r.reason));
    if let Some(e) = &r.expires_at {
        lines.push(format!("expires: {e}"));
    }
    if let Some(d) = &r.denial {
        lines.push(format!("denied by {}: {}", d.user, d.reason));
    }
    if let Some(a) = &r.dry_run {
        lines.push(format!("dry run: HTTP {}: {}", a.code, a.message));
    }
    if let Some(a) = &r.result {
        lines.push(format!("result: HTTP {}: {}", a.code, a.message));
    }
    lines.join("\n")
}

fn refused(e: &GrantError) -> Reply {
    let decision = match e {
        GrantError::Forbidden(_) => "denied",
        GrantError::Unavailable(_) => "upstreamError",
        _ => "invalid",
    };
    Reply::refused(Refused::new(decision, format!("kubewitness: {e}")))
}

fn unavailable() -> Reply {
    Reply::refused(Refused::new(
        "upstreamError",
        "kubewitness: access requests need a recording store",
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::args::parse;
    use super::*;

    fn args(v: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
        v.as_object().cloned()
    }

    #[test]
    fn write_arguments_are_strict() {
        let ok = parse::<RequestArgs>(args(json!({
            "action": "scale", "namespace": "shop", "name": "web",
            "params": {"replicas": 3, "kind": "statefulset"}, "justification": "load"
        })))
        .unwrap();
        let action = ok.action();
        assert_eq!(action.verb, WriteVerb::Scale);
        assert_eq!(action.workload, Some(Workload::StatefulSet));
        assert_eq!(action.replicas, Some(3));
        for (bad, why) in [
            (
                json!({"action": "patch", "name": "x", "justification": "j"}),
                "unknown variant `patch`",
            ),
            (
                json!({"action": "evict", "name": "x", "justification": " "}),
                "justification: 1 to",
            ),
            (
                json!({"action": "evict", "name": "x", "justification": "a\nb"}),
                "no control characters",
            ),
            (
                json!({"action": "evict", "name": "X", "justification": "j"}),
                "name: a Kubernetes name",
            ),
            (
                json!({"action": "scale", "name": "x", "justification": "j", "params": {"replicas": -1}}),
                "params.replicas: -1",
            ),
            (
                json!({"action": "scale", "name": "x", "justification": "j", "params": {"image": "y"}}),
                "unknown field `image`",
            ),
            (
                json!({"action": "evict", "name": "x", "justification": "j", "approve": true}),
                "unknown field `approve`",
            ),
            (
                json!({"action": "evict", "name": "x"}),
                "missing field `justification`",
            ),
        ] {
            let err = parse::<RequestArgs>(args(bad)).unwrap_err();
            assert!(err.contains(why), "{err} (wanted {why})");
        }
        assert!(parse::<IdArgs>(args(json!({"id": "01JD8Z6Q3X"}))).is_ok());
        for bad in [
            json!({"id": ""}),
            json!({"id": "../x"}),
            json!({"id": "a", "x": 1}),
        ] {
            assert!(parse::<IdArgs>(args(bad)).is_err());
        }
    }

    #[test]
    fn the_write_tools_never_include_an_approve_tool() {
        let tools = tools(&["evict-wedged".into()]);
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, [REQUEST, STATUS, EXECUTE]);
        let desc = tools[0].description.as_deref().unwrap();
        assert!(
            desc.contains("[evict-wedged]") && desc.contains("cannot approve"),
            "{desc}"
        );
        let schema = serde_json::Value::Object((*tools[0].input_schema).clone());
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["params"]["additionalProperties"],
            false
        );
        let execute = tools[2].annotations.as_ref().unwrap();
        assert_eq!(execute.destructive_hint, Some(true));
        assert_eq!(execute.read_only_hint, Some(false));
    }

    #[test]
    fn a_request_is_shown_with_its_state_and_dry_run() {
        let r = AccessRequest {
            id: "01JD8Z6Q3X".into(),
            grant: "evict-wedged".into(),
            kind: "write".into(),
            requester: "agent".into(),
            requester_groups: vec!["ai-agents".into()],
            reason: "wedged".into(),
            ttl_seconds: 900,
            created_at: "2026-12-03T14:00:00.000Z".into(),
            state: crate::grants::State::Pending,
            expires_at: None,
            approvals: Vec::new(),
            required_approvals: 1,
            denial: None,
            write: None,
            description: Some("evict pod shop/web-1".into()),
            digest: Some("sha256:ab".into()),
            dry_run: Some(crate::grants::Answer {
                code: 201,
                message: "Success".into(),
            }),
            result: None,
        };
        let text = show(&r);
        assert!(text.contains("state: pending (approvals 0 of 1)"), "{text}");
        assert!(text.contains("action: evict pod shop/web-1"), "{text}");
        assert!(text.contains("dry run: HTTP 201: Success"), "{text}");
        assert!(!text.contains("ai-agents"), "{text}");
    }
}
