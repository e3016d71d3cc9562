//! Base64-wrapped credentials, decoded only where the context or the shape says a credential
//! may be inside (see `redact/DESIGN.md`, "Base64-aware detection"):
//!
//! - every value under a Kubernetes Secret's `data:`/`stringData:` (YAML as `kubectl get -o
//!   yaml` prints it, JSON as the API server or `-o json` sends it, and the escaped JSON of a
//!   `last-applied-configuration` annotation). A data map is a Secret's when `kind: Secret`
//!   or a Secret `type:` follows it within [`EVIDENCE_MAX`], or when it follows a `kind:
//!   Secret` trigger within [`BLOCK_MAX`];
//! - a base64 run that decodes to a PEM private key (`LS0tLS1CRUdJTi…`, kubeconfig
//!   `client-key-data`);
//! - docker config `"auth"` values that decode to `user:password`, and base64 docker config
//!   JSON (`.dockerconfigjson`, `eyJhdXRocyI6…`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use memchr::memmem;

use super::Found;
use super::assign::is_placeholder;
use crate::hay::{Hay, NeedMore};
use crate::rules::Builtin;

/// Longest data map (or base64 run) examined from its trigger; a longer one is masked up to
/// the bound (fail closed).
pub(super) const BLOCK_MAX: usize = 32 * 1024;
/// How far after a data map its Secret evidence (`kind: Secret`, a Secret `type:`) is sought.
pub(super) const EVIDENCE_MAX: usize = 4 * 1024;
/// Forward window of the data-map detectors.
pub(super) const WINDOW: usize = BLOCK_MAX + EVIDENCE_MAX + 64;

/// Data-map keys (YAML and JSON, JSON inside a JSON string): trigger anchors and the
/// prefixes before them (`stri` starts every `string`; `gDat` is rare).
pub(super) const DATA_TRIGGERS: &[(&str, &[&str])] = &[
    ("data:", &[]),
    ("\"data\":", &[]),
    ("\\\"data\\\":", &[]),
    ("gData:", &["strin"]),
    ("gData\":", &["\"strin"]),
    ("gData\\\":", &["\\\"strin"]),
];
/// `kind: Secret` before its data map, without the `t`: a trigger must not contain another
/// (`Secret` is an assignment keyword). The JSON forms are anchored on `"Secre` after
/// `"kind":` (`"kin` starts every object).
pub(super) const KIND_TRIGGERS: &[(&str, &[&str])] = &[
    ("kind: Secre", &[]),
    ("\"Secre", &["\"kind\":", "\"kind\": "]),
];

const SECRET_TYPES: &[&[u8]] = &[
    b"Opaque",
    b"kubernetes.io/",
    b"bootstrap.kubernetes.io/",
    b"helm.sh/",
];

/// Pushes the value `[start, end)` of a data map unless it is a placeholder (an already
/// redacted value stays as it is).
fn push_value(out: &mut Vec<Found>, hay: Hay<'_>, start: usize, end: usize) {
    if end > start && !is_placeholder(hay.slice(start, end)) {
        out.push(span(start, end, Builtin::KubernetesSecretData));
    }
}

fn span(start: usize, end: usize, rule: Builtin) -> Found {
    Found {
        start,
        end,
        rule: rule.idx(),
    }
}

/// The bytes from `from` up to `from + max` that are buffered, and whether that is all of
/// them (bound reached or end of stream).
fn visible(hay: Hay<'_>, from: usize, max: usize) -> (&[u8], bool) {
    let end = hay.bytes.len().min(from + max);
    let from = from.min(end);
    (&hay.bytes[from..end], end == from + max || hay.eof)
}

/// Indentation of the key at `at` when only spaces precede it on its line.
fn key_indent(hay: Hay<'_>, at: usize) -> Option<usize> {
    let mut j = at;
    while j > 0 && at - j < 64 && hay.bytes[j - 1] == b' ' {
        j -= 1;
    }
    (j == 0 || hay.bytes[j - 1] == b'\n').then_some(at - j)
}

