"""Pods: phase Pending on create, the spec defaults the real server gives."""

from __future__ import annotations

from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.podtemplate import pod_spec_defaults

__all__ = ["PodStrategy"]


class PodStrategy(Strategy):
    return_deleted_object = True

    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        _defaults(obj)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        _defaults(obj)


def _defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec_defaults(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
