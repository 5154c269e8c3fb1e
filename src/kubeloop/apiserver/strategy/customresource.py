"""Custom resources: their CRD's structural schema (pruning, defaults) and validation with CEL rules."""

from __future__ import annotations

from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy import structural
from kubeloop.apiserver.strategy.base import Strategy

__all__ = ["CustomResourceStrategy"]


class CustomResourceStrategy(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        super().prepare_for_create(rt, obj, view)
        structural.prepare(rt, obj)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        structural.prepare(rt, obj)

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        return structural.causes(rt, obj, old)

    def validate_update(
        self,
        rt: ResourceType,
        obj: Obj,
        old: Obj,
        view: View,
        subresource: str | None,
        warnings: list[str] | None,
    ) -> list[Cause]:
        """The real server's two update strategies: a ``status`` write validates the status (and CEL
        rules, ratcheted), an update the whole object (ratcheted)."""
        return structural.causes(rt, obj, old, status=subresource == "status", warnings=warnings)
