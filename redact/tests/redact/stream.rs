//! Streaming: chunked == whole at every split, planted secrets never survive,
//! the carry-over bound holds, pathological input fails closed, clean bytes
//! are not copied.

use bytes::Bytes;
use proptest::prelude::*;
use redact::{RedactorBuilder, RulesFile};

use crate::support::{B64URL, Gen, all_secrets, chunked, contains, decoys, redactor};

fn corpus(seed: u64) -> (String, Vec<String>) {
    let mut g = Gen::new(seed);
    let mut text = String::new();
    let mut secrets = Vec::new();
    let decoys = decoys(&mut g);
    for (i, p) in all_secrets(&mut g).into_iter().enumerate() {
        text.push_str(&decoys[i % decoys.len()]);
        text.push_str(&p.text);
        secrets.push(p.secret);
    }
    (text, secrets)
}

#[test]
fn split_at_every_offset_equals_whole() {
    let r = redactor();
    let (text, secrets) = corpus(17);
    let input = text.as_bytes();
    let whole = r.redact_all(input);
    for s in &secrets {
        assert!(!contains(&whole.0, s), "secret survived: {s}");
    }
    for cut in 0..=input.len() {
        assert_eq!(
            chunked(&r, input, &[cut]),
            whole,
            "differs when split at {cut}"
        );
    }
}

#[test]
fn two_cuts_around_every_secret_equal_whole() {
    let r = redactor();
    let (text, _) = corpus(23);
    let input = text.as_bytes();
    let whole = r.redact_all(input);
    for a in (0..input.len()).step_by(7) {
        for b in [a + 1, a + 3, a + 40, a + 300] {
            assert_eq!(chunked(&r, input, &[a, b]), whole, "cuts {a},{b}");
        }
    }
}

#[test]
fn byte_at_a_time_equals_whole() {
    let r = redactor();
    let (text, _) = corpus(29);
    let input = text.as_bytes();
    let cuts: Vec<usize> = (1..input.len()).collect();
    assert_eq!(chunked(&r, input, &cuts), r.redact_all(input));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_text_and_splits(seed in any::<u64>(), words in prop::collection::vec("[ -~\n]{0,24}", 0..40), cuts in prop::collection::vec(0usize..4096, 0..12)) {
        let r = redactor();
        let mut g = Gen::new(seed);
        let secrets = all_secrets(&mut g);
        let mut text = String::new();
        let mut planted = Vec::new();
        for (i, w) in words.iter().enumerate() {
            text.push_str(w);
            text.push(' ');
            if i % 3 == 0 {
                let p = &secrets[(g.next() % secrets.len() as u64) as usize];
                text.push('\n');
                text.push_str(&p.text);
                planted.push(p.secret.clone());
            }
        }
        let input = text.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let whole = r.redact_all(input);
        let parts = chunked(&r, input, &cuts);
        prop_assert_eq!(&parts, &whole);
        for s in &planted {
            prop_assert!(!contains(&whole.0, s), "planted secret {} survived in {}", s, String::from_utf8_lossy(&whole.0));
        }
    }

    #[test]
    fn arbitrary_bytes_chunked_equals_whole(input in prop::collection::vec(prop::sample::select(b"AKIA ghp_ eyJ.:=/@-_\"'\npassword token Key sk- -----BEGIN PRIVATE KEY-----xyz0123".to_vec()), 0..600), cuts in prop::collection::vec(0usize..600, 0..8)) {
        let r = redactor();
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(chunked(&r, &input, &cuts), r.redact_all(&input));
    }
}

#[test]
fn pem_block_spanning_many_chunks_is_masked() {
    let r = redactor();
    let mut g = Gen::new(4);
    let lines: Vec<String> = (0..60).map(|_| g.pick(B64URL, 64)).collect();
    let label = ["EC PRIV", "ATE KEY"].concat();
    let text = format!(
        "key:\n-----BEGIN {label}-----\n{}\n-----END {label}-----\ndone\n",
        lines.join("\n")
    );
    let cuts: Vec<usize> = (1..text.len()).step_by(50).collect();
    let (out, findings) = chunked(&r, text.as_bytes(), &cuts);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "key:\n[REDACTED:private-key]\ndone\n"
    );
    assert_eq!(findings.len(), 1);
}

