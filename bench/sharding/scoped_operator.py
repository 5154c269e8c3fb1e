"""The AppService operator as shipped, plus what many operators read besides their children: the
app's Pods (how many there are) and its settings ConfigMap, by ``ctx.list``/``ctx.get``, which start
a shared informer of each kind on first use. ``$KUBELOOP_BENCH_SCOPE`` says what those caches hold:

- ``none``: the defaults, every Pod and ConfigMap of the namespaces watched (all, unless
  ``kubeloop run --namespace``);
- ``labels``: only the operator's (``app.kubernetes.io/managed-by: appservice-operator``, a label
  selector the API server applies: the rest never reach the process);
- ``metadata``: Pods and ConfigMaps as metadata only (``PartialObjectMetadata``: name, labels, owners),
  all of them.

Run as ``kubeloop run scoped_operator:operator`` with examples/appservice/src on the path.
"""

from __future__ import annotations

import os

from appservice_operator.api.app_v1 import AppService
from appservice_operator.controllers import appservice as shipped

import kubeloop as kl
from kubeloop.resources import apps_v1, core_v1

SCOPE = os.environ.get("KUBELOOP_BENCH_SCOPE", "none")
MANAGED = {"app.kubernetes.io/managed-by": "appservice-operator"}
SCOPES = {
    "none": {},
    "labels": {core_v1.Pod: kl.CacheScope(labels=MANAGED), core_v1.ConfigMap: kl.CacheScope(labels=MANAGED)},
    "metadata": {
        core_v1.Pod: kl.CacheScope(metadata_only=True),
        core_v1.ConfigMap: kl.CacheScope(metadata_only=True),
    },
}

operator = kl.Operator("appservice-operator", cache=SCOPES[SCOPE])


@operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None:
    """Read the app's Pods and settings, then the shipped reconcile."""
    name = app.metadata.name or ""
    await ctx.list(core_v1.Pod, label_selector=f"app.kubernetes.io/name={name}")
    await ctx.get(core_v1.ConfigMap, f"{name}-settings")
    return await shipped.reconcile_appservice(app, ctx)
