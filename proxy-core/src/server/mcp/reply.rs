//! What a tool produced before the finishing every call gets (`call.rs`): the text, whether
//! it is an error, the decision and rule for the audit line, and how to cut it.

use super::kube::Refused;
use super::text::Keep;

/// What a tool produced, before finishing.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) is_error: bool,
    /// `allowed`, `denied`, `rateLimited`, `invalid`, `upstreamError`.
    pub(crate) decision: &'static str,
    pub(crate) rule: Option<String>,
    pub(crate) keep: Keep,
    /// Bytes produced before any cut (0: the text is all of it).
    pub(crate) total: u64,
    /// The exec or logs session the call ran, when it ran one.
    pub(crate) linked: Option<String>,
}

impl Reply {
    /// A successful result allowed by `rule`.
    pub(crate) fn text(text: String, rule: Option<String>) -> Reply {
        Reply {
            text,
            is_error: false,
            decision: "allowed",
            rule,
            keep: Keep::Head,
            total: 0,
            linked: None,
        }
    }

    /// A refusal.
    pub(crate) fn refused(r: Refused) -> Reply {
        Reply {
            text: r.text,
            is_error: true,
            decision: r.decision,
            ..Reply::text(String::new(), None)
        }
    }
}
