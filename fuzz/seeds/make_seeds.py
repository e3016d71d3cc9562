#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/corpus/<target>/seed-*) from real captures and
examples in the repository. Run from fuzz/: python3 seeds/make_seeds.py"""
import base64, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

def out(target, name, data):
    d = os.path.join(ROOT, "fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

def capture(name):
    with open(os.path.join(ROOT, "proxy-core/src/spdy/testdata", name)) as f:
        return bytes.fromhex("".join(f.read().split()))

kubectl, kubelet = capture("kubectl_exec_tty.hex"), capture("kubelet_exec_tty.hex")

# spdy_decoder: [n][n chunk sizes][wire]
for name, wire in [("kubectl", kubectl), ("kubelet", kubelet)]:
    out("spdy_decoder", name, bytes([2, 3, 11]) + wire)
    out("spdy_decoder", name + "-bytewise", bytes([1, 1]) + wire)

# spdy_header_block: the compressed SYN_STREAM header blocks of the kubectl capture, in
# order through one context ([count][u16 len][block]...), then header maps.
blocks = []
i = 0
while i + 8 <= len(kubectl):
    ctrl = kubectl[0] & 0x80
    head = kubectl[i:i + 8]
    length = int.from_bytes(head[5:8], "big")
    if head[0] & 0x80 and head[2:4] == b"\x00\x01":
        blocks.append(kubectl[i + 8 + 10:i + 8 + length])
    i += 8 + length
data = bytes([len(blocks[:3])])
for b in blocks[:3]:
    data += struct.pack(">H", len(b)) + b
out("spdy_header_block", "kubectl-blocks", data)
out("spdy_header_block", "maps", b"\x00\x02\x0astreamtype\x05stdin\x04port\x0280\x03\x01a\x00\x01b\x01x\x01c\x02yy")

# websocket_codec: [channel][message]
for name, msg in [("v5-stdin", b"\x00ls\n"), ("v5-close", b"\xff\x00"),
                  ("resize", b'\x04{"Width":80,"Height":24}'),
                  ("base64", b"1" + base64.b64encode(b"hello world\n")),
                  ("status", b'\x03{"kind":"Status","status":"Success"}')]:
    out("websocket_codec", name, b"\x01" + msg)

# websocket_serve: [choice][frames]; choice 0x80 = framed, 0x08 stdin, 0x40 tty
def frame(opcode, payload):
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload
out("websocket_serve", "v5-stdin-close",
    bytes([0x80 | 0x08 | 0x10]) + frame(2, b"\x00ls\n") + frame(2, b"\xff\x00") + frame(8, b"\x03\xe8"))
resize = b"4" + base64.b64encode(b'{"Width":80,"Height":24}')
out("websocket_serve", "v4base64-tty",
    bytes([0x80 | 0x08 | 0x40 | 2]) + frame(1, b"0" + base64.b64encode(b"id\n")) + frame(1, resize))
out("websocket_serve", "raw-masked", bytes([0x08 | 0x10]) + b"\x82\x84\x01\x02\x03\x04\x01\x6e\x70\x0e")
out("websocket_serve", "ping", bytes([0x80 | 0x18]) + frame(9, b"hi") + frame(2, b"\x00x"))

# portforward_serve: [mode][ops] (proxy-core/src/fuzz_bridge/portforward_wire.rs). Mode bits:
# 0x01 tunnel, 0x02 one message per op, 0x04 echo, 0x10 hold, 0x20 close stdout,
# 0x40 fail, 0x80 drop pairs. Ops: 0 SYN_STREAM [id][headers][args], 1 DATA [id][len<<1|fin]
# [payload], 2 RST [id][status], 3 PING, 4 GOAWAY, 5 raw, 6 pause [s], 7 other frame,
# 8 WebSocket control, 9 drop shutdown.
def syn(kind, rid):
    return bytes([0, 0, kind, rid])
def pf_data(payload, fin):
    return bytes([1, 0, len(payload) << 1 | fin]) + payload
pair = syn(0, 7) + syn(1, 7) + pf_data(b"GET / HTTP/1.1\r\n\r\n", 0) + pf_data(b"", 1) + b"\x06\x01"
out("portforward_serve", "pair-echo", b"\x04" + pair)
out("portforward_serve", "pair-tunnel", b"\x07" + pair + b"\x08\x03")
out("portforward_serve", "pair-hold-fail", b"\x70" + pair)
out("portforward_serve", "bad-headers", b"\x04" + bytes([0, 0, 2, 0, 0, 0, 3, 0, 0, 8, 0, 0, 0, 12, 0,
    0, 0, 9, 2, 0, 0, 0, 0x20, 0, 0, 0x31, 3]) + b"a b" + bytes([0, 0, 0, 9, 0, 0, 5, 9, 9]) + pf_data(b"lost", 1))
out("portforward_serve", "pair-flood", b"\x10" + b"".join(syn(0, r) + syn(1, r) for r in range(100)))
out("portforward_serve", "timeouts-resets", b"\x05" + syn(0, 1) + b"\x06\x28\x03\x00\x01" + syn(0, 2)
    + syn(1, 2) + pf_data(b"abc", 0) + bytes([2, 0, 5, 8, 0x10]) + b"ping" + bytes([8, 3, 9]))
# Found a bug: DATA on a stream never opened (id 99), each answered with a larger reset.
out("portforward_serve", "invalid-stream-flood", b"\x00" + bytes([1, 0xc0, 0x00, 0x63, 0]) * 40)

# request_classifier: [choice][path?query]
for name, choice, req in [
    ("exec", 1, b"/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=echo%20hi&stdin=true&stdout=true&tty=true&container=app"),
    ("exec-get", 0, b"/api/v1/namespaces/default/pods/web-0/exec?command=date&stdout=1&stderr=1"),
    ("attach", 1, b"/api/v1/namespaces/kube-system/pods/dns/attach?stdin=true&stdout=true&tty=true"),
    ("log", 0, b"/api/v1/namespaces/default/pods/web-0/log?follow=true&tailLines=10"),
    ("watch", 0, b"/api/v1/watch/namespaces/default/pods?watch=1&watch=true"),
    ("apps", 0, b"/apis/apps/v1/namespaces/default/deployments/web"),
    ("discovery", 0, b"/apis"),
]:
    out("request_classifier", name, bytes([choice]) + req)
out("request_classifier", "built", b"\x80\x07default\x05web-0command=ls&command=-la&stdout=true&stderr=true")

# redactor: seed(8) cuts(1+2n) plants(1+3n) text
for kind in range(10):
    out("redactor", "kind%d" % kind,
        bytes([kind + 1, 2, 3, 4, 5, 6, 7, 8, 2, 0, 20, 0, 60, 1, kind, 0, 4])
        + b"2024-01-01 INFO starting\nuser=bob token_type=Bearer request_id=42\n")
# Kubernetes output the redactor decodes: a Secret, a kubeconfig, a docker config, an
# Authorization header of another scheme (plain text here; the plants carry the secrets).
out("redactor", "k8s-shapes",
    bytes([9, 8, 7, 6, 5, 4, 3, 2, 3, 0, 30, 0, 90, 1, 10, 2, 6, 0, 40, 0, 7, 0, 120])
    + b"apiVersion: v1\ndata:\n  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\nkind: Secret\n"
    + b"{\"kind\":\"Secret\",\"data\":{\"a\":\"YQ==\"},\"type\":\"Opaque\"}\n"
    + b"users:\n- user:\n    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRF\n"
    + b"{\"auths\":{\"r\":{\"auth\":\"dTpw\"}}}\nAuthorization: Digest username=\"u\", response=\"6629fae4\"\n")

# recording_chunk: a chunk header with an empty payload, and garbage.
header = b"KWRC\x01\x00\x00\x00" + b"\x00" * 16 + b"\x00" * 8 + b"\x00" * 32 + struct.pack(">III", 0, 0, 0)
out("recording_chunk", "empty-header", header)
out("recording_chunk", "truncated", header[:40])

# recording_verify: [kind][object][args...]
for kind in range(5):
    out("recording_verify", "mutation%d" % kind, bytes([kind, kind + 1, 0, 77, 0x20, 9]))

# config_policy: the examples, and small documents.
for name in os.listdir(os.path.join(ROOT, "examples")):
    with open(os.path.join(ROOT, "examples", name), "rb") as f:
        out("config_policy", name, f.read())
out("config_policy", "rules", b"rules:\n- id: internal-token\n  regex: 'itk_[a-z0-9]{20}'\n")
