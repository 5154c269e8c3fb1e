"""Ansible and Helm projects from ``kubeloop init --plugin ansible|helm`` make OLM bundles as Python
projects do (``make bundle``: ``generate rbac watches.yaml``, then ``olm bundle``): the kind's CRD
owned by the CSV, the RBAC from the watches file (the role's declared rules, the chart's rendered
kinds and Helm's release Secrets) as the manager's cluster permissions, and the manager Deployment
running the image (whose entrypoint is ``kubeloop run watches.yaml``) with a writable /tmp for the
runs. That such a bundle installs and its operator reconciles: test_olm_installed_operator.py. In
process: a CLI subprocess takes seconds to start on a loaded machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kubeloop.cli.main import cli
from kubeloop.olm import load_bundle, validate_bundle
from kubeloop.testing.assets import find_binary

CHART = Path(__file__).parents[2] / "examples/appservice-helm/helm-charts/appservice"
KIND = ("--group", "apps", "--version", "v1", "--kind", "WebApp")


def invoke(*args: str) -> None:
    done = CliRunner().invoke(cli, list(args))
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("plugin", ["ansible", "helm"])
def test_a_plugin_project_makes_a_bundle_of_its_crd_watches_rbac_and_manager(
    plugin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "web-operator"
    root.mkdir()
    monkeypatch.chdir(root)
    invoke("init", "--plugin", plugin, "--domain", "example.com")
    if plugin == "helm":
        helm = find_binary("helm")
        assert helm is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
        invoke("create", "api", *KIND, "--helm-chart", str(CHART))
    else:
        invoke("create", "api", *KIND, "--generate-role")
    invoke("generate", "rbac", "watches.yaml", "--root", ".")
    invoke(
        "olm", "bundle", "--root", ".", "--version", "0.1.0", "--image", "registry.example/web:0.1.0",
        "--output", "bundle",
    )  # fmt: skip

    bundle = load_bundle(root / "bundle")
    assert validate_bundle(bundle) == []
    assert (bundle.package, str(bundle.version)) == ("web-operator", "0.1.0")
    crds = [o for o in bundle.objects if o["kind"] == "CustomResourceDefinition"]
    assert [c["metadata"]["name"] for c in crds] == ["webapps.apps.example.com"]
    (csv,) = [o for o in bundle.objects if o["kind"] == "ClusterServiceVersion"]
    assert csv["spec"]["customresourcedefinitions"]["owned"][0]["kind"] == "WebApp"
    install = csv["spec"]["install"]["spec"]
    (permissions,) = install["clusterPermissions"]
    granted = {(g, r): set(rule["verbs"]) for rule in permissions["rules"] for g in rule["apiGroups"]
               for r in rule["resources"]}  # fmt: skip
    assert granted[("apps.example.com", "webapps")] >= {"list", "watch"}
    assert granted[("apps.example.com", "webapps/status")] >= {"patch"}
    if plugin == "helm":  # what the chart renders, and the releases
        assert granted[("apps", "deployments")] >= {"create", "get", "patch", "delete"}
        assert granted[("", "services")] >= {"create", "get", "patch", "delete"}
        assert granted[("", "secrets")] >= {"create", "get", "list", "update", "delete"}
        assert granted[("apps.example.com", "webapps")] >= {"patch"}  # its finalizer
    (deployment,) = install["deployments"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == permissions["serviceAccountName"] == "web-operator-controller-manager"
    (manager,) = pod["containers"]
    assert manager["image"] == "registry.example/web:0.1.0"
    assert "--leader-elect" in manager["args"]
    assert manager["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    entrypoint = next(
        line for line in (root / "Dockerfile").read_text().splitlines() if line.startswith("ENTRYPOINT")
    )
    assert '"kubeloop", "run", "/opt/operator/watches.yaml"' in entrypoint
