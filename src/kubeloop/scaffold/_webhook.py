"""``kubeloop create webhook``: defaulting, validation and conversion stubs for a kind of the
project, the webhook configurations under ``config/webhook``, and their record in ``PROJECT``.

The stubs import only the kind's model and are not registered on the operator: wiring them to
``kubeloop.webhook``'s server (``@operator.default``/``validate``/``convert``, certificates) is
a follow-up; ``config/webhook`` stays out of ``config/default`` until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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

__all__ = ["WebhookOptions", "create_webhook", "plan_webhook", "webhook_configurations"]

WEBHOOK_MANIFESTS = "config/webhook/manifests.yaml"
WEBHOOK_KUSTOMIZATION = "config/webhook/kustomization.yaml"


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


def webhook_configurations(project: Project) -> list[dict[str, Any]]:
    """The Mutating/ValidatingWebhookConfigurations of every defaulting/validation webhook in PROJECT."""
    mutating: list[dict[str, Any]] = []
    validating: list[dict[str, Any]] = []
    for resource in project.resources:
        hooks = resource.webhooks
        if hooks is None:
            continue
        singular = resource.kind.lower()
        for wanted, prefix, operations, into in (
            (hooks.defaulting, "mutate", ["CREATE", "UPDATE"], mutating),
            (hooks.validation, "validate", ["CREATE", "UPDATE", "DELETE"], validating),
        ):
            if not wanted:
                continue
            into.append(
                {
                    "name": f"{prefix[0]}{singular}-{resource.version}.{resource.api_group}",
                    "admissionReviewVersions": ["v1"],
                    "clientConfig": {
                        "service": {
                            "name": "webhook-service",
                            "namespace": "system",
                            "path": _path(prefix, resource),
                        }
                    },
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "rules": [
                        {
                            "apiGroups": [resource.api_group],
                            "apiVersions": [resource.version],
                            "operations": operations,
                            "resources": [resource.plural],
                        }
                    ],
                }
            )
    documents = []
    for kind, name, hooks_list in (
        ("MutatingWebhookConfiguration", "mutating-webhook-configuration", mutating),
        ("ValidatingWebhookConfiguration", "validating-webhook-configuration", validating),
    ):
        if hooks_list:
            documents.append(
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": kind,
                    "metadata": {"name": name},
                    "webhooks": hooks_list,
                }
            )
    return documents


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
    context = {
        "package": package,
        "api_group": api_group,
        "version": options.version,
        "kind": options.kind,
        "singular": singular,
        "api_module": module_name(options.group, options.version),
        "mutate_path": _path("mutate", resource),
        "validate_path": _path("validate", resource),
    }
    plan = Plan(root)
    plan.create(Path("src", package, "webhooks", "__init__.py"), render("webhook/package.py.j2", **context))
    module = Path("src", package, "webhooks", f"{singular}_{options.version}.py")
    if not (root / module).is_file():
        plan.create(module, render("webhook/module.py.j2", **context))
    for name, wanted in asked.items():
        if wanted:
            block = render(f"webhook/{name}.py.j2", **context).strip("\n") + "\n\n\n"
            plan.insert(module, "webhooks", block)
            setattr(hooks, name, True)
    resource.webhooks = hooks
    configurations = webhook_configurations(project)
    if configurations:
        plan.replace(
            WEBHOOK_MANIFESTS,
            "# Written by `kubeloop create webhook` from PROJECT; rewritten each time.\n"
            + "".join("---\n" + yaml.safe_dump(doc, sort_keys=False) for doc in configurations),
        )
        plan.seed(WEBHOOK_KUSTOMIZATION, render("init/config/webhook/kustomization.yaml.j2"))
        plan.append_resource(WEBHOOK_KUSTOMIZATION, "manifests.yaml")
    plan.replace(PROJECT_FILE, project.dump())
    return plan


def create_webhook(root: Path, options: WebhookOptions) -> list[Change]:
    """Scaffold webhooks for a kind of the project at ``root``; nothing is written when anything is
    in the way."""
    return plan_webhook(root, options).apply()
