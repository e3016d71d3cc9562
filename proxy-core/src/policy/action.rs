//! What a request does, for policy purposes: [`Action`] and the [`Request`] to decide,
//! derived from the classified request and the parsed exec/attach parameters.

use crate::request::{RequestInfo, StreamRequest, Target};

/// What a request does, for policy purposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A discovery document (`/api`, `/apis/...`, `/version`, `/openapi/...`).
    Discovery,
    /// Any other non-resource path.
    NonResource,
    /// get, list or watch of a resource (or a readable subresource).
    Read,
    /// A write of any kind.
    Write,
    /// `pods/exec` with its argv and stream flags.
    Exec {
        /// The argv (every `command` parameter, in order).
        argv: Vec<String>,
        /// stdin requested.
        stdin: bool,
        /// A terminal requested.
        tty: bool,
    },
    /// `pods/attach`.
    Attach {
        /// stdin requested.
        stdin: bool,
        /// A terminal requested.
        tty: bool,
    },
    /// `pods/log` (GET).
    Logs,
    /// `pods/portforward`.
    PortForward,
    /// `pods/ephemeralcontainers`.
    EphemeralContainers,
    /// A `proxy` subresource (pods, services, nodes): a generic tunnel.
    Proxy,
    /// A streaming subresource used with a method that does not belong to it.
    Malformed(String),
}

/// A request to decide.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The caller.
    pub user: &'a str,
    /// The caller's groups (`system:authenticated` is implied).
    pub groups: &'a [String],
    /// The classified request.
    pub info: &'a RequestInfo,
    /// What it does.
    pub action: Action,
}

impl<'a> Request<'a> {
    /// Builds a request; `stream` is the parsed exec/attach parameters, when there are any.
    pub fn new(
        user: &'a str,
        groups: &'a [String],
        info: &'a RequestInfo,
        stream: Option<&StreamRequest>,
    ) -> Request<'a> {
        Request {
            user,
            groups,
            info,
            action: action(info, stream),
        }
    }

    /// The namespace of a namespaced request.
    pub fn namespace(&self) -> Option<&str> {
        self.info.resource().and_then(|r| r.namespace.as_deref())
    }

    /// The pod named by the request (pods and their subresources, in any group).
    pub fn pod(&self) -> Option<&str> {
        let r = self.info.resource()?;
        self.is_pods().then_some(r.name.as_deref()).flatten()
    }

    /// Whether the request is about a resource named `pods`, in any API group: a rule's
    /// pod scope (`pods`, `podSelector`) applies to every such resource (core pods,
    /// `metrics.k8s.io` pod metrics, an aggregated API's pods), because each one names
    /// pods and reveals something about them.
    pub fn is_pods(&self) -> bool {
        self.info.resource().is_some_and(|r| r.resource == "pods")
    }

    /// How the request reads in a message: `exec of ["ls"] in shop/api-7`.
    pub fn describe(&self) -> String {
        let at = || match (self.namespace(), self.pod()) {
            (Some(ns), Some(pod)) => format!("{ns}/{pod}"),
            (_, Some(pod)) => pod.to_string(),
            _ => String::new(),
        };
        match (&self.action, &self.info.target) {
            (Action::Exec { argv, .. }, _) => format!(
                "exec of {} in {}",
                serde_json::to_string(argv).unwrap_or_default(),
                at()
            ),
            (Action::Attach { .. }, _) => format!("attach to {}", at()),
            (Action::Logs, _) => format!("logs of {}", at()),
            (Action::PortForward, _) => format!("port-forward to {}", at()),
            (Action::EphemeralContainers, _) => format!("ephemeral containers in {}", at()),
            (_, Target::NonResource(path)) => format!("{} {path}", self.info.verb),
            (_, Target::Resource(r)) => {
                let mut what = r.resource.clone();
                if !r.group.is_empty() {
                    what = format!("{what}.{}", r.group);
                }
                if let Some(n) = &r.name {
                    what = format!("{what}/{n}");
                }
                if let Some(s) = &r.subresource {
                    what = format!("{what}/{s}");
                }
                match &r.namespace {
                    Some(ns) => format!("{} of {what} in namespace {ns}", self.info.verb),
                    None => format!("{} of {what}", self.info.verb),
                }
            }
        }
    }
}

fn action(info: &RequestInfo, stream: Option<&StreamRequest>) -> Action {
    let r = match &info.target {
        Target::NonResource(path) => {
            return if matches!(info.verb.as_str(), "get" | "head") && is_discovery(path) {
                Action::Discovery
            } else {
                Action::NonResource
            };
        }
        Target::Resource(r) => r,
    };
    let read = matches!(info.verb.as_str(), "get" | "list" | "watch");
    let core_pods = r.group.is_empty() && r.resource == "pods";
    match r.subresource.as_deref() {
        Some("proxy") => Action::Proxy,
        Some("exec") if core_pods => match stream {
            Some(s) if matches!(info.verb.as_str(), "get" | "create") => Action::Exec {
                argv: s.command.clone(),
                stdin: s.options.stdin,
                tty: s.options.tty,
            },
            _ => Action::Malformed("exec must be an upgrade with parsed parameters".into()),
        },
        Some("attach") if core_pods => match stream {
            Some(s) if matches!(info.verb.as_str(), "get" | "create") => Action::Attach {
                stdin: s.options.stdin,
                tty: s.options.tty,
            },
            _ => Action::Malformed("attach must be an upgrade with parsed parameters".into()),
        },
        Some("log") if core_pods => {
            if info.verb == "get" {
                Action::Logs
            } else {
                Action::Malformed(format!("{} is not a way to read logs", info.verb))
            }
        }
        Some("portforward") if core_pods => Action::PortForward,
        Some("ephemeralcontainers") if core_pods && !read => Action::EphemeralContainers,
        _ if read => Action::Read,
        _ => Action::Write,
    }
}

/// Discovery documents every authenticated caller may read (as Kubernetes'
/// `system:discovery` role allows).
fn is_discovery(path: &str) -> bool {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        seg.as_slice(),
        ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] | ["version"]
    ) || path == "/openapi/v2"
        || path == "/openapi/v3"
        || path.starts_with("/openapi/v3/")
}
