//! One gateway request from an authenticated identity to its answer: grant, rate limit,
//! plan, series count, backend call, redaction, size cap; with the audit facts of each step.
//! [`Gateway::query_for`] is the one code path every front end (HTTP, MCP) goes through.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

use super::audit::MetricsAudit;
use super::backend::Backend;
use super::error::{ErrorKind, GatewayError};
use super::params::{Endpoint, Params};
use super::plan::{Plan, plan, seconds};
use super::response::{self, SeriesCounter};
use crate::auth::Identity;
use crate::policy::limiter::Limiter;
use crate::policy::{MetricsLimits, Policy, RateLimit};

/// The largest backend answer read, whatever `maxResultBytes` says.
pub const MAX_BACKEND_BODY: usize = 32 << 20;
/// How many times `maxResultBytes` a backend answer may be before it is refused instead of
/// cut (cutting needs the whole answer in memory).
pub const CUT_FACTOR: usize = 4;

/// The gateway: the backend and the per-identity query rate.
#[derive(Debug)]
pub struct Gateway {
    backend: Backend,
    limiter: Arc<Limiter>,
}

/// One request to answer: who asks what, under which policy.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The policy in force.
    pub policy: &'a Policy,
    /// The authenticated caller.
    pub identity: &'a Identity,
    /// The endpoint.
    pub endpoint: &'a Endpoint,
    /// Its parameters.
    pub params: &'a Params,
    /// Masks secrets in string values of the answer, when set.
    pub redactor: Option<&'a redact::Redactor>,
}

/// What one request produced.
#[derive(Debug)]
pub struct Outcome {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Bytes,
    /// For a rate-limit refusal, when to retry.
    pub retry_after: Option<Duration>,
    /// The audit facts.
    pub audit: MetricsAudit,
}

impl Gateway {
    /// A gateway to `backend`.
    pub fn new(backend: Backend) -> Gateway {
        Gateway {
            backend,
            limiter: Limiter::new(),
        }
    }

    /// Answers `ask`: the one code path of every front end.
    pub async fn query_for(&self, ask: &Ask<'_>) -> Outcome {
        let mut audit = MetricsAudit::new(ask.identity, ask.endpoint);
        audit.asked(ask.params);
        match self.answer(ask, &mut audit).await {
            Ok(body) => {
                audit.bytes = body.len() as u64;
                audit.decision = "allow";
                Outcome {
                    status: StatusCode::OK,
                    body,
                    retry_after: None,
                    audit,
                }
            }
            Err(e) => {
                audit.decision = "deny";
                audit.reason = e.message.clone();
                let body = Bytes::from(e.to_json());
                audit.bytes = body.len() as u64;
                let retry_after = match e.kind {
                    ErrorKind::RateLimited(d) => Some(d),
                    _ => None,
                };
                Outcome {
                    status: e.status(),
                    body,
                    retry_after,
                    audit,
                }
            }
        }
    }

    async fn answer(&self, ask: &Ask<'_>, audit: &mut MetricsAudit) -> Result<Bytes, GatewayError> {
        let Ask {
            policy,
            identity,
            endpoint,
            params,
            redactor,
        } = *ask;
        let (rule, limits) = policy
            .metrics_grant(&identity.user, &identity.groups)
            .map_err(|e| GatewayError::new(ErrorKind::Forbidden, e.0))?;
        audit.rule = Some(rule.clone());
        self.rate(&identity.user, &rule, &limits)?;
        let plan = plan(endpoint, params, &limits, now_ms())?;
        audit.planned(&plan);
        if let Some((selectors, interval)) = &plan.count {
            let n = self.count_series(selectors, *interval, &limits).await?;
            audit.series = Some(n);
            if n > limits.max_series {
                return Err(GatewayError::limit(format!(
                    "the query's selectors match more than {} series (counted {n} before stopping); maxSeries is {}",
                    limits.max_series, limits.max_series
                )));
            }
        }
        let mut answer = self.fetch(&plan, &limits).await?;
        if *endpoint == Endpoint::Metadata {
            self.scope_metadata(&mut answer, &plan, &limits).await?;
        }
        if let Some(r) = redactor {
            audit.findings = response::redact(&mut answer, r) as u64;
        }
        let max = usize::try_from(limits.max_result_bytes).unwrap_or(usize::MAX);
        response::fit(answer, max).map(Bytes::from).ok_or_else(|| {
            GatewayError::limit(format!(
                "the answer does not fit in maxResultBytes ({max} bytes)"
            ))
        })
    }

