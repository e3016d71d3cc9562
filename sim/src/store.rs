//! The objects of the simulated cluster, built from a [`SimConfig`] as the JSON the real
//! API server returns, looked up by resource, namespace and name, and changed by the writes
//! of [`super::writes`] (each real write bumps the object's `resourceVersion`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::clock::rfc3339;
use super::config::{SimConfig, SimPod};
use super::discovery::{RESOURCES, Resource};

/// The objects of the cluster, by `(group, plural)`.
type Objects = BTreeMap<(&'static str, &'static str), Vec<Value>>;

/// The nodes of the simulated cluster: `sim-node-1` runs every pod, `node-1` nothing.
pub(crate) const NODES: &[&str] = &["sim-node-1", "node-1"];

/// The objects of the simulated cluster.
#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: RwLock<Objects>,
    /// The last `resourceVersion` handed out by a write.
    version: AtomicU64,
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
            let mut metadata = meta(Some(ns), name, next(), created);
            metadata["generation"] = json!(1);
            let obj = json!({
                "metadata": metadata,
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": app}},
                    "template": {
                        "metadata": {"labels": {"app": app}},
                        "spec": {"containers": [{"name": app, "image": format!("registry.example/{app}:1.0")}]},
                    },
                },
                "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
            });
            store.insert_group("apps", plural, obj);
        }
        for name in NODES {
            store.insert("nodes", node_object(name, next(), created));
        }
        let last = 1000 + next();
        store.version.store(last, Ordering::SeqCst);
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
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .entry((r.group, r.name))
            .or_default()
            .push(with_kind(r, object));
    }

    fn read(&self) -> RwLockReadGuard<'_, Objects> {
        self.objects.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The objects of `r`, in `namespace` if given, as they are now.
    pub(crate) fn list(&self, r: &Resource, namespace: Option<&str>) -> Vec<Value> {
        self.read()
            .get(&(r.group, r.name))
            .into_iter()
            .flatten()
            .filter(|o| namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns))
            .cloned()
            .collect()
    }

    /// The object of `r` named `name` in `namespace`, as it is now.
    pub(crate) fn get(&self, r: &Resource, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.read()
            .get(&(r.group, r.name))?
            .iter()
            .find(|o| is(o, namespace, name))
            .cloned()
    }

    /// Removes the object of `r` named `name` in `namespace`; `None` if it was not there.
    pub(crate) fn remove(
        &self,
        r: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let mut objects = self.write();
        let list = objects.get_mut(&(r.group, r.name))?;
        let i = list.iter().position(|o| is(o, namespace, name))?;
        Some(list.remove(i))
    }

    /// Replaces the object of `r` named `name` in `namespace` by what `change` makes of it,
    /// under one lock (so two writers cannot lose each other's change), with a new
    /// `resourceVersion` unless nothing changed (the API server skips such writes). `change` refuses with an `Err` that is passed through; `None`
    /// when the object is absent.
    pub(crate) fn update<E>(
        &self,
        r: &Resource,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&Value) -> Result<Value, E>,
    ) -> Option<Result<Value, E>> {
        let mut objects = self.write();
        let list = objects.get_mut(&(r.group, r.name))?;
        let slot = list.iter_mut().find(|o| is(o, namespace, name))?;
        Some(change(slot).map(|mut new| {
            if new != *slot {
                let version = self.version.fetch_add(1, Ordering::SeqCst) + 1;
                new["metadata"]["resourceVersion"] = json!(version.to_string());
                slot.clone_from(&new);
            }
            new
        }))
    }
}

fn is(object: &Value, namespace: Option<&str>, name: &str) -> bool {
    object["metadata"]["name"] == name
        && namespace.is_none_or(|ns| object["metadata"]["namespace"] == ns)
}

fn node_object(name: &str, uid: u64, created: SystemTime) -> Value {
    let mut metadata = meta(None, name, uid, created);
    metadata["labels"] = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    });
    let ready = json!({
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": rfc3339(created), "lastTransitionTime": rfc3339(created),
    });
    json!({
        "metadata": metadata,
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "conditions": [ready],
            "addresses": [{"type": "Hostname", "address": name}],
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "nodeInfo": {
                "kubeletVersion": "v1.32.4", "containerRuntimeVersion": "containerd://1.7.24",
                "operatingSystem": "linux", "architecture": "amd64", "osImage": "kubewitness-sim",
                "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.32.4",
                "machineID": "", "systemUUID": "", "bootID": "",
            },
        },
    })
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
