"""Ansible and Helm operator projects (``kubeloop init --plugin ansible|helm``, ``create api
--generate-role`` / ``--helm-chart``): operator-sdk's layouts — ``watches.yaml`` with ``roles/`` and
``playbooks/``, or with ``helm-charts/`` — with the same ``config/`` tree, Makefile targets and PROJECT
file as a Python project; a kind's CRD keeps its spec and status open
(``x-kubernetes-preserve-unknown-fields``), as operator-sdk's does.
"""

from __future__ import annotations

import tarfile
import textwrap
from pathlib import Path, PurePosixPath

import yaml

from kubeloop.crd import plural_of
from kubeloop.scaffold._init import InitOptions, init_context, plan_config
from kubeloop.scaffold._names import ScaffoldError, validate_group, validate_kind, validate_version
from kubeloop.scaffold._plan import Plan
from kubeloop.scaffold._project import PROJECT_FILE, Project, Resource
from kubeloop.scaffold._render import render
from kubeloop.testing.assets import HELM_SERVER_SOURCE, go_release
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
    context["plugin"] = plugin
    requirement = str(context["kubeloop_requirement"])
    context["kubeloop_requirement"] = _with_extra(requirement) if plugin == ANSIBLE else requirement
    context["helm_version"] = HELM_VERSION
    context["go_version"] = go_release((HELM_SERVER_SOURCE / "go.mod").read_text())
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
    """``kubeloop create api --helm-chart`` in a Helm project: the chart (a directory or a packaged
    ``.tgz``) copied into helm-charts/, the kind's CRD, a sample whose spec is the chart's default
    values (as operator-sdk makes it), its watches entry with ``rules`` (what the rendered chart needs)
    as ``rbac:``, PROJECT."""
    name, files = _chart_files(chart)
    values = yaml.safe_load(files["values.yaml"]) if "values.yaml" in files else None
    rbac = textwrap.indent(yaml.safe_dump(rules, sort_keys=False), "    ").rstrip("\n")
    plan, _, _ = _plan_kind(
        root,
        HELM,
        group,
        version,
        kind,
        namespaced,
        chart=name,
        rbac=rbac,
        spec_yaml=textwrap.indent(yaml.safe_dump(values or {}, sort_keys=False), "  ").rstrip("\n"),
    )
    for relative, text in files.items():
        plan.create(Path("helm-charts", name, relative), text)
    return plan


def _chart_files(chart: Path) -> tuple[str, dict[str, str]]:
    """A chart directory's or packaged chart's (``helm package``'s ``.tgz``) name and files, by
    their path inside the chart, sorted."""
    if chart.is_dir():
        files = {str(p.relative_to(chart).as_posix()): p.read_text() for p in chart.rglob("*") if p.is_file()}
        name = chart.name
    elif chart.is_file() and tarfile.is_tarfile(chart):
        name, files = _packaged_chart(chart)
    else:
        raise ScaffoldError(f"{chart} is neither a chart directory nor a packaged chart (.tgz)")
    if "Chart.yaml" not in files:
        raise ScaffoldError(f"{chart} is not a chart (no Chart.yaml)")
    return name, dict(sorted(files.items()))


def _packaged_chart(chart: Path) -> tuple[str, dict[str, str]]:
    tops: set[str] = set()
    files: dict[str, str] = {}
    with tarfile.open(chart) as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            if member.name.startswith("/") or ".." in parts or len(parts) < 2:
                if member.isfile():
                    raise ScaffoldError(f"{chart}: {member.name} is not inside the chart's directory")
                continue
            tops.add(parts[0])
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[str(PurePosixPath(*parts[1:]))] = extracted.read().decode()
    if len(tops) != 1:
        raise ScaffoldError(f"{chart}: a packaged chart holds one directory, found {sorted(tops) or 'none'}")
    return tops.pop(), files
