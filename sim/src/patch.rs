//! PATCH bodies as the API server reads them: the content type picks the patch kind, then
//! the patch is applied to the object's JSON.
//!
//! * `application/merge-patch+json`: RFC 7386 (objects merge, `null` removes a key, anything
//!   else replaces);
//! * `application/strategic-merge-patch+json`: the same for maps; lists are replaced whole
//!   and `$`-directives (`$patch`, `$setElementOrder/…`, `$retainKeys`, …) are ignored. That
//!   is exact for every patch kubectl sends to the simulated cluster (rollout restart,
//!   cordon/uncordon, scale), none of which touches a list;
//! * `application/json-patch+json`: RFC 6902 `add`, `remove`, `replace` and `test`;
//! * anything else, `application/apply-patch+yaml` (server-side apply) included: `415`.

use serde_json::{Map, Value};

/// How deep a patch may nest; deeper patches are refused rather than recursed into.
pub(crate) const MAX_PATCH_DEPTH: usize = 64;

/// The most operations one JSON patch may carry.
pub(crate) const MAX_JSON_PATCH_OPS: usize = 1024;

/// The patch kinds the simulated server applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Merge,
    Strategic,
    Json,
}

/// Why a patch was refused: the `Status` code (`400`, `415`, `422`) and message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) code: u16,
    pub(crate) message: String,
}

fn refused(code: u16, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// The patch kind of a `Content-Type` (parameters such as `charset` ignored).
pub(crate) fn kind(content_type: &str) -> Result<Kind, Refused> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/merge-patch+json" => Ok(Kind::Merge),
        "application/strategic-merge-patch+json" => Ok(Kind::Strategic),
        "application/json-patch+json" => Ok(Kind::Json),
        _ => Err(refused(
            415,
            format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json-patch+json, application/merge-patch+json, \
                 application/strategic-merge-patch+json (content type {media:?}; the \
                 simulator does not implement server-side apply)"
            ),
        )),
    }
}

/// `target` patched with `body`, read as `kind`.
pub(crate) fn apply(kind: Kind, target: &Value, body: &[u8]) -> Result<Value, Refused> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| refused(400, format!("error decoding patch: {e}")))?;
    if depth(&patch) > MAX_PATCH_DEPTH {
        return Err(refused(
            400,
            format!("the patch nests deeper than {MAX_PATCH_DEPTH} levels"),
        ));
    }
    match kind {
        Kind::Merge | Kind::Strategic => {
            if !patch.is_object() {
                return Err(refused(400, "the patch is not a JSON object"));
            }
            Ok(merge(target, &patch, kind == Kind::Strategic))
        }
        Kind::Json => json_patch(target, &patch),
    }
}

fn depth(v: &Value) -> usize {
    // Iterative, so a hostile patch cannot overflow the stack measuring itself.
    let mut deepest = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        if d > MAX_PATCH_DEPTH {
            break;
        }
        match v {
            Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// RFC 7386 merge of `patch` into `target`; `strategic` drops `$`-directive keys.
fn merge(target: &Value, patch: &Value, strategic: bool) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if strategic && k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge(out.get(k).unwrap_or(&Value::Null), v, strategic);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// RFC 6902, the operations kubectl and client libraries send.
fn json_patch(target: &Value, patch: &Value) -> Result<Value, Refused> {
    let Some(ops) = patch.as_array() else {
        return Err(refused(400, "a JSON patch is a list of operations"));
    };
    if ops.len() > MAX_JSON_PATCH_OPS {
        return Err(refused(
            400,
            format!("a JSON patch of more than {MAX_JSON_PATCH_OPS} operations"),
        ));
    }
    let mut doc = target.clone();
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or_else(|| refused(400, "a JSON patch operation without a path"))?;
        let (parent, last) = split_pointer(path)?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| refused(400, format!("missing value for {path}")))
        };
        let missing = || refused(422, format!("the server rejected our request: no {path}"));
        match op["op"].as_str() {
            Some("test") => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(refused(422, format!("testing value {path} failed")));
                }
            }
            Some(kind @ ("add" | "replace" | "remove")) => {
                let container = doc.pointer_mut(&parent).ok_or_else(missing)?;
                match container {
                    Value::Object(m) => {
                        if kind != "add" && !m.contains_key(&last) {
                            return Err(missing());
                        }
                        if kind == "remove" {
                            m.remove(&last);
                        } else {
                            m.insert(last, value()?);
                        }
                    }
                    Value::Array(a) => {
                        let end = kind == "add" && last == "-";
                        let i = if end { a.len() } else { index(&last)? };
                        match kind {
                            "add" if i <= a.len() => a.insert(i, value()?),
                            "replace" if i < a.len() => a[i] = value()?,
                            "remove" if i < a.len() => drop(a.remove(i)),
                            _ => return Err(missing()),
                        }
                    }
                    _ => return Err(missing()),
                }
            }
            other => {
                return Err(refused(
                    400,
                    format!("unsupported JSON patch operation {other:?}"),
                ));
            }
        }
    }
    Ok(doc)
}

