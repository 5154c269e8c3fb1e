"""A Helm operator project from the command line: ``kubeloop init --plugin helm`` and ``kubeloop
create api --helm-chart`` (the AppService chart of examples/appservice-helm) lay out the watches
file, helm-charts/ and the same config/ tree as a Python project, with the ClusterRole rules derived
from what the chart renders; run as a user bound to nothing but the generated ClusterRole on the
real control plane, the operator installs the sample's release (the sample's spec: the chart's
default values)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubeloop.cli.main import cli as main
from kubeloop.client import Client
from kubeloop.helm import HelmOperator
from kubeloop.testing import ControlPlane, Kubectl, run_operator, until, wait_for_crds
from kubeloop.testing.assets import find_binary

CHART = Path(__file__).parents[2] / "examples/appservice-helm/helm-charts/appservice"
INIT = ("init", "--plugin", "helm", "--domain", "example.com")
CREATE_API = ("create", "api", "--group", "apps", "--version", "v1", "--kind", "WebApp", "--helm-chart")


def cli(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop.cli.main", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def releases(helm: Path, control_plane: ControlPlane, namespace: str) -> list[str]:
    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)}
    done = subprocess.run(
        [str(helm), "list", "-n", namespace, "-q"], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.fixture(scope="module")
def helm() -> Path:
    found = find_binary("helm")
    assert found is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
    return found


# About a minute on a loaded machine: make test-long runs it (make test's budget).
@pytest.mark.long
async def test_scaffolded_helm_project_installs_its_sample_under_the_rbac_derived_from_the_chart(
    helm: Path, tmp_path: Path, control_plane: ControlPlane, kubectl: Kubectl, namespace: str, client: Client
) -> None:
    root = tmp_path / "apps-operator"
    root.mkdir()
    cli(root, *INIT)
    cli(root, *CREATE_API, str(CHART))
    for path in ("Makefile", "Dockerfile", "requirements.txt", "helm-charts/appservice/Chart.yaml"):
        assert (root / path).is_file(), path
    (watch,) = yaml.safe_load((root / "watches.yaml").read_text())
    assert (watch["group"], watch["kind"], watch["chart"]) == (
        "apps.example.com",
        "WebApp",
        "helm-charts/appservice",
    )
    sample = yaml.safe_load((root / "config/samples/apps.example.com_v1_webapp.yaml").read_text())
    assert sample["spec"] == yaml.safe_load((CHART / "values.yaml").read_text())
    cli(root, "generate", "rbac", "watches.yaml", "--root", ".")
    rules = yaml.safe_load((root / "config/rbac/role.yaml").read_text())["rules"]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert {
        ("apps", "deployments"),
        ("", "services"),
        ("", "secrets"),
        ("apps.example.com", "webapps/status"),
    } <= granted

    kubectl("apply", "-k", str(root / "config/crd"))
    wait_for_crds(kubectl, "webapps.apps.example.com")
    user = f"apps-operator-{uuid.uuid4().hex[:6]}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": user}}
    kubectl("apply", "-f", "-", input=json.dumps({**role, "rules": rules}))
    kubectl("create", "clusterrolebinding", user, f"--clusterrole={user}", f"--user={user}")
    try:
        server = find_binary("helm-server")
        assert server is not None, "no helm-server: run `kubeloop controlplane build helm-server`"
        operator = HelmOperator(
            root / "watches.yaml",
            helm=helm,
            helm_server=server,
            name="apps-operator",
            work_dir=tmp_path / "work",
        )
        async with run_operator(operator, control_plane.user_kubeconfig(user)):
            kubectl(
                "apply", "-n", namespace, "-f", str(root / "config/samples/apps.example.com_v1_webapp.yaml")
            )

            async def deployed() -> bool:
                obj = await client.get("apps.example.com/v1/WebApp", "webapp-sample", namespace=namespace)
                conditions = (obj.get("status") or {}).get("conditions") or ()
                return any(c["type"] == "Deployed" and c["status"] == "True" for c in conditions)

            await until(deployed, within=90, what="the sample's release Deployed")
            deployment = await client.get("apps/v1/Deployment", "webapp-sample", namespace=namespace)
            assert deployment["spec"]["replicas"] == 1
            assert releases(helm, control_plane, namespace) == ["webapp-sample"]
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", user, "--ignore-not-found")


def test_create_api_takes_a_packaged_chart_as_its_directory(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--helm-chart`` given ``helm package``'s .tgz lays out the project as the chart's directory does
    (the chart unpacked into helm-charts/; helm package rewrites Chart.yaml, the same data). In process:
    a CLI subprocess takes seconds to start on a loaded machine."""
    subprocess.run([str(helm), "package", str(CHART), "-d", str(tmp_path)], check=True, capture_output=True)
    (packaged,) = tmp_path.glob("appservice-*.tgz")
    projects = []
    for i, chart in enumerate((CHART, packaged)):
        root = tmp_path / str(i) / "apps-operator"
        root.mkdir(parents=True)
        monkeypatch.chdir(root)
        for args in (INIT, (*CREATE_API, str(chart))):
            done = CliRunner().invoke(main, args)
            assert done.exit_code == 0, done.output
        files: dict[str, object] = {
            str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()
        }
        files["helm-charts/appservice/Chart.yaml"] = yaml.safe_load(
            files["helm-charts/appservice/Chart.yaml"]
        )
        projects.append(files)
    assert "helm-charts/appservice/templates/deployment.yaml" in projects[1]
    assert projects[1] == projects[0]
