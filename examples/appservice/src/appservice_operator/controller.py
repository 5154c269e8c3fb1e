"""The reconcile of an AppService: declare its Deployment and Service, report what runs."""

from __future__ import annotations

from typing import Any

import kubeloop as kl
from appservice_operator.api import AppService
from kubeloop.resources import apps_v1, core_v1

operator = kl.Operator("appservice-operator")


def labels_for(app: AppService) -> dict[str, str]:
    """The labels of the app's pods, which the Service and the Deployment select."""
    return {
        "app.kubernetes.io/name": app.metadata.name or "",
        "app.kubernetes.io/managed-by": "appservice-operator",
    }


def deployment_for(app: AppService) -> dict[str, Any]:
    """The Deployment running ``spec.size`` replicas of ``spec.image``."""
    labels = labels_for(app)
    return apps_v1.Deployment(
        metadata={"name": app.metadata.name, "labels": labels},
        spec={
            "replicas": app.spec.size,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": app.spec.image,
                            "ports": [{"containerPort": p.target_port} for p in app.spec.ports],
                        }
                    ]
                },
            },
        },
    )


def service_for(app: AppService) -> dict[str, Any]:
    """The NodePort Service exposing ``spec.ports``."""
    ports = []
    for p in app.spec.ports:
        port: dict[str, Any] = {"name": f"port-{p.port}", "port": p.port, "targetPort": p.target_port}
        if p.node_port is not None:
            port["nodePort"] = p.node_port
        ports.append(port)
    return core_v1.Service(
        metadata={"name": app.metadata.name, "labels": labels_for(app)},
        spec={"type": "NodePort", "selector": labels_for(app), "ports": ports},
    )


@operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None:
    """Apply the children; report ready replicas, node ports and the Ready condition."""
    deployment, service = await ctx.apply(deployment_for(app), service_for(app))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    ctx.status["readyReplicas"] = ready
    ctx.status["nodePorts"] = [p["nodePort"] for p in service["spec"].get("ports", []) if "nodePort" in p]
    if ready >= app.spec.size:
        changed = ctx.set_condition("Ready", True, "Available", f"{ready}/{app.spec.size} replicas ready")
    else:
        changed = ctx.set_condition("Ready", False, "Progressing", f"{ready}/{app.spec.size} replicas ready")
    if changed:
        ctx.event("Normal", "Reconciled", f"Deployment and Service in sync; {ready}/{app.spec.size} ready")
    return None
