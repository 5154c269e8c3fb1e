"""Waiting until a CRD can be used: Established, and its resource in discovery and served.

kube-apiserver marks a CRD ``Established`` in one controller and lists its resource in discovery in
another, a moment later (54-114 ms seen on a CRD deleted and created again, 3 times in 40): a
``kubectl apply`` of the new kind right after ``kubectl wait --for=condition=Established`` can be
refused with "no matches for kind", and kubectl's own discovery cache can lag the same way.
``wait_for_crds`` waits for what a write of the kind needs, as envtest's ``WaitForCRDs`` does in Go.
Its timeout is a ``CRDNotReadyError``: an AssertionError to a test, a ``KubeloopError`` (one line,
shown without a traceback) to ``kubeloop dev``.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.testing.kubectl import Kubectl, KubectlError

__all__ = ["CRDNotReadyError", "wait_for_crds"]

_NONE = "kubeloop.io/crd-served-probe=none"
"""A label selector no object has: the probe's list asks the server for nothing but the answer."""
_NOT_YET = ("doesn't have a resource type", "(NotFound)")
"""kubectl's words for a resource its discovery does not list, and for a list the server answers 404."""
_TIMED_OUT = "timed out waiting for the condition"
"""kubectl wait's words when a CRD is not Established within its timeout."""


class CRDNotReadyError(KubeloopError, AssertionError):
    """A CRD was not Established, or a version it serves not served, within ``wait_for_crds``' timeout.

    One line naming the CRD, what was not ready and after how long (for a CRD not Established, its
    conditions that are not True, such as a NamesAccepted=False naming a conflict). An AssertionError
    too, so that a test waiting for its CRDs fails as an assertion does."""


def wait_for_crds(kubectl: Kubectl, *names: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait until each CRD ``names`` (``plural.group``) is Established and every version it serves is
    listed in discovery and answers a list; return the CRDs, in the order named.

    Discovery is read by kubectl itself, with a cache of its own that starts empty on each try, so
    what it finds is what the server lists, not what an earlier kubectl cached; kubectl run afterwards
    with its usual cache finds the kind too (a miss in a cache it did not fetch itself makes it fetch
    again). ``CRDNotReadyError`` (an AssertionError) naming what is not ready after ``timeout``
    seconds; a kubectl failure other than "not ready yet" (say, a name that is no CRD) raises
    ``KubectlError`` at once.
    """
    deadline = time.monotonic() + timeout
    waiting = ("wait", "--for=condition=Established", *(f"crd/{n}" for n in names), f"--timeout={timeout:g}s")
    established = kubectl(*waiting, "-o", "json", check=False)
    if established.returncode != 0:
        if _TIMED_OUT not in established.stderr:
            raise KubectlError([*waiting, "-o", "json"], established.returncode, established.stderr)
        raise CRDNotReadyError(_not_established(kubectl, names, timeout))
    printed = established.stdout
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
            said = probe.stderr.strip().splitlines()
            raise CRDNotReadyError(
                f"CRD {', '.join(names)}: {', '.join(resources)} not served within {timeout:g} s"
                f" (kubectl: {said[0] if said else f'exit code {probe.returncode}'})"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _not_established(kubectl: Kubectl, names: tuple[str, ...], timeout: float) -> str:
    """The line saying which of ``names`` are not Established and why: their conditions not True."""
    found = {
        crd["metadata"]["name"]: crd for crd in _objects(kubectl("get", "crd", *names, "-o", "json").stdout)
    }
    said = []
    for name in names:
        conditions = (found[name].get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            continue  # Established by now, just after kubectl gave up
        why = [
            f"{c.get('type')}={c.get('status')} ({c.get('reason')}: {c.get('message')})"
            for c in conditions
            if c.get("status") != "True"
        ]
        said.append(f"{name} ({'; '.join(why) or 'no conditions yet'})")
    if not said:
        return f"CRD {', '.join(names)} Established only after {timeout:g} s"
    return f"CRD {', '.join(said)} not Established within {timeout:g} s"


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
