//! The build error: every problem found in a rule set, each with its path.

use std::fmt;

/// What is wrong with one part of a rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The rules file is not valid YAML for the schema (unknown field, wrong type).
    Syntax,
    /// A regex can match unboundedly long text and no `maxLen` bounds it:
    /// it cannot stream correctly.
    Unbounded,
    /// A regex's longest match exceeds the streaming limit or its `maxLen`.
    TooLong,
    /// A regex or allow pattern does not compile.
    Regex,
    /// A rule id is empty, malformed, duplicated or taken by a built-in rule.
    Id,
    /// A rule has no keywords or a keyword is empty or too long.
    Keyword,
    /// Any other out-of-range value (entropy, mask, counts).
    Value,
}

/// One problem, located by a path such as `rules[2].regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the rule set.
    pub path: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Human-readable detail (not API).
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Building a [`crate::Redactor`] or loading a rules file failed.
///
/// Lists every problem found, not only the first. Display text is not API;
/// use the predicates and [`problems`](Self::problems).
#[derive(Debug, Clone)]
pub struct BuildError {
    problems: Vec<Problem>,
}

impl BuildError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        Self { problems }
    }

    pub(crate) fn one(
        path: impl Into<String>,
        kind: ProblemKind,
        message: impl Into<String>,
    ) -> Self {
        Self::new(vec![Problem {
            path: path.into(),
            kind,
            message: message.into(),
        }])
    }

    /// Every problem found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// True when some rule cannot stream correctly (unbounded or too long).
    pub fn is_unstreamable(&self) -> bool {
        self.has(|k| matches!(k, ProblemKind::Unbounded | ProblemKind::TooLong))
    }

    /// True when the rules file did not parse.
    pub fn is_syntax(&self) -> bool {
        self.has(|k| k == ProblemKind::Syntax)
    }

    /// True when some value is invalid (regex, id, keyword, range).
    pub fn is_invalid(&self) -> bool {
        self.has(|k| {
            matches!(
                k,
                ProblemKind::Regex | ProblemKind::Id | ProblemKind::Keyword | ProblemKind::Value
            )
        })
    }

    fn has(&self, pred: impl Fn(ProblemKind) -> bool) -> bool {
        self.problems.iter().any(|p| pred(p.kind))
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid redaction rules ({} problem(s))",
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "; {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}
