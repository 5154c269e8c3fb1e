"""The manager Deployment that `kubeloop init` writes (and examples/appservice ships) runs locked down:
non-root, read-only root filesystem, no capabilities, no privilege escalation, RuntimeDefault seccomp;
the real API server accepts it, and Pod Security admission at the ``restricted`` level lets its pods in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeloop.scaffold import InitOptions, init_project
from kubeloop.testing import Kubectl

EXAMPLE = Path(__file__).parents[2] / "examples" / "appservice"
# Files that later commands rewrite: `create api` lists the CRD and the sample, `generate` writes the role.
CHANGED_AFTER_INIT = {
    "config/crd/kustomization.yaml",
    "config/samples/kustomization.yaml",
    "config/rbac/role.yaml",
}


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `kubeloop init --domain example.com` writes for a project named appservice-operator."""
    root = tmp_path_factory.mktemp("init") / "appservice-operator"
    root.mkdir()
    init_project(root, InitOptions(domain="example.com", project_name="appservice-operator"))
    return root


def manager_deployment(root: Path) -> dict[str, Any]:
    docs = yaml.safe_load_all((root / "config" / "manager" / "manager.yaml").read_text())
    return next(doc for doc in docs if doc["kind"] == "Deployment")


def test_the_example_config_is_what_kubeloop_init_writes(scaffolded: Path) -> None:
    config = (scaffolded / "config").rglob("*")
    written = sorted(str(p.relative_to(scaffolded)) for p in config if p.is_file())
    assert "config/manager/manager.yaml" in written
    for relative in written:
        if relative in CHANGED_AFTER_INIT:
            continue
        shipped = EXAMPLE / relative
        assert shipped.exists(), f"examples/appservice lacks {relative}"
        assert shipped.read_text() == (scaffolded / relative).read_text(), f"examples/appservice/{relative}"


def test_the_manager_runs_non_root_read_only_without_capabilities_or_privilege_escalation(
    scaffolded: Path,
) -> None:
    pod = manager_deployment(scaffolded)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod.get("hostNetwork", False) is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert context.get("privileged", False) is False, container["name"]


@pytest.fixture
def restricted_namespace(kubectl: Kubectl, namespace: str) -> str:
    """The test's namespace under Pod Security admission's ``restricted`` level (enforced and warned),
    with the manager's ServiceAccount."""
    kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    kubectl("create", "serviceaccount", "controller-manager", "-n", namespace)
    return namespace


def pod_of(deployment: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "manager", "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def test_the_api_server_accepts_the_manager_and_pod_security_restricted_admits_its_pods(
    scaffolded: Path, kubectl: Kubectl, restricted_namespace: str
) -> None:
    deployment = manager_deployment(scaffolded)
    deployment["metadata"]["namespace"] = restricted_namespace
    applied = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(deployment), check=False)
    assert applied.returncode == 0, applied.stderr
    assert "PodSecurity" not in applied.stderr, applied.stderr
    pod = pod_of(deployment, restricted_namespace)
    created = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert created.returncode == 0, created.stderr

    # The control: the same pod keeping its capabilities is refused, so the admission above was a check.
    loose = copy.deepcopy(pod)
    del loose["spec"]["containers"][0]["securityContext"]["capabilities"]
    refused = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(loose), check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted' in refused.stderr