#[test]
fn unterminated_private_key_fails_closed_within_the_bound() {
    let r = redactor();
    let mut g = Gen::new(8);
    let label = ["RSA PRIV", "ATE KEY"].concat();
    let mut text = format!("-----BEGIN {label}-----\n");
    let mut lines = Vec::new();
    while text.len() < 3 * redact::PEM_MAX {
        let l = g.pick(B64URL, 64);
        text.push_str(&l);
        text.push('\n');
        lines.push(l);
    }
    let cuts: Vec<usize> = (1..text.len()).step_by(997).collect();
    let (out, findings) = chunked(&r, text.as_bytes(), &cuts);
    assert_eq!(
        (out.clone(), findings.clone()),
        r.redact_all(text.as_bytes())
    );
    // The first PEM_MAX bytes are masked though no END line ever came.
    assert_eq!(findings[0].offset, 0);
    assert_eq!(findings[0].len, redact::PEM_MAX as u64);
    let masked_lines = lines.iter().take_while(|l| !contains(&out, l)).count();
    assert!(
        masked_lines * 65 >= redact::PEM_MAX - 100,
        "only {masked_lines} lines masked"
    );
}

#[test]
fn endless_overlapping_secrets_are_masked_in_bounded_pieces() {
    // Each keyword hit's match starts inside the previous one: one region
    // that never closes. It is masked in MAX_REGION pieces, never released.
    let yaml = "rules:\n  - id: chain\n    regex: 'k[a-z]{0,100}'\n    keywords: [k]\n";
    let r = RedactorBuilder::new()
        .rules(RulesFile::from_yaml(yaml).unwrap())
        .build()
        .unwrap();
    let text = "k".repeat(300_000);
    let cuts: Vec<usize> = (1..text.len()).step_by(4093).collect();
    let (out, findings) = chunked(&r, text.as_bytes(), &cuts);
    assert_eq!(
        (out.clone(), findings.clone()),
        r.redact_all(text.as_bytes())
    );
    assert!(findings.len() > 1, "region not split into pieces");
    assert!(findings.iter().all(|f| f.len <= redact::MAX_REGION as u64));
    assert_eq!(
        findings.iter().map(|f| f.len).sum::<u64>(),
        text.len() as u64
    );
    assert!(
        !out.contains(&b'k'),
        "pathological input released unchecked"
    );
}

#[test]
fn repeated_keys_are_linear_and_bounded() {
    let r = redactor();
    let text = "password=".repeat(100_000) + &"token=".repeat(100_000);
    let cuts: Vec<usize> = (1..text.len()).step_by(4093).collect();
    let (out, findings) = chunked(&r, text.as_bytes(), &cuts);
    assert_eq!((out, findings.clone()), r.redact_all(text.as_bytes()));
    assert!(!findings.is_empty());
}

#[test]
fn carry_over_stays_small_on_clean_text() {
    let r = redactor();
    let mut g = Gen::new(12);
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let chunk: String = decoys(&mut g).concat();
        stream.push(Bytes::from(chunk), &mut out, &mut findings);
        assert!(stream.held_bytes() < 64, "held {}", stream.held_bytes());
    }
    assert!(findings.is_empty());
}

#[test]
fn clean_chunks_are_released_without_copying() {
    let r = redactor();
    let text: String = decoys(&mut Gen::new(1)).concat().repeat(20);
    let input = Bytes::from(text);
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    stream.push(input.clone(), &mut out, &mut findings);
    stream.finish(&mut out, &mut findings);
    assert!(findings.is_empty());
    assert_eq!(out.concat(), input.to_vec());
    for b in &out {
        assert!(
            range.contains(&(b.as_ptr() as usize)),
            "output chunk was copied"
        );
    }
}

#[test]
fn push_after_finish_releases_nothing() {
    let r = redactor();
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    stream.finish(&mut out, &mut findings);
    stream.push(
        Bytes::from_static(b"password=hunter2"),
        &mut out,
        &mut findings,
    );
    assert!(out.is_empty());
}

/// Pushes `chunks`, calling `flush_idle` after each, then finishes.
fn with_idle_flushes(r: &redact::Redactor, chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>, usize) {
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    let mut held_after_first = 0;
    for (i, c) in chunks.iter().enumerate() {
        stream.push(Bytes::copy_from_slice(c), &mut out, &mut findings);
        stream.flush_idle(&mut out, &mut findings);
        assert!(stream.held_bytes() <= r.max_carry());
        if i == 0 {
            held_after_first = stream.held_bytes();
        }
    }
    let before_finish = out.concat();
    stream.finish(&mut out, &mut findings);
    (before_finish, out.concat(), held_after_first)
}

