//! Helpers shared by the loaders of the configuration, the policy and the redaction rules,
//! kept apart so that those modules need not import each other.

use std::fmt;
use std::path::{Path, PathBuf};

/// Expands a leading `~/` to `$HOME`.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Writes `(path, problem)` pairs one per line as `path: problem` (a bare problem when the
/// path is empty): how configuration and policy errors read.
pub(crate) fn write_problems(
    f: &mut fmt::Formatter<'_>,
    problems: &[(String, String)],
) -> fmt::Result {
    for (i, (path, problem)) in problems.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        if path.is_empty() {
            write!(f, "{problem}")?;
        } else {
            write!(f, "{path}: {problem}")?;
        }
    }
    Ok(())
}
