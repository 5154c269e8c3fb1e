#!/usr/bin/env python3
"""Regenerate the OpenAPI and discovery documents the embedded API server ships (``kubeloop/apiserver/data``).

Starts the real kube-apiserver kubeloop builds (``kubeloop.testing.ControlPlane``), downloads
``/openapi/v2``, the ``/openapi/v3`` index and every group-version document, and writes them gzip-
compressed as package data (``openapi.json.gz``; the v3 documents in ``openapi-v3.json.gz``).  Run again when the Kubernetes version of the control plane moves:

    .venv/bin/python hack/dump-openapi.py
"""

from __future__ import annotations

import gzip
import json
import ssl
import urllib.request
from pathlib import Path

from kubeloop.testing import ControlPlane

OUT = Path(__file__).resolve().parent.parent / "src" / "kubeloop" / "apiserver" / "data"


def fetch(plane: ControlPlane, context: ssl.SSLContext, path: str) -> bytes:
    with urllib.request.urlopen(plane.server + path, context=context, timeout=60) as response:
        body: bytes = response.read()
        return body


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with ControlPlane() as plane:
        context = plane.ssl_context()
        v2 = json.loads(fetch(plane, context, "/openapi/v2"))
        version = json.loads(fetch(plane, context, "/version"))
        v3_index = json.loads(fetch(plane, context, "/openapi/v3"))
        v3: dict[str, object] = {}
        for name, entry in v3_index["paths"].items():
            if name.startswith("apis/apiregistration") or name.startswith("apis/flowcontrol"):
                continue
            url = entry["serverRelativeURL"].split("?")[0]
            v3[name] = json.loads(fetch(plane, context, url))
        discovery: dict[str, object] = {"/api/v1": json.loads(fetch(plane, context, "/api/v1"))}
        groups = json.loads(fetch(plane, context, "/apis"))
        for group in groups["groups"]:
            for gv in group["versions"]:
                path = f"/apis/{gv['groupVersion']}"
                discovery[path] = json.loads(fetch(plane, context, path))
    bundle = {"version": version, "v2": v2, "discovery": discovery, "groups": groups}
    target = OUT / "openapi.json.gz"
    target.write_bytes(gzip.compress(json.dumps(bundle, separators=(",", ":")).encode(), 9))
    # Each v3 document stays a JSON string inside: the server decodes one when it is first asked for.
    encoded = {name: json.dumps(doc, separators=(",", ":")) for name, doc in v3.items()}
    v3_target = OUT / "openapi-v3.json.gz"
    v3_target.write_bytes(gzip.compress(json.dumps(encoded, separators=(",", ":")).encode(), 9))
    print(f"wrote {target} ({target.stat().st_size} bytes), {v3_target.name}, server {version['gitVersion']}")


if __name__ == "__main__":
    main()
