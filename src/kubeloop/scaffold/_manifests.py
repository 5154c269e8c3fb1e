"""Writes an operator's kustomize ``config/`` tree: CRDs, RBAC and samples (``kubeloop generate``).

Generated files (CRDs, RBAC) are rewritten on every run; samples are written only when missing,
since users edit them. Every file is written to a temporary file and renamed over the old one, and
all CRDs are generated before the first is written (``kubeloop generate all`` writes CRDs first, so a
model that cannot be expressed stops it before anything is written).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubeloop import crd
from kubeloop.operator import Operator
from kubeloop.scaffold._rbac import cluster_role, leader_election_role, operator_rules

__all__ = ["custom_resources", "write_crd_manifests", "write_rbac", "write_samples"]

SERVICE_ACCOUNT = "controller-manager"


def _dump_all(documents: Iterable[Any]) -> str:
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in documents)


def _write(path: Path, documents: Sequence[Any]) -> Path:
    text = _dump_all(documents) if len(documents) != 1 else yaml.safe_dump(documents[0], sort_keys=False)
    crd.write_file_atomically(path, text)
    return path


def _kustomization(resources: Sequence[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }


def custom_resources(operator: Operator) -> list[type[crd.CustomResource]]:
    """Every custom resource class the operator reconciles, owns or watches, or converts between
    (every version of a kind with conversion webhooks), once each."""
    found: dict[str, type[crd.CustomResource]] = {}
    for primary, owns, watches in operator.kinds:
        for spec in (primary, *owns, *watches):
            if spec.model is not None:
                found.setdefault(spec.ref, spec.model)
    for group, kind in operator.conversions.kinds:
        for model in operator.conversions.models(group, kind).values():
            info = model.resource_info()
            found.setdefault(f"{info.api_version}/{info.kind}", model)
    return list(found.values())


def write_crd_manifests(operator: Operator, root: Path) -> list[Path]:
    """``config/crd/bases/<group>_<plural>.yaml`` and ``config/crd/kustomization.yaml``."""
    models = custom_resources(operator)
    return crd.write_crds(models, root) if models else []


def write_rbac(operator: Operator, root: Path) -> list[Path]:
    """``config/rbac/``: the ClusterRole with exactly the needed verbs, leader election, bindings."""
    rbac = root / "config" / "rbac"
    subject = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": "system"}]

    def binding(kind: str, name: str, role: str) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": kind.removesuffix("Binding"),
                "name": role,
            },
            "subjects": subject,
        }

    files = {
        "service_account.yaml": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": "system"},
        },
        "role.yaml": cluster_role("manager-role", operator_rules(operator)),
        "role_binding.yaml": binding("ClusterRoleBinding", "manager-rolebinding", "manager-role"),
        "leader_election_role.yaml": leader_election_role(
            "leader-election-role", sharded=operator.sharding is not None
        ),
        "leader_election_role_binding.yaml": binding(
            "RoleBinding", "leader-election-rolebinding", "leader-election-role"
        ),
    }
    written = [_write(rbac / name, [doc]) for name, doc in files.items()]
    written.append(_write(rbac / "kustomization.yaml", [_kustomization(sorted(files))]))
    return written


def write_samples(operator: Operator, root: Path) -> list[Path]:
    """``config/samples/<group>_<version>_<kind>.yaml`` for each custom resource, when missing."""
    samples = root / "config" / "samples"
    written = []
    names = []
    for model in custom_resources(operator):
        info = model.resource_info()
        name = f"{info.group}_{info.version}_{info.kind.lower()}.yaml"
        names.append(name)
        path = samples / name
        if path.exists():
            continue
        sample = {
            "apiVersion": info.api_version,
            "kind": info.kind,
            "metadata": {"name": f"{info.kind.lower()}-sample"},
            "spec": {},
        }
        crd.write_file_atomically(
            path, "# TODO: fill in the spec of your sample.\n" + yaml.safe_dump(sample, sort_keys=False)
        )
        written.append(path)
    if names:
        kustomization = samples / "kustomization.yaml"
        existing = yaml.safe_load(kustomization.read_text()) if kustomization.exists() else None
        listed = list((existing or {}).get("resources") or [])
        listed += [n for n in names if n not in listed]
        written.append(
            _write(kustomization, [{**_kustomization([]), **(existing or {}), "resources": listed}])
        )
    return written
