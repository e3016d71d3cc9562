//! `kubewitness access`: argument handling, the API calls planned, errors and output.

use clap::Parser;
use http::{Method, StatusCode};
use proxy_core::grants::{AccessRequest, Answer, Review, State};
use proxy_core::policy::{WriteAction, WriteVerb};
use serde_json::json;

use crate::access_cmd::{Call, api_error, plan};
use crate::access_fmt;
use crate::cli::{Cli, Command};
use crate::{EXIT_FAILURE, EXIT_USAGE};

fn planned(args: &[&str]) -> Result<Call, u8> {
    let cli = Cli::try_parse_from(["kubewitness", "access"].iter().chain(args)).map_err(|_| 2u8)?;
    let Command::Access(a) = cli.command else {
        panic!("access")
    };
    plan(&a.command).map_err(|f| f.code)
}

#[test]
fn requests_carry_exactly_what_was_asked() {
    let c = planned(&[
        "request",
        "evict-wedged",
        "--reason",
        "pod wedged",
        "--action",
        "evict",
        "-n",
        "shop",
        "--name",
        "web-1",
    ])
    .unwrap();
    assert_eq!(
        (c.method, c.path.as_str()),
        (Method::POST, "/kubewitness/v1/accessrequests")
    );
    assert_eq!(
        c.body,
        Some(
            json!({"grant": "evict-wedged", "reason": "pod wedged", "ttl": null, "action": "evict",
            "namespace": "shop", "name": "web-1", "workload": null, "replicas": null})
        )
    );
    let c = planned(&[
        "request",
        "payments-exec",
        "--reason",
        "INC-1",
        "--ttl",
        "30m",
    ])
    .unwrap();
    assert_eq!(c.body.unwrap()["ttl"], "30m");
    // A restart or scale names its workload kind, deployment unless told.
    let c = planned(&[
        "request",
        "g",
        "--reason",
        "r",
        "--action",
        "scale",
        "-n",
        "shop",
        "--name",
        "web",
        "--replicas",
        "3",
    ])
    .unwrap();
    let body = c.body.unwrap();
    assert_eq!(
        (body["workload"].clone(), body["replicas"].clone()),
        (json!("deployment"), json!(3))
    );
    let c = planned(&[
        "request",
        "g",
        "--reason",
        "r",
        "--action",
        "restart",
        "--kind",
        "StatefulSet",
        "-n",
        "shop",
        "--name",
        "db",
    ])
    .unwrap();
    assert_eq!(c.body.unwrap()["workload"], "statefulset");
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["request", "g"][..],
        &["request", "g", "--reason", " "],
        &["request", "g", "--reason", "r", "--ttl", "soon"],
        &["request", "g", "--reason", "r", "--action", "explode"],
        &[
            "request",
            "g",
            "--reason",
            "r",
            "--action",
            "evict",
            "--kind",
            "deployment",
        ],
        &[
            "request",
            "g",
            "--reason",
            "r",
            "--action",
            "evict",
            "--replicas",
            "2",
        ],
        &[
            "request", "g", "--reason", "r", "--action", "scale", "--name", "web",
        ],
        &["request", "g", "--reason", "r", "--kind", "daemonset"],
        &["approve", "01J0"],
        &["approve", "../../x", "--reason", "ok"],
        &["get", "01J0?x=1"],
        &["deny", "01J0", "--reason", ""],
        &["list", "-o", "yaml"],
    ] {
        assert_eq!(planned(args).err(), Some(EXIT_USAGE), "{args:?}");
    }
}

#[test]
fn each_command_calls_its_endpoint() {
    let id = "01JABCDEF0123456789ABCDEFG";
    let base = "/kubewitness/v1/accessrequests";
    let cases = [
        (vec!["list"], Method::GET, base.to_string(), None),
        (
            vec!["get", id, "-o", "json"],
            Method::GET,
            format!("{base}/{id}"),
            None,
        ),
        (
            vec!["approve", id, "--reason", "ok"],
            Method::POST,
            format!("{base}/{id}/approve"),
            Some(json!({"reason": "ok"})),
        ),
        (
            vec!["deny", id, "--reason", "no"],
            Method::POST,
            format!("{base}/{id}/deny"),
            Some(json!({"reason": "no"})),
        ),
        (
            vec!["revoke", id],
            Method::POST,
            format!("{base}/{id}/revoke"),
            Some(json!({})),
        ),
        (
            vec!["revoke", id, "--reason", "done"],
            Method::POST,
            format!("{base}/{id}/revoke"),
            Some(json!({"reason": "done"})),
        ),
        (
            vec!["execute", id],
            Method::POST,
            format!("{base}/{id}/execute"),
            None,
        ),
    ];
    for (args, method, path, body) in cases {
        assert_eq!(
            planned(&args).unwrap(),
            Call { method, path, body },
            "{args:?}"
        );
    }
}

