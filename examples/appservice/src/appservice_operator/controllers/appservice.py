"""The reconcile of an AppService: declare its Deployment and Service, report what runs."""

from __future__ import annotations

import kubeloop as kl
from kubeloop.resources import apps_v1, core_v1

from appservice_operator.api.app_v1 import AppService, AppServiceStatus
from appservice_operator.operator import operator


def name_of(app: AppService) -> str:
    """The app's name, which its Deployment and Service share (an object read from the API has one)."""
    return app.metadata.name or ""


def labels_for(app: AppService) -> dict[str, str]:
    """The labels of the app's pods, which the Service and the Deployment select."""
    return {"app.kubernetes.io/name": name_of(app), "app.kubernetes.io/managed-by": operator.name}


def deployment_for(app: AppService) -> apps_v1.Deployment:
    """The Deployment running spec.size replicas of spec.image."""
    labels = labels_for(app)
    container: core_v1.Container = {
        "name": "app",
        "image": app.spec.image,
        # Two Service ports may share a target port; the container lists it once.
        "ports": [{"containerPort": port} for port in dict.fromkeys(p.target_port for p in app.spec.ports)],
    }
    return apps_v1.Deployment(
        metadata={"name": name_of(app), "labels": labels},
        spec={
            "replicas": app.spec.size,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    )


def service_for(app: AppService) -> core_v1.Service:
    """The NodePort Service exposing spec.ports."""
    ports: list[core_v1.ServicePort] = []
    for p in app.spec.ports:
        port: core_v1.ServicePort = {"name": f"port-{p.port}", "port": p.port, "targetPort": p.target_port}
        if p.node_port is not None:
            port["nodePort"] = p.node_port
        ports.append(port)
    return core_v1.Service(
        metadata={"name": name_of(app), "labels": labels_for(app)},
        spec={"type": "NodePort", "selector": labels_for(app), "ports": ports},
    )


@operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
async def reconcile_appservice(app: AppService, ctx: kl.Context) -> kl.Result | None:
    """Apply the children (the complete set: others it applied before are pruned); report ready
    replicas, node ports and the Ready condition. The two children need not exist one before the
    other, so they are sent at once."""
    deployment, service = await ctx.apply(deployment_for(app), service_for(app), concurrently=True)
    await ctx.prune()
    ready = deployment.get("status", {}).get("readyReplicas", 0)
    node_ports = [p["nodePort"] for p in service["spec"].get("ports", []) if "nodePort" in p]
    app.status = AppServiceStatus(ready_replicas=ready, node_ports=node_ports)  # written after the pass
    message = f"{ready}/{app.spec.size} replicas ready"
    if ready >= app.spec.size:
        changed = ctx.set_condition("Ready", True, "Available", message)
    else:
        changed = ctx.set_condition("Ready", False, "Progressing", message)
    if changed:
        ctx.event("Normal", "Reconciled", f"Deployment and Service in sync; {message}")
    return None
