//! The upstream breaks mid-session: the connection drops after some bytes, the process
//! hangs, or the upstream goes silent after the 101. Each runs with kubectl over both
//! client transports against both upstream transports (the simulated kubelet with WebSocket
//! refused makes kubewitness fall back to SPDY upstream).

use std::time::{Duration, Instant};

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_sim::{SimConfig, SimFault, SimPod};

use crate::support::*;

/// How much of the session's wire output the dropping pod sends before the cut.
const DROP_AFTER: u64 = 300_000;
/// The output the dropping pod's command would produce without the fault: ~1.3 MB.
const SEQ_TO: u32 = 200_000;

/// Every exec allowed; idle sessions end after 2 s, any session after 30 s.
const IDLE_POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: everything-briefly
  subjects: {groups: [sre]}
  namespaces: ["*"]
  read: [pods]
  exec:
    commands: [["**"]]
    idleTimeout: 2s
    maxDuration: 30s
"#;

/// The upstream transport kubewitness ends up using.
#[derive(Clone, Copy, Debug)]
enum Upstream {
    WebSocket,
    Spdy,
}

/// The default cluster plus `flaky-0` (drops), `hung-0` (hangs) and `silent-0` (silent).
fn cluster(upstream: Upstream) -> SimConfig {
    let mut sim = SimConfig {
        websocket: matches!(upstream, Upstream::WebSocket),
        ..SimConfig::default()
    };
    let base = sim.pods[0].clone();
    let pod = |name: &str, fault| SimPod {
        name: name.into(),
        fault: Some(fault),
        ..base.clone()
    };
    sim.pods
        .push(pod("flaky-0", SimFault::DropAfter { bytes: DROP_AFTER }));
    sim.pods.push(pod("hung-0", SimFault::Hang));
    sim.pods.push(pod("silent-0", SimFault::Silent));
    sim
}

async fn bed(upstream: Upstream, policy: Option<&str>) -> Testbed {
    testbed_with(TestbedOptions {
        sim: cluster(upstream),
        policy: policy.map(str::to_owned),
        ..TestbedOptions::default()
    })
    .await
}

fn seq_output() -> Vec<u8> {
    (1..=SEQ_TO)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[tokio::test]
async fn an_upstream_that_drops_mid_stream_fails_kubectl_and_the_recording_holds_what_it_saw() {
    let full = seq_output();
    for upstream in [Upstream::WebSocket, Upstream::Spdy] {
        let bed = bed(upstream, None).await;
        let store = record_store(&bed);
        for client in BOTH {
            let case = format!("{client:?} client, {upstream:?} upstream");
            let before = store.sessions().await.unwrap();
            let cmd = format!("seq 1 {SEQ_TO}");
            let run = kubectl(&bed, client, &["exec", "flaky-0", "--", "sh", "-c", &cmd]).await;
            assert_ne!(run.code, Some(0), "{case}: a cut stream must not exit 0");
            assert!(
                run.stderr
                    .contains("the upstream connection ended without an exit status"),
                "{case}: {}",
                run.stderr
            );
            // Mid-stream: a good part of the output, all of it genuine, and no more than
            // the upstream sent before the cut.
            let got = run.stdout.len() as u64;
            assert!(
                got > DROP_AFTER / 2 && got < DROP_AFTER,
                "{case}: {got} bytes"
            );
            assert!(full.starts_with(&run.stdout), "{case}: not a prefix");

            let (id, report) = new_sealed_session(&store, &seal_key(&bed), &before).await;
            assert!(report.intact, "{case}: {:?}", report.problems);
            assert!(report.pinned, "{case}");
            assert_eq!(report.end_reason.as_deref(), Some("serverLost"), "{case}");
            let (out, _) = exported_text(&store, &id).await;
            assert_same_bytes(&out, &run.stdout);
        }
        // The proxy keeps serving: a healthy pod on the same upstream works.
        let run = kubectl(
            &bed,
            Client::WebSocket,
            &["exec", "web-0", "--", "echo", "ok"],
        )
        .await;
        run.ok();
        assert_eq!(run.stdout_str(), "ok\n");
    }
}

/// Runs `kubectl exec POD -- echo never` and checks the idle timeout ended it with a clear
/// message, within bounds, and that the recording is sealed as ended by kubewitness.
async fn ended_by_idle_timeout(bed: &Testbed, client: Client, pod: &str, case: &str) {
    let store = record_store(bed);
    let before = store.sessions().await.unwrap();
    let started = Instant::now();
    let run = kubectl(bed, client, &["exec", pod, "--", "echo", "never"]).await;
    let took = started.elapsed();
    assert_ne!(run.code, Some(0), "{case}");
    assert!(
        run.stderr
            .contains("kubewitness: the session was idle for 2s; it was ended"),
        "{case}: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{case}: {}", run.stdout_str());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{case}: took {took:?}"
    );
    let (_, report) = new_sealed_session(&store, &seal_key(bed), &before).await;
    assert!(report.intact, "{case}: {:?}", report.problems);
    assert_eq!(report.end_reason.as_deref(), Some("ended"), "{case}");
    assert_eq!(report.bytes.stdout, 0, "{case}");
}

/// Waits until no session runs on `bed`, failing after 20 s (every close is bounded by
/// grace periods of 5 s).
async fn settles(bed: &Testbed) {
    for _ in 0..200 {
        if bed.proxy.active_sessions() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} sessions still running", bed.proxy.active_sessions());
}

#[tokio::test]
async fn a_hung_upstream_process_is_ended_by_the_policy_idle_timeout() {
    for upstream in [Upstream::WebSocket, Upstream::Spdy] {
        let bed = bed(upstream, Some(IDLE_POLICY)).await;
        for client in BOTH {
            let case = format!("{client:?} client, {upstream:?} upstream");
            ended_by_idle_timeout(&bed, client, "hung-0", &case).await;
        }
        settles(&bed).await;
    }
}

#[tokio::test]
async fn an_upstream_silent_after_the_upgrade_is_ended_by_the_policy_idle_timeout() {
    // Over WebSocket nothing more is needed after the 101; over SPDY kubewitness would wait
    // for stream replies that never come (30 s, like client-go) before any 101 to kubectl.
    let bed = bed(Upstream::WebSocket, Some(IDLE_POLICY)).await;
    for client in BOTH {
        let case = format!("{client:?} client, silent WebSocket upstream");
        ended_by_idle_timeout(&bed, client, "silent-0", &case).await;
    }
    // The silent upstream never answers the WebSocket close: the drivers give up after their
    // grace periods (`CLOSE_GRACE`), so the sessions end a few seconds after kubectl did.
    settles(&bed).await;
}
