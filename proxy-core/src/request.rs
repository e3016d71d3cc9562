//! What a request asks for, read the way kube-apiserver routes it.
//!
//! kubewitness decides on this reading and forwards the request unchanged, so the reading
//! must never differ from the API server's. Anything the API server might route differently
//! is refused instead of guessed: empty, `.` or `..` segments, any percent-encoding in the
//! path (no Kubernetes name needs it), a trailing slash, upper case, characters outside the
//! Kubernetes name alphabet ([`is_name_byte`]), methods that are not the API's own (spelt in
//! upper case), and query keys that change meaning when repeated.
//!
//! `GET` on `pods/exec`, `pods/attach` and `pods/portforward` (the WebSocket upgrade) is
//! classified as `create`, like the POST it is equivalent to (PROTOCOLS.md §2.8).

use std::fmt;

use http::Method;

pub use crate::channel::StreamOptions;
use crate::channel::{check_query, url_pairs};

mod generic;
pub use generic::{Generic, MAX_TIMEOUT_LEN, go_duration};

/// The most path segments a Kubernetes API path has
/// (`/apis/g/v/namespaces/ns/resource/name/subresource`).
pub const MAX_SEGMENTS: usize = 8;
/// The longest path considered.
pub const MAX_PATH_LEN: usize = 4096;
/// The longest query string considered (an exec argv travels in it).
pub const MAX_QUERY_LEN: usize = 64 * 1024;

/// The methods the Kubernetes API serves, exactly as spelt (`GeT` is another method).
const API_METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// Whether `b` may appear in a path segment: the characters of Kubernetes object names
/// (DNS subdomains: `a-z`, `0-9`, `-`, `.`), plus `:` and `_` that some names (RBAC roles,
/// API versions) and non-resource paths use. Anything else (`;`, `,`, `=`, `@`, quotes…)
/// can only be a trick: a path-normalising hop might read it differently.
pub fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':' | b'_')
}

/// A request, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection;
    /// for non-resource paths the lowercase HTTP method.
    pub verb: String,
    /// What the request is about.
    pub target: Target,
}

/// The object of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A path outside the resource tree (`/api`, `/version`, `/openapi/v2`, …).
    NonResource(String),
    /// A resource.
    Resource(Resource),
}

/// A resource path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The API group; empty for the core group (`/api/v1`).
    pub group: String,
    /// The version.
    pub version: String,
    /// The namespace, for namespaced paths.
    pub namespace: Option<String>,
    /// The resource (`pods`).
    pub resource: String,
    /// The object name.
    pub name: Option<String>,
    /// The subresource (`exec`, `log`, …).
    pub subresource: Option<String>,
}

/// Why a request could not be classified safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unclassifiable(pub String);

impl fmt::Display for Unclassifiable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unclassifiable {}

fn refuse<T>(why: impl Into<String>) -> Result<T, Unclassifiable> {
    Err(Unclassifiable(why.into()))
}

