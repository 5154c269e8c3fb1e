"""``kubeloop create webhook``: defaulting, validation and conversion stubs for a kind of the
project, registered on the operator (``@operator.default``/``validate``/``convert``) in a module of
``<package>.webhooks`` that ``<package>.operator`` imports (marker regions), and their record in
``PROJECT``.

It writes no manifests: ``config/webhook/manifests.yaml`` and the CRD conversion patches are
``kubeloop generate webhook``'s (part of ``generate all``, ``make manifests``), written from the
operator's declarations, so that the two never write the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeloop.scaffold._names import (
    ScaffoldError,
    module_name,
    validate_group,
    validate_kind,
    validate_version,
)
from kubeloop.scaffold._plan import Change, Plan
from kubeloop.scaffold._project import PROJECT_FILE, Project, Resource, Webhooks
from kubeloop.scaffold._render import render

__all__ = ["WebhookOptions", "create_webhook", "plan_webhook"]


@dataclass(frozen=True)
class WebhookOptions:
    """What ``kubeloop create webhook`` was asked for."""

    group: str
    version: str
    kind: str
    defaulting: bool = False
    validation: bool = False
    conversion: bool = False


def _path(prefix: str, resource: Resource) -> str:
    """kubebuilder's webhook path: ``/mutate-etcd-cloud-io-v1-etcdcluster``."""
    group = resource.api_group.replace(".", "-")
    return f"/{prefix}-{group}-{resource.version}-{resource.kind.lower()}"


def plan_webhook(root: Path, options: WebhookOptions) -> Plan:
    """The plan of ``kubeloop create webhook``; ScaffoldError on bad input (nothing planned)."""
    project = Project.load(root)
    api_group = validate_group(options.group, project.domain)
    validate_version(options.version)
    validate_kind(options.kind)
    asked = {
        "defaulting": options.defaulting,
        "validation": options.validation,
        "conversion": options.conversion,
    }
    if not any(asked.values()):
        raise ScaffoldError(
            "no webhook chosen: pass --defaulting, --programmatic-validation and/or --conversion"
        )
    found = [r for r in project.find(options.group, options.kind, options.version) if r.api]
    if not found:
        raise ScaffoldError(
            f"no resource {options.kind} of {api_group}/{options.version} in this project: "
            "create it first with `kubeloop create api`"
        )
    resource = found[0]
    hooks = resource.webhooks or Webhooks()
    already = [name for name, wanted in asked.items() if wanted and getattr(hooks, name)]
    if already:
        raise ScaffoldError(
            f"{options.kind} of {api_group}/{options.version} already has a {' and a '.join(already)} webhook"
        )

    package = project.package
    singular = options.kind.lower()
    others = [
        {
            "version": r.version,
            "api_module": module_name(r.group, r.version),
            "alias": f"{options.kind}{r.version[0].upper()}{r.version[1:]}",
        }
        for r in project.find(options.group, options.kind)
        if r.api and r.version != options.version
    ]
    context = {
        "package": package,
        "api_group": api_group,
        "version": options.version,
        "kind": options.kind,
        "singular": singular,
        "api_module": module_name(options.group, options.version),
        "mutate_path": _path("mutate", resource),
        "validate_path": _path("validate", resource),
        "others": others,
    }
    plan = Plan(root)
    webhooks = Path("src", package, "webhooks", "__init__.py")
    plan.seed(webhooks, render("webhook/package.py.j2", **context))
    module = Path("src", package, "webhooks", f"{singular}_{options.version}.py")
    if not (root / module).is_file():
        plan.create(module, render("webhook/module.py.j2", **context))
    for name, wanted in asked.items():
        if wanted:
            block = render(f"webhook/{name}.py.j2", **context).strip("\n") + "\n\n\n"
            plan.insert(module, "webhooks", block)
            setattr(hooks, name, True)
    plan.insert(webhooks, "webhooks", f"from {package}.webhooks import {module.stem}  # noqa: F401\n")
    plan.insert(
        Path("src", package, "operator.py"),
        "imports",
        f"from {package} import webhooks  # noqa: E402, F401\n",
    )
    resource.webhooks = hooks
    plan.replace(PROJECT_FILE, project.dump())
    return plan


def create_webhook(root: Path, options: WebhookOptions) -> list[Change]:
    """Scaffold webhooks for a kind of the project at ``root``; nothing is written when anything is
    in the way."""
    return plan_webhook(root, options).apply()
