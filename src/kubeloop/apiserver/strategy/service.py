"""Services: a ClusterIP from ``10.0.0.0/24``, NodePorts from 30000-32767 unique across Services, kept
across updates; port, protocol and targetPort defaults.

A taken or out-of-range NodePort is 422 Invalid ("provided port is already allocated", "not in the valid
range"), as on the real server. Allocation reads the other Services through the write job's view, so two
concurrent creates never get the same IP or port.
"""

from __future__ import annotations

import ipaddress

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause, invalid
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.podspec import PROTOCOLS

__all__ = ["ServiceStrategy"]

NODE_PORTS = range(30000, 32768)
_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/24")


_PORT_RANGE = "must be between 1 and 65535, inclusive"


class ServiceStrategy(Strategy):
    allow_create_on_update = True
    return_deleted_object = True

    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        obj["status"] = {"loadBalancer": {}}  # a new Service's status is empty, as Go writes it
        _allocate(obj, None, view)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        _allocate(obj, old, view)

    # The real field manager sees the Service as decoded (Go's defaults: type, sessionAffinity, traffic
    # policies, ports' protocol and targetPort), before the registry allocates cluster IPs, IP families
    # and node ports or drops the fields a new type no longer has (dropTypeDependentFields): an
    # update that turns a NodePort into a ClusterIP keeps owning externalTrafficPolicy and its ports'
    # nodePort, and nobody owns what was allocated.
    tracks_before_prepare = True

    def as_tracked(self, rt: ResourceType, sent: Obj, old: Obj | None) -> Obj:
        _defaults(sent)
        return sent

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes: list[Cause] = []
        if old is not None:
            was = (old.get("spec") or {}).get("clusterIPs") or []
            now = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
            if was and now[:1] != was[:1]:
                shown = "[]string{" + ", ".join(validation.go_value(ip) for ip in now) + "}"
                causes.append(validation.invalid_raw("spec.clusterIPs[0]", shown, "may not change once set"))
        ports = spec.get("ports") or []
        if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            causes.append(validation.required("spec.ports"))
        names: set[str] = set()
        for n, port in enumerate(ports):
            path = f"spec.ports[{n}]"
            name = port.get("name") or ""
            if not name and len(ports) > 1:
                causes.append(validation.required(f"{path}.name"))
            elif name in names:
                causes.append(validation.duplicate(f"{path}.name", name))
            names.add(name)
            if not 1 <= (port.get("port") or 0) <= 65535:
                causes.append(validation.invalid(f"{path}.port", port.get("port") or 0, _PORT_RANGE))
            if port.get("protocol") not in PROTOCOLS:
                causes.append(validation.not_supported(f"{path}.protocol", port.get("protocol"), PROTOCOLS))
            target = port.get("targetPort")
            if isinstance(target, int) and not 1 <= target <= 65535:
                causes.append(validation.invalid(f"{path}.targetPort", target, _PORT_RANGE))
        if spec.get("type") not in _TYPES:
            causes.append(validation.not_supported("spec.type", spec.get("type"), _TYPES))
        return causes


def _defaults(obj: Obj) -> None:
    """What Go's SetDefaults_Service fills in as the object is decoded."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if kind != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port and port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port["port"]
    for ingress in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if isinstance(ingress, dict) and ingress.get("ip"):
            ingress.setdefault("ipMode", "VIP")


def _allocate(obj: Obj, old: Obj | None, view: View) -> None:
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    name = obj["metadata"]["name"]
    if spec["type"] != "ExternalName":
        if old is not None and old_spec.get("type", "ClusterIP") != "ExternalName":
            _keep_cluster_ips(spec, old_spec)
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
    elif old_spec.get("type") in ("NodePort", "LoadBalancer") and (
        spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")
    ):
        spec.pop("externalTrafficPolicy", None)  # dropTypeDependentFields: it no longer applies
    used = _used_node_ports(view, obj)
    causes: list[Cause] = []
    unset: list[Obj] = []  # given a node port once every port's own is reserved, as the real allocator
    for n, port in enumerate(spec.get("ports") or []):
        port.setdefault("protocol", "TCP")
        if "port" in port and port.get("targetPort") in (None, 0, ""):  # Go's zero IntOrString: unset
            port["targetPort"] = port["port"]
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
            used.add(node_port)
        else:
            unset.append(port)
    for port in unset:
        port["nodePort"] = next(p for p in NODE_PORTS if p not in used)
        used.add(port["nodePort"])
    if causes:
        raise invalid("Service", "", name, causes)
    for ingress in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if ingress.get("ip"):
            ingress.setdefault("ipMode", "VIP")


def _keep_cluster_ips(spec: Obj, old_spec: Obj) -> None:
    """An update's cluster IPs as the real registry reads them (patchAllocatedValues, then
    normalizeClusterIPs): what the update left out is the old value, and a changed ``clusterIP`` with
    ``clusterIPs`` as they were is a change of both, which validation then refuses."""
    old_ip, old_ips = old_spec.get("clusterIP") or "", old_spec.get("clusterIPs") or []
    if not spec.get("clusterIP"):
        spec["clusterIP"] = old_ip
    if not spec.get("clusterIPs") and old_ips:
        spec["clusterIPs"] = old_ips
    if spec["clusterIP"] != old_ip and (spec.get("clusterIPs") or []) == old_ips:
        spec["clusterIPs"] = [spec["clusterIP"]]


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
