"""CRD conversion webhooks (``spec.conversion.strategy: Webhook``), as apiextensions-apiserver's webhook
converter: a ConversionReview v1 with the objects and ``desiredAPIVersion``, the response checked (uid,
``result.status: Success``, as many objects as sent, each in the desired version and kind), and of each
converted object's metadata only labels and annotations kept (the rest is the original's). Failures
are worded ``conversion webhook for <group>/<version>, Kind=<Kind> failed: ...``. The ``None``
strategy needs no call: objects are relabelled (``registry.convert``).
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

import aiohttp

from kubeloop.apiserver.admission.webhook_call import CallError, Services, post
from kubeloop.apiserver.machinery import meta
from kubeloop.apiserver.machinery.errors import StatusError
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Key, Obj

__all__ = ["CRDS", "Reader", "client_config", "convert", "crd_of", "storage_api_version"]

CRDS = "apiextensions.k8s.io/customresourcedefinitions"
_TIMEOUT = 30.0


class Reader(Protocol):
    """Where CRDs are read from (a write job's ``View`` or the ``Store``)."""

    def get(self, key: Key) -> Obj | None: ...


def crd_of(rt: ResourceType, view: Reader) -> Obj | None:
    """The CRD of a custom resource's type (None for built-in kinds)."""
    return view.get((CRDS, "", f"{rt.plural}.{rt.group}")) if rt.crd is not None else None


_crd = crd_of


def client_config(rt: ResourceType, view: Reader) -> Obj | None:
    """Where ``rt``'s CRD sends conversions, or None when it converts by relabelling."""
    conversion = ((_crd(rt, view) or {}).get("spec") or {}).get("conversion") or {}
    if conversion.get("strategy") != "Webhook":
        return None
    return dict((conversion.get("webhook") or {}).get("clientConfig") or {})


def storage_api_version(rt: ResourceType, view: Reader) -> str:
    """The apiVersion ``rt``'s objects are stored in (the CRD's storage version)."""
    for version in ((_crd(rt, view) or {}).get("spec") or {}).get("versions") or ():
        if version.get("storage"):
            return f"{rt.group}/{version['name']}"
    return rt.api_version


def _failed(obj: Obj, why: str) -> StatusError:
    gvk = f"{obj.get('apiVersion', '')}, Kind={obj.get('kind', '')}"
    return _error(f"conversion webhook for {gvk} failed: {why}")


def _error(message: str) -> StatusError:
    """A conversion failure as the real server answers it: a 500 with no reason."""
    return StatusError(500, "", message)


async def convert(
    session: aiohttp.ClientSession, services: Services, client: Obj, objects: list[Obj], desired: str
) -> list[Obj]:
    """``objects`` in ``desired`` apiVersion, converted by the webhook ``client`` points at (those
    already in it are not sent); ``StatusError`` when the webhook fails."""
    todo = [n for n, obj in enumerate(objects) if obj.get("apiVersion") != desired]
    if not todo:
        return objects
    uid = meta.new_uid()
    sent = [objects[n] for n in todo]
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": uid, "desiredAPIVersion": desired, "objects": sent},
    }
    try:
        answer = await post(session, services, client, "", review, _TIMEOUT)
    except CallError as exc:
        raise _failed(sent[0], exc.reason) from exc
    converted = _checked(answer, uid, sent, desired)
    out = list(objects)
    for n, obj in zip(todo, converted, strict=True):
        out[n] = obj
    return out


def _checked(answer: Any, uid: str, sent: list[Obj], desired: str) -> list[Obj]:
    response = answer.get("response") if isinstance(answer, dict) else None
    got = f"{answer.get('apiVersion', '')}, Kind={answer.get('kind', '')}" if isinstance(answer, dict) else ""
    if got != "apiextensions.k8s.io/v1, Kind=ConversionReview":
        raise _failed(
            sent[0], f"expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got {got}"
        )
    if not isinstance(response, dict):
        raise _failed(sent[0], "no response provided")
    if response.get("uid") != uid:
        raise _failed(sent[0], f'expected response.uid="{uid}", got "{response.get("uid", "")}"')
    result = response.get("result") or {}
    if result.get("status") != "Success":
        if result.get("message"):
            raise _failed(sent[0], str(result["message"]))
        raise _failed(sent[0], f"response.result.status was '{result.get('status', '')}', not 'Success'")
    objects = response.get("convertedObjects") or []
    gvk = f"{sent[0].get('apiVersion', '')}, Kind={sent[0].get('kind', '')}"
    if len(objects) != len(sent):
        raise _error(f"conversion webhook for {gvk} returned {len(objects)} objects, expected {len(sent)}")
    out = []
    for n, (original, obj) in enumerate(zip(sent, objects, strict=True)):
        if (
            not isinstance(obj, dict)
            or obj.get("apiVersion") != desired
            or obj.get("kind") != original.get("kind")
        ):
            received = obj.get("apiVersion") if isinstance(obj, dict) else None
            raise _error(
                f"conversion webhook for {gvk} returned invalid converted object at index {n}: invalid "
                f"groupVersion (expected {desired}, received {received})"
            )
        md = copy.deepcopy(original.get("metadata") or {})
        for field in ("labels", "annotations"):
            value = (obj.get("metadata") or {}).get(field)
            if value:
                md[field] = value
            else:
                md.pop(field, None)
        out.append({**obj, "metadata": md})
    return out
