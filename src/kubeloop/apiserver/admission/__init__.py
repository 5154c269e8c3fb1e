"""Admission: the plugins every write passes after its kind's strategy prepared it, as kube-apiserver's
admission chain (built-in plugins now; webhooks and policies go in modules of their own here).

``Chain`` runs its plugins in order; a plugin refuses a request by raising ``StatusError`` and nothing is
stored. Plugins see the write job's ``View``, so what they check and what is stored are one atomic step.
"""

from __future__ import annotations

from kubeloop.apiserver.admission.attributes import Attributes, Plugin
from kubeloop.apiserver.admission.chain import Chain, default_chain
from kubeloop.apiserver.admission.namespace_lifecycle import NamespaceLifecycle

__all__ = ["Attributes", "Chain", "NamespaceLifecycle", "Plugin", "default_chain"]