impl RequestInfo {
    /// Classifies `method` on `path` with raw `query`.
    pub fn classify(
        method: &Method,
        path: &str,
        query: &str,
    ) -> Result<RequestInfo, Unclassifiable> {
        if !API_METHODS.contains(method) {
            return refuse(format!("method {method} is not part of the Kubernetes API"));
        }
        if query.contains(';') {
            // Go's URL parser drops `;`-separated pairs; kubewitness would read them.
            return refuse("`;` in the query string is not accepted");
        }
        if query.len() > MAX_QUERY_LEN {
            return refuse("query string too long");
        }
        if let Err(why) = check_query(query) {
            return refuse(format!("query string with {why}"));
        }
        Generic::parse(query)?;
        let segments = segments(path)?;
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (group, version, rest) = match seg.as_slice() {
            // The core group has one version; another would reach the API server as a
            // path it does not serve, while streams are re-originated on `/api/v1`.
            ["api", version, rest @ ..] if !rest.is_empty() && *version != "v1" => {
                return refuse(format!("core API version {version} does not exist"));
            }
            ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
            ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
            _ => {
                return Ok(RequestInfo {
                    verb: method.as_str().to_ascii_lowercase(),
                    target: Target::NonResource(path.to_string()),
                });
            }
        };
        let (watch_prefix, rest) = match rest {
            ["watch", rest @ ..] => (true, rest),
            _ => (false, rest),
        };
        let (namespace, rest): (Option<&str>, &[&str]) = match rest {
            // `namespaces/NAME` is the namespace object itself (and its subresources).
            ["namespaces", ns] => (None, &["namespaces", ns][..]),
            ["namespaces", _, "status" | "finalize"] => (None, rest),
            ["namespaces", ns, rest @ ..] => (Some(*ns), rest),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
            [] => return refuse("a namespace path needs a resource"),
            _ => return refuse("too many path segments for a resource"),
        };
        let watch_query = query_flag(query, "watch")?;
        let mut verb = verb(method, name.is_some(), watch_prefix, watch_query)?;
        // A GET upgrade on a streaming subresource is as powerful as the POST: the API
        // server (from 1.35) and kubewitness count both as `create`.
        if group.is_empty()
            && resource == "pods"
            && matches!(subresource, Some("exec" | "attach" | "portforward"))
            && verb == "get"
        {
            verb = "create";
        }
        if watch_prefix && method != Method::GET {
            return refuse("the watch path prefix only allows GET");
        }
        Ok(RequestInfo {
            verb: verb.to_string(),
            target: Target::Resource(Resource {
                group: group.to_string(),
                version: version.to_string(),
                namespace: namespace.map(String::from),
                resource: resource.to_string(),
                name: name.map(String::from),
                subresource: subresource.map(String::from),
            }),
        })
    }

    /// The resource, if this is a resource request.
    pub fn resource(&self) -> Option<&Resource> {
        match &self.target {
            Target::Resource(r) => Some(r),
            Target::NonResource(_) => None,
        }
    }

    /// Which handler the request goes to. The server's router and `policy explain` both
    /// ask here, so what is explained is what is served.
    pub fn dispatch(&self) -> Dispatch {
        let Some(r) = self.resource() else {
            return Dispatch::Other;
        };
        match r.subresource.as_deref() {
            _ if !r.group.is_empty() || r.resource != "pods" => Dispatch::Other,
            Some("exec") => Dispatch::Exec,
            Some("attach") => Dispatch::Attach,
            Some("log") => Dispatch::Log,
            Some("portforward") => Dispatch::PortForward,
            Some("ephemeralcontainers") => Dispatch::EphemeralContainers,
            _ => Dispatch::Other,
        }
    }
}

/// The handler a request goes to (see [`RequestInfo::dispatch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// `pods/exec`: a session, its argv and stream flags part of the decision.
    Exec,
    /// `pods/attach`: a session, its stream flags part of the decision.
    Attach,
    /// `pods/log`: a session over the log stream.
    Log,
    /// `pods/portforward`, any method: one session per forwarded connection.
    PortForward,
    /// `pods/ephemeralcontainers` (`kubectl debug`): the patch checked against the images.
    EphemeralContainers,
    /// Anything else: forwarded, reads redacted where the policy says so.
    Other,
}

impl Dispatch {
    /// exec or attach: the request carries stream parameters ([`StreamRequest`]).
    pub fn is_stream(self) -> bool {
        matches!(self, Dispatch::Exec | Dispatch::Attach)
    }
}

impl Resource {
    /// Whether this is `resource[/subresource]` in the core group.
    pub fn is_core(&self, resource: &str, subresource: Option<&str>) -> bool {
        self.group.is_empty()
            && self.resource == resource
            && self.subresource.as_deref() == subresource
    }
}

/// The verb the way kube-apiserver's `RequestInfoFactory` reads it: the `/watch/` prefix
/// makes any GET a watch; `?watch=` only turns a list (no name) into a watch, and a named GET
/// stays a get whatever its query says.
fn verb(
    method: &Method,
    named: bool,
    watch_prefix: bool,
    watch_query: bool,
) -> Result<&'static str, Unclassifiable> {
    Ok(match *method {
        Method::GET | Method::HEAD if watch_prefix => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD if watch_query => "watch",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => return refuse(format!("method {method} is not part of the Kubernetes API")),
    })
}

