//! One identity cannot take every stream slot, and callers pay for what they make
//! kubewitness ask upstream: denied requests and failed lookups spend rate-limit tokens,
//! and random bearer tokens cost at most a handful of TokenReviews.

use std::time::Duration;

use kubewitness_sim::SimConfig;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use tokio::io::AsyncWriteExt;

use crate::raw::{get, message, tls_from};
use crate::support::*;

/// 8 slots in all; `agent` may hold at most 8 / 4 = 2 of them (the default share).
const STREAMS_POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
global: {maxConcurrentStreams: 8}
rules:
- name: oncall
  subjects: {users: [alice]}
  namespaces: ["*"]
  read: [pods]
  logs: {}
  exec: {commands: [["**"]], stdin: true, tty: true}
- name: agent
  subjects: {users: [agent]}
  namespaces: [default]
  read: [pods]
  logs: {}
"#;

/// A testbed with `(user, group)` callers, `policy`, and followed logs that emit a line a
/// minute (so a follow stream stays open for the test).
async fn slow_follow_testbed(users: &[(&str, &str)], policy: &str) -> Testbed {
    testbed_with(TestbedOptions {
        users: users
            .iter()
            .map(|(u, g)| (u.to_string(), vec![g.to_string()]))
            .collect(),
        policy: Some(policy.into()),
        sim: SimConfig {
            follow_interval: Duration::from_secs(60),
            ..SimConfig::default()
        },
        ..TestbedOptions::default()
    })
    .await
}

fn agent(bed: &Testbed) -> String {
    bed.callers
        .iter()
        .find(|c| c.user == "agent")
        .expect("agent")
        .token
        .clone()
}

/// Opens a long-lived GET as the agent and returns its status with the connection held.
async fn hold(bed: &Testbed, target: &str) -> (u16, Option<crate::support::Tls>) {
    let mut io = tls_from(bed, "127.0.0.1".parse().unwrap(), false)
        .await
        .expect("TLS");
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        agent(bed)
    );
    io.write_all(head.as_bytes()).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            return (status, (status == 200).then_some(io));
        }
        let n = timed("head", tokio::io::AsyncReadExt::read_buf(&mut io, &mut buf))
            .await
            .unwrap();
        assert!(n > 0, "closed");
    }
}

#[tokio::test]
async fn an_agent_at_its_stream_cap_cannot_starve_oncall_exec() {
    let _g = shared().await;
    let users = [("alice", "oncall"), ("agent", "ai-agents")];
    let bed = slow_follow_testbed(&users, STREAMS_POLICY).await;
    let mut held = Vec::new();
    let mut limited = 0;
    // A watch holds a slot like a followed log does.
    let (status, io) = hold(&bed, "/api/v1/namespaces/default/pods?watch=true").await;
    assert_eq!(status, 200);
    held.push(io);
    for _ in 0..10 {
        let (status, io) = hold(
            &bed,
            "/api/v1/namespaces/default/pods/web-0/log?follow=true",
        )
        .await;
        match status {
            200 => held.push(io),
            429 => limited += 1,
            other => panic!("{other}"),
        }
    }
    eprintln!("agent: {} streams held, {limited} answered 429", held.len());
    assert_eq!(held.len(), 2, "the agent holds its share and no more");
    assert_eq!(
        bed.proxy
            .policy()
            .global()
            .max_concurrent_streams_per_identity,
        2
    );
    // Another watch is over the cap as well.
    let (status, _) = hold(&bed, "/api/v1/namespaces/default/pods?watch=true").await;
    assert_eq!(status, 429);
    // On-call still gets exec, over both transports, while the agent holds its streams.
    still_serving(&bed, Client::WebSocket).await;
    still_serving(&bed, Client::Spdy).await;
    drop(held);
}

/// `agent` reads pods labelled `exposed=yes` at 1 request per second, burst 3.
const LOOKUP_POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: agent
  subjects: {users: [agent]}
  namespaces: [default]
  pods: ["*"]
  podSelector: {matchLabels: {exposed: "yes"}}
  read: [pods]
  rateLimit: {requestsPerSecond: 1, burst: 3}
