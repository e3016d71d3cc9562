"""The official Python client (`pip install kubernetes`) against kubewitness.

Run by tests/kubectl/python.rs as `python3 client.py KUBECONFIG POD` (a pod in namespace
`default`). Prints one JSON object with what each call returned; the Rust test asserts on it.
A case that raises records the exception instead, so one failure does not hide the others.
"""

import base64
import json
import sys
import time
import traceback

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

# Every blocking wait in this script ends after this many seconds.
TIMEOUT = 10


# The offer older releases of the client made (v4 only); newer ones offer v5 first.
V4_ONLY = "v4.channel.k8s.io"


def exec_stream(api, pod, command, offer=None, stdin=False, tty=False, **kwargs):
    if offer:
        kwargs["_headers"] = {"sec-websocket-protocol": offer}
    return stream(
        api.connect_get_namespaced_pod_exec,
        pod,
        "default",
        command=command,
        stderr=True,
        stdin=stdin,
        stdout=True,
        tty=tty,
        _request_timeout=TIMEOUT,
        **kwargs,
    )


def plain(api, pod, offer):
    # The default mode: stdout and stderr gathered into one string.
    return {"output": exec_stream(api, pod, ["echo", "hello", "world"], offer)}


def split(api, pod, offer):
    resp = exec_stream(
        api,
        pod,
        ["sh", "-c", "echo to-out; echo to-err >&2; echo more-out"],
        offer,
        _preload_content=False,
    )
    resp.run_forever(timeout=TIMEOUT)
    return {
        "stdout": resp.read_stdout(),
        "stderr": resp.read_stderr(),
        "returncode": resp.returncode,
        "subprotocol": resp.subprotocol,
    }


def exit_code(api, pod, offer):
    codes = {}
    for name, command in [("three", ["sh", "-c", "exit 3"]), ("zero", ["true"])]:
        resp = exec_stream(api, pod, command, offer, _preload_content=False)
        resp.run_forever(timeout=TIMEOUT)
        codes[name] = resp.returncode
    return codes


def stdin_echo(api, pod, offer):
    resp = exec_stream(api, pod, ["cat"], offer, stdin=True, _preload_content=False)
    # One line at a time: each comes back before the next is sent.
    lines = []
    for line in ["first line", "second line"]:
        resp.write_stdin(line + "\n")
        lines.append(resp.readline_stdout(timeout=TIMEOUT))
    if resp.subprotocol != "v5.channel.k8s.io":
        # v4 cannot close stdin alone: the client hangs up, as its users do.
        resp.close()
        return {"lines": lines}
    resp.write_stdin("no newline")
    # Closing stdin (a v5 channel close) lets cat see end of file and exit.
    resp.close_channel(0)
    resp.run_forever(timeout=TIMEOUT)
    return {
        "lines": lines,
        "rest": resp.read_stdout(),
        "returncode": resp.returncode,
        "open": resp.is_open(),
    }


def binary_echo(api, pod):
    # Bytes are sent as binary frames and read back as bytes, every value once.
    resp = exec_stream(api, pod, ["cat"], stdin=True, _preload_content=False, binary=True)
    resp.write_stdin(bytes(range(256)))
    resp.close_channel(0)
    resp.run_forever(timeout=TIMEOUT)
    return {
        "stdout": base64.b64encode(resp.read_stdout()).decode("ascii"),
        "returncode": resp.returncode,
    }


def tty_resize(api, pod):
    # A terminal resized the way the client's users do it: JSON on channel 4. Enter is pressed
    # until the new size shows (the resize and stdin are separate streams upstream).
    resp = exec_stream(
        api,
        pod,
        ["sh", "-c", "while read x; do stty size; done"],
        stdin=True,
        tty=True,
        _preload_content=False,
    )
    resp.write_channel(4, json.dumps({"Width": 120, "Height": 40}))
    seen = ""
    deadline = time.monotonic() + TIMEOUT
    while "40 120" not in seen and resp.is_open() and time.monotonic() < deadline:
        resp.write_stdin("\n")
        resp.update(timeout=0.2)
        seen += resp.read_stdout()
    resp.close_channel(0)
    resp.run_forever(timeout=TIMEOUT)
    seen += resp.read_stdout()
    return {"output": seen, "returncode": resp.returncode}


def logs(api, pod):
    tail = api.read_namespaced_pod_log(pod, "default", tail_lines=2)
    follow = api.read_namespaced_pod_log(
        pod, "default", follow=True, _preload_content=False, _request_timeout=TIMEOUT
    )
    followed = [line.decode("utf-8") for line in follow.stream()]
    follow.release_conn()
    return {"tail": tail, "follow": "".join(followed)}


def api_error(e):
    body = e.body.decode("utf-8", "replace") if isinstance(e.body, bytes) else e.body
    return {"status": e.status, "reason": e.reason, "body": body}


def denied(api, pod):
    out = {}
    try:
        exec_stream(api, pod, ["rm", "-rf", "/"])
        out["exec"] = "not denied"
    except ApiException as e:
        out["exec"] = api_error(e)
    try:
        api.list_namespaced_secret("default")
        out["secrets"] = "not denied"
    except ApiException as e:
        out["secrets"] = api_error(e)
    return out


def main():
    kubeconfig, pod = sys.argv[1:3]
    config.load_kube_config(config_file=kubeconfig)
    api = client.CoreV1Api()
    cases = {"logs": lambda: logs(api, pod), "denied": lambda: denied(api, pod)}
    for prefix, offer in [("", None), ("v4_", V4_ONLY)]:
        cases[prefix + "plain"] = lambda offer=offer: plain(api, pod, offer)
        cases[prefix + "split"] = lambda offer=offer: split(api, pod, offer)
        cases[prefix + "exit_code"] = lambda offer=offer: exit_code(api, pod, offer)
        cases[prefix + "stdin"] = lambda offer=offer: stdin_echo(api, pod, offer)
    cases["binary"] = lambda: binary_echo(api, pod)
    cases["tty"] = lambda: tty_resize(api, pod)
    results = {}
    for name, case in cases.items():
        try:
            results[name] = case()
        except Exception as e:  # reported to the Rust test, which fails on it
            results[name] = {"error": repr(e), "traceback": traceback.format_exc()}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