/// Splits and checks a path: absolute, no empty/dot segments, no percent-encoding, no
/// trailing slash, no upper case, bounded.
fn segments(path: &str) -> Result<Vec<String>, Unclassifiable> {
    if path.len() > MAX_PATH_LEN {
        return refuse("path too long");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return refuse("path must be absolute");
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if path.contains('%') {
        return refuse("percent-encoded paths are not accepted");
    }
    if path.contains('\\') {
        return refuse("backslashes are not accepted in paths");
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return refuse("upper-case paths are not accepted");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b >= 0x80)
    {
        return refuse("control, space or non-ASCII characters in the path");
    }
    if let Some(b) = rest.bytes().find(|b| *b != b'/' && !is_name_byte(*b)) {
        return refuse(format!(
            "`{}` cannot appear in a Kubernetes name or path",
            b as char
        ));
    }
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return refuse("empty path segment (double or trailing slash)");
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return refuse("dot segments are not accepted");
    }
    if parts.len() > MAX_SEGMENTS {
        return refuse("too many path segments");
    }
    Ok(parts.into_iter().map(String::from).collect())
}

/// Reads a boolean query flag the API server's way, refusing repeats that disagree.
fn query_flag(query: &str, key: &str) -> Result<bool, Unclassifiable> {
    let values: Vec<String> = url_pairs(query)
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect();
    let truthy = |v: &str| !(v == "0" || v.eq_ignore_ascii_case("false"));
    match values.as_slice() {
        [] => Ok(false),
        [v] => Ok(truthy(v)),
        [first, rest @ ..] => {
            if rest.iter().any(|v| truthy(v) != truthy(first)) {
                refuse(format!("conflicting `{key}` parameters"))
            } else {
                Ok(truthy(first))
            }
        }
    }
}

/// An exec or attach request's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    /// `exec` or `attach`.
    pub subresource: String,
    /// The namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container, if named.
    pub container: Option<String>,
    /// The argv, for exec (every `command` parameter, in order).
    pub command: Vec<String>,
    /// The stream flags.
    pub options: StreamOptions,
}

impl StreamRequest {
    /// Reads an exec/attach request. Refuses a repeated `container`, an exec without a
    /// command, an attach with one, and a request with no stream at all.
    pub fn parse(info: &RequestInfo, query: &str) -> Result<StreamRequest, Unclassifiable> {
        let Some(r) = info.resource() else {
            return refuse("not a resource request");
        };
        let sub = r.subresource.as_deref().unwrap_or("");
        let (Some(namespace), Some(pod)) = (&r.namespace, &r.name) else {
            return refuse("exec and attach need a namespace and a pod");
        };
        if !(r.is_core("pods", Some("exec")) || r.is_core("pods", Some("attach"))) {
            return refuse("not an exec or attach request");
        }
        let pairs: Vec<(String, String)> = url_pairs(query).collect();
        let containers: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k == "container")
            .map(|(_, v)| v)
            .collect();
        if containers.len() > 1 {
            return refuse("`container` given more than once");
        }
        let command: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .collect();
        if sub == "exec" && command.is_empty() {
            return refuse("exec needs at least one `command` parameter");
        }
        if sub == "attach" && !command.is_empty() {
            return refuse("attach takes no `command`");
        }
        let options = StreamOptions::from_query(query);
        if !(options.stdin || options.stdout || options.stderr) {
            return refuse("at least one of stdin, stdout or stderr must be requested");
        }
        Ok(StreamRequest {
            subresource: sub.to_string(),
            namespace: namespace.clone(),
            pod: pod.clone(),
            container: containers
                .first()
                .map(|c| c.to_string())
                .filter(|c| !c.is_empty()),
            command,
            options,
        })
    }

    /// The canonical query string for the upstream request, rebuilt from what was parsed
    /// so upstream sees exactly what was decided on.
    pub fn upstream_query(&self) -> String {
        let mut q = String::new();
        let mut push = |k: &str, v: &str| {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(k);
            q.push('=');
            q.push_str(&percent_encode(v));
        };
        for arg in &self.command {
            push("command", arg);
        }
        if let Some(c) = &self.container {
            push("container", c);
        }
        let o = self.options;
        for (k, on) in [
            ("stderr", o.stderr),
            ("stdin", o.stdin),
            ("stdout", o.stdout),
            ("tty", o.tty),
        ] {
            if on {
                push(k, "true");
            }
        }
        q
    }

    /// The upstream path (without query).
    pub fn upstream_path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/pods/{}/{}",
            self.namespace, self.pod, self.subresource
        )
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
