"""``kubeloop.apiserver``: a Kubernetes-compatible API server in Python, for development and tests.

Real ``kubectl`` and real operators talk to it as to Kubernetes: HTTPS on loopback with a generated
CA and admin client certificate, discovery and OpenAPI of the real server's API (Kubernetes 1.33),
SQLite storage with one global resourceVersion, watches, patches, server-side apply, CRDs with
structural schemas, and the control loops an operator relies on (garbage collection, namespace
deletion, workload readiness). See ``docs/apiserver.md``.

Modules, bottom up: ``errors`` → ``storage`` → ``meta``/``schemas``/``selectors``/``patch``/``fields``
→ ``structural``/``admission`` → ``rest`` → ``watch``/``scale``/``tables``/``discovery``/``openapi``
→ ``handlers`` → ``controllers`` → ``server``.
"""

from __future__ import annotations

from kubeloop.apiserver.errors import StatusError
from kubeloop.apiserver.server import EmbeddedServer
from kubeloop.apiserver.storage import Store

__all__ = ["EmbeddedServer", "StatusError", "Store"]
