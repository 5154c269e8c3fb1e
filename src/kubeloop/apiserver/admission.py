"""Per-kind behaviour applied on every write: defaults, allocation and validation.

Role: the ``rest.Admission`` the server uses. Built-in kinds get the defaults and checks operators and
kubectl rely on (not the whole of the real server's); custom resources get their CRD schema applied
(``structural``: pruning, defaulting, validation).

- Namespace: ``spec.finalizers: [kubernetes]``, ``status.phase: Active``, the
  ``kubernetes.io/metadata.name`` label.
- Service: a ClusterIP from ``10.0.0.0/24``; NodePorts from 30000-32767, unique across services (422
  Invalid "provided port is already allocated", or "not in the valid range"); allocated values are kept
  across updates; port/protocol/targetPort defaults.
- Pod: ``status.phase: Pending`` on create and the common spec defaults.
- Deployment/ReplicaSet/StatefulSet: ``spec.replicas: 1`` and strategy defaults.
- CustomResourceDefinition: accepted names and the NamesAccepted/Established conditions (the CRD
  controller then serves the resource).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeloop.apiserver import schemas, structural
from kubeloop.apiserver.errors import Cause, invalid
from kubeloop.apiserver.resources import ResourceType
from kubeloop.apiserver.schemas import Node
from kubeloop.apiserver.storage import View

__all__ = ["BuiltinAdmission"]

Obj = dict[str, Any]
NODE_PORTS = range(30000, 32768)
SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/24")


class BuiltinAdmission:
    """Defaults, allocation and validation for built-in kinds and custom resources."""

    def schema(self, rt: ResourceType) -> Node:
        if rt.crd is not None:
            return schemas.for_schema((rt.crd.get("schema") or {}).get("openAPIV3Schema"))
        return schemas.for_builtin(rt.group, rt.version, rt.kind)

    def admit(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View, subresource: str | None) -> None:
        if rt.crd is not None:
            structural.admit(rt, obj, old)
            return
        hook = getattr(self, f"_{rt.kind.lower()}", None)
        if hook is not None:
            hook(rt, obj, old, view)

    # -- kinds -------------------------------------------------------------------------------------

    def _namespace(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        name = obj["metadata"]["name"]
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if old is None:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}

    def _pod(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        spec = obj.setdefault("spec", {})
        if old is None:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        for container in spec.get("containers") or []:
            _container_defaults(container)

    def _deployment(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        _template_defaults(spec)

    def _replicaset(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        obj.setdefault("spec", {}).setdefault("replicas", 1)
        _template_defaults(obj["spec"])

    def _statefulset(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        _template_defaults(spec)

    def _service(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        spec = obj.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        name = obj["metadata"]["name"]
        if spec["type"] != "ExternalName":
            if old_spec.get("clusterIP"):
                spec.setdefault("clusterIP", old_spec["clusterIP"])
            if not spec.get("clusterIP"):
                spec["clusterIP"] = _allocate_ip(view)
            if spec["clusterIP"] != "None":
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []
        }
        wants_node_ports = spec["type"] in ("NodePort", "LoadBalancer")
        if wants_node_ports:
            spec.setdefault("externalTrafficPolicy", "Cluster")
        used = _used_node_ports(view, obj)
        causes: list[Cause] = []
        for n, port in enumerate(spec.get("ports") or []):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
            if not wants_node_ports:
                port.pop("nodePort", None)
                continue
            node_port = port.get("nodePort") or old_ports.get((port.get("port"), port["protocol"]))
            if node_port:
                field = f"spec.ports[{n}].nodePort"
                if node_port not in NODE_PORTS:
                    causes.append(
                        Cause(
                            "FieldValueInvalid",
                            f"Invalid value: {node_port}: provided port is not in the "
                            "valid range. The range of valid ports is 30000-32767",
                            field,
                        )
                    )
                elif node_port in used:
                    causes.append(
                        Cause(
                            "FieldValueInvalid",
                            f"Invalid value: {node_port}: provided port is already allocated",
                            field,
                        )
                    )
                port["nodePort"] = node_port
            else:
                port["nodePort"] = next(p for p in NODE_PORTS if p not in used)
            used.add(port["nodePort"])
        if causes:
            raise invalid("Service", "", name, causes)
        for ingress in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if ingress.get("ip"):
                ingress.setdefault("ipMode", "VIP")

    def _customresourcedefinition(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> None:
        structural.admit_crd(obj)


def _container_defaults(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = ":" not in tag or tag.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest and "@" not in tag else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def _template_defaults(spec: Obj) -> None:
    pod = (spec.get("template") or {}).get("spec")
    if isinstance(pod, dict):
        pod.setdefault("restartPolicy", "Always")
        pod.setdefault("dnsPolicy", "ClusterFirst")
        pod.setdefault("schedulerName", "default-scheduler")
        pod.setdefault("terminationGracePeriodSeconds", 30)
        pod.setdefault("securityContext", {})
        for container in pod.get("containers") or []:
            _container_defaults(container)


def _allocate_ip(view: View) -> str:
    used = {(s.get("spec") or {}).get("clusterIP") for s in view.list("/services")}
    for host in list(SERVICE_CIDR.hosts())[1:]:
        if str(host) not in used:
            return str(host)
    raise invalid(
        "Service",
        "",
        "",
        [Cause("FieldValueInvalid", "failed to allocate a serviceIP: range is full", "spec.clusterIPs")],
    )


def _used_node_ports(view: View, obj: Obj) -> set[int]:
    md = obj["metadata"]
    used: set[int] = set()
    for svc in view.list("/services"):
        smd = svc["metadata"]
        if (smd.get("namespace"), smd["name"]) == (md.get("namespace"), md["name"]):
            continue
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("nodePort"):
                used.add(int(port["nodePort"]))
    return used
