"""Ansible and Helm operator projects (``kubeloop init --plugin ansible|helm``, ``create api
--generate-role`` / ``--helm-chart``): operator-sdk's layouts — ``watches.yaml`` with ``roles/`` and
``playbooks/``, or with ``helm-charts/`` — with the same ``config/`` tree, Makefile targets and PROJECT
file as a Python project; a kind's CRD keeps its spec and status open
(``x-kubernetes-preserve-unknown-fields``), as operator-sdk's does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from kubeloop.crd import plural_of
from kubeloop.scaffold._init import InitOptions, init_context, plan_config
from kubeloop.scaffold._names import ScaffoldError, validate_group, validate_kind, validate_version
from kubeloop.scaffold._plan import Plan
from kubeloop.scaffold._project import PROJECT_FILE, Project, Resource
from kubeloop.scaffold._render import render
from kubeloop.testing.versions import HELM_VERSION

__all__ = [
    "ANSIBLE",
    "HELM",
    "WATCHES_FILE",
    "is_ansible_project",
    "plan_ansible_api",
    "plan_helm_api",
    "plan_plugin_init",
    "plugin_of",
]

ANSIBLE = "ansible"
HELM = "helm"
WATCHES_FILE = "watches.yaml"
CRD_KUSTOMIZATION = "config/crd/kustomization.yaml"
SAMPLES_KUSTOMIZATION = "config/samples/kustomization.yaml"


def plugin_of(project: Project) -> str | None:
    """``ansible`` or ``helm`` when PROJECT says the project was made with ``--plugin``, else None."""
    plugins = project.extra.get("plugins") or ()
    return next((p for p in (ANSIBLE, HELM) if p in plugins), None)


def is_ansible_project(project: Project) -> bool:
    """Whether PROJECT says the project was made with ``--plugin ansible``."""
    return plugin_of(project) == ANSIBLE


def _with_extra(requirement: str) -> str:
    name, sep, rest = requirement.partition(" @ ")
    if sep:
        return f"{name}[{ANSIBLE}] @ {rest}"
    return requirement.replace("kubeloop", f"kubeloop[{ANSIBLE}]", 1)


_PLUGIN_FILES = {
    ANSIBLE: ("requirements.txt", "roles/.gitkeep", "playbooks/.gitkeep"),
    HELM: ("requirements.txt", "helm-charts/.gitkeep"),
}


def plan_plugin_init(root: Path, options: InitOptions, plugin: str) -> Plan:
    """``kubeloop init --plugin ansible|helm``: the Python project's config/ tree and PROJECT, with a
    watches file and roles/ and playbooks/ (or helm-charts/) in place of the package, and their
    Makefile, Dockerfile and requirements."""
    project, context = init_context(root, options)
    project.extra["plugins"] = [plugin]
    requirement = str(context["kubeloop_requirement"])
    context["kubeloop_requirement"] = _with_extra(requirement) if plugin == ANSIBLE else requirement
    context["helm_version"] = HELM_VERSION
    plan = Plan(root)
    for name, target in (
        ("Makefile", "Makefile"),
        ("Dockerfile", "Dockerfile"),
        ("README.md", "README.md"),
        ("requirements.txt", "requirements.txt"),
        ("dockerignore", ".dockerignore"),
    ):
        plan.create(target, render(f"{plugin}/{name}.j2", **context))
    plan.create(".gitignore", render(f"{ANSIBLE}/gitignore.j2"))
    plan.seed(WATCHES_FILE, render(f"{plugin}/watches.yaml.j2"))
    for keep in _PLUGIN_FILES[plugin][1:]:
        plan.seed(keep, "")
    plan_config(plan, context)
    plan.replace(PROJECT_FILE, project.dump())
    return plan


def _plan_kind(
    root: Path, plugin: str, group: str, version: str, kind: str, namespaced: bool, **extra: object
) -> tuple[Plan, Project, dict[str, object]]:
    """The part of ``create api`` both plugins share: the kind's open CRD, its sample (``spec`` given
    in ``extra``, or ``size: 1``), its watches entry (template ``<plugin>/watch.yaml.j2``), PROJECT."""
    project = Project.load(root)
    if plugin_of(project) != plugin:
        raise ScaffoldError(f"this is not a project made with --plugin {plugin} (see {PROJECT_FILE})")
    api_group = validate_group(group, project.domain)
    validate_version(version)
    validate_kind(kind)
    if project.find(group, kind, version):
        raise ScaffoldError(f"kind {kind} of {api_group}/{version} already exists in {PROJECT_FILE}")
    singular, plural = kind.lower(), plural_of(kind)
    context: dict[str, object] = {
        "api_group": api_group,
        "group": group,
        "version": version,
        "kind": kind,
        "singular": singular,
        "plural": plural,
        "crd_name": f"{plural}.{api_group}",
        "scope": "Namespaced" if namespaced else "Cluster",
        "project_name": project.project_name,
        **extra,
    }
    plan = Plan(root)
    crd_file = f"{api_group}_{plural}.yaml"
    plan.create(Path("config", "crd", "bases", crd_file), render(f"{ANSIBLE}/crd.yaml.j2", **context))
    plan.seed(CRD_KUSTOMIZATION, render("init/config/crd/kustomization.yaml.j2"))
    plan.append_resource(CRD_KUSTOMIZATION, f"bases/{crd_file}")
    sample = f"{api_group}_{version}_{singular}.yaml"
    plan.create(Path("config", "samples", sample), render("api/sample.yaml.j2", **context))
    plan.seed(SAMPLES_KUSTOMIZATION, render("init/config/samples/kustomization.yaml.j2"))
    plan.append_resource(SAMPLES_KUSTOMIZATION, sample)
    entry = render(f"{plugin}/watch.yaml.j2", **context)
    plan.edit(WATCHES_FILE, lambda text: text.rstrip("\n") + "\n" + entry)
    project.resources.append(
        Resource(
            group=group,
            version=version,
            kind=kind,
            domain=project.domain,
            plural=plural,
            namespaced=namespaced,
            controller=True,
        )
    )
    plan.replace(PROJECT_FILE, project.dump())
    return plan, project, context


def plan_ansible_api(
    root: Path, group: str, version: str, kind: str, *, namespaced: bool = True, role: bool, playbook: bool
) -> Plan:
    """``kubeloop create api`` in an Ansible project: the kind's CRD and sample, its watches entry
    (a role, or a playbook importing the role), the role's skeleton, PROJECT."""
    singular = kind.lower()
    target = f"playbook: playbooks/{singular}.yml" if playbook else f"role: {singular}"
    plan, _, context = _plan_kind(root, ANSIBLE, group, version, kind, namespaced, target=target)
    if role or playbook:
        plan.create(
            Path("roles", singular, "tasks", "main.yml"), render(f"{ANSIBLE}/role_tasks.yml.j2", **context)
        )
        plan.create(
            Path("roles", singular, "defaults", "main.yml"),
            render(f"{ANSIBLE}/role_defaults.yml.j2", **context),
        )
    if playbook:
        plan.create(Path("playbooks", f"{singular}.yml"), render(f"{ANSIBLE}/playbook.yml.j2", **context))
    return plan


