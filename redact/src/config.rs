//! The user-rules file (YAML) and its validation.
//!
//! ```yaml
//! builtin: true                 # keep the built-in detectors (default)
//! mask: "[REDACTED:{rule}]"     # {rule} is replaced by the rule id
//! allow: ["^EXAMPLE"]           # secrets matching any of these stay visible
//! rules:
//!   - id: acme-key
//!     regex: 'acme_(?P<secret>[a-z0-9]{32})'   # named group narrows the mask
//!     keywords: [acme_]        # required: the regex runs only near these
//!     maxLen: 128              # required when the regex is unbounded
//!     entropy: 3.0             # optional minimum Shannon entropy (bits/byte)
//!     allow: ["^acme_test"]
//! ```
//!
//! Validation reports every problem with its path (`rules[1].regex`).
//! A regex whose longest match is unbounded is refused unless `maxLen` caps
//! its repetitions: a streaming redactor must know how far back a match can
//! start (see `redact/DESIGN.md`).

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};
use serde::{Deserialize, Serialize};

use crate::detect::UserRule;
use crate::error::{BuildError, Problem, ProblemKind};
use crate::rules::{BUILTIN_RULES, RuleIdx};

/// Longest match a user regex may produce, in bytes.
pub const MAX_USER_MATCH_LEN: usize = 4096;
/// Longest keyword.
pub const MAX_KEYWORD_LEN: usize = 64;
/// Longest mask template.
pub const MAX_MASK_LEN: usize = 256;
/// Most user rules in one file.
pub const MAX_USER_RULES: usize = 1024;

/// A rules file: options plus user rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesFile {
    /// Keep the built-in detectors.
    pub builtin: bool,
    /// Mask template; `{rule}` becomes the rule id. Default `[REDACTED:{rule}]`.
    pub mask: Option<String>,
    /// Allow-list regexes: a secret matching any of them is not masked.
    pub allow: Vec<String>,
    /// User rules.
    pub rules: Vec<RuleSpec>,
}

impl Default for RulesFile {
    fn default() -> Self {
        Self {
            builtin: true,
            mask: None,
            allow: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// One user rule as written in the rules file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// Rule id, `[a-z0-9][a-z0-9._-]*`, reported in masks and findings.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The secret's regex (Rust `regex` syntax, matched on bytes).
    pub regex: String,
    /// Literals the regex runs near (lower, Title and UPPER case forms match too).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Cap for unbounded repetitions; required when the regex is unbounded.
    #[serde(default)]
    pub max_len: Option<usize>,
    /// Minimum Shannon entropy of the secret, in bits per byte (0–8).
    #[serde(default)]
    pub entropy: Option<f64>,
    /// Allow-list regexes for this rule only.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl RulesFile {
    /// Parses YAML; unknown fields are errors, reported with their path.
    pub fn from_yaml(text: &str) -> Result<Self, BuildError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            BuildError::one(path, ProblemKind::Syntax, e.into_inner().to_string())
        })
    }

    /// Checks everything `build` would check; lists every problem.
    pub fn validate(&self) -> Result<(), BuildError> {
        self.compile(BUILTIN_RULES.len()).map(drop)
    }

    /// Compiles the user rules, numbering them from `first`.
    pub(crate) fn compile(&self, first: usize) -> Result<(Vec<UserRule>, Vec<Regex>), BuildError> {
        let mut problems = Vec::new();
        let mut push = |path: String, kind, message: String| {
            problems.push(Problem {
                path,
                kind,
                message,
            })
        };
        if self.mask.as_ref().is_some_and(|m| m.len() > MAX_MASK_LEN) {
            let msg = format!("longer than {MAX_MASK_LEN} bytes");
            push("mask".into(), ProblemKind::Value, msg);
        }
        if self.rules.len() > MAX_USER_RULES {
            push(
                "rules".into(),
                ProblemKind::Value,
                format!("more than {MAX_USER_RULES} rules"),
            );
        }
        let allow = compile_allow(&self.allow, "allow", &mut push);
        let mut out = Vec::new();
        for (i, spec) in self.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            check_id(spec, &self.rules[..i], &path, &mut push);
            let rule = RuleIdx::try_from(first + i).unwrap_or(RuleIdx::MAX);
            if let Some(r) = compile_rule(spec, rule, &path, &mut push) {
                out.push(r);
            }
        }
        match problems.is_empty() {
            true => Ok((out, allow)),
            false => Err(BuildError::new(problems)),
        }
    }
}

type Push<'a> = dyn FnMut(String, ProblemKind, String) + 'a;

fn compile_allow(patterns: &[String], path: &str, push: &mut Push<'_>) -> Vec<Regex> {
    let mut out = Vec::new();
    for (j, p) in patterns.iter().enumerate() {
        match Regex::new(p) {
            Ok(r) => out.push(r),
            Err(e) => push(format!("{path}[{j}]"), ProblemKind::Regex, e.to_string()),
        }
    }
    out
}

