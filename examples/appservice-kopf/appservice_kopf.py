"""The AppService operator written with kopf, as a kopf user writes it: the original that
docs/migrating/from-kopf.md ports to kubeloop (examples/appservice).

An AppService (app.example.com/v1) gets a Deployment of spec.size replicas of spec.image and a
NodePort Service exposing spec.ports; its status reports ready replicas, node ports and a Ready
condition. Run it with ``kopf run --standalone appservice_kopf.py`` after applying crd.yaml.
"""

from __future__ import annotations

import datetime
from typing import Any

import kopf
import kubernetes
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "app.example.com", "v1", "appservices"
MANAGED_BY = "appservice-operator"
CHILDREN = {"app.kubernetes.io/managed-by": MANAGED_BY}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's own bookkeeping in annotations, so that the status holds only what we report.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="appservice.kopf.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="appservice.kopf.dev")
    settings.posting.level = 100  # no Events for kopf's own messages; ours are posted explicitly
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()


def labels_for(name: str) -> dict[str, str]:
    """The labels of the app's pods, which the Service and the Deployment select."""
    return {"app.kubernetes.io/name": name, **CHILDREN}


def deployment_for(name: str, spec: kopf.Spec) -> dict[str, Any]:
    """The Deployment running spec.size replicas of spec.image."""
    labels = labels_for(name)
    container = {
        "name": "app",
        "image": spec["image"],
        "ports": [{"containerPort": p["targetPort"]} for p in spec.get("ports", [])],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": spec.get("size", 1),
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def service_for(name: str, spec: kopf.Spec) -> dict[str, Any]:
    """The NodePort Service exposing spec.ports."""
    ports = []
    for p in spec.get("ports", []):
        port = {"name": f"port-{p['port']}", "port": p["port"], "targetPort": p["targetPort"]}
        if p.get("nodePort") is not None:
            port["nodePort"] = p["nodePort"]
        ports.append(port)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels_for(name)},
        "spec": {"type": "NodePort", "selector": labels_for(name), "ports": ports},
    }


def ensure(body: kopf.Body, logger: kopf.Logger) -> None:
    """Create the children, or bring them to what the spec says (they are adopted: owner references)."""
    name, namespace, spec = body["metadata"]["name"], body["metadata"]["namespace"], body["spec"]
    deployment, service = deployment_for(name, spec), service_for(name, spec)
    kopf.adopt([deployment, service], owner=body)
    apps, core = kubernetes.client.AppsV1Api(), kubernetes.client.CoreV1Api()
    try:
        apps.create_namespaced_deployment(namespace, deployment)
        logger.info("Deployment %s created", name)
    except ApiException as exc:
        if exc.status != 409:
            raise
        apps.patch_namespaced_deployment(name, namespace, deployment)
    try:
        core.create_namespaced_service(namespace, service)
        logger.info("Service %s created", name)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.patch_namespaced_service(name, namespace, service)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def appservice_changed(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    ensure(body, logger)
    report(body["metadata"]["namespace"], body["metadata"]["name"])


def owner_of(body: kopf.Body) -> str | None:
    """The AppService that controls a child, from its owner references."""
    for ref in body["metadata"].get("ownerReferences", []):
        if ref.get("controller") and ref["kind"] == "AppService":
            return str(ref["name"])
    return None


@kopf.on.event("apps", "v1", "deployments", labels=CHILDREN)
@kopf.on.event("v1", "services", labels=CHILDREN)
def child_event(event: kopf.RawEvent, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    # kopf calls handlers for the kind they are declared on: a child's change (its status, or its
    # deletion) reaches the owner only through a handler of the child's own kind.
    name, namespace = owner_of(body), body["metadata"]["namespace"]
    if name is None:
        return
    try:
        owner = kubernetes.client.CustomObjectsApi().get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return  # the owner is gone; garbage collection removes the children
        raise
    if event["type"] == "DELETED" and not owner["metadata"].get("deletionTimestamp"):
        ensure(kopf.Body(owner), logger)  # restore what was deleted
    report(namespace, name)


def report(namespace: str, name: str) -> None:
    """Write readyReplicas, nodePorts and the Ready condition into the AppService's status."""
    objects = kubernetes.client.CustomObjectsApi()
    try:
        owner = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        deployment = kubernetes.client.AppsV1Api().read_namespaced_deployment(name, namespace)
        service = kubernetes.client.CoreV1Api().read_namespaced_service(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return  # the next event reports again
        raise
    size = owner["spec"].get("size", 1)
    ready = deployment.status.ready_replicas or 0
    message = f"{ready}/{size} replicas ready"
    status, reason = ("True", "Available") if ready >= size else ("False", "Progressing")
    conditions = [c for c in (owner.get("status") or {}).get("conditions", []) if c["type"] != "Ready"]
    old = next((c for c in (owner.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), None)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready_condition = {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": owner["metadata"]["generation"],
        "lastTransitionTime": old["lastTransitionTime"] if old and old["status"] == status else now,
    }
    node_ports = [p.node_port for p in service.spec.ports or [] if p.node_port]
    patch = {
        "status": {
            "readyReplicas": ready,
            "nodePorts": node_ports,
            "conditions": [*conditions, ready_condition],
        }
    }
    objects.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, patch)
    if old is None or (old["status"], old["reason"], old["message"]) != (status, reason, message):
        kopf.event(
            owner, type="Normal", reason="Reconciled", message=f"Deployment and Service in sync; {message}"
        )
