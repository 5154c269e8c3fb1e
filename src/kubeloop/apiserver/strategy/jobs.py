"""Jobs: a restart policy of OnFailure or Never, and a pod template that never changes once created
(the real server's message prints the whole Go template; this one names it, see docs/apiserver.md)."""

from __future__ import annotations

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.podspec import template_causes

__all__ = ["JobStrategy"]


class JobStrategy(Strategy):
    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = template_causes(spec, "spec.template", ["OnFailure", "Never"])
        if old is not None and spec.get("template") != (old.get("spec") or {}).get("template"):
            causes.append(
                validation.invalid_raw("spec.template", "core.PodTemplateSpec{...}", "field is immutable")
            )
        return causes
