//! `kubectl auth whoami` and `kubectl auth can-i [--list]` through kubewitness: the caller
//! kubewitness authenticated, and the policy's decision combined with the API server's.

use kubewitness_sim::testbed::{Testbed, TestbedOptions};

use crate::support::*;

/// alice is on call (interactive exec in shop); the bot is an agent reading pods in `default`.
const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: oncall
  subjects: {groups: [oncall]}
  namespaces: [shop]
  read: [pods, events]
  logs: {}
  exec: {commands: [["**"]], stdin: true, tty: true}
- name: agent-readonly
  subjects: {groups: [ai-agents]}
  namespaces: [default]
  read: [pods]
  exec: {commands: [[cat, "*"]]}
"#;

async fn bed() -> Testbed {
    testbed_with(TestbedOptions {
        policy: Some(POLICY.to_string()),
        users: vec![
            ("alice".into(), vec!["sre".into(), "oncall".into()]),
            ("bot".into(), vec!["ai-agents".into()]),
        ],
        ..TestbedOptions::default()
    })
    .await
}

async fn as_bot(bed: &Testbed, args: &[&str]) -> Run {
    let bot = &bed.callers[1];
    let config = bed.kubeconfig_for("bot", &bot.token).unwrap();
    kubectl_with(bed, &config, Client::WebSocket, args, None).await
}

#[tokio::test]
async fn whoami_prints_the_caller_kubewitness_authenticated() {
    let bed = bed().await;
    let run = kubectl(&bed, Client::WebSocket, &["auth", "whoami", "-o", "json"]).await;
    run.ok();
    let review: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(review["kind"], "SelfSubjectReview");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "alice");
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert_eq!(groups, ["sre", "oncall", "system:authenticated"]);
    let table = as_bot(&bed, &["auth", "whoami"]).await;
    table.ok();
    assert!(table.stdout_str().contains("bot"), "{}", table.stdout_str());
    assert!(table.stdout_str().contains("ai-agents"));
    // Answered by kubewitness: nothing went upstream.
    assert!(
        !bed.sim
            .requests()
            .iter()
            .any(|r| r.uri.path().contains("selfsubjectreviews"))
    );
}

#[tokio::test]
async fn can_i_combines_the_policy_and_the_api_server() {
    let bed = bed().await;
    let yes = kubectl(
        &bed,
        Client::WebSocket,
        &["auth", "can-i", "create", "pods/exec", "-n", "shop"],
    )
    .await;
    assert_eq!(yes.stdout_str().trim(), "yes", "{yes:?}");
    let no = as_bot(
        &bed,
        &["auth", "can-i", "create", "pods/exec", "-n", "shop"],
    )
    .await;
    assert_eq!(no.code, Some(1), "{no:?}");
    let out = no.stdout_str();
    assert!(out.starts_with("no"), "{out}");
    assert!(
        out.contains("agent-readonly"),
        "the rule is not named: {out}"
    );
    // The bot may exec `cat` in default: some command is allowed there.
    let bot_default = as_bot(
        &bed,
        &["auth", "can-i", "create", "pods/exec", "-n", "default"],
    )
    .await;
    bot_default.ok();
    // Secrets: the simulated RBAC allows everything, kubewitness does not.
    let secrets = kubectl(
        &bed,
        Client::WebSocket,
        &["auth", "can-i", "get", "secrets", "-n", "shop"],
    )
    .await;
    assert_eq!(secrets.code, Some(1));
    // The API server was asked as the caller.
    let asked = bed
        .sim
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("selfsubjectaccessreviews"))
        .any(|r| {
            r.headers
                .get("impersonate-user")
                .is_some_and(|u| u == "bot")
        });
    assert!(asked, "the API server was not asked for the bot");
}

#[tokio::test]
async fn can_i_list_shows_the_rule_resources() {
    let bed = bed().await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["auth", "can-i", "--list", "-n", "shop"],
    )
    .await;
    run.ok();
    let out = run.stdout_str();
    for want in ["pods/exec", "pods/log", "events", "[get list watch]"] {
        assert!(out.contains(want), "`{want}` missing from:\n{out}");
    }
    assert!(!out.contains("secrets"), "{out}");
    let bot = as_bot(&bed, &["auth", "can-i", "--list", "-n", "shop"]).await;
    bot.ok();
    assert!(!bot.stdout_str().contains("pods"), "{}", bot.stdout_str());
}
