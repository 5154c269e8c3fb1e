"""The ClusterRole aggregation controller, as kube-controller-manager's: an aggregated ClusterRole
(``aggregationRule``) holds the rules of every ClusterRole its selectors match, kept so as they change:
``admin``, ``edit`` and ``view`` gain a CRD's rules from a role labelled
``rbac.authorization.k8s.io/aggregate-to-view: "true"``."""

from __future__ import annotations

from kubeloop.apiserver.auth import aggregated_rules, same_rules
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.controller import Request, Result

__all__ = ["ClusterRoleAggregation"]


class ClusterRoleAggregation(Builtin):
    name = "clusterrole-aggregation"
    workers = 1

    async def setup(self) -> None:
        self.rt = self.runtime.rt("rbac.authorization.k8s.io", "v1", "clusterroles")
        self.roles = await self.runtime.informer(self.rt)
        # any ClusterRole's change may change what each aggregated one selects
        self.controller.watch(
            self.roles,
            mapper=lambda _: [
                Request("", r["metadata"]["name"]) for r in self.roles.list() if r.get("aggregationRule")
            ],
        )

    async def reconcile(self, request: Request) -> Result | None:
        role = self.roles.get("", request.name)
        rules = aggregated_rules(role, self.roles.list()) if role is not None else None
        if role is not None and rules is not None and not same_rules(rules, role.get("rules")):
            await self.runtime.update(self.rt, {**role, "rules": rules})
        return None
