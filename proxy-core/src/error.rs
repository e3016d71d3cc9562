//! The one error type of the start-up path: building a [`Proxy`](crate::Proxy) and binding
//! its [`Server`](crate::Server).
//!
//! Like hyper's, the error is opaque: a kind, asked with the `is_*()` predicates, and a
//! one-line description. The text is for people, not for matching; the kind is the API. A
//! binary maps kinds to exit codes (kubewitness: a configuration error is bad usage, 2;
//! everything else is a runtime failure, 1).

use std::fmt;

/// A boxed error that caused an [`Error`].
type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a proxy could not be built or served.
pub struct Error {
    kind: Kind,
    /// What was being done, naming the file, store or address.
    context: String,
    source: Option<Source>,
}

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A setting or a file it names is invalid (policy, token file, TLS, redaction rules).
    Config,
    /// The Kubernetes API server could not be set up or reached.
    Upstream,
    /// The recording store could not be used (crash recovery, the digest ledger).
    Storage,
    /// A local I/O failure: binding the listener, opening the audit log.
    Io,
}

impl Error {
    fn new(kind: Kind, context: impl Into<String>, source: Option<Source>) -> Error {
        Error {
            kind,
            context: context.into(),
            source,
        }
    }

    /// An invalid setting: `context` says which, `detail` why.
    pub(crate) fn config(context: impl Into<String>, detail: impl fmt::Display) -> Error {
        Error::new(Kind::Config, join(context.into(), detail), None)
    }

    /// The upstream could not be set up.
    pub(crate) fn upstream(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::new(Kind::Upstream, context, Some(Box::new(source)))
    }

    /// The recording store failed: `store` names it (its URL), `detail` says how.
    pub(crate) fn storage(store: &str, detail: impl fmt::Display) -> Error {
        Error::new(
            Kind::Storage,
            join(format!("recording store {store}"), detail),
            None,
        )
    }

    /// A local I/O failure while doing `context`.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::new(Kind::Io, context, Some(Box::new(source)))
    }

    /// A setting or a file it names is invalid: bad usage, not a failure at run time.
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }

    /// The Kubernetes API server could not be set up (kubeconfig, context, credentials).
    pub fn is_upstream(&self) -> bool {
        self.kind == Kind::Upstream
    }

    /// The recording store could not be used: crash recovery or the digest ledger failed.
    pub fn is_storage(&self) -> bool {
        self.kind == Kind::Storage
    }

    /// A local I/O failure (binding the listener, opening the audit log).
    pub fn is_io(&self) -> bool {
        self.kind == Kind::Io
    }
}

/// `context: detail`, on one line.
fn join(context: String, detail: impl fmt::Display) -> String {
    let detail = one_line(&detail.to_string());
    if context.is_empty() {
        detail
    } else {
        format!("{context}: {detail}")
    }
}

/// Lines joined with "; ", so an error is one line in a log or on a terminal.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("context", &self.context)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}", join(self.context.clone(), source)),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The source's text is already part of `Display`; it stays reachable for callers
        // that walk the chain for a specific type.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_answers_only_its_own_predicate() {
        let io = std::io::Error::other("address in use");
        let errors = [
            Error::config("policy p.yaml", "rules[0]: no subjects"),
            Error::upstream("kubeconfig", std::io::Error::other("no context")),
            Error::storage("s3://b/p", "403 Forbidden"),
            Error::io("binding 127.0.0.1:1", io),
        ];
        let answers: Vec<[bool; 4]> = errors
            .iter()
            .map(|e| [e.is_config(), e.is_upstream(), e.is_storage(), e.is_io()])
            .collect();
        assert_eq!(
            answers,
            [
                [true, false, false, false],
                [false, true, false, false],
                [false, false, true, false],
                [false, false, false, true],
            ]
        );
    }

    #[test]
    fn the_text_is_one_line_naming_what_failed() {
        let e = Error::storage("s3://bucket/rec", "listing failed\n  403 Forbidden\n");
        assert_eq!(
            e.to_string(),
            "recording store s3://bucket/rec: listing failed; 403 Forbidden"
        );
        let e = Error::io("binding 127.0.0.1:1", std::io::Error::other("in use"));
        assert_eq!(e.to_string(), "binding 127.0.0.1:1: in use");
    }
}
