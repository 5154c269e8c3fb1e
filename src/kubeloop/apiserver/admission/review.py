"""``Review``: one write request's admission by webhooks, run outside the store's writer.

A write is a synchronous job in the store's single writer (``Store.write``), so the writer never waits
on the network; webhooks are called between runs of the job instead. The job calls ``mutate`` and
``validate`` where the real server runs those phases. When webhooks match and their answer for exactly
this input is not known yet, the call raises ``Suspended`` (the job's changes are discarded), the
caller awaits ``Suspended.resolve()`` (the webhooks' answer is remembered) and runs the job again; it
then passes that point, or meets a changed input (another write came between) and asks again, as the
real server's retried update calls admission again. Values the job makes up (uid, creation time,
generated name) are ``remember``ed so every run of one request makes the same ones. CRD conversion
webhooks are called the same way when the job changes an object's version (``to_version``,
``to_storage``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from kubeloop.apiserver.admission import conversion
from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.admission.policies import Policies
from kubeloop.apiserver.admission.webhooks import Webhooks
from kubeloop.apiserver.machinery.errors import StatusError
from kubeloop.apiserver.registry.convert import to_storage, to_version
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View

__all__ = ["Review", "Suspended"]


class Suspended(Exception):
    """The job needs webhooks' answers first: await ``resolve()``, then run it again."""

    def __init__(self, resolve: Callable[[], Awaitable[None]]) -> None:
        super().__init__("admission pending")
        self.resolve = resolve


def _fingerprint(step: str, attrs: Attributes) -> bytes:
    def stable(obj: Obj | None) -> Obj | None:
        if obj is None:
            return None
        md = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
        return {**obj, "metadata": md}

    return orjson.dumps(
        [
            step,
            attrs.operation,
            attrs.namespace,
            attrs.name,
            attrs.subresource,
            stable(attrs.obj),
            stable(attrs.old),
        ],
        option=orjson.OPT_SORT_KEYS,
    )


class Review:
    """The webhook phases of one request (see module docstring); ``warnings`` collects theirs."""

    def __init__(self, webhooks: Webhooks | None, policies: Policies | None = None) -> None:
        self._webhooks = webhooks
        self._policies = policies
        self._answers: dict[bytes, Any] = {}
        self._made: dict[str, str] = {}
        self._called: list[str] = []
        self._evaluated: list[str] = []

    @property
    def warnings(self) -> list[str]:
        """The warnings of the webhooks called and of the policies of the last run."""
        return [*self._called, *self._evaluated]

    def start(self) -> None:
        """A run of the job begins (policies evaluated in an earlier run warned for that run only)."""
        self._evaluated.clear()

    def remember(self, what: str, make: Callable[[], str]) -> str:
        """The value ``make`` gave the first time this request asked for ``what``."""
        if what not in self._made:
            self._made[what] = make()
        return self._made[what]

    def fresh(self, rt: ResourceType, obj: Obj, view: View) -> Obj:
        """``obj`` itself, or a copy when a webhook may be called (a job run again must start from the
        request's own object, not from what an earlier run made of it)."""
        webhooks = self._webhooks
        if webhooks is None or not (webhooks.configured(view) or conversion.client_config(rt, view)):
            return obj
        return copy.deepcopy(obj)

    def to_version(self, rt: ResourceType, obj: Obj, view: View) -> Obj:
        """``obj`` as ``rt``'s version serves it: relabelled, or converted by the CRD's webhook."""
        client = None if self._webhooks is None else conversion.client_config(rt, view)
        if client is None or obj.get("apiVersion") == rt.api_version:
            return to_version(rt, obj)
        return self._converted(client, obj, rt.api_version)

    def to_storage(self, rt: ResourceType, obj: Obj, view: View) -> Obj:
        """``obj`` (in ``rt``'s version) as it is stored: in the CRD's storage version when its webhook
        converts."""
        client = None if self._webhooks is None else conversion.client_config(rt, view)
        if client is None:
            return to_storage(rt, obj)
        return self._converted(client, obj, conversion.storage_api_version(rt, view))

    def _converted(self, client: Obj, obj: Obj, desired: str) -> Obj:
        if obj.get("apiVersion") == desired:
            return obj
        webhooks = self._webhooks
        assert webhooks is not None
        key = orjson.dumps(["convert", desired, client, obj], option=orjson.OPT_SORT_KEYS)
        found: list[Obj] = self._answer(key, lambda: webhooks.convert(client, [obj], desired))
        return copy.deepcopy(found[0])

    def mutate(self, attrs: Attributes, view: View) -> Obj | None:
        """``attrs.obj`` as the mutating webhooks leave it."""
        if self._webhooks is None:
            return attrs.obj
        webhooks = self._webhooks
        plan = webhooks.plan(attrs, view, mutating=True)
        if not plan:
            return attrs.obj
        found: Obj | None = self._answer(
            _fingerprint("mutate", attrs), lambda: webhooks.mutate(plan, attrs, self._called)
        )
        return copy.deepcopy(found)

    def validate(self, attrs: Attributes, view: View, **changed: Any) -> None:
        """Raise the validating policies' or webhooks' refusal of ``attrs`` (with ``changed`` fields:
        the object as prepared for storage), if any."""
        webhooks, policies = self._webhooks, self._policies
        if not (webhooks is not None and webhooks.configured(view)) and not (
            policies is not None and policies.configured(view)
        ):
            return
        attrs = dataclasses.replace(attrs, **changed)
        if policies is not None:
            self._evaluated.extend(policies.validate(attrs, view))
        if webhooks is None:
            return
        plan = webhooks.plan(attrs, view, mutating=False)
        if plan:
            self._answer(
                _fingerprint("validate", attrs), lambda: webhooks.validate(plan, attrs, self._called)
            )

    def _answer(self, key: bytes, ask: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._answers:

            async def resolve() -> None:
                try:
                    self._answers[key] = await ask()
                except StatusError as exc:
                    self._answers[key] = exc

            raise Suspended(resolve)
        found = self._answers[key]
        if isinstance(found, StatusError):
            raise found
        return found
