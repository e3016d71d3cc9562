//! Table tests per rule: positives (planted secret masked, right rule) and
//! look-alike negatives (identifiers debugging needs stay visible).

use crate::support::{ALNUM, Gen, HEX, UPPER_DIGIT, all_secrets, contains, decoys, redactor};

/// Asserts that none of `inputs` is changed by the default redactor.
macro_rules! assert_untouched {
    ($($input:expr),+ $(,)?) => {{
        let r = redactor();
        $(
            let input: String = $input;
            let (out, findings) = r.redact_all(input.as_bytes());
            assert_eq!(String::from_utf8_lossy(&out), input, "masked a look-alike: {findings:?}");
            assert!(findings.is_empty());
        )+
    }};
}

#[test]
fn every_builtin_secret_is_masked_by_its_rule() {
    let r = redactor();
    for seed in 0..40 {
        for p in all_secrets(&mut Gen::new(seed)) {
            let (out, findings) = r.redact_all(p.text.as_bytes());
            assert!(
                !contains(&out, &p.secret),
                "{} survived in {}",
                p.rule,
                String::from_utf8_lossy(&out)
            );
            let rules: Vec<&str> = findings.iter().map(|f| &*f.rule).collect();
            assert!(
                rules.contains(&p.rule),
                "expected {} in {rules:?} for seed {seed}",
                p.rule
            );
            let marker = format!("[REDACTED:{}]", p.rule);
            assert!(contains(&out, &marker));
        }
    }
}

#[test]
fn every_builtin_rule_has_a_positive_case() {
    let planted: Vec<&str> = all_secrets(&mut Gen::new(1))
        .iter()
        .map(|p| p.rule)
        .collect();
    for (id, _) in redact::builtin_rules() {
        assert!(planted.contains(&id), "no positive test for {id}");
    }
}

#[test]
fn findings_locate_the_secret_in_the_input() {
    let r = redactor();
    for p in all_secrets(&mut Gen::new(7)) {
        let (_, findings) = r.redact_all(p.text.as_bytes());
        let f = findings
            .iter()
            .find(|f| &*f.rule == p.rule)
            .expect("finding");
        let masked = &p.text.as_bytes()[f.offset as usize..(f.offset + f.len) as usize];
        assert!(
            contains(masked, &p.secret),
            "{}: finding does not cover the secret",
            p.rule
        );
    }
}

#[test]
fn identifiers_are_not_masked() {
    for seed in 0..50 {
        let mut g = Gen::new(seed);
        for d in decoys(&mut g) {
            assert_untouched!(d);
        }
    }
}

#[test]
fn near_misses_are_not_masked() {
    let mut g = Gen::new(99);
    let random = g.pick(ALNUM, 30);
    let mut check = redact::github_checksum(random.as_bytes());
    check[0] = if check[0] == b'A' { b'B' } else { b'A' };
    let bad_checksum = format!(
        "{}{random}{}",
        ["gh", "p_"].concat(),
        String::from_utf8_lossy(&check)
    );
    assert_untouched!(
        format!(
            "id {}{} x\n",
            ["AK", "IA"].concat(),
            g.pick(UPPER_DIGIT, 15)
        ),
        format!(
            "id {}{} x\n",
            ["AK", "IA"].concat(),
            g.pick(UPPER_DIGIT, 17)
        ),
        format!(
            "id X{}{} x\n",
            ["AK", "IA"].concat(),
            g.pick(UPPER_DIGIT, 16)
        ),
        format!("token {bad_checksum} x\n"),
        format!("pk {}{}\n", ["pk_", "live_"].concat(), g.alnum(24)),
        format!("not a jwt eyJ{}\n", g.alnum(30)),
        format!("{}{} short\n", ["sk-", ""].concat(), g.alnum(12)),
        format!("hash sk-{}\n", g.pick(b"abcdefghijklmnopqrstuvwxyz", 40)),
        format!("password: {}\n", "${DB_PASSWORD}"),
        "password=\npassword=\"\"\npassword: null\npassword=********\n".to_string(),
        "Authorization: Bearer <token>\nuse Basic authentication\n".to_string(),
        format!("api_key: {}\n", g.pick(b"ab", 20)),
        format!("connect https://user@host:{}/x\n", 443),
        format!("sha256 {}\n", g.pick(HEX, 64)),
    );
}

#[test]
fn already_redacted_text_is_stable() {
    let r = redactor();
    let mut text = String::new();
    all_secrets(&mut Gen::new(3))
        .iter()
        .for_each(|p| text.push_str(&p.text));
    let (once, _) = r.redact_all(text.as_bytes());
    let (twice, findings) = r.redact_all(&once);
    assert_eq!(
        String::from_utf8_lossy(&once),
        String::from_utf8_lossy(&twice)
    );
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn findings_serialise_without_the_secret() {
    let r = redactor();
    for p in all_secrets(&mut Gen::new(5)) {
        let (_, findings) = r.redact_all(p.text.as_bytes());
        let json = serde_json::to_string(&findings).expect("json");
        assert!(!json.contains(&p.secret), "{json}");
        assert!(
            json.contains("\"rule\"")
                && json.contains("\"fingerprint\"")
                && json.contains("\"offset\"")
        );
        assert!(!format!("{findings:?}").contains(&p.secret));
    }
}

#[test]
fn fingerprints_correlate_only_under_the_same_key() {
    let p = &all_secrets(&mut Gen::new(11))[0];
    let a = redactor().redact_all(p.text.as_bytes()).1;
    let b = redactor()
        .redact_all(format!("other line\n{}", p.text).as_bytes())
        .1;
    assert_eq!(a[0].fingerprint, b[0].fingerprint);
    let other = redact::RedactorBuilder::new()
        .fingerprint_key(b"other")
        .build()
        .expect("build");
    assert_ne!(
        a[0].fingerprint,
        other.redact_all(p.text.as_bytes()).1[0].fingerprint
    );
    let keyless = redact::RedactorBuilder::new().build().expect("build");
    assert!(
        keyless.redact_all(p.text.as_bytes()).1[0]
            .fingerprint
            .is_none()
    );
}

#[test]
fn mask_template_is_configurable() {
    let r = redact::RedactorBuilder::new()
        .mask("***")
        .build()
        .expect("build");
    let p = &all_secrets(&mut Gen::new(2))[0];
    let (out, _) = r.redact_all(p.text.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out),
        p.text.replace(&p.secret, "***")
    );
}

#[test]
fn an_anchor_without_its_prefix_hides_no_overlapping_trigger() {
    // `_v1_` stands for `dop_v1_`; without `dop` before it the hit is no trigger, and the
    // `_key` that overlaps it still starts an assignment. Likewise `"Secre` after no `"kind":`
    // leaves the `Secret` key that overlaps it to the assignment detector.
    let r = redactor();
    let mut g = Gen::new(5);
    for key in ["client_v1_key", "{\"Secret"] {
        let value = g.pick(ALNUM, 20);
        let text = match key.starts_with('{') {
            true => format!("{key}\": \"{value}\"}}\n"),
            false => format!("{key}={value}\n"),
        };
        let (out, findings) = r.redact_all(text.as_bytes());
        assert!(!contains(&out, &value), "{}", String::from_utf8_lossy(&out));
        assert_eq!(findings.len(), 1, "{findings:?}");
    }
}