    fn rate(&self, user: &str, rule: &str, limits: &MetricsLimits) -> Result<(), GatewayError> {
        let per_minute = limits.queries_per_minute;
        let rate = RateLimit {
            requests_per_second: Some(per_minute as f64 / 60.0),
            burst: per_minute,
            max_concurrent_streams: None,
        };
        self.limiter
            .check_request(user, &format!("metrics/{rule}"), &rate, Instant::now())
            .map_err(|l| {
                GatewayError::new(
                    ErrorKind::RateLimited(l.retry_after),
                    format!(
                        "queriesPerMinute of {per_minute} exceeded; retry in {}s",
                        l.retry_after.as_secs().max(1)
                    ),
                )
            })
    }

    /// Counts the series `selectors` match over `interval`, reading no further than
    /// `maxSeries + 1`.
    async fn count_series(
        &self,
        selectors: &[String],
        interval: super::promql::Interval,
        limits: &MetricsLimits,
    ) -> Result<u64, GatewayError> {
        let mut form: Vec<(String, String)> = selectors
            .iter()
            .map(|s| ("match[]".to_string(), s.clone()))
            .collect();
        form.push(("start".into(), seconds(interval.from_ms)));
        form.push(("end".into(), seconds(interval.to_ms)));
        form.push(("limit".into(), (limits.max_series + 1).to_string()));
        let mut counter = SeriesCounter::default();
        let status = self
            .backend
            .fetch_streaming("/api/v1/series", &form, limits.timeout, |chunk| {
                counter.feed(chunk);
                counter.count <= limits.max_series
            })
            .await?;
        if status != StatusCode::OK {
            return Err(GatewayError::new(
                ErrorKind::Unavailable,
                format!("the Prometheus backend answered {status} when counting series"),
            ));
        }
        Ok(counter.count)
    }

    /// Sends the plan and reads the answer (bounded), passing backend errors on.
    async fn fetch(&self, plan: &Plan, limits: &MetricsLimits) -> Result<Value, GatewayError> {
        let max = usize::try_from(limits.max_result_bytes).unwrap_or(usize::MAX);
        let cap = max.saturating_mul(CUT_FACTOR).min(MAX_BACKEND_BODY);
        let (status, body) = self
            .backend
            .fetch(&plan.path, &plan.form, limits.timeout, cap)
            .await?;
        let Some(body) = body else {
            return Err(GatewayError::limit(format!(
                "the answer is larger than {CUT_FACTOR} × maxResultBytes ({max} bytes); narrow the query"
            )));
        };
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            GatewayError::new(
                ErrorKind::Unavailable,
                format!("the Prometheus backend answered {status} with a body that is not JSON"),
            )
        })?;
        if status == StatusCode::OK && value["status"] == "success" {
            return Ok(value);
        }
        Err(backend_error(status, &value))
    }

    /// Keeps only the metadata of metrics that have series in the caller's namespaces.
    async fn scope_metadata(
        &self,
        answer: &mut Value,
        plan: &Plan,
        limits: &MetricsLimits,
    ) -> Result<(), GatewayError> {
        let names_plan = Plan {
            path: Endpoint::LabelValues("__name__".into()).path(),
            ..plan.clone()
        };
        let names = self.fetch(&names_plan, limits).await?;
        let allowed: Vec<&str> = names["data"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(map) = answer.get_mut("data").and_then(Value::as_object_mut) {
            map.retain(|metric, _| allowed.contains(&metric.as_str()));
        }
        Ok(())
    }
}

/// A backend error answer, in its own terms when it has them.
fn backend_error(status: StatusCode, value: &Value) -> GatewayError {
    let message = value["error"]
        .as_str()
        .unwrap_or("the Prometheus backend failed")
        .to_string();
    let kind = match (status.as_u16(), value["errorType"].as_str()) {
        (400, _) | (_, Some("bad_data")) => ErrorKind::BadData,
        (422, _) | (_, Some("execution")) => ErrorKind::Limit,
        (_, Some("timeout")) => ErrorKind::Timeout,
        _ => ErrorKind::Unavailable,
    };
    GatewayError::new(kind, message)
}

fn now_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
