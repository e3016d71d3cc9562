#!/usr/bin/env python3
"""A second, independent verifier of kubewitness recordings, written only from
docs/RECORDING-FORMAT.md (version 2): sessions, digest chains, audit segments, rotations.

    python3 tools/verify_recordings.py --store DIR [--public-key FILE]... [--keyring FILE]
        [--since T] [--until T] [--instance NAME] [--json]

DIR is a file:// store's directory. Exit codes as `kubewitness verify`: 0 when everything
checked is intact, 1 when anything is not, 2 for bad usage. Needs `cryptography` (Ed25519)
and `zstandard`.
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import struct
import sys

try:
    import zstandard
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat, load_pem_public_key)
except ImportError as e:  # pragma: no cover
    print(f"verify_recordings: missing package ({e}); pip install cryptography zstandard",
          file=sys.stderr)
    sys.exit(2)

MAX_SEAL = 64 * 1024
MAX_DIGEST = 2 << 20
MAX_DIGEST_SESSIONS = 10_000
MAX_OBJECT = 32 << 20
MAX_PAYLOAD = 16 << 20
MAX_EVENT = 1 << 20
SEAL_CONTEXT = b"kubewitness-seal-v1\n"
DIGEST_CONTEXT = b"kubewitness-digest-v2\n"
SEAL_FORMAT = "kubewitness-recording/1"
DIGEST_FORMAT = "kubewitness-digest/2"
ZERO = "0" * 64
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$", re.I)
INSTANCE_RE = re.compile(r"^[a-z0-9_-][a-z0-9._-]{0,62}$")
CHUNK_RE = re.compile(r"^(\d{10})\.chunk$")
DIGEST_RE = re.compile(r"^(\d{10})\.digest$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Bad(Exception):
    """The object is not what the format says."""


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def read(path):
    if os.path.getsize(path) > MAX_OBJECT:
        raise Bad("too large")
    with open(path, "rb") as f:
        return f.read()


def ulid_int(s):
    if not ULID_RE.match(s):
        return None
    n = 0
    for c in s.upper():
        n = n * 32 + CROCKFORD.index(c)
    return n


def ulid_ms(s):
    n = ulid_int(s)
    return 0 if n is None else n >> 80


def load_key(text):
    t = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", t):
        return bytes.fromhex(t)
    key = load_pem_public_key(t.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- signed two-line objects ------------------------------------------------------------

def split_signed(obj, limit):
    if len(obj) > limit:
        raise Bad("too long")
    try:
        text = obj.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("not UTF-8")
    if not text.endswith("\n"):
        raise Bad("no final newline")
    lines = text[:-1].split("\n")
    if len(lines) != 2:
        raise Bad("not two lines")
    body, sig = lines
    if sig == "unsigned":
        return body, None
    if not sig.startswith("ed25519 ") or not re.fullmatch(r"[0-9a-f]{128}", sig[8:]):
        raise Bad("bad signature line")
    return body, bytes.fromhex(sig[8:])


def signer_key(info):
    if set(info) != {"algorithm", "publicKey", "fingerprint"} or info["algorithm"] != "ed25519":
        raise Bad("bad signer")
    pk = info["publicKey"]
    if not isinstance(pk, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", pk):
        raise Bad("bad public key")
    raw = bytes.fromhex(pk)
    if sha256(raw) != info["fingerprint"]:
        raise Bad("fingerprint does not match the key")
    return raw


def check_signature(signer, sig, context, body):
    """The raw key that signed, None when unsigned; raises Bad when it does not verify."""
    if signer is None and sig is None:
        return None
    if signer is None or sig is None:
        raise Bad("signer and signature disagree")
    raw = signer_key(signer)
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, context + body.encode())
    except (InvalidSignature, ValueError):
        raise Bad("signature does not verify")
    return raw


def strict_json(body, required, optional=()):
    try:
        v = json.loads(body)
    except ValueError:
        raise Bad("not JSON")
    if not isinstance(v, dict) or not set(required) <= set(v) or \
            not set(v) <= set(required) | set(optional):
        raise Bad("unexpected fields")
    return v


# --- sessions ---------------------------------------------------------------------------

def decode_chunk(obj):
    if len(obj) < 76 or obj[:4] != b"KWRC" or obj[4] != 1 or obj[5:8] != b"\0\0\0":
        raise Bad("bad header")
    sid = int.from_bytes(obj[8:24], "big")
    seq, = struct.unpack(">Q", obj[24:32])
    prev = obj[32:64].hex()
    count, dlen, zlen = struct.unpack(">III", obj[64:76])
    if dlen > MAX_PAYLOAD or len(obj) != 76 + zlen:
        raise Bad("bad lengths")
    try:
        payload = zstandard.ZstdDecompressor().decompress(obj[76:], max_output_size=dlen)
    except zstandard.ZstdError:
        raise Bad("zstd")
    if len(payload) != dlen:
        raise Bad("payload length")
    events, at = [], 0
    while at < len(payload):
        if len(payload) - at < 13:
            raise Bad("truncated event")
        kind, t, n = struct.unpack(">BQI", payload[at:at + 13])
        if kind not in (1, 2, 3, 4, 5) or n > MAX_EVENT or at + 13 + n > len(payload):
            raise Bad("bad event")
        body = payload[at + 13:at + 13 + n]
        if kind in (2, 3) and (n < 1 or body[0] not in (0, 1, 2, 4)):
            raise Bad("bad channel")
        if kind == 3 and n != 1:
            raise Bad("bad close")
        if kind == 1:
            try:
                body = json.loads(body)
            except ValueError:
                raise Bad("start is not JSON")
        events.append((kind, body))
        at += 13 + n
    if len(events) != count:
        raise Bad("event count")
    return sid, seq, prev, events


SEAL_FIELDS = ("format", "session", "chunks", "finalHash", "events", "bytes", "startMs",
               "end", "signer")


def check_session(store, prefix, sid, trusted):
    """(intact, report) for the session `sid` whose objects are in store/prefix."""
    rep = {"session": sid, "sealHash": None, "instance": None, "endMs": None}
    folder = os.path.join(store, prefix)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return False, rep
    ok = True
    positions = set()
    for n in names:
        m = CHUNK_RE.match(n)
        if m:
            positions.add(int(m.group(1)))
        elif n != "seal":
            ok = False
    if "seal" not in names:
        return False, rep
    try:
        sobj = read(os.path.join(folder, "seal"))
        rep["sealHash"] = sha256(sobj)
        body, sig = split_signed(sobj, MAX_SEAL)
        seal = strict_json(body, SEAL_FIELDS)
        rep["endMs"] = seal["end"]["endMs"]
        key = check_signature(seal["signer"], sig, SEAL_CONTEXT, body)
        if seal["format"] != SEAL_FORMAT or seal["session"] != sid:
            ok = False
        if set(seal["bytes"]) != {"stdin", "stdout", "stderr", "resize"}:
            ok = False
    except (Bad, KeyError, TypeError, OSError):
        return False, rep
    count = seal["chunks"]
    if positions != set(range(count)):
        ok = False
    totals = {"stdin": 0, "stdout": 0, "stderr": 0, "resize": 0}
    names_of = {0: "stdin", 1: "stdout", 2: "stderr", 4: "resize"}
    nevents, prev, declared = 0, ZERO, "unset"
    for pos in range(count):
        try:
            cobj = read(os.path.join(folder, f"{pos:010}.chunk"))
            cid, seq, cprev, events = decode_chunk(cobj)
        except (Bad, OSError):
            return False, rep
        if cid != ulid_int(sid) or seq != pos or cprev != prev:
            ok = False
        for i, (kind, ebody) in enumerate(events):
            if kind == 1:
                if pos != 0 or i != 0 or not isinstance(ebody, dict) or ebody.get("session") != sid:
                    ok = False
                    continue
                declared = ebody.get("signer")
                rep["instance"] = ebody.get("instance")
            elif kind == 2:
                if ebody[0] in names_of:
                    totals[names_of[ebody[0]]] += len(ebody) - 1
        if pos == 0 and (not events or events[0][0] != 1):
            ok = False
        nevents += len(events)
        prev = sha256(cobj)
    if count == 0 or seal["finalHash"] != prev:
        ok = False
    if seal["events"] != nevents or seal["bytes"] != totals:
        ok = False
    fp = seal["signer"]["fingerprint"] if seal["signer"] else None
    if declared != "unset" and declared != fp:
        ok = False
    if trusted and key not in trusted:
        ok = False
    return ok, rep


# --- digests ----------------------------------------------------------------------------

DIGEST_FIELDS = ("format", "instance", "seq", "startMs", "endMs", "intervalMs", "prev",
                 "sessions", "audit", "recovered", "signer")


def parse_digest(obj):
    body, sig = split_signed(obj, MAX_DIGEST)
    d = strict_json(body, DIGEST_FIELDS, ("nextSigner", "grants"))
    if d["format"] != DIGEST_FORMAT or len(d["sessions"]) > MAX_DIGEST_SESSIONS:
        raise Bad("format")
    return d, body, sig


class Chain:
    def __init__(self, instance):
        self.instance = instance
        self.listed = {}
        self.audits = []
        self.grants = {}
        self.keys = []
        self.last_end = None
        self.first_start = None
        self.interval = 0
        self.findings = set()
        self.digests = 0

    def modified(self, seq):
        self.findings.add(("digestModified", self.instance, seq))

    def collect(self, d):
        nxt = d.get("nextSigner")
        if nxt:
            try:
                k = signer_key(nxt)
                if k not in self.keys:
                    self.keys.append(k)
            except Bad:
                pass
        for entry in d["sessions"]:
            self.listed.setdefault(entry["session"], (d["seq"], entry["seal"]))
        for entry in d.get("grants", []):
            self.grants.setdefault(entry["name"], (d["seq"], entry["sha256"]))
        if d["audit"]:
            self.audits.append((d["seq"], d["audit"], d["startMs"], d["endMs"]))
        self.last_end = d["endMs"] if self.last_end is None else max(self.last_end, d["endMs"])
        self.first_start = d["startMs"] if self.first_start is None else \
            min(self.first_start, d["startMs"])
        self.interval = max(self.interval, d["intervalMs"])


def check_chain(store, instance, pinned):
    c = Chain(instance)
    folder = os.path.join(store, "digests", instance)
    seqs = set()
    for n in os.listdir(folder):
        m = DIGEST_RE.match(n)
        if m:
            seqs.add(int(m.group(1)))
        else:
            c.findings.add(("digestModified", instance, None))
    if not seqs:
        return c
    prev = None  # (digest, hash, trusted)
    for seq in range(max(seqs) + 1):
        if seq not in seqs:
            c.findings.add(("digestMissing", instance, seq))
            prev = None
            continue
        c.digests += 1
        try:
            obj = read(os.path.join(folder, f"{seq:010}.digest"))
            d, body, sig = parse_digest(obj)
        except (Bad, OSError):
            c.modified(seq)
            prev = None
            continue
        if d["instance"] != instance or d["seq"] != seq:
            c.modified(seq)
        if prev is not None:
            if d["prev"] != prev[1]:
                c.modified(seq - 1)
        elif seq == 0 and d["prev"] != ZERO:
            c.modified(seq)
        trusted = trust(c, seq, d, body, sig, prev, pinned)
        if trusted:
            c.collect(d)
        prev = (d, sha256(obj), trusted)
    return c


def trust(c, seq, d, body, sig, prev, pinned):
    try:
        key = check_signature(d["signer"], sig, DIGEST_CONTEXT, body)
    except Bad:
        c.modified(seq)
        return False
    if prev is not None and prev[2]:
        named = prev[0].get("nextSigner") or prev[0]["signer"]
        try:
            ok = (named is None and key is None) or \
                (named is not None and key is not None and signer_key(named) == key)
        except Bad:
            ok = False
    elif pinned:
        ok = key is not None and key in list(pinned) + c.keys
    else:
        ok = True
    if not ok:
        c.findings.add(("digestUnknownKey", c.instance, seq))
        return False
    if key is not None and key not in c.keys:
        c.keys.append(key)
    return True


# --- the store --------------------------------------------------------------------------

def verify_store(store, pinned, since, until, only):
    in_range = lambda ms: (since is None or ms >= since) and (until is None or ms <= until)
    overlaps = lambda s, e: (since is None or e >= since) and (until is None or s <= until)
    ddir = os.path.join(store, "digests")
    instances = sorted(i for i in (os.listdir(ddir) if os.path.isdir(ddir) else [])
                       if INSTANCE_RE.match(i) and os.path.isdir(os.path.join(ddir, i)))
    if only:
        instances = [i for i in instances if i == only]
    chains = [check_chain(store, i, pinned) for i in instances]
    findings = set()
    for c in chains:
        findings |= c.findings
    trusted = [k for c in chains for k in c.keys] + list(pinned)
    sessions = sorted(n for n in os.listdir(store)
                      if ulid_int(n) is not None and os.path.isdir(os.path.join(store, n)))
    failed, named = set(), set()
    for sid in sessions:
        if not in_range(ulid_ms(sid)):
            continue
        ok, rep = check_session(store, sid, sid, trusted)
        listed = [c for c in chains if sid in c.listed]
        if only and rep["instance"] != only and not listed:
            continue
        if not ok:
            failed.add(sid)
        if rep["instance"]:
            named.add(rep["instance"])
        if listed:
            seq, h = listed[0].listed[sid]
            if rep["sealHash"] is not None and rep["sealHash"] != h:
                findings.add(("sealMismatch", sid, None))
        elif rep["endMs"] is not None:
            for c in chains:
                if rep["instance"] not in (None, c.instance) or c.first_start is None:
                    continue
                if c.first_start <= rep["endMs"] and rep["endMs"] + c.interval <= c.last_end:
                    findings.add(("unlisted", sid, None))
    present = set(sessions)
    for c in chains:
        for sid, (seq, _) in c.listed.items():
            if sid not in present and in_range(ulid_ms(sid)):
                findings.add(("sessionMissing", sid, None))
        for seq, entry, start, end in c.audits:
            if not overlaps(start, end):
                continue
            prefix = os.path.join("audit", c.instance, entry["session"])
            if not os.path.isdir(os.path.join(store, prefix)) or \
                    not os.listdir(os.path.join(store, prefix)):
                findings.add(("auditMissing", entry["session"], None))
                continue
            ok, rep = check_session(store, prefix, entry["session"], trusted)
            if not ok or rep["sealHash"] != entry["seal"]:
                findings.add(("auditModified", entry["session"], None))
        for name, (seq, h) in c.grants.items():
            # Grant objects listed by a digest: present and unchanged (their signatures
            # and story are checked by `kubewitness verify` only).
            parts = name.split("/")
            if len(parts) != 3 or parts[0] != "grants" or ".." in parts:
                findings.add(("grantModified", name, None))
                continue
            if not in_range(ulid_ms(parts[1]) or 0):
                continue
            path = os.path.join(store, *parts)
            if not os.path.isfile(path):
                findings.add(("grantMissing", name, None))
            else:
                try:
                    same = hashlib.sha256(read(path)).hexdigest() == h
                except Bad:
                    same = False
                if not same:
                    findings.add(("grantModified", name, None))
        if until is not None and c.last_end is not None and c.last_end + c.interval < until:
            findings.add(("truncated", c.instance, None))
    for i in named:
        if not any(c.instance == i and c.digests for c in chains):
            findings.add(("noDigests", i, None))
    return findings, failed


def parse_time(t):
    if t is None:
        return None
    if t.isdigit():
        return int(t)
    dt = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--public-key", action="append", default=[])
    p.add_argument("--keyring")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--instance")
    p.add_argument("--json", action="store_true")
    try:
        a = p.parse_args()
    except SystemExit as e:
        sys.exit(2 if e.code else 0)
    store = a.store[len("file://"):] if a.store.startswith("file://") else a.store
    try:
        keys = [load_key(open(f).read()) for f in a.public_key]
        if a.keyring:
            for line in open(a.keyring):
                line = line.split("#")[0].strip()
                if line:
                    if not re.fullmatch(r"[0-9a-fA-F]{64}", line):
                        raise ValueError(f"{a.keyring}: not 64 hex digits")
                    keys.append(bytes.fromhex(line))
        since, until = parse_time(a.since), parse_time(a.until)
        if not os.path.isdir(store):
            raise ValueError(f"{store}: not a directory")
    except (OSError, ValueError) as e:
        print(f"verify_recordings: {e}", file=sys.stderr)
        sys.exit(2)
    findings, failed = verify_store(store, keys, since, until, a.instance)
    if a.json:
        print(json.dumps({
            "findings": sorted(([k, s, seq] for k, s, seq in findings), key=str),
            "failedSessions": sorted(failed),
        }))
    else:
        for s in sorted(failed):
            print(f"{s}  FAILED")
        for k, s, seq in sorted(findings, key=str):
            print(f"FAIL  {k} {s}" + ("" if seq is None else f" {seq}"))
    sys.exit(1 if findings or failed else 0)


if __name__ == "__main__":
    main()
