//! The objects of the simulated cluster, built once from a [`SimConfig`] as the JSON the
//! real API server returns, and looked up by resource, namespace and name.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::clock::rfc3339;
use super::config::{SimConfig, SimPod};
use super::discovery::{RESOURCES, Resource};

/// The objects of one resource kind.
#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<(&'static str, &'static str), Vec<Value>>,
}

fn meta(namespace: Option<&str>, name: &str, uid: u64, created: SystemTime) -> Value {
    let mut m = json!({
        "name": name,
        "uid": format!("5e1d0000-0000-4000-8000-{uid:012x}"),
        "resourceVersion": (1000 + uid).to_string(),
        "creationTimestamp": rfc3339(created),
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn pod_object(pod: &SimPod, uid: u64, created: SystemTime, ip: u8) -> Value {
    let mut metadata = meta(Some(&pod.namespace), &pod.name, uid, created);
    if !pod.labels.is_empty() {
        metadata["labels"] = json!(pod.labels);
    }
    if !pod.annotations.is_empty() {
        metadata["annotations"] = json!(pod.annotations);
    }
    let started = rfc3339(created);
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .map(|c| {
            let mut container =
                json!({"name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent"});
            if !c.env.is_empty() {
                let env: Vec<Value> = c
                    .env
                    .iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect();
                container["env"] = json!(env);
            }
            container
        })
        .collect();
    let statuses: Vec<Value> = pod
        .containers
        .iter()
        .map(|c| {
            let mut status = json!({
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": true,
                "started": true,
                "restartCount": c.last_termination.as_ref().map_or(0, |t| t.restarts),
                "state": {"running": {"startedAt": started}},
                "containerID": format!("containerd://{uid:064x}"),
            });
            if let Some(t) = &c.last_termination {
                status["lastState"] = json!({"terminated": {
                    "reason": t.reason, "exitCode": t.exit_code,
                    "startedAt": started, "finishedAt": started,
                }});
            }
            status
        })
        .collect();
    let conditions: Vec<Value> = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": started}))
        .collect();
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": metadata,
        "spec": {
            "containers": containers,
            "restartPolicy": "Always",
            "nodeName": "sim-node-1",
            "serviceAccountName": "default",
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "10.0.0.11",
            "podIP": format!("10.244.0.{ip}"),
            "startTime": started,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        }
    })
}

fn with_kind(r: &Resource, mut object: Value) -> Value {
    object["kind"] = json!(r.kind);
    object["apiVersion"] = json!(r.api_version());
    object
}

impl Store {
    /// Builds the cluster's objects; `created` is every object's `creationTimestamp`.
    pub(crate) fn build(cfg: &SimConfig, created: SystemTime) -> Store {
        let mut store = Store::default();
        let mut uid = 0u64;
        let mut next = || {
            uid += 1;
            uid
        };
        let mut namespaces: Vec<(String, BTreeMap<String, String>)> = cfg
            .namespaces
            .iter()
            .map(|n| (n.name.clone(), n.labels.clone()))
            .collect();
        for pod in &cfg.pods {
            if !namespaces.iter().any(|(n, _)| *n == pod.namespace) {
                namespaces.push((pod.namespace.clone(), BTreeMap::new()));
            }
        }
        for (name, labels) in &namespaces {
            let mut metadata = meta(None, name, next(), created);
            metadata["labels"] = json!(labels);
            store.insert(
                "namespaces",
                json!({"metadata": metadata, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
            let root_ca = json!({
                "metadata": meta(Some(name), "kube-root-ca.crt", next(), created),
                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n(simulated)\n-----END CERTIFICATE-----\n"},
            });
            store.insert("configmaps", root_ca);
        }
        for (i, pod) in cfg.pods.iter().enumerate() {
            let ip = u8::try_from(10 + i).unwrap_or(u8::MAX);
            let object = pod_object(pod, next(), created, ip);
            let pod_uid = object["metadata"]["uid"].clone();
            store.insert_group("", "pods", object);
            let started = format!(
                "Started container {}",
                pod.containers.first().map_or("", |c| c.name.as_str())
            );
            let events = std::iter::once(("Normal", "Started", &started))
                .chain(pod.warnings.iter().map(|m| ("Warning", "BackOff", m)));
            for (i, (kind, reason, message)) in events.enumerate() {
                let event = json!({
                    "metadata": meta(Some(&pod.namespace), &format!("{}.17c0ffee{i}", pod.name), next(), created),
                    "involvedObject": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod_uid, "apiVersion": "v1"},
                    "reason": reason,
                    "message": message,
                    "source": {"component": "kubelet", "host": "sim-node-1"},
                    "firstTimestamp": rfc3339(created),
                    "lastTimestamp": rfc3339(created),
                    "count": 1,
                    "type": kind,
                });
                store.insert("events", event);
            }
        }
        // One synthetic secret, its value assembled at run time.
        let password = format!("sim-{}-{}", "not", "a-real-password");
        let secret = json!({
            "metadata": meta(Some("shop"), "db-credentials", next(), created),
            "type": "Opaque",
            "data": {
                "username": b64("shop"),
                "password": b64(&password),
            },
        });
        store.insert("secrets", secret);
        let svc = json!({
            "metadata": meta(Some("default"), "kubernetes", next(), created),
            "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        });
        store.insert("services", svc);
        for (plural, ns, name, app) in [
            ("statefulsets", "default", "web", "web"),
            ("deployments", "shop", "api", "api"),
        ] {
            let obj = json!({
                "metadata": meta(Some(ns), name, next(), created),
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}}},
                "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
            });
            store.insert_group("apps", plural, obj);
        }
        store
    }

    fn insert(&mut self, plural: &'static str, object: Value) {
        self.insert_group("", plural, object);
    }

    fn insert_group(&mut self, group: &'static str, plural: &'static str, object: Value) {
        let Some(r) = RESOURCES
            .iter()
            .find(|r| r.group == group && r.name == plural)
        else {
            return;
        };
        self.objects
            .entry((r.group, r.name))
            .or_default()
            .push(with_kind(r, object));
    }

    /// The objects of `r`, in `namespace` if given.
    pub(crate) fn list(&self, r: &Resource, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .get(&(r.group, r.name))
            .into_iter()
            .flatten()
            .filter(|o| namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns))
            .collect()
    }

    /// The object of `r` named `name` in `namespace`.
    pub(crate) fn get(&self, r: &Resource, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.list(r, namespace)
            .into_iter()
            .find(|o| o["metadata"]["name"] == name)
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// How long ago a timestamp was, for the `AGE` column: `5s`, `3m`, `2h`, `4d`.
pub(crate) fn age(since: Duration) -> String {
    let s = since.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
