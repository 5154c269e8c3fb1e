"""`kubeloop generate` writes manifests the real API server accepts, and the generated RBAC is
enough for the operator: it runs under a ServiceAccount bound to nothing but the generated role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from appservice_operator.operator import operator

from kubeloop.testing import ControlPlane, Kubectl, run_operator, until, wait_for_crds

EXAMPLE = Path(__file__).parents[2] / "examples" / "appservice"


def generate(root: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeloop.cli.main",
            "generate",
            "all",
            "appservice_operator.operator:operator",
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return [line.removeprefix("wrote ") for line in out.splitlines()]


def test_generated_files_are_those_checked_into_the_example(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert "config/rbac/role.yaml" in [str(Path(p).relative_to(tmp_path)) for p in written]
    for path in written:
        relative = Path(path).relative_to(tmp_path)
        if relative.parts[:2] == ("config", "samples"):
            continue  # samples are the user's: written once, then edited
        assert (EXAMPLE / relative).read_text() == Path(path).read_text(), (
            f"{relative} is stale: run make manifests"
        )


BROKEN_OPERATOR = """
from kubeloop import crd
import kubeloop as kl
from kubeloop.resources import apps_v1


class Cat(crd.Model):
    meow: bool = True


class Dog(crd.Model):
    bark: bool = True


class PetSpec(crd.Model):
    pets: list[Cat | Dog] = crd.Field(default=[])


@crd.resource(group="pets.example.com", version="v1")
class Good(crd.CustomResource):
    spec: dict[str, int] = {}


@crd.resource(group="pets.example.com", version="v1")
class PetShop(crd.CustomResource):
    spec: PetSpec


operator = kl.Operator("pets")


@operator.reconcile(Good, owns=[apps_v1.Deployment])
async def good(obj, ctx):
    return None


@operator.reconcile(PetShop)
async def shop(obj, ctx):
    return None
"""


def test_generate_fails_on_an_inexpressible_model_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "broken_operator.py").write_text(BROKEN_OPERATOR)
    root = tmp_path / "project"
    root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    for what in ("all", "crd"):
        result = subprocess.run(
            [
                sys.executable, "-m", "kubeloop.cli.main", "generate", what,
                "broken_operator:operator", "--root", str(root),
            ],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert "PetShop.spec.pets[*] (in model PetSpec): union of object types (Cat | Dog)" in result.stderr
        assert "Suggestion: declare one model with an optional field per variant" in result.stderr
        assert list(root.iterdir()) == [], f"generate {what} wrote files before failing"


def test_generated_manifests_are_accepted_by_the_api_server(
    tmp_path: Path, kubectl: Kubectl, namespace: str
) -> None:
    generate(tmp_path)
    for part in ("crd", "rbac"):
        rendered = kubectl("kustomize", str(tmp_path / "config" / part)).stdout
        for doc in yaml.safe_load_all(rendered):
            if doc.get("metadata", {}).get("namespace") == "system":
                doc["metadata"]["namespace"] = namespace
            kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(doc))


def _token_kubeconfig(admin: Path, token: str, path: Path) -> Path:
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": "operator", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "operator"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_operator_runs_with_only_the_generated_role(
    tmp_path: Path, control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    generate(tmp_path)
    kubectl("apply", "-f", str(tmp_path / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"))
    wait_for_crds(kubectl, "appservices.app.example.com")
    role = yaml.safe_load((tmp_path / "config" / "rbac" / "role.yaml").read_text())
    role["metadata"]["name"] = f"appservice-{namespace}"
    kubectl("apply", "-f", "-", input=json.dumps(role))
    kubectl("create", "serviceaccount", "operator", "-n", namespace)
    kubectl(
        "create",
        "clusterrolebinding",
        f"appservice-{namespace}",
        f"--clusterrole=appservice-{namespace}",
        f"--serviceaccount={namespace}:operator",
    )
    token = kubectl("create", "token", "operator", "-n", namespace, "--duration=1h").stdout.strip()
    kubeconfig = _token_kubeconfig(control_plane.kubeconfig, token, tmp_path / "operator.kubeconfig")
    denied = kubectl("--kubeconfig", str(kubeconfig), "get", "secrets", "-n", namespace, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()

    app = {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": "least-privilege", "namespace": namespace},
        "spec": {
            "size": 1,
            "image": "nginx:1.27",
            "ports": [{"port": 80, "targetPort": 80, "nodePort": 30031}],
        },
    }
    async with run_operator(operator, kubeconfig):
        kubectl("apply", "-f", "-", input=json.dumps(app))

        def ready() -> bool:
            got = kubectl.json("get", "appservices.app.example.com", "least-privilege", "-n", namespace)
            conditions = (got.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        await until(ready, what="Ready=True under the generated role")
    assert (
        kubectl.json("get", "service", "least-privilege", "-n", namespace)["spec"]["ports"][0]["nodePort"]
        == 30031
    )


SHARDED_OPERATOR = """
import kubeloop as kl
from kubeloop.resources import core_v1

operator = kl.Operator("sharded-op", sharding=True)


@operator.reconcile(core_v1.ConfigMap)
async def reconcile(obj, ctx):
    return None
"""


def test_generate_writes_a_sharded_operator_s_deployment_budget_and_rbac_that_the_api_server_accepts(
    tmp_path: Path, kubectl: Kubectl, namespace: str
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "sharded_operator.py").write_text(SHARDED_OPERATOR)
    root = tmp_path / "project"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    subprocess.run(
        [sys.executable, "-m", "kubeloop.cli.main", "generate", "all", "sharded_operator:operator",
         "--root", str(root)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    applied: dict[str, dict[str, Any]] = {}
    manager = yaml.safe_load_all((root / "config" / "manager" / "manager.yaml").read_text())
    rbac = yaml.safe_load_all(kubectl("kustomize", str(root / "config" / "rbac")).stdout)
    for doc in [*manager, *rbac]:
        if doc["kind"] == "Namespace":
            continue  # the test's namespace stands for it ("system", which kustomize renames)
        if doc["metadata"].get("namespace") == "system":
            doc["metadata"]["namespace"] = namespace
        out = kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(doc)).stdout
        applied[doc["kind"]] = json.loads(out)
    # As the server would run them: 3 replicas, each sharded and named after its pod; a budget that
    # selects those pods and lets one go at a time; the Leases listed (every replica follows the
    # shard Leases) and the reconciled kind patched (its shard labels).
    deployment, budget = applied["Deployment"], applied["PodDisruptionBudget"]
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--shards=auto" in container["args"]
    assert "--leader-elect" not in container["args"]
    assert container["env"] == [
        {
            "name": "KUBELOOP_SHARD_IDENTITY",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        }
    ]
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pods.items()
    leases = applied["Role"]["rules"][0]
    assert leases["resources"] == ["leases"]
    assert "list" in leases["verbs"]
    configmaps = [r for r in applied["ClusterRole"]["rules"] if "configmaps" in r["resources"]]
    assert any("patch" in r["verbs"] for r in configmaps)
