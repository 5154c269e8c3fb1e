"""CRD conversion: ``ConversionReview`` in, converted objects out, along declared conversion functions.

Conversion functions are declared between two versions (model classes) of one kind::

    conversions = Conversions()
    conversions.add(AppServiceV1, AppServiceV2, v1_to_v2)    # spoke → hub
    conversions.add(AppServiceV2, AppServiceV1, v2_to_v1)    # hub → spoke

Hub and spoke is the intended shape (every version converts to and from one hub version, so N
versions need 2(N-1) functions), but any connected set of declared steps works: a request is
served by the shortest chain of steps from the object's version to the desired one.

Guarantees: ``metadata`` of a converted object is the original's except ``labels`` and
``annotations`` (the only parts of metadata the API server lets a conversion change; functions may
use annotations to carry fields a version cannot express, for lossless round trips), and
``apiVersion``/``kind`` are the desired version's. A function that raises, or a version with no
chain, fails the whole review with a message naming the object and the versions; the API server
then fails the request that needed the conversion.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic

from kubeloop.crd import CustomResource
from kubeloop.errors import KubeloopError
from kubeloop.gvk import split_api_version
from kubeloop.webhook._review import BadReview, decode_json

__all__ = ["CONVERSION_VERSIONS", "ConversionError", "Conversions", "ConvertFn"]

log = logging.getLogger("kubeloop.webhook")

CONVERSION_VERSIONS = ("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1")

ConvertFn = Callable[[Any], Any]
"""``(source_obj) -> target_obj`` (or awaitable): a model of the source version to one of the target."""


class ConversionError(KubeloopError):
    """A conversion of one object failed; the review answers ``Failure`` with this message."""


@dataclass(frozen=True)
class _Step:
    source: type[CustomResource]
    target: type[CustomResource]
    fn: ConvertFn


class Conversions:
    """The declared conversion steps of every multi-version kind an operator serves."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, str], dict[str, dict[str, _Step]]] = {}

    def add(self, source: type[CustomResource], target: type[CustomResource], fn: ConvertFn) -> None:
        """Declare ``fn`` converting ``source`` objects into ``target`` objects (two versions of a kind)."""
        a, b = source.resource_info(), target.resource_info()
        if (a.group, a.kind) != (b.group, b.kind):
            raise ValueError(
                f"a conversion joins versions of one kind, not {a.kind}.{a.group} and {b.kind}.{b.group}"
            )
        if a.version == b.version:
            raise ValueError(f"{a.kind}.{a.group}: a conversion from {a.version} to itself")
        self._steps.setdefault((a.group, a.kind), {}).setdefault(a.version, {})[b.version] = _Step(
            source, target, fn
        )

    def __bool__(self) -> bool:
        return bool(self._steps)

    @property
    def kinds(self) -> list[tuple[str, str]]:
        """``(group, kind)`` of every kind with declared conversions."""
        return list(self._steps)

    def models(self, group: str, kind: str) -> dict[str, type[CustomResource]]:
        """The declared models of a kind by version."""
        out: dict[str, type[CustomResource]] = {}
        for version, targets in self._steps.get((group, kind), {}).items():
            for target, step in targets.items():
                out[version] = step.source
                out[target] = step.target
        return out

    def _chain(self, group: str, kind: str, source: str, target: str) -> list[_Step]:
        graph = self._steps.get((group, kind))
        if not graph:
            raise ConversionError(f"no conversions are declared for {kind}.{group}")
        previous: dict[str, _Step | None] = {source: None}
        queue = deque([source])
        while queue:
            version = queue.popleft()
            if version == target:
                chain: list[_Step] = []
                while (step := previous[version]) is not None:
                    chain.append(step)
                    version = step.source.resource_info().version
                return chain[::-1]
            for nxt, step in graph.get(version, {}).items():
                if nxt not in previous:
                    previous[nxt] = step
                    queue.append(nxt)
        declared = ", ".join(f"{a}→{b}" for a, targets in graph.items() for b in targets)
        raise ConversionError(
            f"cannot convert {kind}.{group} from {source} to {target} (declared: {declared})"
        )

    async def convert(self, obj: dict[str, Any], desired_api_version: str) -> dict[str, Any]:
        """``obj`` in ``desired_api_version``; ``ConversionError`` when that cannot be done."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        group, version = split_api_version(api_version)
        desired_group, desired = split_api_version(desired_api_version)
        meta = obj.get("metadata") or {}
        what = f"{kind} {meta.get('namespace', '')}/{meta.get('name', '')}".replace(" /", " ")
        if desired_group != group:
            raise ConversionError(f"{what}: cannot convert group {group!r} to {desired_api_version!r}")
        if version == desired:
            return obj
        current: Any = obj
        for step in self._chain(group, kind, version, desired):
            source_info = step.source.resource_info()
            try:
                typed = step.source.model_validate(current)
            except pydantic.ValidationError as exc:
                raise ConversionError(
                    f"{what} does not match the {source_info.version} model: {exc}"
                ) from exc
            try:
                result = step.fn(typed)
                if inspect.isawaitable(result):
                    result = await result
                if not isinstance(result, step.target):
                    result = step.target.model_validate(result)
            except Exception as exc:
                log.exception("converting %s from %s failed", what, source_info.api_version)
                raise ConversionError(
                    f"{what}: conversion {source_info.version}→{step.target.resource_info().version} "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
            current = result.model_dump(by_alias=True, exclude_unset=True, mode="json")
        converted: dict[str, Any] = dict(current)
        new_meta = dict(meta)
        for key in ("labels", "annotations"):
            value = (converted.get("metadata") or {}).get(key)
            if value:
                new_meta[key] = value
            else:
                new_meta.pop(key, None)
        converted["metadata"] = new_meta
        converted["apiVersion"] = desired_api_version
        converted["kind"] = kind
        return converted

    async def review(self, body: bytes) -> bytes:
        """Answer a ``ConversionReview`` body; ``BadReview`` when it is not one."""
        doc = decode_json(body, "a ConversionReview")
        if doc.get("kind") != "ConversionReview":
            raise BadReview(f"kind is {doc.get('kind')!r}, expected 'ConversionReview'")
        api_version = doc.get("apiVersion")
        if api_version not in CONVERSION_VERSIONS:
            raise BadReview(
                f"apiVersion {api_version!r} is not supported; "
                f"expected one of {', '.join(CONVERSION_VERSIONS)}"
            )
        request = doc.get("request")
        if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
            raise BadReview("ConversionReview has no request with a uid")
        desired, objects = request.get("desiredAPIVersion"), request.get("objects")
        if not isinstance(desired, str) or "/" not in desired:
            raise BadReview(f"request.desiredAPIVersion {desired!r} is not group/version")
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise BadReview("request.objects must be a list of objects")
        response: dict[str, Any] = {"uid": request["uid"]}
        try:
            response["convertedObjects"] = [await self.convert(o, desired) for o in objects]
            response["result"] = {"status": "Success"}
        except ConversionError as exc:
            response["convertedObjects"] = []
            response["result"] = {"status": "Failure", "message": str(exc)}
        return orjson.dumps({"apiVersion": api_version, "kind": "ConversionReview", "response": response})
