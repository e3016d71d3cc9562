//! The MCP gateway as agents use it: the official Python MCP SDK client over stdio
//! (`kubewitness mcp`) and over Streamable HTTP (`/mcp`, two agents with their own
//! tokens), and the MCP Inspector CLI, against the simulated API server.

mod bed;
mod http;
mod inspector;
mod stdio;