"#;

#[tokio::test]
async fn denied_requests_and_failed_lookups_spend_the_callers_rate_limit() {
    let _g = shared().await;
    let bed = testbed_with(TestbedOptions {
        users: vec![("agent".into(), vec![])],
        policy: Some(LOOKUP_POLICY.into()),
        ..TestbedOptions::default()
    })
    .await;
    let token = agent(&bed);
    let mut statuses = Vec::new();
    for i in 0..20 {
        let res = get(
            &bed,
            &format!("/api/v1/namespaces/default/pods/nope-{i}"),
            &token,
            "",
        )
        .await;
        statuses.push(res.status);
    }
    let lookups = bed
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.uri
                .path()
                .starts_with("/api/v1/namespaces/default/pods/nope-")
        })
        .count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    eprintln!("20 denied requests at 1 rps: {lookups} lookups upstream, {limited} answered 429");
    assert!(
        statuses.iter().all(|s| *s == 403 || *s == 429),
        "{statuses:?}"
    );
    assert!(limited >= 15, "{statuses:?}");
    assert!(lookups <= 5, "{lookups} lookups");
    // A failed lookup is cached: asking about the same missing pod again costs nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    bed.sim.clear_requests();
    for _ in 0..3 {
        let res = get(&bed, "/api/v1/namespaces/default/pods/missing", &token, "").await;
        assert_eq!(res.status, 403, "{res:?}");
    }
    assert_eq!(bed.sim.requests().len(), 1, "{:?}", bed.sim.requests());
}

#[tokio::test]
async fn fifty_random_tokens_cost_a_handful_of_token_reviews() {
    let _g = shared().await;
    let bed = testbed_with(TestbedOptions {
        token_review: true,
        ..TestbedOptions::default()
    })
    .await;
    let mut unauthorized = 0;
    let mut throttled = 0;
    for _ in 0..50 {
        let token = format!("{:032x}", rand::random::<u128>());
        let res = get(&bed, "/api/v1/namespaces/default/pods", &token, "").await;
        match res.status {
            401 => unauthorized += 1,
            429 => throttled += 1,
            other => panic!("{other}: {res:?}"),
        }
        if res.status == 429 {
            assert!(
                message(&res).contains("too many unauthenticated requests"),
                "{res:?}"
            );
        }
    }
    let reviews = bed
        .sim
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("/tokenreviews"))
        .count();
    eprintln!("50 random tokens: {reviews} TokenReviews, {unauthorized} x 401, {throttled} x 429");
    assert!(reviews <= 7, "{reviews} TokenReviews");
    // The token file's callers are not held back by the address's budget.
    let res = get(
        &bed,
        "/api/v1/namespaces/default/pods",
        &bed.callers[0].token,
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
}

/// `agent` may follow logs for 2 s.
const FOLLOW_POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: agent
  subjects: {users: [agent]}
  namespaces: [default]
  logs: {maxDuration: 2s}
"#;

#[tokio::test]
async fn a_followed_log_ends_at_the_rules_max_duration() {
    let _g = shared().await;
    let bed = slow_follow_testbed(&[("agent", "ai-agents")], FOLLOW_POLICY).await;
    let started = std::time::Instant::now();
    let (status, io) = hold(
        &bed,
        "/api/v1/namespaces/default/pods/web-0/log?follow=true",
    )
    .await;
    assert_eq!(status, 200);
    let mut io = io.expect("held");
    // Until the last chunk or the end of the connection, whichever comes first.
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buf = [0u8; 4096];
        while !seen.ends_with(b"0\r\n\r\n") {
            match tokio::io::AsyncReadExt::read(&mut io, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the followed log was not ended at maxDuration"
    );
    let took = started.elapsed();
    eprintln!("followed log ended after {took:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    sessions_end(&bed).await;
}
