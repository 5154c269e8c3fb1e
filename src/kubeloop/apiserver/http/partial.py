"""Metadata-only answers: ``PartialObjectMetadata`` and ``PartialObjectMetadataList`` of
``meta.k8s.io/v1``, what a client asks for with ``Accept:
application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`` (a list) or
``...;as=PartialObjectMetadata;...`` (a get or a watch): each object only its metadata, as the real
server converts them (client-go's metadata client, controller-runtime's metadata-only watches).
"""

from __future__ import annotations

from typing import Any

__all__ = ["partial", "partial_list", "wants_partial"]

Obj = dict[str, Any]
API_VERSION = "meta.k8s.io/v1"


def wants_partial(accept: str) -> bool:
    """Whether the first media type ``accept`` names is a metadata-only one of ``meta.k8s.io/v1``."""
    first = accept.replace(" ", "").split(",")[0]
    params = dict(p.partition("=")[::2] for p in first.split(";")[1:])
    return params.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList") and (
        params.get("g") == "meta.k8s.io" and params.get("v") == "v1"
    )


def partial(obj: Obj) -> Obj:
    """``obj`` (an object, or a watch's bookmark) as ``PartialObjectMetadata``."""
    return {"kind": "PartialObjectMetadata", "apiVersion": API_VERSION, "metadata": obj.get("metadata", {})}


def partial_list(result: Obj) -> Obj:
    """A list answer as ``PartialObjectMetadataList``."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": API_VERSION,
        "metadata": result.get("metadata", {}),
        "items": [partial(item) for item in result.get("items", ())],
    }