def plan_helm_api(
    root: Path,
    group: str,
    version: str,
    kind: str,
    chart: Path,
    rules: list[dict[str, object]],
    *,
    namespaced: bool = True,
) -> Plan:
    """``kubeloop create api --helm-chart`` in a Helm project: the chart copied into helm-charts/, the
    kind's CRD, a sample whose spec is the chart's default values (as operator-sdk makes it), its
    watches entry with ``rules`` (what the rendered chart needs) as ``rbac:``, PROJECT."""
    if not (chart / "Chart.yaml").is_file():
        raise ScaffoldError(f"{chart} is not a chart directory (no Chart.yaml)")
    values_file = chart / "values.yaml"
    values = yaml.safe_load(values_file.read_text()) if values_file.is_file() else None
    rbac = textwrap.indent(yaml.safe_dump(rules, sort_keys=False), "    ").rstrip("\n")
    plan, _, _ = _plan_kind(
        root,
        HELM,
        group,
        version,
        kind,
        namespaced,
        chart=chart.name,
        rbac=rbac,
        spec_yaml=textwrap.indent(yaml.safe_dump(values or {}, sort_keys=False), "  ").rstrip("\n"),
    )
    for file in sorted(p for p in chart.rglob("*") if p.is_file()):
        plan.create(Path("helm-charts", chart.name, file.relative_to(chart)), file.read_text())
    return plan
