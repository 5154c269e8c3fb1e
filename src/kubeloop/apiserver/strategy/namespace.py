"""Namespaces: the ``kubernetes`` finalizer, phase Active then Terminating, the name label."""

from __future__ import annotations

from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy

__all__ = ["NamespaceStrategy"]


class NamespaceStrategy(Strategy):
    return_deleted_object = True

    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        _name_label(obj)
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        _name_label(obj)

    def prepare_for_delete(self, rt: ResourceType, obj: Obj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def waits_on_spec_finalizers(self, obj: Obj) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))


def _name_label(obj: Obj) -> None:
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
