"""Which admission webhooks a request calls, as the real server's ``ShouldCallHook``: the webhook's
rules and selectors (``matching``), then its ``matchConditions`` (CEL; one false condition skips the
webhook, an expression that fails is a 403 unless another condition is false)."""

from __future__ import annotations

from dataclasses import dataclass

from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.admission.matching import (
    GROUP,
    cel_request,
    conditions_hold,
    exempt,
    matched_version,
)
from kubeloop.apiserver.machinery.errors import forbidden
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View

__all__ = ["BUCKETS", "Hook", "Invocation", "configured_hooks", "invocations"]

BUCKETS = (f"{GROUP}/mutatingwebhookconfigurations", f"{GROUP}/validatingwebhookconfigurations")
"""Where the configurations are stored (mutating, validating)."""


@dataclass(frozen=True)
class Hook:
    """One webhook of a configuration (``spec``: its entry in ``webhooks``)."""

    configuration: str
    spec: Obj
    mutating: bool

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))


@dataclass(frozen=True)
class Invocation:
    """A webhook to call and the resource version it is called with (``rt``)."""

    hook: Hook
    rt: ResourceType


def configured_hooks(view: View, mutating: bool) -> list[Hook]:
    """Every webhook of every configuration, configurations by name, webhooks in their order
    (configurations take effect once committed, as the real server's take effect once its informer
    saw them)."""
    bucket = BUCKETS[0] if mutating else BUCKETS[1]
    if not view.committed_any(bucket):
        return []
    return [
        Hook(config["metadata"]["name"], spec, mutating)
        for config in view.list(bucket)
        for spec in config.get("webhooks") or ()
    ]


def invocations(
    hooks: list[Hook], attrs: Attributes, view: View, equivalents: list[ResourceType]
) -> list[Invocation]:
    """The webhooks of ``hooks`` that ``attrs`` calls, in order."""
    if exempt(attrs):
        return []
    found = []
    for hook in hooks:
        rt = matched_version(hook.spec, hook.spec.get("rules"), attrs, view, equivalents)
        if rt is not None and _conditions_hold(hook, attrs, rt):
            found.append(Invocation(hook, rt))
    return found


def _conditions_hold(hook: Hook, attrs: Attributes, rt: ResourceType) -> bool:
    conditions = hook.spec.get("matchConditions") or ()
    if not conditions:
        return True
    context = {
        "object": None if attrs.obj is None else to_version(rt, attrs.obj),
        "oldObject": None if attrs.old is None else to_version(rt, attrs.old),
        "request": cel_request(attrs, rt),
    }
    held = conditions_hold(list(conditions), context)
    if isinstance(held, str):  # none false, some failed to run: the failure policy decides
        if hook.spec.get("failurePolicy") == "Ignore":
            return False  # the webhook is skipped, as the real matcher skips it
        raise forbidden(attrs.rt.plural, attrs.rt.group, attrs.name, held)
    return held
