"""``kubeloop init``: the files of a new project (package, config/ tree, Makefile, Dockerfile,
PROJECT, README, tests), planned so that re-running it writes only what is missing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeloop.operator import Operator
from kubeloop.scaffold._manifests import MANAGER, manager_manifest, write_rbac
from kubeloop.scaffold._names import (
    ScaffoldError,
    package_name,
    validate_domain,
    validate_project_name,
)
from kubeloop.scaffold._plan import Change, Plan
from kubeloop.scaffold._project import PROJECT_FILE, Project
from kubeloop.scaffold._render import render
from kubeloop.scaffold._source import kubeloop_source

__all__ = ["InitOptions", "init_context", "init_project", "plan_config", "plan_init"]

# Template (under templates/init/) → path in the project; ``package/`` is ``src/<package>/``.
_CREATE = [
    "pyproject.toml",
    "README.md",
    "Makefile",
    "Dockerfile",
    ".dockerignore",
    ".gitignore",
    "package/__init__.py",
    "package/__main__.py",
    "package/operator.py",
    "package/controllers/__init__.py",
    "package/api/__init__.py",
    "tests/conftest.py",
    "tests/test_operator.py",
    "config/manager/kustomization.yaml",
    "config/manager/manager.yaml",
    "config/default/kustomization.yaml",
    "config/default/metrics_service.yaml",
    "config/default/manager_webhook_patch.yaml",
    "config/webhook/service.yaml",
    "config/certmanager/kustomization.yaml",
    "config/certmanager/certificate.yaml",
    "config/prometheus/kustomization.yaml",
    "config/prometheus/monitor.yaml",
]
# Written when missing; afterwards `kubeloop generate` (make manifests) keeps them.
_SEED = [
    "config/crd/kustomization.yaml",
    "config/samples/kustomization.yaml",
    "config/webhook/kustomization.yaml",
]


@dataclass(frozen=True)
class InitOptions:
    """What ``kubeloop init`` was asked for."""

    domain: str
    project_name: str
    namespace: str | None = None
    kubeloop_source: Path | None = None
    sharded: bool = False
    """Replicas share the objects (``sharding=True``, ``--shards auto``, 3 replicas and a
    PodDisruptionBudget) instead of one leader doing all the work."""


def _target(template: str, package: str) -> str:
    if template.startswith("package/"):
        return f"src/{package}/{template.removeprefix('package/')}"
    return template


def init_context(root: Path, options: InitOptions) -> tuple[Project, dict[str, Any]]:
    """The project ``kubeloop init`` makes in ``root`` (an existing PROJECT must agree with
    ``options``) and the templates' context."""
    domain = validate_domain(options.domain)
    name = validate_project_name(options.project_name)
    package = package_name(name)
    namespace = options.namespace or f"{name}-system"
    validate_project_name(namespace)
    project = Project(domain=domain, project_name=name, package=package, namespace=namespace)
    if (root / PROJECT_FILE).is_file():
        existing = Project.load(root)
        for key in ("domain", "project_name", "namespace"):
            if getattr(existing, key) != getattr(project, key):
                raise ScaffoldError(
                    f"{root / PROJECT_FILE} already says {key} {getattr(existing, key)!r}, "
                    f"not {getattr(project, key)!r}: this directory is another project"
                )
        project = existing
    source = kubeloop_source(options.kubeloop_source)
    context = {
        "domain": domain,
        "project_name": name,
        "package": package,
        "namespace": namespace,
        "kubeloop_source": str(source.checkout or ""),
        "kubeloop_requirement": source.requirement,
        "kubeloop_direct": source.direct,
        "controller_modules": [r.kind.lower() for r in project.resources if r.controller],
        "has_webhooks": any(r.webhooks is not None for r in project.resources),
        "sharded": options.sharded,
        "plugin": None,
    }
    return project, context


def plan_config(plan: Plan, context: Mapping[str, Any]) -> None:
    """Add the ``config/`` tree of a new project to ``plan``."""
    for template in _CREATE:
        if template == MANAGER:  # as `kubeloop generate manager` writes it
            sharded, plugin = bool(context.get("sharded")), context.get("plugin")
            plan.create(
                template, manager_manifest(str(context["project_name"]), sharded=sharded, plugin=plugin)
            )
        elif template.startswith("config/"):
            plan.create(template, render(f"init/{template}.j2", **context))
    for template in _SEED:
        plan.seed(template, render(f"init/{template}.j2", **context))
    sharded = bool(context.get("sharded"))
    for relative, text in _rbac_files(str(context["project_name"]), sharded=sharded).items():
        plan.seed(relative, text)


def plan_init(root: Path, options: InitOptions) -> Plan:
    """The plan of ``kubeloop init`` in ``root`` (an existing PROJECT must agree with ``options``)."""
    project, context = init_context(root, options)
    plan = Plan(root)
    for template in _CREATE:
        if not template.startswith("config/"):
            # Dot files are stored without their dot, so that packaging tools do not skip them.
            target = _target(template, project.package)
            plan.create(target, render(f"init/{template.lstrip('.')}.j2", **context))
    plan_config(plan, context)
    plan.replace(PROJECT_FILE, project.dump())
    return plan


def _rbac_files(name: str, *, sharded: bool = False) -> dict[str, str]:
    """config/rbac as ``kubeloop generate rbac`` writes it for an operator with no controllers yet."""
    with tempfile.TemporaryDirectory() as scratch:
        written = write_rbac(Operator(name, sharding=sharded), Path(scratch))
        return {str(path.relative_to(scratch)): path.read_text() for path in written}


def init_project(root: Path, options: InitOptions) -> list[Change]:
    """Scaffold a project in ``root``; ScaffoldConflictError (nothing written) when files are in the way."""
    return plan_init(root, options).apply()
