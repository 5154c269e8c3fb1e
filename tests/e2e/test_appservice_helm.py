"""The AppService operator as a Helm chart (examples/appservice-helm), end to end with real kubectl
on the control plane and on the embedded API server (``kubeloop dev``'s): ``HelmOperator`` installs
a release per AppService with its spec as values (helm built from its Go module into the kubeloop
cache, the v3 line), so ``helm list`` and ``helm history`` read what it did from Helm's own release
Secrets; a resize upgrades the release; a Service deleted by hand is restored by an upgrade; values
the chart's values.schema.json refuses are a ReleaseFailed condition naming the value, a Warning
Event, and no new revision; deleting the AppService uninstalls the release.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from appservice_checks import RESOURCE, SAMPLE, assert_owned_by, condition, get, install_crd

from kubeloop.apiserver import EmbeddedServer
from kubeloop.helm import UNINSTALL_FINALIZER, HelmOperator
from kubeloop.testing import Kubectl, run_operator, temporary_namespace, until
from kubeloop.testing.assets import find_binary

EXAMPLE = Path(__file__).parents[2] / "examples/appservice-helm"
CRD = EXAMPLE / "config/crd/bases/app.example.com_appservices.yaml"


@pytest.fixture(scope="module")
def helm() -> Path:
    found = find_binary("helm")
    assert found is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
    return found


@pytest.fixture(scope="module")
def helm_server() -> Path:
    found = find_binary("helm-server")
    assert found is not None, (
        "no helm-server in the kubeloop cache: run `kubeloop controlplane build helm-server`"
    )
    return found


# The embedded server's run repeats the control plane's (about 30 s more): make test-long runs it; make
# test runs its first step (test_on_the_embedded_server_the_chart_installs_the_sample_as_a_release).
@pytest.fixture(params=["controlplane", pytest.param("embedded", marks=pytest.mark.long)])
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    """The real control plane's or the embedded API server's admin kubeconfig."""
    fixture = "control_plane" if request.param == "controlplane" else "embedded_api_server"
    found: Path = request.getfixturevalue(fixture).kubeconfig
    return found


async def test_chart_installs_upgrades_repairs_refuses_bad_values_and_uninstalls(
    helm: Path, helm_server: Path, kubeconfig: Path, tmp_path: Path
) -> None:
    kubectl = Kubectl(kubeconfig)
    install_crd(kubectl, CRD)
    with temporary_namespace(kubectl, "helm-appservice") as ns:
        await _check(helm, helm_server, kubeconfig, kubectl, ns, tmp_path)


async def _check(
    helm: Path, helm_server: Path, kubeconfig: Path, kubectl: Kubectl, ns: str, tmp_path: Path
) -> None:
    def helm_json(*args: str) -> list | dict:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        done = subprocess.run(
            [str(helm), *args, "-n", ns, "-o", "json"], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout)

    def app() -> dict | None:
        return get(kubectl, "get", RESOURCE, "nginx-app", "-n", ns)

    def revision() -> int:
        return ((app() or {}).get("status") or {}).get("deployedRelease", {}).get("revision", 0)

    operator = HelmOperator(
        EXAMPLE / "watches.yaml",
        helm=helm,
        helm_server=helm_server,
        name="appservice-operator",
        work_dir=tmp_path,
    )
    async with run_operator(operator, kubeconfig):
        kubectl("apply", "-n", ns, "-f", str(SAMPLE))
        await until(lambda: condition(app(), "Deployed").get("status") == "True", within=90, what="Deployed")
        current = app()
        assert condition(current, "Deployed")["reason"] == "InstallSuccessful"
        assert current["metadata"]["finalizers"] == [UNINSTALL_FINALIZER]  # type: ignore[index]
        release = current["status"]["deployedRelease"]  # type: ignore[index]
        assert (release["name"], release["revision"]) == ("nginx-app", 1)
        assert release["manifestDigest"].startswith("sha256:")
        dep = get(kubectl, "get", "deployment", "nginx-app", "-n", ns)
        svc = get(kubectl, "get", "service", "nginx-app", "-n", ns)
        assert dep is not None
        assert svc is not None
        assert dep["spec"]["replicas"] == 2
        assert [(p["port"], p["nodePort"]) for p in svc["spec"]["ports"]] == [(80, 30002)]
        assert_owned_by(current, dep, svc)  # type: ignore[arg-type]
        (listed,) = helm_json("list")
        assert (listed["name"], listed["revision"], listed["status"]) == ("nginx-app", "1", "deployed")
        secret = get(kubectl, "get", "secret", "sh.helm.release.v1.nginx-app.v1", "-n", ns)
        assert secret is not None
        assert secret["type"] == "helm.sh/release.v1"
        assert "ownerReferences" not in secret["metadata"]

        kubectl("patch", RESOURCE, "nginx-app", "-n", ns, "--type=merge", "-p", '{"spec":{"size":3}}')
        await until(lambda: revision() == 2, within=90, what="upgraded to revision 2")
        assert get(kubectl, "get", "deployment", "nginx-app", "-n", ns)["spec"]["replicas"] == 3  # type: ignore[index]

        old_uid = svc["metadata"]["uid"]
        kubectl("delete", "service", "nginx-app", "-n", ns)

        def service_uid() -> str | None:
            return (
                (get(kubectl, "get", "service", "nginx-app", "-n", ns) or {}).get("metadata", {}).get("uid")
            )

        await until(lambda: service_uid() not in (None, old_uid), within=90, what="Service restored")
        await until(lambda: revision() == 3, within=30, what="by an upgrade to revision 3")

        # The CRD allows a size of 50; the chart's values.schema.json does not.
        kubectl("patch", RESOURCE, "nginx-app", "-n", ns, "--type=merge", "-p", '{"spec":{"size":50}}')
        await until(
            lambda: condition(app(), "ReleaseFailed").get("status") == "True", within=90, what="ReleaseFailed"
        )
        failed = condition(app(), "ReleaseFailed")
        assert failed["reason"] == "UpgradeError"
        assert "values don't meet the specifications of the schema" in failed["message"]
        assert "size" in failed["message"]
        events = kubectl.json("get", "events.v1.events.k8s.io", "-n", ns)["items"]
        assert any(e["reason"] == "UpgradeError" and e["type"] == "Warning" for e in events)
        assert [h["revision"] for h in helm_json("history", "nginx-app")] == [1, 2, 3]

        kubectl("delete", RESOURCE, "nginx-app", "-n", ns, "--wait=false")
        await until(lambda: app() is None, within=90, what="AppService gone once uninstalled")
        assert helm_json("list") == []
        assert get(kubectl, "get", "deployment", "nginx-app", "-n", ns) is None


async def test_on_the_embedded_server_the_chart_installs_the_sample_as_a_release(
    helm: Path, helm_server: Path, embedded_api_server: EmbeddedServer, tmp_path: Path
) -> None:
    """The short form of the embedded server's run (make test): the sample installed as release 1 in
    Helm's own release Secret, its children owned, Deployed."""
    kubectl = Kubectl(embedded_api_server.kubeconfig)
    install_crd(kubectl, CRD)
    operator = HelmOperator(
        EXAMPLE / "watches.yaml",
        helm=helm,
        helm_server=helm_server,
        name="appservice-operator",
        work_dir=tmp_path,
    )
    async with run_operator(operator, embedded_api_server.kubeconfig):
        with temporary_namespace(kubectl, "helm-appservice") as ns:
            kubectl("apply", "-n", ns, "-f", str(SAMPLE))

            def app() -> dict | None:
                return get(kubectl, "get", RESOURCE, "nginx-app", "-n", ns)

            await until(
                lambda: condition(app(), "Deployed").get("status") == "True", within=120, what="Deployed"
            )
            assert app()["status"]["deployedRelease"]["revision"] == 1  # type: ignore[index]
            children = [get(kubectl, "get", kind, "nginx-app", "-n", ns) for kind in ("deployment", "svc")]
            assert None not in children
            assert_owned_by(app(), *children)  # type: ignore[arg-type]
            secret = get(kubectl, "get", "secret", "sh.helm.release.v1.nginx-app.v1", "-n", ns)
            assert secret is not None
            assert secret["type"] == "helm.sh/release.v1"
            kubectl("delete", RESOURCE, "nginx-app", "-n", ns, "--wait=false")
            await until(lambda: app() is None, within=90, what="AppService gone once uninstalled")
