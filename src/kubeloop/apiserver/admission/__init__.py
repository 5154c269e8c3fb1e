"""Admission: the plugins every write passes after its kind's strategy prepared it, as kube-apiserver's
admission chain: built-in plugins (``Chain``), then the admission webhooks of the stored configurations
(``Webhooks``, called between runs of a write job through ``Review``) with the ValidatingAdmissionPolicies
(``Policies``, CEL) before the validating webhooks.

``Chain`` runs its plugins in order; a plugin refuses a request by raising ``StatusError`` and nothing is
stored. Plugins see the write job's ``View``, so what they check and what is stored are one atomic step.
"""

from __future__ import annotations

from kubeloop.apiserver.admission.attributes import Attributes, Plugin
from kubeloop.apiserver.admission.chain import Chain, default_chain
from kubeloop.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from kubeloop.apiserver.admission.policies import Policies
from kubeloop.apiserver.admission.review import Review, Suspended
from kubeloop.apiserver.admission.webhooks import Webhooks

__all__ = [
    "Attributes",
    "Chain",
    "NamespaceLifecycle",
    "Plugin",
    "Policies",
    "Review",
    "Suspended",
    "Webhooks",
    "default_chain",
]
