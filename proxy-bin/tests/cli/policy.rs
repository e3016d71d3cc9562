//! `kubewitness policy check` and `policy explain` for exec, as an operator runs them.

use crate::kubewitness;

const POLICY: &str = "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n\
- name: sre-debug\n  subjects: {groups: [sre]}\n  namespaces: [default]\n  read: [pods]\n  \
exec:\n    commands:\n      - [echo, \"**\"]\n";

#[test]
fn policy_check_accepts_a_valid_file_and_names_every_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, POLICY).unwrap();
    let (code, out, err) = kubewitness(&["policy", "check", good.to_str().unwrap()], b"");
    assert_eq!(code, Some(0), "{out}{err}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n- name: x\n  subjects: {}\n  namespaces: [\"Bad\"]\n",
    )
    .unwrap();
    let (code, out, err) = kubewitness(&["policy", "check", bad.to_str().unwrap()], b"");
    assert_eq!(code, Some(2), "{out}{err}");
    let all = format!("{out}{err}");
    for path in ["rules[0].subjects", "rules[0].namespaces[0]"] {
        assert!(all.contains(path), "{path}: {all}");
    }
    assert!(all.contains("bad.yaml"), "the file is named: {all}");
}

#[test]
fn policy_check_lists_the_grants() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/grants.yaml");
    let (code, out, err) = kubewitness(&["policy", "check", file], b"");
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "grant payments-exec: elevation, maxTTL 1h, 1 approval",
            "grant shop-fixes: write, maxTTL 15m, 1 approval",
            "grant node-maintenance: write, maxTTL 1h, 2 approvals",
        ]
    );
}

#[test]
fn policy_explain_exec_allows_and_denies_with_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, POLICY).unwrap();
    let p = file.to_str().unwrap();
    let explain = |user: &str, group: &str, argv: &[&str]| {
        let mut args = vec![
            "policy",
            "explain",
            "--policy",
            p,
            "--user",
            user,
            "--group",
            group,
            "exec",
            "default/web-0",
            "--",
        ];
        args.extend_from_slice(argv);
        kubewitness(&args, b"")
    };
    let (code, out, err) = explain("alice", "sre", &["echo", "hi"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("allow\n"), "{out}");
    assert!(out.contains("rule: sre-debug"), "{out}");

    let (code, out, err) = explain("alice", "sre", &["rm", "-rf", "/"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.starts_with("deny\n"), "{out}");

    let (code, out, err) = explain("mallory", "dev", &["echo", "hi"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.starts_with("deny\n"), "{out}");
}