#[test]
fn api_errors_show_the_status_message() {
    let status = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"you cannot approve your own request","reason":"Forbidden","code":403}"#;
    let f = api_error(StatusCode::FORBIDDEN, status);
    assert_eq!(
        (f.code, f.error.to_string().as_str()),
        (EXIT_FAILURE, "you cannot approve your own request")
    );
    assert_eq!(
        api_error(StatusCode::UNPROCESSABLE_ENTITY, status).code,
        EXIT_USAGE
    );
    assert_eq!(api_error(StatusCode::BAD_REQUEST, status).code, EXIT_USAGE);
    assert_eq!(api_error(StatusCode::CONFLICT, status).code, EXIT_FAILURE);
    let f = api_error(StatusCode::BAD_GATEWAY, b"upstream gone");
    assert_eq!(f.error.to_string(), "HTTP 502 Bad Gateway: upstream gone");
}

pub(crate) fn sample() -> AccessRequest {
    AccessRequest {
        id: "01JABC".into(),
        grant: "evict-wedged".into(),
        kind: "write".into(),
        requester: "claude".into(),
        requester_groups: vec!["ai-agents".into()],
        reason: "pod wedged\nsince 2am".into(),
        ttl_seconds: 900,
        created_at: "2026-12-03T14:00:00Z".into(),
        state: State::Pending,
        expires_at: None,
        approvals: Vec::new(),
        required_approvals: 1,
        denial: None,
        write: Some(WriteAction {
            verb: WriteVerb::Evict,
            namespace: Some("shop".into()),
            name: "web-1".into(),
            workload: None,
            replicas: None,
        }),
        description: Some("evict pod shop/web-1".into()),
        digest: Some("sha256:ab".into()),
        dry_run: Some(Answer {
            code: 201,
            message: "Success".into(),
        }),
        result: None,
    }
}

#[test]
fn the_new_id_is_alone_on_the_first_line() {
    let out = access_fmt::created(&sample());
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("01JABC"));
    let rest: Vec<&str> = lines.collect();
    assert_eq!(
        rest,
        [
            "grant: evict-wedged (write)",
            "state: pending (0 of 1 approvals)",
            "expires: 15m after approval",
            "action: evict pod shop/web-1",
            "digest: sha256:ab",
            "dry run: 201 Success",
        ]
    );
}

#[test]
fn details_and_reviews() {
    let mut r = sample();
    r.state = State::Approved;
    r.expires_at = Some("2026-12-03T14:15:00Z".into());
    r.approvals.push(Review {
        user: "alice".into(),
        reason: "ok".into(),
        at: "2026-12-03T14:00:05Z".into(),
    });
    let out = access_fmt::details(&r);
    assert!(out.starts_with("id: 01JABC\n"), "{out}");
    for want in [
        "state: approved (1 of 1 approvals)",
        "expires: 2026-12-03T14:15:00Z",
        "approved by alice at 2026-12-03T14:00:05Z: ok",
        "reason: pod wedged since 2am",
        "requester: claude (ai-agents)",
    ] {
        assert!(out.lines().any(|l| l == want), "{want} not in {out}");
    }
    assert!(access_fmt::reviewed(&r).starts_with("01JABC: approved\n"));
}

#[test]
fn the_table_lines_up_and_keeps_one_row_a_request() {
    let mut elevation = sample();
    elevation.id = "01JABD".into();
    elevation.grant = "payments-exec".into();
    elevation.requester = "dave".into();
    elevation.description = None;
    elevation.expires_at = Some("2026-12-03T15:00:00Z".into());
    elevation.state = State::Approved;
    let out = access_fmt::table(&[sample(), elevation]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("ID       GRANT           REQUESTER   STATE      EXPIRES"),
        "{out}"
    );
    assert!(lines[1].ends_with("evict pod shop/web-1"), "{out}");
    assert!(lines[2].ends_with("pod wedged since 2am"), "{out}");
    let col = lines[0].find("STATE").unwrap();
    assert_eq!(&lines[1][col..col + 7], "pending");
    assert_eq!(&lines[2][col..col + 8], "approved");
    assert_eq!(
        access_fmt::table(&[]),
        "ID   GRANT   REQUESTER   STATE   EXPIRES   DESCRIPTION/REASON\n"
    );
}

#[test]
fn executions_show_the_servers_answer() {
    let body = br#"{"kind":"Status","status":"Success"}"#;
    assert_eq!(
        access_fmt::executed(Some("application/json"), body),
        "{\n  \"kind\": \"Status\",\n  \"status\": \"Success\"\n}\n"
    );
    assert_eq!(access_fmt::executed(Some("text/plain"), b"done"), "done\n");
}
