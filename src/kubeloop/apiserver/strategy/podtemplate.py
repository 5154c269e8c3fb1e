"""Defaults the real server gives a pod spec, in a Pod or in a workload's pod template."""

from __future__ import annotations

from kubeloop.apiserver.storage import Obj

__all__ = ["container_defaults", "pod_spec_defaults", "template_defaults"]


def container_defaults(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = ":" not in tag or tag.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest and "@" not in tag else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def pod_spec_defaults(pod: Obj) -> None:
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    pod.setdefault("terminationGracePeriodSeconds", 30)
    pod.setdefault("securityContext", {})
    for container in pod.get("containers") or []:
        container_defaults(container)


def template_defaults(spec: Obj) -> None:
    """Defaults of a workload's ``spec.template.spec``."""
    template = spec.setdefault("template", {})
    pod = template.setdefault("spec", {}) if isinstance(template, dict) else None
    if isinstance(pod, dict):
        pod_spec_defaults(pod)