/// A JSON pointer's parent pointer and unescaped last token.
fn split_pointer(path: &str) -> Result<(String, String), Refused> {
    let Some((parent, last)) = path.rsplit_once('/') else {
        return Err(refused(400, format!("invalid JSON pointer {path:?}")));
    };
    if !parent.is_empty() && !parent.starts_with('/') {
        return Err(refused(400, format!("invalid JSON pointer {path:?}")));
    }
    Ok((
        parent.to_owned(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn index(token: &str) -> Result<usize, Refused> {
    token
        .parse()
        .map_err(|_| refused(400, format!("invalid array index {token:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(
            kind("application/strategic-merge-patch+json"),
            Ok(Kind::Strategic)
        );
        assert_eq!(
            kind("Application/Merge-Patch+JSON; charset=utf-8"),
            Ok(Kind::Merge)
        );
        assert_eq!(kind("application/json-patch+json"), Ok(Kind::Json));
        for other in ["application/json", "application/apply-patch+yaml", ""] {
            assert_eq!(kind(other).unwrap_err().code, 415, "{other}");
        }
    }

    #[test]
    fn merge_and_strategic_patches() {
        let node = json!({"spec": {"podCIDR": "x", "unschedulable": true}, "status": {}});
        let uncordon = br#"{"spec":{"unschedulable":null}}"#;
        assert_eq!(
            apply(Kind::Strategic, &node, uncordon).unwrap(),
            json!({"spec": {"podCIDR": "x"}, "status": {}})
        );
        let restart =
            br#"{"spec":{"template":{"metadata":{"annotations":{"a":"1"}}}},"$retainKeys":[]}"#;
        let out = apply(Kind::Strategic, &node, restart).unwrap();
        assert_eq!(out["spec"]["template"]["metadata"]["annotations"]["a"], "1");
        assert!(out.get("$retainKeys").is_none());
        let out = apply(Kind::Merge, &node, restart).unwrap();
        assert!(
            out.get("$retainKeys").is_some(),
            "merge patch keeps every key"
        );
        for bad in [&b"[1]"[..], b"{", b"\"x\""] {
            assert_eq!(apply(Kind::Merge, &node, bad).unwrap_err().code, 400);
        }
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(100),
            "1".to_owned() + &"}".repeat(100)
        );
        assert_eq!(
            apply(Kind::Merge, &node, deep.as_bytes()).unwrap_err().code,
            400
        );
    }

    #[test]
    fn json_patches() {
        let obj = json!({"spec": {"replicas": 1, "list": [1, 2]}});
        let ops = json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": 9},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "add", "path": "/spec/a~1b", "value": true},
        ]);
        let out = apply(Kind::Json, &obj, ops.to_string().as_bytes()).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"replicas": 3, "list": [2, 9], "a/b": true}})
        );
        for (ops, code) in [
            (
                json!([{"op": "test", "path": "/spec/replicas", "value": 2}]),
                422,
            ),
            (
                json!([{"op": "replace", "path": "/spec/nope", "value": 2}]),
                422,
            ),
            (json!([{"op": "move", "path": "/spec", "from": "/x"}]), 400),
            (json!([{"op": "add", "path": "spec", "value": 1}]), 400),
            (json!({"op": "add"}), 400),
        ] {
            let err = apply(Kind::Json, &obj, ops.to_string().as_bytes()).unwrap_err();
            assert_eq!(err.code, code, "{ops} {err:?}");
        }
    }
}