fn check_id(spec: &RuleSpec, earlier: &[RuleSpec], path: &str, push: &mut Push<'_>) {
    let id = spec.id.as_bytes();
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && (id[0].is_ascii_lowercase() || id[0].is_ascii_digit())
        && id.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !well_formed {
        push(
            format!("{path}.id"),
            ProblemKind::Id,
            "must match [a-z0-9][a-z0-9._-]{0,63}".into(),
        );
    } else if BUILTIN_RULES.iter().any(|(b, _)| *b == spec.id) {
        push(
            format!("{path}.id"),
            ProblemKind::Id,
            format!("`{}` is a built-in rule id", spec.id),
        );
    } else if earlier.iter().any(|r| r.id == spec.id) {
        push(
            format!("{path}.id"),
            ProblemKind::Id,
            format!("duplicate id `{}`", spec.id),
        );
    }
}

fn compile_rule(
    spec: &RuleSpec,
    rule: RuleIdx,
    path: &str,
    push: &mut Push<'_>,
) -> Option<UserRule> {
    if spec.keywords.is_empty() {
        push(
            format!("{path}.keywords"),
            ProblemKind::Keyword,
            "at least one keyword is required".into(),
        );
    }
    for (j, kw) in spec.keywords.iter().enumerate() {
        if kw.is_empty() || kw.len() > MAX_KEYWORD_LEN {
            push(
                format!("{path}.keywords[{j}]"),
                ProblemKind::Keyword,
                format!("must be 1..={MAX_KEYWORD_LEN} bytes"),
            );
        }
    }
    if spec.entropy.is_some_and(|e| !(0.0..=8.0).contains(&e)) {
        push(
            format!("{path}.entropy"),
            ProblemKind::Value,
            "must be within 0..=8 bits per byte".into(),
        );
    }
    if spec
        .max_len
        .is_some_and(|m| m == 0 || m > MAX_USER_MATCH_LEN)
    {
        push(
            format!("{path}.max_len"),
            ProblemKind::Value,
            format!("must be 1..={MAX_USER_MATCH_LEN}"),
        );
    }
    let allow = compile_allow(&spec.allow, &format!("{path}.allow"), push);
    let (regex, max_len) = bounded_regex(spec, &format!("{path}.regex"), push)?;
    let secret_group = regex.capture_names().position(|n| n == Some("secret"));
    Some(UserRule {
        rule,
        regex,
        keywords: spec.keywords.clone(),
        max_len,
        secret_group,
        min_entropy: spec.entropy,
        allow,
    })
}

/// Parses the regex, caps unbounded repetitions at `maxLen` if given, and
/// checks the longest possible match.
fn bounded_regex(spec: &RuleSpec, path: &str, push: &mut Push<'_>) -> Option<(Regex, usize)> {
    let hir = match regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(&spec.regex)
    {
        Ok(h) => h,
        Err(e) => {
            push(path.into(), ProblemKind::Regex, e.to_string());
            return None;
        }
    };
    let (pattern, longest) = match (hir.properties().maximum_len(), spec.max_len) {
        (Some(n), Some(cap)) if n > cap => {
            push(
                path.into(),
                ProblemKind::TooLong,
                format!("can match {n} bytes, more than max_len {cap}"),
            );
            return None;
        }
        (Some(n), _) => (spec.regex.clone(), n),
        (None, None) => {
            let msg = "unbounded match length cannot stream: bound the repetitions ({1,64}) or set max_len";
            push(path.into(), ProblemKind::Unbounded, msg.into());
            return None;
        }
        (None, Some(cap)) => {
            let capped = cap_repetitions(&hir, u32::try_from(cap).unwrap_or(u32::MAX));
            match capped.properties().maximum_len() {
                Some(n) => (capped.to_string(), n),
                None => {
                    push(
                        path.into(),
                        ProblemKind::Unbounded,
                        "still unbounded after capping".into(),
                    );
                    return None;
                }
            }
        }
    };
    if longest > MAX_USER_MATCH_LEN {
        push(
            path.into(),
            ProblemKind::TooLong,
            format!("can match {longest} bytes, limit is {MAX_USER_MATCH_LEN}"),
        );
        return None;
    }
    match RegexBuilder::new(&pattern).build() {
        Ok(r) => Some((r, longest.max(1))),
        Err(e) => {
            push(path.into(), ProblemKind::Regex, e.to_string());
            None
        }
    }
}

/// Rewrites `x*`, `x+`, `x{n,}` into `x{min,max(min,cap)}`.
fn cap_repetitions(hir: &Hir, cap: u32) -> Hir {
    match hir.kind() {
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            min: rep.min,
            max: Some(rep.max.unwrap_or(cap).max(rep.min)),
            greedy: rep.greedy,
            sub: Box::new(cap_repetitions(&rep.sub, cap)),
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            index: c.index,
            name: c.name.clone(),
            sub: Box::new(cap_repetitions(&c.sub, cap)),
        }),
        HirKind::Concat(subs) => {
            Hir::concat(subs.iter().map(|h| cap_repetitions(h, cap)).collect())
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().map(|h| cap_repetitions(h, cap)).collect())
        }
        _ => hir.clone(),
    }
}
