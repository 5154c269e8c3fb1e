"""An Ansible operator project from the command line: ``kubeloop init --plugin ansible`` and
``kubeloop create api --generate-role`` lay out operator-sdk's files (watches.yaml, roles/) with the
same config/ tree as a Python project; ``kubeloop generate rbac watches.yaml`` (make manifests)
writes the ClusterRole from the watches file. Run as a user bound to nothing but that ClusterRole on
the real control plane, the operator reconciles the sample with the declared rules, and a task
needing more than them fails with a Failure condition saying which request was forbidden and where
to declare it. The CLI runs in process (a subprocess takes seconds to start on a loaded machine).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubeloop.ansible import AnsibleOperator
from kubeloop.cli.main import cli as kubeloop
from kubeloop.client import Client
from kubeloop.testing import ControlPlane, Kubectl, run_operator, until, wait_for_crds

ROLE = """---
- name: A ConfigMap of the Memcached
  kubernetes.core.k8s:
    state: present
    definition:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ ansible_operator_meta.name }}"
        namespace: "{{ ansible_operator_meta.namespace }}"
      data:
        size: "{{ size | string }}"

- name: A Secret the RBAC does not allow
  kubernetes.core.k8s:
    state: present
    definition:
      apiVersion: v1
      kind: Secret
      metadata:
        name: "{{ ansible_operator_meta.name }}"
        namespace: "{{ ansible_operator_meta.namespace }}"
      stringData:
        password: hunter2
"""

CONFIGMAPS = {
    "apiGroups": [""],
    "resources": ["configmaps"],
    "verbs": ["create", "get", "list", "patch", "watch"],
}


def cli(*args: str) -> str:
    """``kubeloop *args`` in the current directory."""
    done = CliRunner().invoke(kubeloop, list(args))
    assert done.exit_code == 0, done.output
    return done.output


async def test_scaffolded_ansible_project_runs_under_its_generated_rbac_and_a_forbidden_task_says_so(
    tmp_path: Path,
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "memcached-operator"
    root.mkdir()
    monkeypatch.chdir(root)
    cli("init", "--plugin", "ansible", "--domain", "example.com")
    cli(
        "create", "api", "--group", "cache", "--version", "v1alpha1", "--kind", "Memcached", "--generate-role"
    )
    for path in (
        "watches.yaml",
        "Makefile",
        "Dockerfile",
        "requirements.txt",
        "PROJECT",
        "roles/memcached/tasks/main.yml",
    ):
        assert (root / path).is_file(), path
    assert not (root / "src").exists()
    assert "kubeloop[ansible]" in (root / "requirements.txt").read_text()
    assert "generate rbac watches.yaml" in (root / "Makefile").read_text()
    (watch,) = yaml.safe_load((root / "watches.yaml").read_text())
    assert watch == {
        "version": "v1alpha1",
        "group": "cache.example.com",
        "kind": "Memcached",
        "role": "memcached",
        "rbac": [],
    }

    # The role creates a ConfigMap (declared) and a Secret (not declared).
    (root / "roles/memcached/tasks/main.yml").write_text(ROLE)
    watch["rbac"] = [CONFIGMAPS]
    (root / "watches.yaml").write_text(yaml.safe_dump([watch]))
    cli("generate", "rbac", "watches.yaml", "--root", ".")
    rules = yaml.safe_load((root / "config/rbac/role.yaml").read_text())["rules"]
    assert CONFIGMAPS in rules
    assert not any("secrets" in rule["resources"] for rule in rules)

    kubectl("apply", "-k", str(root / "config/crd"))
    wait_for_crds(kubectl, "memcacheds.cache.example.com")
    user = f"memcached-operator-{uuid.uuid4().hex[:6]}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": user}}
    kubectl("apply", "-f", "-", input=json.dumps({**role, "rules": rules}))
    kubectl("create", "clusterrolebinding", user, f"--clusterrole={user}", f"--user={user}")
    try:
        operator = AnsibleOperator(
            root / "watches.yaml", name="memcached-operator", artifacts_dir=tmp_path / "runs"
        )
        async with run_operator(operator, control_plane.user_kubeconfig(user)):
            kubectl(
                "apply",
                "-n",
                namespace,
                "-f",
                str(root / "config/samples/cache.example.com_v1alpha1_memcached.yaml"),
            )

            async def failure() -> dict:
                obj = await client.get(
                    "cache.example.com/v1alpha1/Memcached", "memcached-sample", namespace=namespace
                )
                found = [
                    c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == "Failure"
                ]
                return found[0] if found else {}

            async def failed() -> bool:
                return (await failure()).get("status") == "True"

            await until(failed, within=90, what="Failure=True")
            message = (await failure())["message"]
            assert message.startswith("task 'A Secret the RBAC does not allow' failed: ")
            # The module reads before it creates: the read is the request refused.
            assert f'User \\"{user}\\" cannot get resource \\"secrets\\"' in message
            assert "add the rule to the kind's rbac: in watches.yaml and run make manifests" in message
            cm = await client.get("v1/ConfigMap", "memcached-sample", namespace=namespace)
            assert cm["data"] == {"size": "1"}
            assert cm["metadata"]["ownerReferences"][0]["kind"] == "Memcached"
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", user, "--ignore-not-found")
