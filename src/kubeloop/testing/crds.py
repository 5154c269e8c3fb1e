"""Waiting until a CRD can be used: Established, and its resource in discovery and served.

kube-apiserver marks a CRD ``Established`` in one controller and lists its resource in discovery in
another, a moment later (54-114 ms seen on a CRD deleted and created again, 3 times in 40): a
``kubectl apply`` of the new kind right after ``kubectl wait --for=condition=Established`` can be
refused with "no matches for kind", and kubectl's own discovery cache can lag the same way.
``wait_for_crds`` waits for what a write of the kind needs, as envtest's ``WaitForCRDs`` does in Go.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from kubeloop.testing.kubectl import Kubectl, KubectlError

__all__ = ["wait_for_crds"]

_NONE = "kubeloop.io/crd-served-probe=none"
"""A label selector no object has: the probe's list asks the server for nothing but the answer."""
_NOT_YET = ("doesn't have a resource type", "(NotFound)")
"""kubectl's words for a resource its discovery does not list, and for a list the server answers 404."""


def wait_for_crds(kubectl: Kubectl, *names: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait until each CRD ``names`` (``plural.group``) is Established and every version it serves is
    listed in discovery and answers a list; return the CRDs, in the order named.

    Discovery is read by kubectl itself, with a cache of its own that starts empty on each try, so
    what it finds is what the server lists, not what an earlier kubectl cached; kubectl run afterwards
    with its usual cache finds the kind too (a miss in a cache it did not fetch itself makes it fetch
    again). AssertionError naming what is missing after ``timeout`` seconds; a kubectl failure other
    than "not served yet" (say, a name that is no CRD) raises ``KubectlError`` at once.
    """
    deadline = time.monotonic() + timeout
    waiting = ("wait", "--for=condition=Established", *(f"crd/{n}" for n in names), f"--timeout={timeout:g}s")
    printed = kubectl(*waiting, "-o", "json").stdout
    found = {crd["metadata"]["name"]: crd for crd in _objects(printed)}
    crds = [found[name] for name in names]
    resources = [
        f"{crd['spec']['names']['plural']}.{version['name']}.{crd['spec']['group']}"
        for crd in crds
        for version in crd["spec"]["versions"]
        if version.get("served")
    ]
    listing = ("get", ",".join(resources), "--all-namespaces", "-l", _NONE, "-o", "name")
    delay = 0.05
    while True:
        with tempfile.TemporaryDirectory(prefix="kubeloop-discovery-") as cache:
            probe = kubectl(*listing, f"--cache-dir={cache}", check=False)
        if probe.returncode == 0:
            return crds
        if not any(words in probe.stderr for words in _NOT_YET):
            raise KubectlError(list(listing), probe.returncode, probe.stderr)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{', '.join(resources)} not served within {timeout:g} s: {probe.stderr.strip()}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _objects(printed: str) -> list[dict[str, Any]]:
    """The JSON objects ``kubectl wait -o json`` printed one after another."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    rest = printed.strip()
    while rest:
        obj, end = decoder.raw_decode(rest)
        found.extend(obj["items"] if obj.get("kind") == "List" else [obj])
        rest = rest[end:].lstrip()
    return found
