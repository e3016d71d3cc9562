//! The policy in force, replaced atomically on reload ([`crate::watched`]).
//!
//! A running session keeps the limits it started with: it holds the decision made under the
//! snapshot it was admitted with, so a reload never drops or changes live sessions.

use std::path::Path;

use super::{MAX_POLICY_FILE, Policy, PolicyError};
use crate::watched::{FromFile, Watched, read_bounded};

pub use crate::watched::{POLL_INTERVAL, Reloaded};

/// The policy in force, and the file behind it.
pub type PolicyStore = Watched<Policy>;

impl FromFile for Policy {
    type Error = PolicyError;
    const WHAT: &'static str = "policy";

    fn read(path: &Path) -> Result<String, PolicyError> {
        read_bounded(path, MAX_POLICY_FILE).map_err(|e| PolicyError {
            problems: vec![(String::new(), format!("reading {}: {e}", path.display()))],
        })
    }

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_yaml(text)
    }

    fn problems(error: &PolicyError) -> Vec<(String, String)> {
        error.problems().to_vec()
    }

    fn entries(&self) -> usize {
        self.rules().len()
    }
}
