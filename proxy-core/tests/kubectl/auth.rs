//! Identity: every upstream request impersonates the caller; nobody gets in without valid
//! credentials; nobody can choose whom they act as.

use kubewitness_sim::testbed::TestbedOptions;

use crate::support::*;

#[tokio::test]
async fn every_upstream_request_impersonates_the_caller() {
    let bed = testbed().await;
    for client in BOTH {
        kubectl(&bed, client, &["exec", "web-0", "--", "true"])
            .await
            .ok();
    }
    kubectl(&bed, Client::WebSocket, &["logs", "web-0"])
        .await
        .ok();
    kubectl(&bed, Client::WebSocket, &["get", "pods"])
        .await
        .ok();
    let requests = bed.sim.requests();
    assert!(requests.len() >= 6, "{requests:?}");
    let alice = &bed.callers[0];
    for r in &requests {
        let h = &r.headers;
        assert_eq!(
            h.get("impersonate-user").map(|v| v.to_str().unwrap()),
            Some(alice.user.as_str()),
            "{} {}",
            r.method,
            r.uri
        );
        let groups: Vec<_> = h
            .get_all("impersonate-group")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(groups, alice.groups, "{} {}", r.method, r.uri);
        assert_eq!(
            h.get("impersonate-uid").map(|v| v.to_str().unwrap()),
            Some("uid-0")
        );
        // kubewitness's own credential, never the caller's.
        let auth = h
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            !auth.contains(&alice.token),
            "the caller's token went upstream"
        );
    }
}

#[tokio::test]
async fn a_bad_token_gets_401_and_never_reaches_upstream() {
    let bed = testbed().await;
    let bogus = bed.kubeconfig_for("mallory", "not-a-valid-token").unwrap();
    for client in BOTH {
        let run = kubectl_with(&bed, &bogus, client, &["exec", "web-0", "--", "true"], None).await;
        assert_ne!(run.code, Some(0));
        assert!(
            run.stderr.contains("You must be logged in"),
            "{client:?}: {}",
            run.stderr
        );
    }
    let run = kubectl_with(&bed, &bogus, Client::WebSocket, &["logs", "web-0"], None).await;
    assert!(
        run.stderr.contains("You must be logged in"),
        "{}",
        run.stderr
    );
    assert!(
        bed.sim.requests().is_empty(),
        "an unauthenticated request reached upstream"
    );
}

#[tokio::test]
async fn callers_cannot_impersonate_someone_else() {
    let bed = testbed().await;
    // kubectl sends Impersonate-User/Group itself with --as; kubewitness must not honour it.
    let run = kubectl(
        &bed,
        Client::Spdy,
        &[
            "exec",
            "--as=admin",
            "--as-group=system:masters",
            "web-0",
            "--",
            "true",
        ],
    )
    .await;
    run.ok();
    for r in bed.sim.requests() {
        assert_eq!(r.headers["impersonate-user"], "alice");
        assert!(
            r.headers
                .get_all("impersonate-group")
                .iter()
                .all(|g| g != "system:masters")
        );
    }
}

#[tokio::test]
async fn writes_and_secrets_are_denied_before_upstream() {
    let bed = testbed().await;
    let run = kubectl(&bed, Client::WebSocket, &["delete", "pod", "web-0"]).await;
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("kubewitness"), "{}", run.stderr);
    let run = kubectl(&bed, Client::WebSocket, &["get", "secrets"]).await;
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("kubewitness"), "{}", run.stderr);
    let touched = bed
        .sim
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" || r.uri.path().contains("secrets"));
    assert!(!touched, "a denied request reached upstream");
}

#[tokio::test]
async fn a_token_removed_from_the_file_stops_working_without_a_restart() {
    let bed = testbed_with(TestbedOptions {
        users: vec![
            ("alice".into(), vec!["sre".into()]),
            ("bob".into(), vec!["sre".into()]),
        ],
        ..TestbedOptions::default()
    })
    .await;
    let (alice, bob) = (&bed.callers[0], &bed.callers[1]);
    let bob_config = bed.kubeconfig_for("bob", &bob.token).unwrap();
    let get = ["get", "pods"];
    kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None)
        .await
        .ok();
    let tokens = bed.dir().join("tokens.csv");
    // An invalid edit is rejected and the tokens in force stay.
    std::fs::write(&tokens, format!("{},alice\n", alice.token)).unwrap();
    // Read it now, as SIGHUP does, rather than waiting for the watcher's next poll.
    bed.proxy.reload();
    kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None)
        .await
        .ok();
    // Bob's line goes: within a few polls his token is refused, Alice's still works.
    std::fs::write(&tokens, format!("{},alice,uid-0,sre\n", alice.token)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let run = kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None).await;
        if run.code != Some(0) {
            assert!(
                run.stderr.contains("You must be logged in"),
                "{}",
                run.stderr
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    kubectl(&bed, Client::WebSocket, &get).await.ok();
}
