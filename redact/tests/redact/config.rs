//! User rules: the YAML format, validation with paths, refusal of rules that
//! cannot stream, keywords, secret groups, entropy and allow-lists.

use redact::{ProblemKind, RedactorBuilder, RulesFile};

use crate::support::{Gen, chunked};

fn build(yaml: &str) -> Result<redact::Redactor, redact::BuildError> {
    RedactorBuilder::new()
        .rules(RulesFile::from_yaml(yaml)?)
        .build()
}

#[test]
fn unbounded_regex_is_refused_at_build_time() {
    let err = build("rules:\n  - id: acme\n    regex: 'acme_[a-z0-9]+'\n    keywords: [acme_]\n")
        .unwrap_err();
    assert!(err.is_unstreamable());
    assert_eq!(err.problems()[0].path, "rules[0].regex");
    assert_eq!(err.problems()[0].kind, ProblemKind::Unbounded);
}

#[test]
fn regex_longer_than_the_limit_is_refused() {
    let err =
        build("rules:\n  - id: big\n    regex: 'x[a-z]{5000}'\n    keywords: [x]\n").unwrap_err();
    assert!(err.is_unstreamable());
    assert_eq!(err.problems()[0].kind, ProblemKind::TooLong);
}

#[test]
fn max_len_bounds_an_unbounded_regex() {
    let r = build("rules:\n  - id: acme\n    regex: 'acme_[a-z0-9]+'\n    keywords: [acme_]\n    maxLen: 40\n").unwrap();
    let mut g = Gen::new(3);
    let secret = format!("acme_{}", g.pick(b"abcdefghij0123456789", 30));
    let text = format!("token {secret} and ACME_ too\n");
    let whole = r.redact_all(text.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&whole.0),
        "token [REDACTED:acme] and ACME_ too\n"
    );
    for cut in 0..=text.len() {
        assert_eq!(chunked(&r, text.as_bytes(), &[cut]), whole);
    }
}

#[test]
fn secret_group_entropy_and_allow_list() {
    let yaml = r#"
allow: ['^EXAMPLE']
rules:
  - id: vendor
    regex: 'vendor_key=(?P<secret>[A-Za-z0-9]{20})'
    keywords: [vendor_key]
    entropy: 3.0
    allow: ['^TEST']
"#;
    let r = build(yaml).unwrap();
    let mut g = Gen::new(9);
    let secret = g.alnum(20);
    let cases = [
        (
            format!("vendor_key={secret}\n"),
            "vendor_key=[REDACTED:vendor]\n".to_string(),
        ),
        (
            "vendor_key=aaaaaaaaaaaaaaaaaaaa\n".into(),
            "vendor_key=aaaaaaaaaaaaaaaaaaaa\n".into(),
        ),
        (
            "vendor_key=TESTaaaaaaaaaaaaaaaa\n".into(),
            "vendor_key=TESTaaaaaaaaaaaaaaaa\n".into(),
        ),
        (
            "vendor_key=EXAMPLEaaaaaaaaaaaaa\n".into(),
            "vendor_key=EXAMPLEaaaaaaaaaaaaa\n".into(),
        ),
    ];
    for (input, want) in cases {
        let input = input.replace("aaaaaaaaaaaaa", &g.pick(b"a", 13));
        assert_eq!(
            String::from_utf8_lossy(&r.redact_all(input.as_bytes()).0),
            want
        );
    }
}

#[test]
fn validation_reports_every_problem_with_its_path() {
    let yaml = r#"
mask: "[X]"
allow: ['(']
rules:
  - id: Bad Id
    regex: 'a+'
    keywords: []
  - id: jwt
    regex: 'x{1,3}'
    keywords: ['']
    entropy: 9
  - id: ok
    regex: '['
    keywords: [k]
  - id: ok
    regex: 'k'
    keywords: [k]
"#;
    let err = RulesFile::from_yaml(yaml).unwrap().validate().unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    for want in [
        "allow[0]",
        "rules[0].id",
        "rules[0].keywords",
        "rules[0].regex",
        "rules[1].id",
        "rules[1].keywords[0]",
        "rules[1].entropy",
        "rules[2].regex",
        "rules[3].id",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
    assert!(err.is_invalid() && err.is_unstreamable());
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let err =
        RulesFile::from_yaml("rules:\n  - id: a\n    regex: a\n    keywords: [a]\n    maxlen: 3\n")
            .unwrap_err();
    assert!(err.is_syntax());
    assert!(
        err.problems()[0].path.starts_with("rules[0]"),
        "{:?}",
        err.problems()
    );
    assert!(
        RulesFile::from_yaml("colour: red\n")
            .unwrap_err()
            .is_syntax()
    );
}

#[test]
fn builtin_rules_can_be_disabled() {
    let r = build("builtin: false\n").unwrap();
    let text = "password=hunter2\n";
    assert_eq!(r.redact_all(text.as_bytes()).0, text.as_bytes());
}
