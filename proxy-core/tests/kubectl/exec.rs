//! exec and attach through kubewitness, over both client transports.

use crate::support::*;

#[tokio::test]
async fn exec_runs_the_command_and_prints_its_output() {
    let bed = testbed().await;
    for client in BOTH {
        let run = kubectl(
            &bed,
            client,
            &["exec", "web-0", "--", "echo", "hello", "world"],
        )
        .await;
        run.ok();
        assert_eq!(run.stdout_str(), "hello world\n", "{client:?}");
    }
}

#[tokio::test]
async fn stderr_is_kept_apart_from_stdout() {
    let bed = testbed().await;
    for client in BOTH {
        let run = kubectl(
            &bed,
            client,
            &[
                "exec",
                "web-0",
                "--",
                "sh",
                "-c",
                "echo to-out; echo to-err >&2; echo more-out",
            ],
        )
        .await;
        run.ok();
        assert_eq!(run.stdout_str(), "to-out\nmore-out\n", "{client:?}");
        assert!(run.stderr.contains("to-err"), "{client:?}: {}", run.stderr);
        assert!(!run.stdout_str().contains("to-err"));
    }
}

#[tokio::test]
async fn the_exit_code_reaches_kubectl() {
    let bed = testbed().await;
    for client in BOTH {
        let run = kubectl(&bed, client, &["exec", "web-0", "--", "sh", "-c", "exit 3"]).await;
        assert_eq!(run.code, Some(3), "{client:?}: {}", run.stderr);
        let run = kubectl(&bed, client, &["exec", "web-0", "--", "false"]).await;
        assert_eq!(run.code, Some(1), "{client:?}: {}", run.stderr);
    }
}

#[tokio::test]
async fn ten_mib_of_piped_stdin_arrive_byte_exact() {
    let bed = testbed().await;
    let input = noise(10 << 20, 7);
    for client in BOTH {
        // `cat` echoes stdin: the bytes cross the proxy both ways.
        let run = kubectl_stdin(
            &bed,
            client,
            &["exec", "-i", "web-0", "--", "cat"],
            input.clone(),
        )
        .await;
        run.ok();
        assert_same_bytes(&run.stdout, &input);
    }
}

#[tokio::test]
async fn sixty_four_mib_of_stdout_arrive_byte_exact() {
    let bed = testbed().await;
    let data = noise(64 << 20, 11);
    let file = bed.dir().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let path = file.display().to_string();
    for client in BOTH {
        let started = std::time::Instant::now();
        let run = kubectl(&bed, client, &["exec", "web-0", "--", "cat", &path]).await;
        assert_eq!(
            run.code,
            Some(0),
            "{client:?} after {:?}: {}",
            started.elapsed(),
            run.stderr
        );
        assert_same_bytes(&run.stdout, &data);
    }
}

#[tokio::test]
async fn attach_connects_to_the_container_process() {
    let bed = testbed().await;
    for client in BOTH {
        let run = kubectl_stdin(&bed, client, &["attach", "-i", "web-0"], b"ping\n".to_vec()).await;
        run.ok();
        assert_eq!(
            run.stdout_str(),
            "nginx: ready\nping\n",
            "{client:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn a_missing_pod_is_reported_like_the_api_server_does() {
    let bed = testbed().await;
    for client in BOTH {
        let run = kubectl(&bed, client, &["exec", "no-such-pod", "--", "true"]).await;
        assert_ne!(run.code, Some(0));
        assert!(
            run.stderr.contains("not found"),
            "{client:?}: {}",
            run.stderr
        );
    }
}
