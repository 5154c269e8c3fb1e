"""An operator that loops, for the chaos suite's request budget: the AppService reconcile as shipped,
except that its Deployment and Service carry the time of the pass, so that every pass changes them and
the change brings the next pass. Run as ``kubeloop run looping_operator:operator``: its run must go over
budget.
"""

from __future__ import annotations

import time

from appservice_operator.api.app_v1 import AppService
from appservice_operator.controllers import appservice as shipped

import kubeloop as kl
from kubeloop.resources import apps_v1, core_v1

operator = kl.Operator("appservice-operator")  # the same name: the same field manager and Lease
_deployment_for, _service_for = shipped.deployment_for, shipped.service_for
STAMP = "chaos.kubeloop.dev/pass"


def deployment_stamped(app: AppService) -> apps_v1.Deployment:
    """The shipped Deployment, annotated with the time of this pass."""
    deployment = _deployment_for(app)
    deployment["metadata"]["annotations"] = {STAMP: str(time.time_ns())}
    return deployment


def service_stamped(app: AppService) -> core_v1.Service:
    """The shipped Service, annotated with the time of this pass."""
    service = _service_for(app)
    service["metadata"]["annotations"] = {STAMP: str(time.time_ns())}
    return service


shipped.deployment_for, shipped.service_for = deployment_stamped, service_stamped


@operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None:
    """The shipped reconcile, its children stamped."""
    result: kl.Result | None = await shipped.reconcile_appservice(app, ctx)
    return result
