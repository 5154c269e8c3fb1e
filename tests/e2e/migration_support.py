"""Helpers of tests/e2e/test_migration.py: the three AppService operators as processes, the Go one
built once and cached, and the objects an operator made, reduced to what the operator decides."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubeloop.testing import Kubectl
from kubeloop.testing.assets import cache_dir
from kubeloop.testing.process import terminate

ROOT = Path(__file__).parents[2]
KUBELOOP_PORT = ROOT / "examples" / "appservice"
KOPF_ORIGINAL = ROOT / "examples" / "appservice-kopf"
GO_ORIGINAL = ROOT / "examples" / "appservice-kubebuilder"
RESOURCE = "appservices.app.example.com"


def go_manager() -> Path:
    """The kubebuilder example's manager binary, built with the machine's Go once per source version
    and cached under the kubeloop cache (``bin/appservice-kubebuilder-<hash>/manager``)."""
    go = shutil.which("go")
    assert go is not None, "the `go` command is not on PATH; the kubebuilder example needs Go to build"
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(version.encode())
    for path in sorted(GO_ORIGINAL.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(GO_ORIGINAL)).encode() + b"\0" + path.read_bytes())
    home = cache_dir() / "bin" / f"appservice-kubebuilder-{digest.hexdigest()[:12]}"
    binary = home / "manager"
    if binary.is_file():
        return binary
    # One build at a time: make test's two pytest workers (and the benchmark) may ask at once.
    home.parent.mkdir(parents=True, exist_ok=True)
    with home.with_name(home.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.is_file():
            _build_go_manager(go, home)
    return binary


def _build_go_manager(go: str, home: Path) -> None:
    """``go build`` the kubebuilder example into ``home`` (staged beside it, renamed when complete)."""
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = cache_dir() / "logs" / "appservice-kubebuilder.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    with log.open("w") as out:
        built = subprocess.run(
            [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(staging / "manager"), "./cmd"],
            cwd=GO_ORIGINAL,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    assert built.returncode == 0, f"go build of {GO_ORIGINAL} failed; log: {log}\n{log.read_text()[-3000:]}"
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)


def commands(namespace: str) -> dict[str, list[str]]:
    """How each version of the operator is started, watching only ``namespace``."""
    return {
        "kubeloop": [
            str(Path(sys.executable).with_name("kubeloop")), "run", "appservice_operator.operator:operator",
            "--namespace", namespace, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
        ],
        "kopf": [
            sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", namespace,
            str(KOPF_ORIGINAL / "appservice_kopf.py"),
        ],
        "kubebuilder": [str(go_manager()), "--metrics-bind-address", "0", "--health-probe-bind-address", "0"],
    }  # fmt: skip


@contextlib.contextmanager
def running(version: str, namespace: str, kubeconfig: Path, logs: Path) -> Iterator[Path]:
    """Run one version of the operator until the block ends; yield its log file."""
    log = logs / f"{version}.log"
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(KUBELOOP_PORT / "src"),
        "WATCH_NAMESPACE": namespace,  # the Go manager's namespace (operator-sdk's convention)
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            commands(namespace)[version], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield log
        finally:
            terminate(process, 30.0)


def app_manifest(name: str, size: int, node_port: int) -> str:
    return json.dumps(
        {
            "apiVersion": "app.example.com/v1",
            "kind": "AppService",
            "metadata": {"name": name},
            "spec": {
                "size": size,
                "image": "nginx:1.7.9",
                "ports": [{"port": 80, "targetPort": 80, "nodePort": node_port}],
            },
        }
    )


def get(kubectl: Kubectl, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    result = kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def ready(app: dict[str, Any] | None, size: int) -> bool:
    """The AppService reports ``size`` ready replicas and Ready=True for its current generation."""
    status = (app or {}).get("status") or {}
    condition = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
    return (
        status.get("readyReplicas") == size
        and condition.get("status") == "True"
        and condition.get("observedGeneration") == (app or {})["metadata"]["generation"]
    )


def owners(obj: dict[str, Any]) -> list[dict[str, Any]]:
    keep = ("apiVersion", "kind", "name", "controller", "blockOwnerDeletion")
    return [{k: ref.get(k) for k in keep} for ref in obj["metadata"].get("ownerReferences", [])]


def made(kubectl: Kubectl, namespace: str, name: str, node_port: int) -> dict[str, Any]:
    """What the operator decided for the AppService ``name``: its children (without what the server
    assigns: uid, resourceVersion, timestamps, cluster IPs) and its status; the node port it was
    given reads as ``<nodePort>``, so that versions given different ports compare equal."""
    deployment = get(kubectl, "deployment", name, namespace)
    service = get(kubectl, "service", name, namespace)
    app = get(kubectl, RESOURCE, name, namespace)
    assert deployment is not None
    assert service is not None
    assert app is not None
    service_spec = {k: v for k, v in service["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    service_spec["ports"] = [
        {**p, "nodePort": "<nodePort>" if p.get("nodePort") == node_port else p.get("nodePort")}
        for p in service_spec["ports"]
    ]
    status = app.get("status") or {}
    return {
        "deployment": {
            "labels": deployment["metadata"].get("labels"),
            "owners": owners(deployment),
            "spec": deployment["spec"],
        },
        "service": {
            "labels": service["metadata"].get("labels"),
            "owners": owners(service),
            "spec": service_spec,
        },
        "status": {
            "readyReplicas": status.get("readyReplicas"),
            "nodePorts": ["<nodePort>" if p == node_port else p for p in status.get("nodePorts") or []],
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message", "observedGeneration")}
                for c in status.get("conditions") or []
            ],
        },
    }


def events(kubectl: Kubectl, namespace: str, name: str) -> set[tuple[str, str, str]]:
    """(type, reason, message) of the Events about the AppService ``name``."""
    listed = kubectl.json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return {
        (e.get("type"), e.get("reason"), e.get("message"))
        for e in listed["items"]
        if e["involvedObject"].get("kind") == "AppService"
    }
