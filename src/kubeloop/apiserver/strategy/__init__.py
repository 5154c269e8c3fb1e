"""Per-kind strategies: what the verbs do differently for each kind (see ``base.Strategy``).

``for_resource(rt)`` picks the strategy: a custom resource's (its CRD's schema and CEL rules), a
built-in kind's own, or the generic one. One module per kind (or family of kinds); a new kind's rules
go in a new module registered in ``_BUILTIN``, never in the verbs.
"""

from __future__ import annotations

from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.config import ConfigMapStrategy, SecretStrategy
from kubeloop.apiserver.strategy.crd import CRDStrategy
from kubeloop.apiserver.strategy.customresource import CustomResourceStrategy
from kubeloop.apiserver.strategy.jobs import JobStrategy
from kubeloop.apiserver.strategy.namespace import NamespaceStrategy
from kubeloop.apiserver.strategy.pod import PodStrategy
from kubeloop.apiserver.strategy.service import ServiceStrategy
from kubeloop.apiserver.strategy.webhookconfig import WebhookConfigurationStrategy
from kubeloop.apiserver.strategy.workloads import (
    DaemonSetStrategy,
    DeploymentStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)

__all__ = ["Strategy", "for_resource"]

_GENERIC = Strategy()
_CUSTOM = CustomResourceStrategy()
_BUILTIN: dict[tuple[str, str], Strategy] = {
    ("", "Namespace"): NamespaceStrategy(),
    ("", "Pod"): PodStrategy(),
    ("", "Service"): ServiceStrategy(),
    ("", "Secret"): SecretStrategy(),
    ("", "ConfigMap"): ConfigMapStrategy(),
    ("apps", "Deployment"): DeploymentStrategy(),
    ("apps", "ReplicaSet"): ReplicaSetStrategy(),
    ("apps", "StatefulSet"): StatefulSetStrategy(),
    ("apps", "DaemonSet"): DaemonSetStrategy(),
    ("batch", "Job"): JobStrategy(),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): CRDStrategy(),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): WebhookConfigurationStrategy(
        mutating=True
    ),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): WebhookConfigurationStrategy(
        mutating=False
    ),
}


def for_resource(rt: ResourceType) -> Strategy:
    """The strategy of ``rt``'s kind."""
    if rt.crd is not None:
        return _CUSTOM
    return _BUILTIN.get((rt.group, rt.kind), _GENERIC)