#[test]
fn an_idle_flush_releases_clean_interactive_output_at_once() {
    let r = redactor();
    for text in ["$ ", "24 80\r\n", "hello world\n", "sh-5.2# ", "total 0\n"] {
        let (shown, all, held) = with_idle_flushes(&r, &[text.as_bytes()]);
        assert_eq!(shown, text.as_bytes(), "{text:?} was held back");
        assert_eq!(all, text.as_bytes());
        assert_eq!(held, 0);
    }
}

#[test]
fn complete_secrets_are_still_masked_when_flushed_after_their_line() {
    let r = redactor();
    let mut g = Gen::new(7);
    for p in all_secrets(&mut g) {
        let line = format!("{}\n", p.text);
        let (_, all, _) = with_idle_flushes(&r, &[line.as_bytes(), b"next line\n"]);
        assert!(
            !contains(&all, &p.secret),
            "{} survived an idle flush",
            p.rule
        );
    }
}

#[test]
fn an_open_private_key_block_stays_held_across_a_pause() {
    let r = redactor();
    let begin = format!("-----BEGIN {}-----\n", ["PRIVATE", "KEY"].join(" "));
    let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n".repeat(3);
    let end = format!("-----END {}-----\n", ["PRIVATE", "KEY"].join(" "));
    let first = format!("key:\n{begin}{body}");
    let (shown, all, held) = with_idle_flushes(&r, &[first.as_bytes(), end.as_bytes()]);
    assert!(held > 0, "the open block was released on the pause");
    assert!(!contains(&shown, "MIIEvQIBADANBgkq"));
    assert!(!contains(&all, "MIIEvQIBADANBgkq"));
    assert!(contains(&all, "[REDACTED:private-key]"));
}

#[test]
fn push_holds_only_what_a_trigger_could_still_start() {
    let r = redactor();
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    // A keystroke's echo and a prompt no trigger can start are released by `push` itself.
    for (chunk, held) in [("l", 0), ("s -la\r\n$ ", 0), ("echo AK", 2), ("Q", 0)] {
        stream.push(Bytes::from(chunk), &mut out, &mut findings);
        assert_eq!(stream.held_bytes(), held, "after {chunk:?}");
        assert!(stream.holds_only_trigger_start(), "after {chunk:?}");
    }
    assert_eq!(out.concat(), b"ls -la\r\n$ echo AKQ");
    // An undecided hit is more than a trigger's start.
    stream.push(Bytes::from("password=hun"), &mut out, &mut findings);
    assert!(stream.held_bytes() > 0);
    assert!(!stream.holds_only_trigger_start());
}

#[test]
fn a_pause_anywhere_in_a_secret_never_lets_the_secret_through() {
    let r = redactor();
    let mut g = Gen::new(11);
    for p in all_secrets(&mut g) {
        let line = format!("out: {}\n", p.text);
        for cut in 1..line.len() {
            if !line.is_char_boundary(cut) {
                continue;
            }
            let (a, b) = line.split_at(cut);
            let (shown, all, _) = with_idle_flushes(&r, &[a.as_bytes(), b.as_bytes()]);
            assert!(
                !contains(&all, &p.secret),
                "{} survived a pause at {cut}",
                p.rule
            );
            assert!(all.starts_with(&shown));
        }
    }
}

#[test]
fn a_trigger_split_by_a_pause_still_masks_what_follows_it() {
    let r = redactor();
    let key = format!("{}X", &["AKIA", "Q3EXAMPLE7TESTKEY"].concat()[..19]);
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    stream.push(Bytes::from("id AK"), &mut out, &mut findings);
    stream.flush_idle(&mut out, &mut findings);
    // The trigger's start is shown on the pause: it is not secret.
    assert_eq!(out.concat(), b"id AK");
    assert_eq!(stream.held_bytes(), 0);
    stream.push(
        Bytes::from(format!("{}\n", &key[2..])),
        &mut out,
        &mut findings,
    );
    stream.finish(&mut out, &mut findings);
    assert_eq!(out.concat(), b"id AK[REDACTED:aws-access-key-id]\n");
    assert_eq!((findings[0].offset, findings[0].len), (5, 18));
}

#[test]
fn user_rules_that_reach_back_before_their_keyword_are_not_flushed_eagerly() {
    let rules = RulesFile::from_yaml(
        "rules:\n- id: internal\n  regex: '[a-f0-9]{16}\\.ticket'\n  keywords: [ticket]\n",
    )
    .unwrap();
    let r = RedactorBuilder::new().rules(rules).build().unwrap();
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    stream.push(Bytes::from("id 0123456789abcdef"), &mut out, &mut findings);
    assert!(stream.held_bytes() > 0);
    assert!(!stream.holds_only_trigger_start());
}

