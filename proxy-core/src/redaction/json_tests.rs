use bytes::Bytes;

use super::*;
use crate::redaction::build;

/// A synthetic AWS access key id, assembled at run time.
fn aws_key() -> String {
    ["AK", "IA", "Z7Q3W5E8R2T4Y6U1"].concat()
}

/// A synthetic database password, assembled at run time.
fn password() -> String {
    ["hunter", "2-", "synthetic"].concat()
}

fn redactor() -> Redactor {
    build(None, None).unwrap()
}

/// Redacts `input` cut into pieces at `cuts`; the output or the error.
fn run(input: &[u8], cuts: &[usize]) -> Result<Vec<u8>, JsonError> {
    let mut r = JsonRedactor::new(redactor());
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain([input.len()].iter()) {
        r.push(Bytes::copy_from_slice(&input[last..cut]), &mut out)?;
        last = cut;
    }
    r.finish()?;
    Ok(out.concat())
}

fn pod() -> String {
    let applied = serde_json::json!({
        "kind": "Pod",
        "spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": password()}]}]},
    })
    .to_string();
    serde_json::json!({
        "kind": "Pod",
        "metadata": {
            "name": "api-7",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": applied,
                "backup-key": aws_key(),
            },
        },
        "spec": {"containers": [{
            "name": "app",
            "image": "busybox:1.36",
            "args": ["--verbose", true, null, 1.5e3, -2],
            "env": [
                {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "DB_PASSWORD", "value": password()},
            ],
        }]},
    })
    .to_string()
}

fn assert_clean(out: &[u8]) {
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(!text.contains(&password()), "the password leaked: {text}");
    assert!(!text.contains(&aws_key()), "the key leaked: {text}");
    assert!(text.contains("[REDACTED:aws-access-key-id]"), "{text}");
    assert!(
        text.contains("\"debug\""),
        "a harmless value changed: {text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
    assert_eq!(v["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(v["spec"]["containers"][0]["args"][3], 1500.0);
    let applied = v["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap();
    let applied: serde_json::Value =
        serde_json::from_str(applied).expect("embedded JSON stays JSON");
    assert_eq!(applied["kind"], "Pod");
}

#[test]
fn env_values_annotations_and_embedded_json_are_redacted_in_place() {
    let input = pod();
    let out = run(input.as_bytes(), &[]).unwrap();
    assert_clean(&out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let masked = v["spec"]["containers"][0]["env"][1]["value"]
        .as_str()
        .unwrap();
    assert!(masked.contains("[REDACTED:"), "{masked}");
}

#[test]
fn every_split_gives_the_same_output() {
    let input = pod();
    let whole = run(input.as_bytes(), &[]).unwrap();
    for cut in 0..=input.len() {
        assert_eq!(
            run(input.as_bytes(), &[cut]).unwrap(),
            whole,
            "cut at {cut}"
        );
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(input.as_bytes(), &every).unwrap(), whole);
}

#[test]
fn clean_input_passes_through_unchanged() {
    let input =
        br#"{"kind":"PodList","items":[{"metadata":{"name":"a\"b"}},{}],"n":[[],{}],"t":false}"#;
    for cut in 0..=input.len() {
        assert_eq!(run(input, &[cut]).unwrap(), input.to_vec(), "cut at {cut}");
    }
}

#[test]
fn watch_events_are_newline_delimited_values() {
    let event = |n: usize| {
        format!(
            "{{\"type\":\"ADDED\",\"object\":{{\"metadata\":{{\"name\":\"p{n}\",\"annotations\":{{\"k\":\"{}\"}}}}}}}}\n",
            aws_key()
        )
    };
    let input: String = (0..3).map(event).collect();
    let out = run(input.as_bytes(), &[7, 100]).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(!text.contains(&aws_key()));
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["type"], "ADDED");
    }
}

#[test]
fn what_is_not_json_or_too_large_is_cut_off() {
    for bad in [
        &b"{\"a\":}"[..],
        b"{\"a\" 1}",
        b"[1,]x",
        b"{\"a\":tru}",
        b"{\"a\":nulll}",
        b"{\"a\":1",
        b"\"unterminated",
        b"{\"a\":\"x\ny\"}",
        b"]",
        b"{]",
        b"AKIA",
    ] {
        assert!(run(bad, &[]).is_err(), "{}", bad.escape_ascii());
    }
    let deep = "[".repeat(MAX_DEPTH + 1);
    assert!(run(deep.as_bytes(), &[]).is_err());
    let long_number = format!("[{}]", "1".repeat(MAX_SCALAR_LEN + 1));
    assert!(run(long_number.as_bytes(), &[]).is_err());
}

#[test]
fn a_string_longer_than_the_bound_is_refused_without_holding_more() {
    let mut r = JsonRedactor::new(redactor());
    let mut out = Vec::new();
    r.push(Bytes::from_static(b"{\"a\":\""), &mut out).unwrap();
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut failed = false;
    for _ in 0..(MAX_STRING_LEN / chunk.len() + 2) {
        if r.push(chunk.clone(), &mut out).is_err() {
            failed = true;
            break;
        }
        assert!(r.held_bytes() <= MAX_STRING_LEN);
    }
    assert!(failed);
}

/// A `PodList` of `n` pods, each with a planted password and key.
fn pod_list(n: usize) -> Vec<u8> {
    let mut out =
        br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":["#
            .to_vec();
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        let mut pod: serde_json::Value = serde_json::from_str(&pod()).unwrap();
        pod["metadata"]["name"] = serde_json::json!(format!("api-{i}"));
        out.extend_from_slice(pod.to_string().as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

#[test]
fn a_5000_pod_list_streams_with_bounded_state() {
    let input = pod_list(5000);
    let mut r = JsonRedactor::new(redactor());
    let (mut max_held, mut max_out, mut total) = (0, 0, 0);
    let started = std::time::Instant::now();
    for chunk in input.chunks(16 * 1024) {
        let mut out = Vec::new();
        r.push(Bytes::copy_from_slice(chunk), &mut out).unwrap();
        max_held = max_held.max(r.held_bytes());
        let emitted: usize = out.iter().map(Bytes::len).sum();
        max_out = max_out.max(emitted);
        total += emitted;
        for b in &out {
            let text = String::from_utf8_lossy(b);
            assert!(!text.contains(&password()) && !text.contains(&aws_key()));
        }
    }
    r.finish().unwrap();
    eprintln!(
        "5000 pods: {} bytes in, {total} out, at most {max_held} bytes held, at most {max_out} bytes out per 16 KiB chunk, {:?}",
        input.len(),
        started.elapsed()
    );
    assert!(input.len() > 2 << 20, "the list is large");
    // Only the string in progress is held: far less than one pod, let alone the list.
    assert!(max_held < 1024, "held {max_held} bytes");
    assert!(
        max_out < 64 * 1024,
        "a chunk's output grew to {max_out} bytes"
    );
}
