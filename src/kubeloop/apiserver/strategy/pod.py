"""Pods: phase Pending on create, the spec defaults the real server gives, graceful deletion."""

from __future__ import annotations

from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.podspec import pod_spec_causes
from kubeloop.apiserver.strategy.podtemplate import pod_spec_defaults

__all__ = ["PodStrategy"]


class PodStrategy(Strategy):
    return_deleted_object = True

    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        _defaults(obj)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        _defaults(obj)

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        return pod_spec_causes(obj.get("spec") or {}, "spec") if old is None else []

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """The requested period, else the pod's terminationGracePeriodSeconds; 0 for a pod no node runs
        (unscheduled) or that has finished, as the real server's CheckGracefulDelete."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        period = requested if requested is not None else spec.get("terminationGracePeriodSeconds") or 0
        if not spec.get("nodeName") or status.get("phase") in ("Failed", "Succeeded"):
            return 0
        return max(int(period), 0)


def _defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec_defaults(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
