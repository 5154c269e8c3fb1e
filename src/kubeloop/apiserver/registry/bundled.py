"""The documents taken from the real kube-apiserver (``hack/dump-openapi.py``), shipped as package data.

``bundle()`` loads ``data/openapi.json.gz`` once: the server's ``/version``, ``/openapi/v2`` and the
legacy discovery documents (``/apis`` and each ``APIResourceList``) from which the built-in resource
table is built. The ``/openapi/v3`` group-version documents (5 MB of JSON, which a server's start does
not need) are in ``data/openapi-v3.json.gz``, each kept encoded until first asked for
(``v3_paths``, ``v3_document``): the start of a new process parses a quarter of what it did.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import Any

import orjson

__all__ = ["bundle", "definition_for", "v2_definitions", "v3_default", "v3_document", "v3_paths"]


@functools.cache
def bundle() -> dict[str, Any]:
    """The decoded bundle: keys ``version``, ``v2``, ``discovery``, ``groups``."""
    raw = resources.files("kubeloop.apiserver").joinpath("data/openapi.json.gz").read_bytes()
    data: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return data


@functools.cache
def _v3_encoded() -> dict[str, str]:
    raw = resources.files("kubeloop.apiserver").joinpath("data/openapi-v3.json.gz").read_bytes()
    docs: dict[str, str] = orjson.loads(gzip.decompress(raw))
    return docs


def v3_paths() -> list[str]:
    """The names of the ``/openapi/v3`` group-version documents (``api/v1``, ``apis/apps/v1``...)."""
    return list(_v3_encoded())


@functools.cache
def v3_document(path: str) -> dict[str, Any] | None:
    """The ``/openapi/v3/<path>`` document of the real server, decoded (shared: not to be changed)."""
    doc = _v3_encoded().get(path)
    if doc is None:
        return None
    parsed: dict[str, Any] = orjson.loads(doc)
    return parsed


def v2_definitions() -> dict[str, Any]:
    """``definitions`` of the OpenAPI v2 document."""
    defs: dict[str, Any] = bundle()["v2"]["definitions"]
    return defs


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in v2_definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            out[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return out


@functools.cache
def _v3_schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in v3_paths():
        out.update(((v3_document(path) or {}).get("components") or {}).get("schemas") or {})
    return out


def v3_default(definition: str, prop: str) -> Any:
    """The ``default`` the OpenAPI v3 document gives ``prop`` of ``definition`` (v2 has none), or None."""
    return ((_v3_schemas().get(definition) or {}).get("properties") or {}).get(prop, {}).get("default")


def definition_for(group: str, version: str, kind: str) -> str | None:
    """The v2 definition name of a built-in kind (``io.k8s.api.apps.v1.Deployment``), or None."""
    return _by_gvk().get((group, version, kind))
