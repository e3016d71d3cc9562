//! The same exec through kube-rs's client (WebSocket), not kubectl.

use k8s_openapi::api::core::v1::Pod;
use kube_client::api::{Api, AttachParams};
use kube_client::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::AsyncReadExt;

use crate::support::*;

#[tokio::test]
async fn kube_rs_exec_through_kubewitness() {
    let bed = testbed().await;
    let kubeconfig = Kubeconfig::read_from(&bed.kubeconfig).unwrap();
    let config =
        kube_client::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
    let client = kube_client::Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut attached = pods
        .exec(
            "web-0",
            vec!["sh", "-c", "echo from-kube-rs; exit 5"],
            &AttachParams::default().stderr(false),
        )
        .await
        .expect("exec through kubewitness");
    let mut out = String::new();
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = attached.take_status().unwrap().await.unwrap();
    assert_eq!(out, "from-kube-rs\n");
    let cause = status.details.unwrap().causes.unwrap();
    assert_eq!(cause[0].message.as_deref(), Some("5"));
}
