"""Generators and scaffolding: an operator's ``config/`` manifests (CRDs, RBAC, samples) and,
later, project templates. Sits above the runtime; used by ``kubeloop generate``.
"""

from kubeloop.scaffold._manifests import custom_resources, write_crd_manifests, write_rbac, write_samples
from kubeloop.scaffold._rbac import cluster_role, leader_election_role, operator_rules

__all__ = [
    "cluster_role",
    "custom_resources",
    "leader_election_role",
    "operator_rules",
    "write_crd_manifests",
    "write_rbac",
    "write_samples",
]
