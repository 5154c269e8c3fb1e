"""One call of an admission webhook: the AdmissionReview v1 request sent, the response checked as the
real server's ``VerifyAdmissionResponse`` checks it, and failures worded as the real server words them
(``failed to call webhook: Post "URL?timeout=10s": ...``, ``received invalid webhook response: ...``).

Calls are aiohttp requests on the server's event loop (never blocking it), each bounded by the
webhook's ``timeoutSeconds`` (default 10). A ``service`` clientConfig is reached as kube-apiserver's
ClusterIP service resolver reaches it: the URL names ``<service>.<namespace>.svc`` (the name the
certificate is checked against), the connection goes to an ExternalName Service's host at the
webhook's port; a Service that does not exist fails the call.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

import aiohttp
import orjson

from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.admission.webhook_rules import Invocation
from kubeloop.apiserver.machinery import meta
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.storage import Key, Obj

__all__ = ["CallError", "Services", "call", "post", "review_request", "webhook_url"]

_OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


@dataclass
class CallError(Exception):
    """The webhook could not be called or answered nonsense (``failurePolicy`` decides what follows)."""

    reason: str


class Services(Protocol):
    """Where the Services a ``service`` clientConfig names are read from (the store)."""

    def get(self, key: Key) -> Obj | None: ...


def webhook_url(client: Obj) -> str:
    """Where a ``clientConfig`` points (a Service reference as its in-cluster DNS name)."""
    if client.get("url"):
        return str(client["url"])
    service = client.get("service") or {}
    port = service.get("port", 443)
    return f"https://{service.get('name')}.{service.get('namespace')}.svc:{port}{service.get('path') or ''}"


@functools.lru_cache(maxsize=64)
def _tls(ca_bundle: str) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    return ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())


def review_request(attrs: Attributes, invocation: Invocation) -> Obj:
    """The AdmissionReview v1 sent for ``attrs``, its objects in the invocation's version."""
    rt, asked = invocation.rt, attrs.rt

    def versioned(obj: Obj | None) -> Obj | None:
        return None if obj is None else to_version(rt, obj)

    request: Obj = {
        "uid": meta.new_uid(),
        "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
        "requestKind": {"group": asked.group, "version": asked.version, "kind": asked.kind},
        "requestResource": {"group": asked.group, "version": asked.version, "resource": asked.plural},
        "name": attrs.name,
        "namespace": attrs.namespace,
        "operation": attrs.operation,
        "userInfo": attrs.user,
        "object": versioned(attrs.obj),
        "oldObject": versioned(attrs.old),
        "dryRun": attrs.dry_run,
        "options": {"kind": _OPTIONS[attrs.operation], "apiVersion": "meta.k8s.io/v1"},
    }
    if attrs.subresource:
        request["subResource"] = request["requestSubResource"] = attrs.subresource
    for key in ("name", "namespace"):
        if not request[key]:
            del request[key]
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}


def _dialled(client: Obj, services: Services, query: str) -> tuple[str, SplitResult | None]:
    """The URL to connect to and, for a Service reached at another host, the Service's URL, whose
    authority is sent as the Host and whose host the certificate is checked against (kube-apiserver
    dials the resolved address and keeps the URL); ``CallError`` when the Service does not exist."""
    url = webhook_url(client) + query
    service = client.get("service") or {}
    if client.get("url") or not service:
        return url, None
    name, namespace = str(service.get("name") or ""), str(service.get("namespace") or "")
    found = services.get(("/services", namespace, name))
    if found is None:
        raise CallError(f'Post "{url}": service "{name}" not found')
    spec = found.get("spec") or {}
    if spec.get("type") != "ExternalName":  # a cluster IP: no cluster network here, the name fails
        return url, None
    parts = urlsplit(url)
    return parts._replace(netloc=f"{spec.get('externalName')}:{parts.port}").geturl(), parts


async def post(
    session: aiohttp.ClientSession, services: Services, client: Obj, query: str, payload: Obj, seconds: float
) -> Any:
    """POST ``payload`` where ``client`` (a ``clientConfig``) points and return the decoded answer;
    ``CallError`` worded as Go's HTTP client words its failures (``Post "URL": ...``)."""
    posting = f'Post "{webhook_url(client) + query}"'
    target, service_url = _dialled(client, services, query)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if service_url is not None:
        headers["Host"] = service_url.netloc
    try:
        async with (
            asyncio.timeout(seconds),
            session.post(
                target,
                data=orjson.dumps(payload),
                headers=headers,
                ssl=_tls(str(client.get("caBundle") or "")),
                server_hostname=service_url.hostname if service_url is not None else None,
            ) as resp,
        ):
            body = await resp.read()
            status = resp.status
    except TimeoutError as exc:
        raise CallError(f"{posting}: context deadline exceeded") from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise CallError(f"{posting}: tls: failed to verify certificate: {exc.certificate_error}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise CallError(f"{posting}: dial tcp {exc.host}:{exc.port}: connect: connection refused") from exc
    except aiohttp.ClientError as exc:
        raise CallError(f"{posting}: {exc}") from exc
    if not 200 <= status < 300:
        text = body.decode(errors="replace").strip()
        raise CallError(f'an error on the server ("{text}") has prevented the request from succeeding')
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CallError(str(exc)) from exc


async def call(
    session: aiohttp.ClientSession, services: Services, invocation: Invocation, review: Obj
) -> Obj:
    """POST ``review`` to the webhook and return its verified ``response``; ``CallError`` otherwise."""
    spec = invocation.hook.spec
    timeout = int(spec.get("timeoutSeconds") or 10)
    client = spec.get("clientConfig") or {}
    try:
        answer = await post(session, services, client, f"?timeout={timeout}s", review, timeout)
    except CallError as exc:
        raise CallError(f"failed to call webhook: {exc.reason}") from exc
    return _verified(answer, review["request"]["uid"], invocation.hook.mutating)


def _invalid(why: str) -> CallError:
    return CallError(f"received invalid webhook response: {why}")


def _verified(answer: Any, uid: str, mutating: bool) -> Obj:
    if not isinstance(answer, dict) or not isinstance(answer.get("response"), dict):
        raise _invalid("webhook response was absent")
    response: Obj = answer["response"]
    if response.get("uid", "") != uid:
        raise _invalid(f'expected response.uid="{uid}", got "{response.get("uid", "")}"')
    got = f"{answer.get('apiVersion', '')}, Kind={answer.get('kind', '')}"
    if got != "admission.k8s.io/v1, Kind=AdmissionReview":
        raise _invalid(f"expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {got}")
    patch, patch_type = response.get("patch"), response.get("patchType")
    if mutating:
        if patch and patch_type is None:
            raise _invalid("webhook returned response.patch but not response.patchType")
        if not patch and patch_type is not None:
            raise _invalid("webhook returned response.patchType but not response.patch")
        if patch_type is not None and not patch_type:
            raise _invalid(f'webhook returned invalid response.patchType of "{patch_type}"')
    else:
        if patch:
            raise _invalid("validating webhook may not return response.patch")
        if patch_type is not None:
            raise _invalid("validating webhook may not return response.patchType")
    return response
