//! The MCP gateway as agents use it: the official Python MCP SDK client over stdio
//! (`kubewitness mcp`) and over Streamable HTTP (`/mcp`, two agents with their own
//! tokens), and the MCP Inspector CLI, against the simulated API server; `prom_query`
//! against a real Prometheus.

// The testbed and Python helpers are shared with proxy-core's kubectl tests; not all are
// used here.
#[allow(dead_code)]
#[path = "../../../proxy-core/tests/kubectl/support.rs"]
mod support;

// The real Prometheus (started and backfilled once per test binary) and the HTTP gateway
// client of proxy-core's Prometheus gateway tests.
#[allow(dead_code)]
#[path = "../../../proxy-core/tests/prometheus/support.rs"]
mod prom_support;

mod agent_a;
mod bed;
mod http;
mod inspector;
mod prom;
mod stdio;
