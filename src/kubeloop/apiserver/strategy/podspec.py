"""Checks of a pod spec the real server makes first (``ValidatePodSpec``), with its field paths and
messages: containers present, each with a DNS-label name and an image, ports in range, restart
policy among the allowed ones. The rest of ValidatePodSpec is not done (docs/apiserver.md)."""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause

__all__ = ["PROTOCOLS", "RESTART_POLICIES", "go_map", "pod_spec_causes", "template_causes"]

Obj = dict[str, Any]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]


def go_map(value: Obj | None) -> str:
    """A ``map[string]string`` as Go's ``%#v`` shows it (keys sorted)."""
    if value is None:
        return "map[string]string(nil)"
    items = ", ".join(f"{validation.go_value(k)}:{validation.go_value(value[k])}" for k in sorted(value))
    return "map[string]string{" + items + "}"


def _container_causes(container: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = container.get("name") or ""
    if not name:
        causes.append(validation.required(f"{path}.name"))
    else:
        causes += [validation.invalid(f"{path}.name", name, m) for m in validation.is_dns1123_label(name)]
    if not container.get("image"):
        causes.append(validation.required(f"{path}.image"))
    for n, port in enumerate(container.get("ports") or []):
        number = port.get("containerPort")
        if number is None or not 1 <= number <= 65535:
            causes.append(
                validation.invalid(
                    f"{path}.ports[{n}].containerPort", number or 0, "must be between 1 and 65535, inclusive"
                )
            )
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            causes.append(validation.not_supported(f"{path}.ports[{n}].protocol", protocol, PROTOCOLS))
    return causes


def pod_spec_causes(spec: Obj, path: str, restart_policies: list[str] = RESTART_POLICIES) -> list[Cause]:
    """The causes of ``spec`` at ``path`` (``spec`` of a Pod, ``spec.template.spec`` of a workload)."""
    causes: list[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(validation.required(f"{path}.containers"))
    for n, container in enumerate(containers):
        causes += _container_causes(container, f"{path}.containers[{n}]")
    policy = spec.get("restartPolicy")
    if not policy:
        shown = ", ".join(validation.go_value(p) for p in restart_policies)
        causes.append(validation.required(f"{path}.restartPolicy", f"valid values: {shown}"))
    elif policy not in restart_policies:
        causes.append(validation.not_supported(f"{path}.restartPolicy", policy, restart_policies))
    return causes


def template_causes(spec: Obj, path: str, restart_policies: list[str] = RESTART_POLICIES) -> list[Cause]:
    """The pod template at ``path``: its labels and annotations, then its pod spec."""
    template = spec.get("template") or {}
    md = template.get("metadata") or {}
    causes = validation.label_causes(md.get("labels") or {}, f"{path}.metadata.labels")
    return causes + pod_spec_causes(template.get("spec") or {}, f"{path}.spec", restart_policies)
