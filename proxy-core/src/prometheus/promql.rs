//! PromQL, checked and rewritten before anything reaches the backend. Pure: the gateway,
//! `kubewitness policy explain … promql` and the benchmark run this same code.
//!
//! A query is refused when it is longer than [`MAX_QUERY_LEN`], does not parse, or has a
//! selector that names no metric and carries no non-empty equality matcher
//! (`{__name__=~".+"}` would read every series). The caller's namespaces are then injected
//! as a `namespace=~"…"` matcher into every selector (each `or` group too) and the query is
//! re-serialised, so no part of it can read another namespace. A caller's own `namespace`
//! matcher stays (it can only narrow the answer), except an equality naming a namespace
//! outside the grant, which is refused: asking for another team's series is an error to
//! report, not an empty answer to puzzle over.
//!
//! The time the query reads is computed from the AST ([`Checked::reads`]): the evaluation
//! interval widened by every matrix range, subquery range and offset, and moved by every
//! `@`, so `maxRange` bounds what the backend has to load, not just `end - start`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{self, AtModifier, Expr, Offset, VectorSelector};

use super::error::GatewayError;
use crate::policy::MetricsLimits;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 1000;
/// The label kubewitness scopes series by.
pub const NAMESPACE_LABEL: &str = "namespace";

/// A time interval in Unix milliseconds, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// The earliest instant.
    pub from_ms: i64,
    /// The latest instant.
    pub to_ms: i64,
}

impl Interval {
    /// `to - from`.
    pub fn length(&self) -> Duration {
        Duration::from_millis(self.to_ms.saturating_sub(self.from_ms).max(0) as u64)
    }

    fn union(self, other: Interval) -> Interval {
        Interval {
            from_ms: self.from_ms.min(other.from_ms),
            to_ms: self.to_ms.max(other.to_ms),
        }
    }

    fn shifted_back(self, by_ms: i64, widen_ms: i64) -> Interval {
        Interval {
            from_ms: self.from_ms.saturating_sub(by_ms).saturating_sub(widen_ms),
            to_ms: self.to_ms.saturating_sub(by_ms),
        }
    }
}

/// A query that passed the checks, rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The query with the namespace matcher in every selector.
    pub rewritten: String,
    /// Each distinct selector of the rewritten query, without offset or `@`: what
    /// `/api/v1/series` counts.
    pub selectors: Vec<String>,
    /// The time the query reads.
    pub reads: Interval,
}

/// Checks and rewrites `query`, evaluated over `eval` (`start..end`; one instant for an
/// instant query), for the grant `limits`.
pub fn check_query(
    query: &str,
    eval: Interval,
    limits: &MetricsLimits,
) -> Result<Checked, GatewayError> {
    let mut expr = parse_bounded(query)?;
    let mut selectors = Vec::new();
    let mut reads = eval;
    walk(&mut expr, eval, eval, &mut |vs, span| {
        check_selector(vs)?;
        inject(vs, limits)?;
        reads = reads.union(span);
        let plain = VectorSelector {
            offset: None,
            at: None,
            ..vs.clone()
        }
        .to_string();
        if !selectors.contains(&plain) {
            selectors.push(plain);
        }
        Ok(())
    })?;
    if reads.length() > limits.max_range {
        return Err(GatewayError::limit(format!(
            "the query reads {} of data (its range plus every range, subquery, offset and @ in it); maxRange is {}",
            human(reads.length()),
            human(limits.max_range)
        )));
    }
    Ok(Checked {
        rewritten: expr.to_string(),
        selectors,
        reads,
    })
}

/// Checks and rewrites one `match[]` series selector (`series`, `labels`, label values).
pub fn check_match(selector: &str, limits: &MetricsLimits) -> Result<String, GatewayError> {
    let expr = parse_bounded(selector)?;
    let Expr::VectorSelector(mut vs) = expr else {
        return Err(GatewayError::bad_data(format!(
            "match[] must be a series selector such as up{{job=\"api\"}}, not `{selector}`"
        )));
    };
    check_selector(&vs)?;
    inject(&mut vs, limits)?;
    Ok(vs.to_string())
}

/// The selector that scopes a `labels` or label-values request without `match[]`.
pub fn namespace_selector(limits: &MetricsLimits) -> String {
    format!(
        "{{{NAMESPACE_LABEL}=~\"{}\"}}",
        limits.namespace_regex().replace('\\', "\\\\")
    )
}

fn parse_bounded(query: &str) -> Result<Expr, GatewayError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(GatewayError::bad_data(format!(
            "the query is {} characters long; the limit is {MAX_QUERY_LEN}",
            query.len()
        )));
    }
    if query.trim().is_empty() {
        return Err(GatewayError::bad_data("empty query"));
    }
    parser::parse(query).map_err(|e| GatewayError::bad_data(format!("parse error: {e}")))
}

type Visit<'a> = dyn FnMut(&mut VectorSelector, Interval) -> Result<(), GatewayError> + 'a;