/// A data-map trigger: YAML block map or JSON object, masked when it belongs to a Secret.
pub(super) fn data_map(hay: Hay<'_>, at: usize, end: usize) -> Result<Vec<Found>, NeedMore> {
    let lit = hay.slice(at, end);
    let (spans, block_end, bounded) = match lit[0] {
        b'"' | b'\\' => json_map(hay, end, lit[0] == b'\\', usize::MAX)?,
        _ => match key_indent(hay, at) {
            Some(indent) => yaml_map(hay, end, indent, usize::MAX)?,
            None => return Ok(Vec::new()),
        },
    };
    if spans.is_empty() || bounded {
        return Ok(spans);
    }
    let evidence = match lit[0] {
        b'"' | b'\\' => json_evidence(hay, block_end)?,
        _ => yaml_evidence(hay, block_end, key_indent(hay, at).unwrap_or(0))?,
    };
    Ok(if evidence { spans } else { Vec::new() })
}

/// A `kind: Secret` trigger: the data maps that follow, up to the next `kind` or the bound.
pub(super) fn after_kind(hay: Hay<'_>, at: usize, end: usize) -> Result<Vec<Found>, NeedMore> {
    if hay.at(end)? != Some(b't') {
        return Ok(Vec::new());
    }
    let end = end + 1;
    let json = hay.bytes[at] == b'"';
    let (stop_lit, keys): (&[u8], &[&[u8]]) = match json {
        true => (b"\"kind\":", &[b"\"data\":", b"\"stringData\":"]),
        false => (b"\nkind:", &[b"data:", b"stringData:"]),
    };
    let (view, complete) = visible(hay, end, BLOCK_MAX);
    let stop = memmem::find(view, stop_lit)
        .into_iter()
        .chain(if json {
            None
        } else {
            memmem::find(view, b"\n---")
        })
        .min();
    if stop.is_none() && !complete {
        return Err(NeedMore);
    }
    let limit = end + stop.unwrap_or(view.len());
    let mut out = Vec::new();
    let mut from = end;
    while from < limit {
        let next = keys
            .iter()
            .filter_map(|k| memmem::find(&hay.bytes[from..limit], k).map(|p| (p, k.len())))
            .min();
        let Some((p, len)) = next else { break };
        let (key_at, key_end) = (from + p, from + p + len);
        let (spans, block_end, _) = match (json, key_indent(hay, key_at)) {
            (true, _) => json_map(hay, key_end, false, end + BLOCK_MAX)?,
            (false, Some(indent)) => yaml_map(hay, key_end, indent, end + BLOCK_MAX)?,
            (false, None) => (Vec::new(), key_end, false),
        };
        out.extend(spans);
        from = block_end.max(key_end);
    }
    Ok(out)
}

/// The values of a YAML block map after `data:` (key at `indent`): spans, end, bound hit.
fn yaml_map(
    hay: Hay<'_>,
    colon_end: usize,
    indent: usize,
    outer: usize,
) -> Result<(Vec<Found>, usize, bool), NeedMore> {
    let mut out = Vec::new();
    let rest = hay.run(colon_end, 8, |b| b == b' ')?;
    let mut i = colon_end + rest;
    match hay.at(i)? {
        Some(b'\n') => i += 1,
        Some(b'\r') if hay.at(i + 1)? == Some(b'\n') => i += 2,
        _ => return Ok((out, i, false)),
    }
    let limit = (colon_end + BLOCK_MAX).min(outer);
    // (indent of the entry whose block scalar is open, start of its first line)
    let mut scalar: Option<usize> = None;
    loop {
        if i >= limit {
            return Ok((out, limit, true));
        }
        let ind = hay.run(i, limit - i, |b| b == b' ')?;
        let line_len = hay.run(i + ind, limit - i - ind, |b| b != b'\n')?;
        let (text_start, text_end) = (i + ind, i + ind + line_len);
        let blank = line_len == 0 || (line_len == 1 && hay.bytes[text_start] == b'\r');
        if hay.at(text_end)?.is_none() && line_len == 0 {
            return Ok((out, i, false));
        }
        if !blank && ind <= indent {
            return Ok((out, i, false));
        }
        if let Some(entry) = scalar {
            if blank || ind > entry {
                if !blank {
                    push_value(
                        &mut out,
                        hay,
                        text_start,
                        trim_cr(hay, text_start, text_end),
                    );
                }
                i = text_end + 1;
                continue;
            }
            scalar = None;
        }
        if !blank {
            let line = hay.slice(text_start, text_end);
            if let Some(c) =
                memmem::find(line, b": ").or_else(|| line.ends_with(b":").then(|| line.len() - 1))
            {
                let v0 = text_start + c + 1;
                let v0 = v0
                    + hay
                        .slice(v0, text_end)
                        .iter()
                        .take_while(|&&b| b == b' ')
                        .count();
                let v1 = trim_cr(hay, v0, text_end);
                let mut v = hay.slice(v0, v1);
                if v.first() == Some(&b'|') || v.first() == Some(&b'>') {
                    scalar = Some(ind);
                } else if !v.is_empty() {
                    let (mut s, mut e) = (v0, v1);
                    if v.len() >= 2 && matches!(v[0], b'"' | b'\'') && v.last() == Some(&v[0]) {
                        (s, e) = (s + 1, e - 1);
                        v = hay.slice(s, e);
                    }
                    push_value(&mut out, hay, s, e);
                }
            }
        }
        if hay.at(text_end)?.is_none() {
            return Ok((out, text_end, false));
        }
        i = text_end + 1;
    }
}

