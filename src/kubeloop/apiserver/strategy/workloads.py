"""Deployments, ReplicaSets and StatefulSets: replicas, strategy and pod-template defaults."""

from __future__ import annotations

from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.podtemplate import template_defaults

__all__ = ["DeploymentStrategy", "ReplicaSetStrategy", "StatefulSetStrategy"]


class _Workload(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        super().prepare_for_create(rt, obj, view)
        self.defaults(obj.setdefault("spec", {}))

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        self.defaults(obj.setdefault("spec", {}))

    def defaults(self, spec: Obj) -> None:
        spec.setdefault("replicas", 1)
        template_defaults(spec)


class DeploymentStrategy(_Workload):
    def defaults(self, spec: Obj) -> None:
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        template_defaults(spec)


class ReplicaSetStrategy(_Workload):
    pass


class StatefulSetStrategy(_Workload):
    def defaults(self, spec: Obj) -> None:
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        template_defaults(spec)
