"""``kubeloop.apiserver``: a Kubernetes-compatible API server in Python, for development and tests.

Real ``kubectl`` and real operators talk to it as to Kubernetes: HTTPS on loopback with a generated
CA and admin client certificate, discovery and OpenAPI of the real server's API (Kubernetes 1.33),
SQLite storage with one global resourceVersion, watches, patches, server-side apply, CRDs with
structural schemas, and the control loops an operator relies on (garbage collection, namespace
deletion, Deployments and ReplicaSets running Pods on simulated Nodes with a simulated kubelet).
See ``docs/apiserver.md``.

Sub-packages, bottom up, as kube-apiserver is layered (the ``.importlinter`` contract keeps the
arrows one way): ``machinery`` (errors, metadata, selectors) → ``storage`` (store, watch history,
UID/owner indexes) and ``registry`` (resource types, discovery, OpenAPI, schemas) → ``strategy`` (one
module per kind: prepare, validate) and ``admission`` (plugins every write passes) → ``rest`` (the
verbs, patches, managed fields, scale) → ``auth`` (authentication) → ``http`` (routes, watch, tables,
protobuf) and ``controllers`` (one module per control loop) → ``server`` (``EmbeddedServer``).
"""

from __future__ import annotations

from kubeloop.apiserver.controllers import SimulationOptions
from kubeloop.apiserver.machinery.errors import StatusError
from kubeloop.apiserver.server import EmbeddedServer
from kubeloop.apiserver.storage import Store

__all__ = ["EmbeddedServer", "SimulationOptions", "StatusError", "Store"]
