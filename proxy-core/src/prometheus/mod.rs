//! The Prometheus gateway: read-only PromQL for people and agents, scoped to their
//! namespaces, with hard limits.
//!
//! Handing a debugging agent a Prometheus token is handing it every team's metrics and a
//! way to take monitoring down (`{__name__=~".+"}` over 30 days). The gateway answers the
//! Prometheus HTTP API under `/prometheus/api/v1/` on kubewitness's own listener, so
//! Grafana, `promtool query` and HTTP clients use it as a data source, and nothing reaches
//! the backend before:
//!
//! 1. the caller is authenticated like every other request (`server/route.rs`), and a
//!    policy rule with `metrics:` applies to them ([`crate::policy::metrics`]; deny by
//!    default), within its `queriesPerMinute`;
//! 2. the query is parsed and checked ([`promql`]): length, selectors that could read
//!    everything, the time it reads (`maxRange`), the step (`minStep`, 11,000 points);
//! 3. the caller's namespaces are injected into every selector and the query re-serialised
//!    ([`promql`]; `match[]` of `series`/`labels` too), so no answer holds another
//!    namespace's series;
//! 4. the series the selectors match are counted (`/api/v1/series`, read no further than
//!    `maxSeries + 1`, [`response::SeriesCounter`]) and too many is a refusal with the count.
//!
//! Then the rewritten query goes to the backend with `limit` and `timeout`, using
//! kubewitness's own credential ([`backend`]); string values in the answer pass through the
//! redactor and the answer is cut at `maxResultBytes` with a warning ([`response`]). Every
//! request is audited ([`audit`]) and recorded as a session of kind `metrics` ([`record`]).
//! Errors keep Prometheus's shape ([`error`]).
//!
//! [`Gateway::query_for`] is the one code path, and [`http::answer`] wraps it with the audit
//! line and the recording for every front end: the HTTP one ([`http`]) and the MCP tool
//! `prom_query` ([`crate::mcp`]).

pub mod audit;
pub mod backend;
pub mod error;
pub mod gateway;
pub mod http;
pub mod params;
pub mod plan;
pub mod promql;
pub mod record;
pub mod response;

pub use crate::config::PrometheusConfig;
pub use backend::Backend;
pub use error::{ErrorKind, GatewayError};
pub use gateway::{Ask, Gateway, Outcome};
pub use params::{Endpoint, Params};
