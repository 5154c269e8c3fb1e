"""Writes an operator's kustomize ``config/`` tree: CRDs, RBAC, samples and the manager's Deployment
(``kubeloop generate``).

Generated files (CRDs, RBAC) are rewritten on every run; samples are written only when missing,
since users edit them. The manager's Deployment (``config/manager/manager.yaml``, which ``kubeloop
init`` writes from the same template) is the user's to edit: it is rewritten only while it is as the
template gave it, so that it follows the operator between one leader and sharded replicas; edited,
it is left alone, or refused when it no longer fits the operator. Every file is written to a
temporary file and renamed over the old one, and all CRDs are generated before the first is written.
``kubeloop generate all`` does all or nothing: it asks first whether the manager's Deployment would
be refused (``manager_file``), then writes CRDs first, so a model that cannot be expressed stops it
before anything is written too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubeloop import crd
from kubeloop.operator import Operator
from kubeloop.scaffold._names import ScaffoldError
from kubeloop.scaffold._project import PROJECT_FILE, Project
from kubeloop.scaffold._rbac import cluster_role, leader_election_role, operator_rules
from kubeloop.scaffold._render import render

__all__ = [
    "MANAGER",
    "custom_resources",
    "manager_file",
    "manager_manifest",
    "write_crd_manifests",
    "write_manager",
    "write_rbac",
    "write_samples",
]

MANAGER = "config/manager/manager.yaml"

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


def manager_manifest(project_name: str, *, sharded: bool, plugin: str | None = None) -> str:
    """``config/manager/manager.yaml``: the Namespace and the manager's Deployment (one leader-elected
    replica, or ``sharded``: 3 replicas with ``--shards=auto``, each named after its pod, and a
    PodDisruptionBudget letting one go at a time); ``init`` and ``generate`` both write it from here."""
    return render(
        "init/config/manager/manager.yaml.j2", project_name=project_name, sharded=sharded, plugin=plugin
    )


def _runs_sharded(text: str) -> bool:
    """Whether a manager.yaml runs the replicas sharded: a container with ``--shards=auto``, and a
    PodDisruptionBudget."""
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    kinds = {d.get("kind") for d in docs}
    args = [
        str(arg)
        for d in docs
        if d.get("kind") == "Deployment"
        for c in (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or ()
        for arg in c.get("args") or ()
    ]
    return "PodDisruptionBudget" in kinds and "--shards=auto" in args


def write_manager(operator: Operator, root: Path) -> list[Path]:
    """``config/manager/manager.yaml`` for ``operator``, sharded or not, when missing or as a template
    gave it; one edited is left as it is if it runs the operator as declared, else refused
    (ScaffoldError, naming what to change). The names (labels) are the project's (``PROJECT``), else
    the operator's."""
    wanted = manager_file(operator, root)
    if wanted is None:
        return []
    path = root / MANAGER
    crd.write_file_atomically(path, wanted)
    return [path]


def manager_file(operator: Operator, root: Path) -> str | None:
    """What ``write_manager`` writes to ``config/manager/manager.yaml``, None when it keeps the file
    (edited, and it fits the operator); ScaffoldError when it refuses it. Writes nothing, so that
    ``kubeloop generate all`` can ask before it writes anything."""
    from kubeloop.scaffold._ansible import plugin_of  # it builds on init, which builds on this module

    project = Project.load(root) if (root / PROJECT_FILE).is_file() else None
    name = project.project_name if project is not None else operator.name
    plugin = plugin_of(project) if project is not None else None
    sharded = operator.sharding is not None
    wanted = manager_manifest(name, sharded=sharded, plugin=plugin)
    path = root / MANAGER
    if path.exists():
        current = path.read_text()
        if current not in (wanted, manager_manifest(name, sharded=not sharded, plugin=plugin)):
            if _runs_sharded(current) == sharded:
                return None  # edited, and fits the operator: the user's
            raise ScaffoldError(
                f"{path} was edited and runs the operator {'unsharded' if sharded else 'sharded'}, "
                f"but it is declared {'with' if sharded else 'without'} sharding: "
                + (
                    "make its Deployment 3 replicas with --shards=auto instead of --leader-elect and "
                    "KUBELOOP_SHARD_IDENTITY from metadata.name, and add a PodDisruptionBudget with "
                    "maxUnavailable: 1"
                    if sharded
                    else "make its Deployment 1 replica with --leader-elect instead of --shards=auto, "
                    "and remove the PodDisruptionBudget"
                )
                + f" (or delete it, and generate writes it: {MANAGER} as kubeloop init would)"
            )
    return wanted
