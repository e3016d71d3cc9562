"""Reads through kubewitness with the official Python client, printed as one JSON object:
the pod, the pod list, a short watch of pods, and the namespace's events."""

import json
import sys

from kubernetes import client, config, watch


def main():
    kubeconfig, pod = sys.argv[1:3]
    config.load_kube_config(config_file=kubeconfig)
    api = client.CoreV1Api()
    plain = api.api_client.sanitize_for_serialization
    stream = watch.Watch().stream(api.list_namespaced_pod, "default", timeout_seconds=2)
    events = [{"type": e["type"], "object": plain(e["object"])} for e in stream]
    print(json.dumps({
        "pod": plain(api.read_namespaced_pod(pod, "default")),
        "list": plain(api.list_namespaced_pod("default")),
        "watch": events,
        "events": plain(api.list_namespaced_event("default")),
    }))


if __name__ == "__main__":
    main()