/// Calls `f` on every selector with the interval it reads. `eval` is the interval the
/// expression is evaluated over; `query` the whole query's (for `@ start()`/`@ end()`).
fn walk(
    expr: &mut Expr,
    eval: Interval,
    query: Interval,
    f: &mut Visit<'_>,
) -> Result<(), GatewayError> {
    match expr {
        Expr::VectorSelector(vs) => {
            let span = moved(eval, query, vs.at.as_ref(), vs.offset.as_ref(), 0);
            f(vs, span)
        }
        Expr::MatrixSelector(ms) => {
            let range = millis(ms.range);
            let span = moved(eval, query, ms.vs.at.as_ref(), ms.vs.offset.as_ref(), range);
            f(&mut ms.vs, span)
        }
        Expr::Subquery(sq) => {
            let range = millis(sq.range);
            let inner = moved(eval, query, sq.at.as_ref(), sq.offset.as_ref(), range);
            walk(&mut sq.expr, inner, query, f)
        }
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                walk(p, eval, query, f)?;
            }
            walk(&mut a.expr, eval, query, f)
        }
        Expr::Unary(u) => walk(&mut u.expr, eval, query, f),
        Expr::Paren(p) => walk(&mut p.expr, eval, query, f),
        Expr::Binary(b) => {
            walk(&mut b.lhs, eval, query, f)?;
            walk(&mut b.rhs, eval, query, f)
        }
        Expr::Call(c) => c
            .args
            .args
            .iter_mut()
            .try_for_each(|a| walk(a, eval, query, f)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        // The parser never produces extensions; one here would be unchecked: refuse.
        Expr::Extension(_) => Err(GatewayError::bad_data("unsupported expression")),
    }
}

/// The interval a selector or subquery reads: evaluated over `eval` (or pinned by `@`),
/// moved back by its offset and widened by its range.
fn moved(
    eval: Interval,
    query: Interval,
    at: Option<&AtModifier>,
    offset: Option<&Offset>,
    range_ms: i64,
) -> Interval {
    let base = match at {
        None => eval,
        Some(AtModifier::Start) => Interval {
            from_ms: query.from_ms,
            to_ms: query.from_ms,
        },
        Some(AtModifier::End) => Interval {
            from_ms: query.to_ms,
            to_ms: query.to_ms,
        },
        Some(AtModifier::At(t)) => {
            let ms = unix_ms(*t);
            Interval {
                from_ms: ms,
                to_ms: ms,
            }
        }
    };
    let back = match offset {
        None => 0,
        Some(Offset::Pos(d)) => millis(*d),
        Some(Offset::Neg(d)) => -millis(*d),
    };
    base.shifted_back(back, range_ms)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(d),
        Err(e) => -millis(e.duration()),
    }
}

/// A selector must name a metric or carry a non-empty equality matcher, in every `or` group.
fn check_selector(vs: &VectorSelector) -> Result<(), GatewayError> {
    let pinned = |group: &[Matcher]| {
        group
            .iter()
            .any(|m| matches!(m.op, MatchOp::Equal) && !m.value.is_empty())
    };
    let ok = vs.name.is_some()
        || if vs.matchers.or_matchers.is_empty() {
            pinned(&vs.matchers.matchers)
        } else {
            vs.matchers.or_matchers.iter().all(|g| pinned(g))
        };
    if ok {
        Ok(())
    } else {
        Err(GatewayError::limit(format!(
            "the selector {vs} names no metric and has no non-empty, non-regex matcher: it could read every series"
        )))
    }
}

/// Adds the namespace matcher to every matcher group; refuses an equality matcher on
/// `namespace` outside the grant.
fn inject(vs: &mut VectorSelector, limits: &MetricsLimits) -> Result<(), GatewayError> {
    let Matchers {
        matchers,
        or_matchers,
    } = &mut vs.matchers;
    for m in matchers.iter().chain(or_matchers.iter().flatten()) {
        if m.name == NAMESPACE_LABEL && matches!(m.op, MatchOp::Equal) && !limits.covers(&m.value) {
            return Err(GatewayError::new(
                super::error::ErrorKind::Forbidden,
                format!(
                    "namespace {:?} is not one of your metrics namespaces ({})",
                    m.value,
                    limits
                        .namespaces
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let re = limits.namespace_regex();
    let anchored = regex::Regex::new(&format!("^(?:{re})$"))
        .map_err(|e| GatewayError::bad_data(format!("namespace matcher: {e}")))?;
    let scope = Matcher::new(MatchOp::Re(anchored), NAMESPACE_LABEL, &re);
    if or_matchers.is_empty() {
        matchers.push(scope);
    } else {
        for group in or_matchers.iter_mut() {
            group.push(scope.clone());
        }
    }
    Ok(())
}

/// `1h30m`, `7d`, `500ms`: a duration as PromQL writes it.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, len) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}

#[cfg(test)]
#[path = "promql_tests.rs"]
mod tests;
