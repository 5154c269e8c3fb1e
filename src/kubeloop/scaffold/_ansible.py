"""Ansible operator projects (``kubeloop init --plugin ansible``, ``create api --generate-role``):
operator-sdk's layout — ``watches.yaml``, ``roles/``, ``playbooks/`` — with the same ``config/``
tree, Makefile targets and PROJECT file as a Python project; a kind's CRD keeps its spec and status
open (``x-kubernetes-preserve-unknown-fields``), as operator-sdk's does.
"""

from __future__ import annotations

from pathlib import Path

from kubeloop.crd import plural_of
from kubeloop.scaffold._init import InitOptions, init_context, plan_config
from kubeloop.scaffold._names import ScaffoldError, validate_group, validate_kind, validate_version
from kubeloop.scaffold._plan import Plan
from kubeloop.scaffold._project import PROJECT_FILE, Project, Resource
from kubeloop.scaffold._render import render

__all__ = ["ANSIBLE", "WATCHES_FILE", "is_ansible_project", "plan_ansible_api", "plan_ansible_init"]

ANSIBLE = "ansible"
WATCHES_FILE = "watches.yaml"
CRD_KUSTOMIZATION = "config/crd/kustomization.yaml"
SAMPLES_KUSTOMIZATION = "config/samples/kustomization.yaml"


def is_ansible_project(project: Project) -> bool:
    """Whether PROJECT says the project was made with ``--plugin ansible``."""
    return ANSIBLE in (project.extra.get("plugins") or ())


def _with_extra(requirement: str) -> str:
    name, sep, rest = requirement.partition(" @ ")
    if sep:
        return f"{name}[{ANSIBLE}] @ {rest}"
    return requirement.replace("kubeloop", f"kubeloop[{ANSIBLE}]", 1)


def plan_ansible_init(root: Path, options: InitOptions) -> Plan:
    """``kubeloop init --plugin ansible``: the Python project's config/ tree and PROJECT, with a
    watches file, roles/ and playbooks/ in place of the package, and their Makefile and Dockerfile."""
    project, context = init_context(root, options)
    project.extra["plugins"] = [ANSIBLE]
    context["kubeloop_requirement"] = _with_extra(str(context["kubeloop_requirement"]))
    plan = Plan(root)
    for name, target in (
        ("Makefile", "Makefile"),
        ("Dockerfile", "Dockerfile"),
        ("README.md", "README.md"),
        ("requirements.txt", "requirements.txt"),
        ("dockerignore", ".dockerignore"),
        ("gitignore", ".gitignore"),
    ):
        plan.create(target, render(f"{ANSIBLE}/{name}.j2", **context))
    plan.seed(WATCHES_FILE, render(f"{ANSIBLE}/watches.yaml.j2"))
    plan.seed("roles/.gitkeep", "")
    plan.seed("playbooks/.gitkeep", "")
    plan_config(plan, context)
    plan.replace(PROJECT_FILE, project.dump())
    return plan


def plan_ansible_api(
    root: Path, group: str, version: str, kind: str, *, namespaced: bool = True, role: bool, playbook: bool
) -> Plan:
    """``kubeloop create api`` in an Ansible project: the kind's CRD and sample, its watches entry
    (a role, or a playbook importing the role), the role's skeleton, PROJECT."""
    project = Project.load(root)
    if not is_ansible_project(project):
        raise ScaffoldError(
            "--generate-role and --generate-playbook are for projects made with --plugin ansible"
        )
    api_group = validate_group(group, project.domain)
    validate_version(version)
    validate_kind(kind)
    if project.find(group, kind, version):
        raise ScaffoldError(f"kind {kind} of {api_group}/{version} already exists in {PROJECT_FILE}")
    singular, plural = kind.lower(), plural_of(kind)
    target = f"playbook: playbooks/{singular}.yml" if playbook else f"role: {singular}"
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
        "target": target,
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
    entry = render(f"{ANSIBLE}/watch.yaml.j2", **context)
    plan.edit(WATCHES_FILE, lambda text: text.rstrip("\n") + "\n" + entry)
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
    return plan
