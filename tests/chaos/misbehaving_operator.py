"""Scenario 9's operator: the AppService reconcile as shipped, except for apps annotated to misbehave as
an author's reconcile can — hang, raise ``CancelledError``, or return early (requeue) once its children
exist. Run as ``kubeloop run misbehaving_operator:operator`` with the AppService operator's RBAC.
"""

from __future__ import annotations

import asyncio

from appservice_operator.api.app_v1 import AppService
from appservice_operator.controllers import appservice as shipped

import kubeloop as kl
from kubeloop.resources import apps_v1, core_v1

BEHAVIOUR = "chaos.kubeloop.dev/behaviour"

operator = kl.Operator("appservice-operator")  # the same name: the same field manager and Lease


@operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None:
    """The shipped reconcile, or the misbehaviour the app's annotation asks for."""
    behaviour = (app.metadata.annotations or {}).get(BEHAVIOUR)
    if behaviour == "hang":
        await asyncio.Event().wait()
    if behaviour == "cancel":
        raise asyncio.CancelledError("a reconcile raising CancelledError while nobody cancelled it")
    if behaviour == "early-return" and (app.metadata.generation or 1) > 1:
        return kl.Result(requeue_after=30)  # waiting on something; its children stay as they are
    return await shipped.reconcile_appservice(app, ctx)
