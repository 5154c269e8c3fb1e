"""What every process of the runtime benchmark shares: the objects, the annotations the writer stamps,
the recorder the reconcilers (ours and kopf's) call, and RSS readers.

The writer stamps each object it creates or patches with two annotations: ``bench.kubeloop.io/phase``
(which phase wrote it) and ``bench.kubeloop.io/t`` (``time.time()`` just before the request was sent).
A contender's reconciler / handler calls ``Recorder.seen(obj)``; the first time it sees an object with a
given phase stamp, ``now - t`` is that object's event→reconcile latency. When a phase has reached its
target count, the recorder appends a ``done`` line (JSON) to ``$BENCH_OUT``, which ``run.py`` tails.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Mapping
from typing import Any

PHASE = "bench.kubeloop.io/phase"
STAMP = "bench.kubeloop.io/t"


def configmap(name: str, namespace: str, phase: str | None = None) -> dict[str, Any]:
    """A ConfigMap like the client benchmark's (~0.6 KiB of JSON as stored)."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app": "bench", "tier": "config"},
    }
    if phase:
        meta["annotations"] = {PHASE: phase, STAMP: repr(time.time())}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {
            "config.yaml": "".join(f"key{i}: value-{i:04d}\n" for i in range(12)),
            "owner": "kubeloop-bench",
        },
    }


def stamp_patch(phase: str) -> dict[str, Any]:
    """A merge patch that re-stamps an object (sent right after it is built)."""
    return {"metadata": {"annotations": {PHASE: phase, STAMP: repr(time.time())}}}


def pod(name: str, namespace: str) -> dict[str, Any]:
    """A Pod shaped like one of a Deployment's: owner reference, template-hash label, two containers
    with ports, env, resources, probes and mounts. Without nodes it stays Pending (the server adds its
    defaults: tolerations, the service-account token volume, dnsPolicy, ... and status.phase/qosClass)."""
    app = "web"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/instance": f"{app}-prod",
                "pod-template-hash": "7d9c5b6f4d",
            },
            "annotations": {
                "kubectl.kubernetes.io/default-container": "app",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-7d9c5b6f4d",
                    "uid": "5f0c3b0e-8a59-4c43-9d0e-3c7d7f1a2b11",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/team/web:1.27.3",
                    "args": ["--config=/etc/web/config.yaml", "--port=8080"],
                    "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                    ],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "DB_HOST", "value": "postgres.db.svc.cluster.local"},
                    ],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "initialDelaySeconds": 10,
                    },
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": True}],
                },
                {
                    "name": "proxy",
                    "image": "registry.example.com/infra/envoy:1.30.1",
                    "ports": [{"name": "proxy", "containerPort": 15001}],
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                },
            ],
            "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}],
            "terminationGracePeriodSeconds": 30,
        },
    }


class Recorder:
    """Counts what a reconciler saw, per phase; see the module docstring."""

    def __init__(self, out: str, targets: Mapping[str, int]) -> None:
        self.out = out
        self.targets = dict(targets)
        self.latency: dict[str, dict[str, float]] = {p: {} for p in targets}
        self.calls: dict[str, int] = {p: 0 for p in targets}
        self.other = 0
        self._file = open(out, "a", buffering=1)  # noqa: SIM115 - closed by the process's exit
        self.gc_s = 0.0
        self._gc_t0 = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        """Time spent in the cyclic garbage collector (all generations), for the report."""
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self.gc_s += time.perf_counter() - self._gc_t0

    @classmethod
    def from_env(cls) -> Recorder:
        return cls(os.environ["BENCH_OUT"], json.loads(os.environ["BENCH_TARGETS"]))

    def emit(self, event: str, **fields: Any) -> None:
        self._file.write(
            json.dumps(
                {
                    "event": event,
                    "t": time.time(),
                    "cpu": time.process_time(),
                    "rss": rss(),
                    "gc_s": self.gc_s,
                    **fields,
                }
            )
            + "\n"
        )

    def seen(self, obj: Mapping[str, Any]) -> None:
        now = time.time()
        meta = obj["metadata"]
        ann = meta.get("annotations") or {}
        phase = ann.get(PHASE)
        seen = self.latency.get(phase) if phase else None
        if seen is None:
            self.other += 1
            return
        self.calls[phase] += 1
        name = meta["name"]
        if name in seen:
            return
        seen[name] = now - float(ann[STAMP])
        if len(seen) == self.targets[phase]:
            self.emit(
                "done", phase=phase, count=len(seen), calls=self.calls[phase], latencies=list(seen.values())
            )


def status_bytes(field: str) -> int:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1


def rss() -> int:
    return status_bytes("VmRSS")