#[test]
fn a_pause_decides_a_secret_whose_value_has_ended() {
    let r = redactor();
    let value = ["hun", "ter", "2"].concat();
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    stream.push(Bytes::from("db password=hun"), &mut out, &mut findings);
    stream.push(
        Bytes::from(format!("{}\n", &value[3..])),
        &mut out,
        &mut findings,
    );
    // Too few bytes yet for the scan to retry on its own; the pause decides it.
    stream.flush_idle(&mut out, &mut findings);
    assert_eq!(stream.held_bytes(), 0);
    let shown = String::from_utf8(out.concat()).unwrap();
    assert!(shown.starts_with("db password=[REDACTED:"), "{shown}");
    assert!(!shown.contains(&value));
}

#[test]
fn secret_between_two_secret_manifests_is_masked_in_every_split() {
    // A `kind: Secret` trigger reads ahead to the next manifest's data map; the scan must
    // not resume after those values, or the session token between is never examined.
    let r = redactor();
    let mut g = Gen::new(31);
    let b64 = |g: &mut Gen, n| g.pick(B64URL, n).replace(['-', '_'], "+");
    let token = format!("{}{}", ["IQoJb3Jp", "Z2luX2Vj"].concat(), b64(&mut g, 300));
    let first = crate::corpus::k8s::secret_lines(&b64(&mut g, 24)).swap_remove(0);
    let second = crate::corpus::k8s::secret_lines(&b64(&mut g, 24)).swap_remove(0);
    let text = format!("{first}   \nvalue={token}\n   \n{second}");
    let input = text.as_bytes();
    let whole = r.redact_all(input);
    assert!(
        !contains(&whole.0, &token),
        "{}",
        String::from_utf8_lossy(&whole.0)
    );
    for cut in 0..=input.len() {
        assert_eq!(chunked(&r, input, &[cut]), whole, "split at {cut}");
    }
}

#[test]
fn a_secret_inside_a_malformed_data_map_is_masked_in_every_split() {
    // Found by the fuzzer: a JSON key running over lines holds a bearer token; the scan
    // must not resume after the map's last value, or the token's trigger is never examined.
    let r = redactor();
    let token = Gen::new(37).alnum(40);
    let text = format!(
        "{{\"data\":{{\"\nAuthorization: Bearer {token}\na\":\"YQ==\"}},\"type\":\"Opaque\"}}\n"
    );
    let input = text.as_bytes();
    let whole = r.redact_all(input);
    assert!(
        !contains(&whole.0, &token),
        "{}",
        String::from_utf8_lossy(&whole.0)
    );
    assert!(contains(&whole.0, "[REDACTED:kubernetes-secret-data]"));
    for cut in 0..=input.len() {
        assert_eq!(chunked(&r, input, &[cut]), whole, "split at {cut}");
    }
}

#[test]
fn json_secret_kind_far_after_its_data_map_is_masked_in_every_split() {
    // Found by the fuzzer: a JSON data map whose `"kind":"Secret"` comes ~300 bytes later.
    // Buffered bytes ending inside the kind's value (`"kind":"Secr`, at a chunk's or the
    // seam's end) were read as "not a Secret", so the chunked output released the map's
    // value that the whole output masks.
    let r = redactor();
    let value = Gen::new(41).pick(B64URL, 24).replace(['-', '_'], "+");
    let pad = ".".repeat(300);
    let plain =
        format!("{{\"data\":{{\"a\":\"{value}\"}},\"pad\":\"{pad}\",\"kind\":\"Secret\"}}\n");
    // The same object as a `last-applied-configuration` annotation: quotes escaped.
    let escaped = format!("{{\"x\":\"{}\"}}\n", plain.trim_end().replace('"', "\\\""));
    for text in [plain, escaped] {
        let input = text.as_bytes();
        let whole = r.redact_all(input);
        assert!(
            !contains(&whole.0, &value),
            "{}",
            String::from_utf8_lossy(&whole.0)
        );
        assert!(contains(&whole.0, "[REDACTED:kubernetes-secret-data]"));
        for cut in 0..=input.len() {
            assert_eq!(chunked(&r, input, &[cut]), whole, "split at {cut}");
        }
    }
}