fn trim_cr(hay: Hay<'_>, start: usize, end: usize) -> usize {
    let mut e = end;
    while e > start && matches!(hay.bytes[e - 1], b'\r' | b' ') {
        e -= 1;
    }
    e
}

/// `kind: Secret` or a Secret `type:` at the map's indentation before the object ends.
fn yaml_evidence(hay: Hay<'_>, from: usize, indent: usize) -> Result<bool, NeedMore> {
    let (view, complete) = visible(hay, from, EVIDENCE_MAX);
    let mut lines = view.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        if lines.peek().is_none() && !complete {
            return Err(NeedMore);
        }
        let ind = line.iter().take_while(|&&b| b == b' ').count();
        let text = &line[ind..];
        if text.is_empty() {
            continue;
        }
        if ind < indent || text.starts_with(b"---") {
            return Ok(false);
        }
        if ind == indent {
            if let Some(kind) = text.strip_prefix(b"kind: ") {
                return Ok(kind.starts_with(b"Secret"));
            }
            if let Some(ty) = text.strip_prefix(b"type: ") {
                let ty = ty.strip_prefix(b"\"").unwrap_or(ty);
                if SECRET_TYPES.iter().any(|t| ty.starts_with(t)) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// The string values of a JSON object after `"data":` (quotes escaped as `\"` when
/// `escaped`): spans, end, bound hit.
fn json_map(
    hay: Hay<'_>,
    colon_end: usize,
    escaped: bool,
    outer: usize,
) -> Result<(Vec<Found>, usize, bool), NeedMore> {
    let mut out = Vec::new();
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut i = colon_end + hay.run(colon_end, 64, ws)?;
    if hay.at(i)? != Some(b'{') {
        return Ok((out, i, false));
    }
    i += 1;
    let limit = (colon_end + BLOCK_MAX).min(outer);
    let quote: &[u8] = if escaped { b"\\\"" } else { b"\"" };
    let mut want_value = false;
    loop {
        if i >= limit {
            return Ok((out, limit, true));
        }
        i += hay.run(i, limit - i, |b| ws(b) || b == b',')?;
        match hay.at(i)? {
            None => return Ok((out, i, false)),
            Some(b'}') => return Ok((out, i + 1, false)),
            Some(b':') => {
                i += 1;
                want_value = true;
                continue;
            }
            _ => {}
        }
        if !hay.has(i, quote)? {
            // Not a string map (a number, a nested object): not a Secret's data.
            return Ok((Vec::new(), i, false));
        }
        let s = i + quote.len();
        let mut j = s;
        loop {
            if j >= limit {
                // Fail closed: the value cut by the bound is masked up to it.
                if want_value {
                    push_value(&mut out, hay, s, limit);
                }
                return Ok((out, limit, true));
            }
            match hay.at(j)? {
                None => return Ok((out, j, false)),
                Some(b'\\') if escaped && hay.has(j, b"\\\"")? => break,
                Some(b'\\') if escaped => j += 2 + usize::from(hay.at(j + 1)? == Some(b'\\')),
                Some(b'\\') => j += 2,
                Some(b'"') if !escaped => break,
                Some(_) => j += 1,
            }
        }
        if want_value {
            push_value(&mut out, hay, s, j);
        }
        want_value = false;
        i = j + quote.len();
    }
}

/// The kind named by [`json_evidence`].
const SECRET: &[u8] = b"Secret";

/// The first `"kind"` or `"type"` of the enclosing object after the map says Secret.
fn json_evidence(hay: Hay<'_>, from: usize) -> Result<bool, NeedMore> {
    let (view, complete) = visible(hay, from, EVIDENCE_MAX);
    let mut depth = 0i32;
    for (k, &b) in view.iter().enumerate() {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth < 0 {
                    return Ok(false);
                }
            }
            b'k' | b't' if depth == 0 => {
                let rest = &view[k..];
                let value = |key: &[u8]| {
                    let r = rest.strip_prefix(key)?;
                    let r = r.strip_prefix(b"\\\"").or_else(|| r.strip_prefix(b"\""))?;
                    let r = r.trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
                    let r = r.strip_prefix(b"\\\"").or_else(|| r.strip_prefix(b"\""))?;
                    Some(r)
                };
                if let Some(v) = value(b"kind") {
                    // The buffered bytes may end inside the kind's value (`"kind":"Secr`):
                    // deciding on that prefix would say "not a Secret" where the whole stream
                    // says "Secret", and release the map's values unmasked.
                    if !complete && v.len() < SECRET.len() && SECRET.starts_with(v) {
                        return Err(NeedMore);
                    }
                    return Ok(v.starts_with(SECRET));
                }
                if value(b"type").is_some_and(|v| SECRET_TYPES.iter().any(|t| v.starts_with(t))) {
                    return Ok(true);
                }
            }
            _ => {}
        }
    }
    match complete {
        true => Ok(false),
        false => Err(NeedMore),
    }
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Decodes the first `n` (a multiple of 4) base64 bytes of a run.
fn decode_head(run: &[u8], n: usize) -> Option<Vec<u8>> {
    let n = run.len().min(n) / 4 * 4;
    STANDARD.decode(&run[..n]).ok()
}

/// `LS0tLS1CRUdJTi…`: base64 of `-----BEGIN …PRIVATE KEY-----`; the whole run is masked.
pub(super) fn base64_pem(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if hay.before(at).is_some_and(|b| is_b64(b) && b != b'=') {
        return Ok(None);
    }
    let n = hay.run(at, BLOCK_MAX, is_b64)?;
    let head = decode_head(hay.slice(at, at + n), 96).unwrap_or_default();
    let label = head.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok((memmem::find(label, b"PRIVATE KEY").is_some())
        .then(|| span(at, at + n, Builtin::Base64PrivateKey)))
}

/// `eyJ…` that is no JWT: base64 of a docker config (`{"auths"…`) is masked whole.
pub(super) fn base64_docker_config(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    let n = hay.run(at, BLOCK_MAX, is_b64)?;
    let head = decode_head(hay.slice(at, at + n), 32).unwrap_or_default();
    let compact: Vec<u8> = head
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    Ok((compact.starts_with(b"{\"auths\"") && n >= 40)
        .then(|| span(at, at + n, Builtin::DockerConfigAuth)))
}

/// Docker config `"auth": "<base64 of user:password>"`.
pub(super) fn docker_auth(hay: Hay<'_>, end: usize) -> Result<Option<Found>, NeedMore> {
    let ws = |b: u8| b == b' ' || b == b'\t';
    let mut i = end + hay.run(end, 8, ws)?;
    if hay.at(i)? != Some(b':') {
        return Ok(None);
    }
    i += 1;
    i += hay.run(i, 8, ws)?;
    if hay.at(i)? != Some(b'"') {
        return Ok(None);
    }
    let s = i + 1;
    let n = hay.run(s, 1024, is_b64)?;
    if n < 8 || hay.at(s + n)? != Some(b'"') {
        return Ok(None);
    }
    let decoded = STANDARD.decode(hay.slice(s, s + n)).unwrap_or_default();
    let ok = decoded
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|c| c + 1 < decoded.len());
    Ok(ok.then(|| span(s, s + n, Builtin::DockerConfigAuth)))
}
