//! The protobuf form of the two self reviews kubectl sends (`kubectl auth can-i` posts
//! `application/vnd.kubernetes.protobuf`), read into their JSON form.
//!
//! The envelope is `k8s\0` and a `runtime.Unknown` (field 2: the object's bytes). Of the
//! object only `spec` (field 2) is read: for a `SelfSubjectAccessReview`,
//! `resourceAttributes` (1) and `nonResourceAttributes` (2); for a
//! `SelfSubjectRulesReview`, `namespace` (1). Every length is checked against what remains
//! before it is used; anything malformed is an error.

use serde_json::{Map, Value, json};

/// The protobuf envelope's magic prefix.
const MAGIC: &[u8] = b"k8s\0";

/// Field numbers of `ResourceAttributes`, in order.
const RESOURCE_FIELDS: &[&str] = &[
    "namespace",
    "verb",
    "group",
    "version",
    "resource",
    "subresource",
    "name",
];
/// Field numbers of `NonResourceAttributes`, in order.
const NON_RESOURCE_FIELDS: &[&str] = &["path", "verb"];

/// Reads the length-delimited fields of one message: `(field number, bytes)`; other wire
/// types are skipped.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        match tag & 7 {
            0 => {
                varint(&mut buf)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| "length too large")?;
                if len > buf.len() {
                    return Err("a field longer than its message".into());
                }
                let (field, rest) = buf.split_at(len);
                out.push((tag >> 3, field));
                buf = rest;
            }
            w => return Err(format!("unexpected protobuf wire type {w}")),
        }
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("a truncated varint")?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint longer than 10 bytes".into())
}

fn field(buf: &[u8], number: u64) -> Result<Option<&[u8]>, String> {
    Ok(fields(buf)?
        .into_iter()
        .find(|(n, _)| *n == number)
        .map(|(_, b)| b))
}

/// A message of string fields, named in field-number order.
fn strings(buf: &[u8], names: &[&str]) -> Result<Value, String> {
    let mut m = Map::new();
    for (n, bytes) in fields(buf)? {
        let Some(name) = usize::try_from(n)
            .ok()
            .and_then(|n| names.get(n.checked_sub(1)?))
        else {
            continue;
        };
        let s = std::str::from_utf8(bytes).map_err(|_| "a string that is not UTF-8")?;
        m.insert((*name).to_string(), json!(s));
    }
    Ok(Value::Object(m))
}

/// The `spec` of a protobuf self review, as JSON; `access` for a
/// `SelfSubjectAccessReview`, else a `SelfSubjectRulesReview`.
pub(super) fn spec(body: &[u8], access: bool) -> Result<Value, String> {
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or("not a Kubernetes protobuf body")?;
    let raw = field(unknown, 2)?.ok_or("an empty protobuf envelope")?;
    let spec = field(raw, 2)?.unwrap_or_default();
    let mut out = Map::new();
    if access {
        if let Some(r) = field(spec, 1)? {
            out.insert("resourceAttributes".into(), strings(r, RESOURCE_FIELDS)?);
        }
        if let Some(r) = field(spec, 2)? {
            out.insert(
                "nonResourceAttributes".into(),
                strings(r, NON_RESOURCE_FIELDS)?,
            );
        }
    } else if let Some(ns) = field(spec, 1)? {
        let ns = std::str::from_utf8(ns).map_err(|_| "a namespace that is not UTF-8")?;
        out.insert("namespace".into(), json!(ns));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(field: u8, bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![field << 3 | 2, u8::try_from(bytes.len()).unwrap()];
        v.extend_from_slice(bytes);
        v
    }

    #[test]
    fn an_access_review_is_read() {
        let attrs = [
            ld(1, b"shop"),
            ld(2, b"create"),
            ld(5, b"pods"),
            ld(6, b"exec"),
        ]
        .concat();
        let object = [ld(1, b""), ld(2, &ld(1, &attrs))].concat();
        let body = [MAGIC, &ld(1, b"typemeta"), &ld(2, &object)].concat();
        let spec = spec(&body, true).unwrap();
        assert_eq!(
            spec,
            json!({"resourceAttributes": {"namespace": "shop", "verb": "create", "resource": "pods", "subresource": "exec"}})
        );
        let rules = [MAGIC, &ld(2, &ld(2, &ld(1, b"shop")))].concat();
        assert_eq!(spec_of(&rules), json!({"namespace": "shop"}));
    }

    fn spec_of(body: &[u8]) -> Value {
        spec(body, false).unwrap()
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for bad in [&b"{}"[..], b"k8s\0\x12\x05ab", b"k8s\0\x12", b"k8s\0\x13"] {
            assert!(spec(bad, true).is_err(), "{}", bad.escape_ascii());
        }
    }
}
