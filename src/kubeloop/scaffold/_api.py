"""``kubeloop create api``: a custom resource's model, its controller, a sample, a test, and the
registrations (controllers' import list, samples kustomization, PROJECT) that make them count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kubeloop.crd import plural_of
from kubeloop.scaffold._names import (
    ScaffoldError,
    module_name,
    validate_group,
    validate_kind,
    validate_version,
)
from kubeloop.scaffold._plan import Change, Plan
from kubeloop.scaffold._project import PROJECT_FILE, Project, Resource
from kubeloop.scaffold._render import render

__all__ = ["ApiOptions", "create_api", "plan_api", "sample_file"]

SAMPLES_KUSTOMIZATION = "config/samples/kustomization.yaml"


@dataclass(frozen=True)
class ApiOptions:
    """What ``kubeloop create api`` was asked for."""

    group: str
    version: str
    kind: str
    namespaced: bool = True
    resource: bool = True
    controller: bool = True


def sample_file(api_group: str, version: str, kind: str) -> str:
    """The sample's file name, the one ``kubeloop generate samples`` uses (so it is not written twice)."""
    return f"{api_group}_{version}_{kind.lower()}.yaml"


def plan_api(root: Path, options: ApiOptions) -> Plan:
    """The plan of ``kubeloop create api`` in the project at ``root``; ScaffoldError on bad input."""
    project = Project.load(root)
    group, version, kind = options.group, options.version, options.kind
    api_group = validate_group(group, project.domain)
    validate_version(version)
    validate_kind(kind)
    if not (options.resource or options.controller):
        raise ScaffoldError("nothing to create: --no-resource and --no-controller")
    same = project.find(group, kind, version)
    other_versions = [r for r in project.find(group, kind) if r.version != version and r.api]
    if options.resource and any(r.api for r in same):
        hint = "" if any(r.controller for r in same) else "; pass --no-resource to add only a controller"
        raise ScaffoldError(f"kind {kind} of {api_group}/{version} already exists in {PROJECT_FILE}{hint}")
    if not options.resource and not any(r.api for r in same):
        raise ScaffoldError(
            f"no resource {kind} of {api_group}/{version} in this project to control: "
            "create it with --resource"
        )
    if options.controller:
        controlled = [r for r in project.find(group, kind) if r.controller]
        if controlled:
            raise ScaffoldError(
                f"kind {kind} of {api_group} already has a controller (version {controlled[0].version}); "
                "one reconcile per kind: pass --no-controller"
            )
    if options.resource and other_versions and other_versions[0].namespaced != options.namespaced:
        raise ScaffoldError(
            f"kind {kind} of {api_group} is {'namespaced' if other_versions[0].namespaced else 'cluster'}"
            "-scoped in its other versions; every version of a kind has the same scope"
        )

    package = project.package
    api_module = module_name(group, version)
    singular = kind.lower()
    namespaced = options.namespaced if options.resource else same[0].namespaced
    sample = sample_file(api_group, version, kind)
    context: dict[str, object] = {
        "package": package,
        "project_name": project.project_name,
        "api_group": api_group,
        "group": group,
        "version": version,
        "kind": kind,
        "singular": singular,
        "api_module": api_module,
        "scope": "Namespaced" if namespaced else "Cluster",
        "namespaced": namespaced,
        "storage": not other_versions,
        "crd_name": f"{plural_of(kind)}.{api_group}",
        "sample_file": sample,
        "test_signature": _test_signature(singular, namespaced),
    }
    plan = Plan(root)
    if options.resource:
        module_path = Path("src", package, "api", f"{api_module}.py")
        existing = root / module_path
        if existing.is_file():
            if re.search(rf"^class {kind}\b", existing.read_text(), re.MULTILINE):
                raise ScaffoldError(f"{module_path} already defines class {kind}")
        else:
            plan.create(module_path, render("api/module.py.j2", **context))
        # Two blank lines after each class block, before the next one or the marker.
        plan.insert(module_path, "kinds", render("api/kind.py.j2", **context).strip("\n") + "\n\n\n")
        plan.create(Path("config", "samples", sample), render("api/sample.yaml.j2", **context))
        plan.seed(SAMPLES_KUSTOMIZATION, render("init/config/samples/kustomization.yaml.j2"))
        plan.append_resource(SAMPLES_KUSTOMIZATION, sample)
    if options.controller:
        controller = Path("src", package, "controllers", f"{singular}.py")
        plan.create(controller, render("api/controller.py.j2", **context))
        plan.insert(
            Path("src", package, "controllers", "__init__.py"),
            "controllers",
            f"from {package}.controllers import {singular}  # noqa: F401\n",
        )
        plan.create(Path("tests", f"test_{singular}.py"), render("api/test.py.j2", **context))

    if same:
        same[0].controller = same[0].controller or options.controller
    else:
        project.resources.append(
            Resource(
                group=group,
                version=version,
                kind=kind,
                domain=project.domain,
                plural=plural_of(kind),
                namespaced=namespaced,
                api=options.resource,
                controller=options.controller,
            )
        )
    plan.replace(PROJECT_FILE, project.dump())
    return plan


def _test_signature(singular: str, namespaced: bool) -> str:
    """The test function's ``def`` line(s), laid out as ruff format would (line length 110)."""
    params = "cluster: Cluster, kubectl: Kubectl" + (", namespace: str" if namespaced else "")
    one_line = f"async def test_{singular}_sample_becomes_ready({params}) -> None:"
    if len(one_line) <= 110:
        return one_line
    return f"async def test_{singular}_sample_becomes_ready(\n    {params}\n) -> None:"


def create_api(root: Path, options: ApiOptions) -> list[Change]:
    """Add an API to the project at ``root``; nothing is written when anything is in the way."""
    return plan_api(root, options).apply()
