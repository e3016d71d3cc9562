//! What comes back from the backend before the caller sees it: series counted as the
//! `/api/v1/series` body streams past (no allocation, stop at the limit), string values
//! passed through the redactor, and a result cut to `maxResultBytes` with a warning.

use serde_json::Value;

/// The warning a cut result carries (Prometheus's own wording for a limited result).
pub const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// Counts the objects of the `data` array of a `/api/v1/series` answer as its bytes arrive:
/// every object opened at depth 2 (`{"status":…,"data":[{…},{…}]}`) is one series.
#[derive(Clone, Debug, Default)]
pub struct SeriesCounter {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Series seen so far.
    pub count: u64,
}

impl SeriesCounter {
    /// Feeds the next bytes of the body.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    if b == b'{' && self.depth == 2 {
                        self.count += 1;
                    }
                    self.depth += 1;
                }
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

/// Replaces every string in `value` (label names and values, help texts) with its redacted
/// form, except sample values (`[time, "1.5"]` pairs), which are numbers in string form.
pub fn redact(value: &mut Value, redactor: &redact::Redactor) -> usize {
    match value {
        Value::String(s) => {
            let (out, findings) = redactor.redact_all(s.as_bytes());
            if findings.is_empty() {
                return 0;
            }
            *s = String::from_utf8_lossy(&out).into_owned();
            findings.len()
        }
        Value::Array(items) if is_sample(items) => 0,
        Value::Array(items) => items.iter_mut().map(|v| redact(v, redactor)).sum(),
        Value::Object(map) => map
            .iter_mut()
            .filter(|(k, _)| !matches!(k.as_str(), "values" | "value" | "histograms"))
            .map(|(_, v)| redact(v, redactor))
            .sum(),
        _ => 0,
    }
}

fn is_sample(items: &[Value]) -> bool {
    matches!(items, [Value::Number(_), Value::String(_)])
}

/// Serialises `answer`, dropping entries from the end of its `data` (or `data.result`)
/// until the body fits in `max` bytes; a cut answer gets [`TRUNCATED_WARNING`]. `None`
/// when even an empty result does not fit. Each entry is measured once; nothing is copied.
pub fn fit(mut answer: Value, max: usize) -> Option<Vec<u8>> {
    let body = serde_json::to_vec(&answer).ok()?;
    if body.len() <= max {
        return Some(body);
    }
    drop(body);
    let list = std::mem::take(entries(&mut answer)?);
    let sizes: Vec<usize> = list
        .iter()
        .map(|e| serde_json::to_vec(e).map(|b| b.len()).unwrap_or(usize::MAX))
        .collect();
    warn_truncated(&mut answer);
    // The answer with an empty list, then each kept entry and a comma between entries.
    let mut used = serde_json::to_vec(&answer).ok()?.len();
    let mut keep = 0;
    for (i, size) in sizes.iter().enumerate() {
        let next = used
            .saturating_add(*size)
            .saturating_add(usize::from(i > 0));
        if next > max {
            break;
        }
        used = next;
        keep += 1;
    }
    if used > max {
        return None;
    }
    let mut list = list;
    list.truncate(keep);
    *entries(&mut answer)? = list;
    serde_json::to_vec(&answer).ok()
}

fn warn_truncated(answer: &mut Value) {
    if let Value::Object(map) = answer {
        let warnings = map
            .entry("warnings")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(w) = warnings {
            w.push(Value::String(TRUNCATED_WARNING.into()));
        }
    }
}

/// The list a response can be cut in: `data.result` (queries), `data` (series, labels).
fn entries(answer: &mut Value) -> Option<&mut Vec<Value>> {
    let data = answer.get_mut("data")?;
    if data.get("result").is_some() {
        return data.get_mut("result")?.as_array_mut();
    }
    data.as_array_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_counted_across_any_split() {
        let body = br#"{"status":"success","data":[{"__name__":"a","x":"{[\"}"},{"__name__":"b"},{"c":"}}}"}]}"#;
        for split in 0..body.len() {
            let mut c = SeriesCounter::default();
            c.feed(&body[..split]);
            c.feed(&body[split..]);
            assert_eq!(c.count, 3, "split at {split}");
        }
    }

    #[test]
    fn strings_are_redacted_but_samples_are_not() {
        let r = redact::RedactorBuilder::new()
            .fingerprint_key(b"k")
            .build()
            .unwrap();
        // Assembled, not a literal key (as in the redact crate's own example).
        let secret = format!("{}X", &["AKIA", "Q3EXAMPLE7TESTKEY"].concat()[..19]);
        let mut v = serde_json::json!({"data": {"result": [
            {"metric": {"__name__": "x", "key": secret.clone()}, "values": [[1, "2"]]}
        ]}});
        assert!(redact(&mut v, &r) >= 1);
        let text = v.to_string();
        assert!(!text.contains(&secret), "{text}");
        assert!(text.contains("[[1,\"2\"]]"), "{text}");
    }

    #[test]
    fn a_large_answer_is_cut_with_the_warning() {
        let result: Vec<Value> = (0..100)
            .map(|i| serde_json::json!({"metric": {"i": i.to_string()}, "value": [1, "1"]}))
            .collect();
        let answer =
            serde_json::json!({"status":"success","data":{"resultType":"vector","result":result}});
        let full = serde_json::to_vec(&answer).unwrap();
        assert_eq!(fit(answer.clone(), full.len()).unwrap(), full);
        let cut = fit(answer.clone(), 1000).unwrap();
        assert!(cut.len() <= 1000);
        // The longest prefix that fits: one more entry would not.
        let one_more = fit(answer, cut.len() + 40).unwrap();
        assert!(one_more.len() > cut.len(), "{}", one_more.len());
        let v: Value = serde_json::from_slice(&cut).unwrap();
        let kept = v["data"]["result"].as_array().unwrap().len();
        assert!(kept > 5 && kept < 100, "{kept}");
        assert_eq!(v["warnings"][0], TRUNCATED_WARNING);
        assert!(
            fit(
                serde_json::json!({"data": {"result": []}, "x": "y".repeat(50)}),
                10
            )
            .is_none()
        );
    }
}
