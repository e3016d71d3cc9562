//! The MCP gateway as agents use it: the official Python MCP SDK client over stdio
//! (`kubewitness mcp`) and over Streamable HTTP (`/mcp`, two agents with their own
//! tokens), and the MCP Inspector CLI, against the simulated API server; `prom_query`
//! against a real Prometheus.

use kubewitness_test_support::kubectl as support;
// The real Prometheus (started and backfilled once per test binary) and the HTTP gateway
// client of proxy-core's Prometheus gateway tests.
use kubewitness_test_support::prometheus as prom_support;

mod agent_a;
mod bed;
mod grants;
mod http;
mod inspector;
mod prom;
mod stdio;
