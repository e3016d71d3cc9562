"""Drives kubewitness's MCP gateway with the official Python MCP SDK (`pip install mcp`).

Usage: client.py SPEC.json. The spec names the transport and the calls:

    {"transport": "stdio", "command": "/path/kubewitness", "args": ["mcp", "--config", "f"]}
    {"transport": "http", "url": "https://127.0.0.1:N/mcp", "token": "...", "ca": "ca.crt",
     "origin": "https://page.example"}   # origin: optional

plus "calls": [{"id": "...", "tool": "...", "arguments": {...}}] and optionally "handshake":
"discover" (default "initialize"). Prints one JSON object:
{"protocol": ..., "tools": [{"name", "description", "inputSchema"}], "calls": {id: {"isError",
"text"}}}. A call that raises is reported as {"exception": "..."}. With "origin", one raw
`initialize` POST is sent with that Origin and only {"status": N} is printed.
"""

import asyncio
import json
import ssl
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


async def run_calls(session, spec):
    # "initialize": the handshake of the 2024-11-05 .. 2025-11-25 protocol versions;
    # "discover": the 2026-07-28 protocol (server/discover, no handshake, per-request metadata).
    if spec.get("handshake", "initialize") == "discover":
        await session.discover()
    else:
        await session.initialize()
    listed = await session.list_tools()
    out = {
        "protocol": str(session.protocol_version),
        "tools": [
            {"name": t.name, "description": t.description, "inputSchema": t.input_schema}
            for t in listed.tools
        ],
        "calls": {},
    }
    for call in spec["calls"]:
        try:
            result = await session.call_tool(call["tool"], call.get("arguments", {}))
            text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
            out["calls"][call["id"]] = {"isError": bool(result.is_error), "text": text}
        except Exception as e:  # reported, not raised: the Rust test says which call failed
            out["calls"][call["id"]] = {"exception": repr(e)}
    return out


async def post_from_origin(http, spec):
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "page", "version": "1"}}}
    headers = {"Origin": spec["origin"], "Accept": "application/json, text/event-stream"}
    r = await http.post(spec["url"], json=body, headers=headers)
    return {"status": r.status_code}


async def main(spec):
    if spec["transport"] == "stdio":
        params = StdioServerParameters(command=spec["command"], args=spec["args"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                return await run_calls(session, spec)
    import httpx2

    tls = ssl.create_default_context(cafile=spec["ca"])
    headers = {"Authorization": "Bearer " + spec["token"]}
    async with httpx2.AsyncClient(headers=headers, verify=tls, timeout=30) as http:
        if "origin" in spec:  # what a page in a browser would send: only the HTTP status
            return await post_from_origin(http, spec)
        async with streamable_http_client(spec["url"], http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                return await run_calls(session, spec)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    print(json.dumps(asyncio.run(main(spec))))
