#!/usr/bin/env python3
"""Writes kubectl-like SPDY/3.1 byte sequences for the decoder tests.

Header blocks are compressed the way Go's spdystream does it: one zlib stream per
direction, level 9 (zlib.BestCompression), the 1423-byte SPDY/3 dictionary, a sync flush
after each block and never a finish. Run from this directory:

    python3 make_capture.py ../zlib/dictionary.bin

It rewrites kubectl_exec_tty.hex (client -> server: what kubectl sends for
`kubectl exec -it pod -- sh` under v4.channel.k8s.io) and kubelet_exec_tty.hex
(server -> client: the replies, output, exit status 3, resets and GOAWAY).
"""
import struct
import sys
import zlib

DICT = open(sys.argv[1], "rb").read()
assert len(DICT) == 1423 and zlib.adler32(DICT) == 0xE3C6A7C2


def control(ty, flags, payload):
    return struct.pack(">HHI", 0x8000 | 3, ty, (flags << 24) | len(payload)) + payload


def data(sid, flags, payload):
    return struct.pack(">II", sid, (flags << 24) | len(payload)) + payload


def block(z, pairs):
    raw = struct.pack(">I", len(pairs))
    for name, value in pairs:
        raw += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    return z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)


def syn_stream(z, sid, stream_type):
    hb = block(z, [(b"streamtype", stream_type)])
    return control(1, 0, struct.pack(">IIBB", sid, 0, 0, 0) + hb)


def syn_reply(z, sid):
    return control(2, 0, struct.pack(">I", sid) + block(z, []))


def ping(pid):
    return control(6, 0, struct.pack(">I", pid))


def rst(sid, status):
    return control(3, 0, struct.pack(">II", sid, status))


def goaway(last, status):
    return control(7, 0, struct.pack(">II", last, status))


def compressor():
    return zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICT)


c = compressor()
client = b"".join([
    syn_stream(c, 1, b"error"),
    syn_stream(c, 3, b"stdin"),
    syn_stream(c, 5, b"stdout"),
    syn_stream(c, 7, b"resize"),
    data(7, 0, b'{"Width":80,"Height":24}\n'),
    ping(1),
    data(3, 0, b"echo hi; exit 3\n"),
    data(3, 1, b""),
    ping(3),
    goaway(0, 0),
])

s = compressor()
status = (b'{"metadata":{},"status":"Failure","message":"command terminated with non-zero '
          b'exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":'
          b'[{"reason":"ExitCode","message":"3"}]}}')
server = b"".join([
    syn_reply(s, 1),
    syn_reply(s, 3),
    syn_reply(s, 5),
    ping(1),
    syn_reply(s, 7),
    data(5, 0, b"hi\r\n"),
    ping(3),
    data(1, 0, status),
    rst(1, 5),
    rst(5, 5),
    goaway(7, 0),
])

for name, blob in [("kubectl_exec_tty.hex", client), ("kubelet_exec_tty.hex", server)]:
    with open(name, "w") as f:
        for i in range(0, len(blob), 32):
            f.write(blob[i:i + 32].hex() + "\n")
