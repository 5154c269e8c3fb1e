"""``Webhooks``: the MutatingAdmissionWebhook and ValidatingAdmissionWebhook plugins of the server (and
the CRD conversion webhooks' calls, ``conversion``, on the same HTTP client).

Mutating webhooks run one after the other, each seeing the previous one's patch (JSONPatch); when a
later webhook changed the object, the earlier ones with ``reinvocationPolicy: IfNeeded`` run once more.
Validating webhooks run concurrently. As on the real server: a denial is the webhook's own Status with
``admission webhook "NAME" denied the request: MESSAGE``; a webhook that cannot be called (down,
timeout, an invalid response) is a 500 ``failed calling webhook "NAME": ...`` with ``failurePolicy:
Fail`` (the default) and skipped with ``Ignore``; a dry-run request to a webhook whose ``sideEffects``
is not None/NoneOnDryRun is a 400; warnings go to the response's ``Warning`` headers.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from kubeloop.apiserver.admission import conversion
from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.admission.matching import equivalents
from kubeloop.apiserver.admission.webhook_call import CallError, Services, call, review_request
from kubeloop.apiserver.admission.webhook_rules import BUCKETS, Invocation, configured_hooks, invocations
from kubeloop.apiserver.machinery.errors import Cause, StatusError, bad_request
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.storage import Obj, View

__all__ = ["Webhooks", "internal_error"]

JsonPatch = Callable[[Obj, Any], Obj]


def internal_error(message: str) -> StatusError:
    """The real server's ``NewInternalError``."""
    return StatusError(
        500, "InternalError", f"Internal error occurred: {message}", causes=[Cause("", message)]
    )


def _denied(name: str, result: Obj | None) -> StatusError:
    """``webhookerrors.ToStatusErr``: the webhook's Status, its message prefixed, its code at least 400."""
    result = result if isinstance(result, dict) else {}
    denied = f'admission webhook "{name}" denied the request'
    message = result.get("message") or result.get("reason")
    details = result.get("details") or {}
    code = result.get("code")
    return StatusError(
        max(code if isinstance(code, int) else 0, 400),
        str(result.get("reason") or ""),
        f"{denied}: {message}" if message else f"{denied} without explanation",
        name=str(details.get("name") or ""),
        group=str(details.get("group") or ""),
        kind=str(details.get("kind") or ""),
        causes=[
            Cause(str(c.get("reason") or ""), str(c.get("message") or ""), str(c.get("field") or ""))
            for c in details.get("causes") or ()
        ],
        retry_after=details.get("retryAfterSeconds"),
    )


class Webhooks:
    """The webhook plugins over the configurations stored in the server (see module docstring)."""

    def __init__(self, registry: Registry, json_patch: JsonPatch, services: Services) -> None:
        self.registry = registry
        self._services = services
        self._json_patch = json_patch
        self._session: aiohttp.ClientSession | None = None

    def configured(self, view: View) -> bool:
        """Whether any webhook configuration exists (else no write needs a second run)."""
        return any(view.committed_any(bucket) for bucket in BUCKETS)

    def plan(self, attrs: Attributes, view: View, mutating: bool) -> list[Invocation]:
        """The webhooks ``attrs`` calls (StatusError when matching them fails, as on the real server)."""
        hooks = configured_hooks(view, mutating)
        return invocations(hooks, attrs, view, equivalents(self.registry, attrs.rt)) if hooks else []

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, invocation: Invocation, attrs: Attributes, warnings: list[str]) -> Obj | None:
        """The webhook's response, or None when it failed open; StatusError when it refused or failed
        closed."""
        spec, name = invocation.hook.spec, invocation.hook.name
        if attrs.dry_run and spec.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise bad_request(f'admission webhook "{name}" does not support dry run')
        try:
            response = await call(self._http(), self._services, invocation, review_request(attrs, invocation))
        except CallError as exc:
            if spec.get("failurePolicy", "Fail") == "Ignore":
                return None
            raise internal_error(f'failed calling webhook "{name}": {exc.reason}') from exc
        warnings.extend(str(w) for w in response.get("warnings") or ())
        if response.get("allowed") is not True:
            raise _denied(name, response.get("status"))
        return response

    async def mutate(self, plan: list[Invocation], attrs: Attributes, warnings: list[str]) -> Obj | None:
        """The object after every mutating webhook of ``plan`` (reinvoked as their policy asks)."""
        obj = copy.deepcopy(attrs.obj)
        reinvocable: list[Invocation] = []
        again: list[Invocation] = []
        for invocation in plan:
            changed, obj = await self._mutate_once(invocation, attrs, obj, warnings)
            if changed:
                again.extend(i for i in reinvocable if i not in again)
                reinvocable.clear()
            if invocation.hook.spec.get("reinvocationPolicy") == "IfNeeded":
                reinvocable.append(invocation)
        for invocation in [i for i in plan if i in again]:
            _, obj = await self._mutate_once(invocation, attrs, obj, warnings)
        return obj

    async def _mutate_once(
        self, invocation: Invocation, attrs: Attributes, obj: Obj | None, warnings: list[str]
    ) -> tuple[bool, Obj | None]:
        response = await self._call(invocation, dataclasses.replace(attrs, obj=obj), warnings)
        if response is None or not response.get("patch"):
            return False, obj
        name = invocation.hook.name
        if response.get("patchType") != "JSONPatch":
            failed = f'failed calling webhook "{name}": unsupported patch type "{response.get("patchType")}"'
            if invocation.hook.spec.get("failurePolicy", "Fail") == "Ignore":
                return False, obj
            raise internal_error(failed)
        if obj is None:
            raise internal_error(
                f'admission webhook "{name}" attempted to modify the object, which is not supported for this '
                "operation"
            )
        try:
            patch = _decoded_patch(response["patch"])
            patched = self._json_patch(to_version(invocation.rt, obj), patch)
        except StatusError as exc:
            raise internal_error(exc.message) from exc
        except ValueError as exc:
            raise internal_error(str(exc)) from exc
        patched = to_version(attrs.rt, patched)
        return patched != obj, patched

    async def convert(self, client: Obj, objects: list[Obj], desired: str) -> list[Obj]:
        """``objects`` in ``desired`` apiVersion by the CRD conversion webhook ``client`` points at."""
        return await conversion.convert(self._http(), self._services, client, objects, desired)

    async def validate(self, plan: list[Invocation], attrs: Attributes, warnings: list[str]) -> None:
        """Call every validating webhook of ``plan`` at once; the first refusal (in order) is raised."""
        results = await asyncio.gather(
            *(self._call(invocation, attrs, warnings) for invocation in plan), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _decoded_patch(raw: Any) -> Any:
    return orjson.loads(base64.b64decode(raw))
