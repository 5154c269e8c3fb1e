"""The scaffolding workflow end to end, with the real tools: `kubeloop init` and `create api` in a
temporary directory (no KUBELOOP_SOURCE: the project depends on the kubeloop that made it), the
generated Makefile (`make manifests`, `make run`, `make test` on the embedded API server with no Go
on PATH, and on the real control plane), real kubectl and kustomize against the real control plane."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeloop.testing import ControlPlane, Kubectl, eventually, wait_for_crds

REPO = Path(__file__).parents[2]
NAME = "etcd-operator"
DEFAULTED = "etcd.cloud.io/defaulted"


def kubeloop(project: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "KUBELOOP_SOURCE"}
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop.cli.main", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"kubeloop {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make(
    project: Path,
    kubeconfig: Path | None,
    *args: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the generated project, with this checkout's Python (nothing is installed)."""
    env = dict(env or os.environ)
    env.pop("KUBELOOP_CLUSTER", None)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        ["make", f"PYTHON={sys.executable}", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, control_plane: ControlPlane) -> Path:
    """init → create api (namespaced EtcdCluster, cluster-scoped BackupPolicy) → create webhook
    (EtcdCluster) → make manifests."""
    root = tmp_path_factory.mktemp("scaffold") / NAME
    root.mkdir()
    kubeloop(root, "init", "--domain", "cloud.io")
    kubeloop(root, "create", "api", "--group", "etcd", "--version", "v1", "--kind", "EtcdCluster")
    kubeloop(
        root,
        "create",
        "api",
        "--group",
        "backup",
        "--version",
        "v1alpha1",
        "--kind",
        "BackupPolicy",
        "--cluster",
    )
    kubeloop(
        root,
        *("create", "webhook", "--group", "etcd", "--version", "v1", "--kind", "EtcdCluster"),
        *("--defaulting", "--programmatic-validation", "--conversion"),
    )
    # Fill in the generated defaulting stub as a user would: `make run` must serve it.
    stub = root / "src" / NAME.replace("-", "_") / "webhooks" / "etcdcluster_v1.py"
    todo = '    TODO: set the defaults the schema cannot express.\n    """\n'
    assert todo in stub.read_text()
    body = '    obj.metadata.annotations = {**(obj.metadata.annotations or {}), DEFAULTED: "yes"}\n'
    stub.write_text(stub.read_text().replace(todo, todo + body) + f'\nDEFAULTED = "{DEFAULTED}"\n')
    done = make(root, control_plane.kubeconfig, "manifests")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture(scope="module")
def installed(project: Path, kubectl: Kubectl) -> Iterator[Path]:
    """The project's CRDs applied with `kubectl apply -k config/crd`; deleted afterwards."""
    kubectl("apply", "-k", str(project / "config" / "crd"))
    yield project
    kubectl("delete", "--ignore-not-found", "--wait=false", "-k", str(project / "config" / "crd"))


@pytest.fixture(scope="module")
def deploy_namespace(kubectl: Kubectl) -> Iterator[str]:
    """config/default's namespace, created for real: a server-side dry run of the objects in it
    needs it to exist (the dry run of the Namespace object itself does not create it)."""
    kubectl("create", "namespace", f"{NAME}-system")
    yield f"{NAME}-system"
    kubectl("delete", "namespace", f"{NAME}-system", "--wait=false")


def test_init_and_create_api_record_the_project_and_depend_on_this_checkout(project: Path) -> None:
    recorded = yaml.safe_load((project / "PROJECT").read_text())
    assert (recorded["domain"], recorded["projectName"], recorded["layout"]) == (
        "cloud.io",
        NAME,
        "kubeloop/v1",
    )
    assert [(r["group"], r["version"], r["kind"], r["api"]["namespaced"]) for r in recorded["resources"]] == [
        ("etcd", "v1", "EtcdCluster", True),
        ("backup", "v1alpha1", "BackupPolicy", False),
    ]
    assert f"kubeloop @ {REPO.resolve().as_uri()}" in (project / "pyproject.toml").read_text()
    assert (project / "config" / "crd" / "bases" / "etcd.cloud.io_etcdclusters.yaml").is_file()


def test_kubectl_apply_k_config_crd_creates_etcdclusters_etcd_cloud_io(
    installed: Path, kubectl: Kubectl
) -> None:
    crds = wait_for_crds(kubectl, "etcdclusters.etcd.cloud.io", "backuppolicies.backup.cloud.io")
    scopes = {found["metadata"]["name"]: found["spec"]["scope"] for found in crds}
    assert scopes == {"etcdclusters.etcd.cloud.io": "Namespaced", "backuppolicies.backup.cloud.io": "Cluster"}


def ready(kubectl: Kubectl, *args: str) -> bool:
    got = kubectl("get", *args, "-o", "json", check=False)
    if got.returncode != 0:
        return False
    conditions = (json.loads(got.stdout).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_make_run_serves_the_webhooks_and_reconciles_the_samples_until_ready(
    installed: Path, control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    samples = installed / "config" / "samples"
    env = {
        **os.environ,
        "KUBECONFIG": str(control_plane.kubeconfig),
        # The manager's flags from the environment, as the generated entry point documents.
        "KUBELOOP_METRICS_BIND_ADDRESS": "127.0.0.1:0",
        "KUBELOOP_HEALTH_PROBE_BIND_ADDRESS": "127.0.0.1:0",
        # The Makefile's `run` passes --webhook-local: the API server calls this process.
        "KUBELOOP_WEBHOOK_BIND_ADDRESS": "127.0.0.1:0",
    }
    log = installed / "run.log"
    with log.open("w") as out:
        manager = subprocess.Popen(
            ["make", f"PYTHON={sys.executable}", "run"],
            cwd=installed,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    etcd_sample = str(samples / "etcd.cloud.io_v1_etcdcluster.yaml")

    def running() -> None:
        assert manager.poll() is None, f"make run exited {manager.returncode}:\n{log.read_text()}"

    def annotations(*args: str) -> dict[str, str]:
        """The annotations of the EtcdCluster sample as ``kubectl ARGS -f SAMPLE`` returns it."""
        got = kubectl(*args, "-n", namespace, "-f", etcd_sample, "-o", "json", check=False)
        if got.returncode != 0:
            return {}
        return dict(json.loads(got.stdout)["metadata"].get("annotations") or {})

    def webhook_called() -> bool:
        running()
        return annotations("apply", "--dry-run=server").get(DEFAULTED) == "yes"

    try:
        # `make run` installs its webhook configurations only once it serves them, seconds after it
        # starts (longer under load); a sample created before is not defaulted, so wait until the
        # API server calls the webhook on a server-side dry run, then create it.
        eventually(webhook_called, timeout=120, what="the API server calling `make run`'s defaulting webhook")
        kubectl("apply", "-n", namespace, "-f", etcd_sample)
        kubectl("apply", "-f", str(samples / "backup.cloud.io_v1alpha1_backuppolicy.yaml"))

        def both_ready() -> bool:
            running()
            return ready(
                kubectl, "etcdclusters.etcd.cloud.io", "etcdcluster-sample", "-n", namespace
            ) and ready(kubectl, "backuppolicies.backup.cloud.io", "backuppolicy-sample")

        eventually(both_ready, timeout=60, what="Ready=True on both samples under `make run`")
        # The generated defaulting stub (filled in above) was called by the real kube-apiserver.
        assert annotations("get").get(DEFAULTED) == "yes"
    finally:
        os.killpg(manager.pid, signal.SIGTERM)
        manager.wait(timeout=30)
        kubectl(
            "delete", "--ignore-not-found", "-f", str(samples / "backup.cloud.io_v1alpha1_backuppolicy.yaml")
        )


def without_go(tmp: Path) -> dict[str, str]:
    """The environment of a machine without Go: no directory on PATH holds ``go`` (kubectl, make and
    Python kept), no GOROOT/GOPATH, no kubeconfig, an empty kubeloop cache (no control-plane binaries)."""
    keep = tmp / "bin"
    keep.mkdir()
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "go").exists()]
    for tool in ("kubectl", "make"):
        found = shutil.which(tool)
        assert found is not None, tool
        if str(Path(found).parent) not in dirs:
            (keep / tool).symlink_to(found)
    env = {k: v for k, v in os.environ.items() if k not in ("GOROOT", "GOPATH", "KUBECONFIG")}
    env.update(PATH=os.pathsep.join([str(keep), *dirs]), KUBELOOP_CACHE_DIR=str(tmp / "cache"))
    assert shutil.which("go", path=env["PATH"]) is None
    return env


def test_the_generated_projects_make_test_passes_on_the_embedded_server_without_go(
    project: Path, tmp_path: Path
) -> None:
    done = make(project, None, "test", env=without_go(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "3 passed" in done.stdout, done.stdout[-2000:]
    assert "KUBELOOP_CLUSTER=embedded" in done.stdout  # the Makefile's default, as make echoes it


def test_the_generated_projects_make_test_passes_on_the_real_control_plane(
    project: Path, control_plane: ControlPlane
) -> None:
    done = make(project, control_plane.kubeconfig, "test", "KUBELOOP_CLUSTER=controlplane")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "3 passed" in done.stdout, done.stdout[-2000:]


def test_config_default_renders_and_the_api_server_accepts_every_object(
    installed: Path, kubectl: Kubectl, deploy_namespace: str
) -> None:
    rendered = list(yaml.safe_load_all(kubectl("kustomize", str(installed / "config" / "default")).stdout))
    kinds = sorted(doc["kind"] for doc in rendered)
    assert kinds == sorted(
        [
            "Namespace",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ServiceAccount",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "Service",
            "Deployment",
        ]
    )
    namespaces = {doc["metadata"].get("namespace") for doc in rendered} - {None}
    assert namespaces == {f"{NAME}-system"}
    for doc in rendered:
        accepted = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(doc), check=False)
        assert accepted.returncode == 0, f"{doc['kind']} {doc['metadata']['name']}: {accepted.stderr}"
    deployment = next(doc for doc in rendered if doc["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--leader-elect" in container["args"]
    assert container["readinessProbe"]["httpGet"]["port"] == 8081
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for optional in ("webhook", "certmanager", "prometheus"):
        kubectl("kustomize", str(installed / "config" / optional))


def test_config_default_with_the_webhook_enabled_is_accepted_by_the_api_server(
    installed: Path, kubectl: Kubectl, deploy_namespace: str, tmp_path: Path
) -> None:
    copy = tmp_path / NAME
    shutil.copytree(installed, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    default = copy / "config" / "default" / "kustomization.yaml"
    text = default.read_text()
    # config/certmanager stays out: cert-manager's CRDs are not installed in the test's API server.
    for line in ("#- ../webhook", "#patches:", "#- path: manager_webhook_patch.yaml"):
        text = text.replace(line, line[1:])
    default.write_text(text)
    rendered = list(yaml.safe_load_all(kubectl("kustomize", str(copy / "config" / "default")).stdout))
    hooks = {doc["kind"]: doc for doc in rendered if doc["kind"].endswith("WebhookConfiguration")}
    assert sorted(hooks) == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    service = hooks["MutatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["service"]
    assert (service["name"], service["namespace"]) == (f"{NAME}-webhook-service", f"{NAME}-system")
    assert any(d["kind"] == "Service" and d["metadata"]["name"] == service["name"] for d in rendered)
    for doc in rendered:
        accepted = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(doc), check=False)
        assert accepted.returncode == 0, f"{doc['kind']} {doc['metadata']['name']}: {accepted.stderr}"
    deployment = next(doc for doc in rendered if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--webhook-cert-dir=/tmp/k8s-webhook-server/serving-certs" in container["args"]
    assert container["volumeMounts"][0]["mountPath"] == "/tmp/k8s-webhook-server/serving-certs"
    assert pod["volumes"][0]["secret"]["secretName"] == "webhook-server-cert"  # cert-manager's Secret


def test_make_bundle_catalog_and_the_olm_targets_install_upgrade_and_uninstall(
    installed: Path, control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    def run(*args: str) -> str:
        done = make(installed, control_plane.kubeconfig, *args, f"OLM_NAMESPACE={namespace}")
        assert done.returncode == 0, f"make {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def image() -> str:
        deployment = kubectl.json("get", "deployment", f"{NAME}-controller-manager", "-n", namespace)
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    def webhook_configurations() -> list[dict[str, Any]]:
        """The Mutating/ValidatingWebhookConfigurations the install made for this namespace."""
        found = kubectl.json("get", "mutatingwebhookconfiguration,validatingwebhookconfiguration")["items"]
        return [c for c in found if c["metadata"]["name"].endswith(f"-{namespace}")]

    # The CRDs `make install` applied (the `installed` fixture) are not OLM's: an install refuses to
    # take over objects it did not install, as OLM v1 does, so they go first, as a user would do it.
    run("uninstall")
    try:
        run("bundle", "VERSION=0.1.0", "IMG=registry.example/etcd-operator:0.1.0")
        csv = installed / "bundles" / "0.1.0" / "manifests" / f"{NAME}.v0.1.0.clusterserviceversion.yaml"
        spec = yaml.safe_load(csv.read_text())["spec"]
        assert spec["version"] == "0.1.0"
        assert [(h["type"], h["generateName"], h["deploymentName"]) for h in spec["webhookdefinitions"]] == [
            ("MutatingAdmissionWebhook", "metcdcluster-v1.etcd.cloud.io", f"{NAME}-controller-manager"),
            ("ValidatingAdmissionWebhook", "vetcdcluster-v1.etcd.cloud.io", f"{NAME}-controller-manager"),
        ]
        assert f"installed {NAME} 0.1.0 ({NAME}.v0.1.0) in {namespace}" in run("olm-install")
        assert image() == "registry.example/etcd-operator:0.1.0"
        # The webhooks match only etcdclusters, and no EtcdCluster is written while they are installed
        # (no pod serves them here).
        configs = webhook_configurations()
        assert sorted(c["kind"] for c in configs) == [
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ]
        for config in configs:
            (hook,) = config["webhooks"]
            assert hook["clientConfig"]["caBundle"]
            assert hook["clientConfig"]["service"]["name"] == f"{NAME}-controller-manager-service"

        run("bundle", "VERSION=0.2.0", f"REPLACES={NAME}.v0.1.0", "IMG=registry.example/etcd-operator:0.2.0")
        assert f"upgraded {NAME} 0.2.0 ({NAME}.v0.2.0) in {namespace}" in run("olm-upgrade")
        assert image() == "registry.example/etcd-operator:0.2.0"

        run("olm-uninstall")
        assert webhook_configurations() == []
        gone = kubectl("get", "deployment", f"{NAME}-controller-manager", "-n", namespace, check=False)
        assert gone.returncode != 0
        assert "NotFound" in gone.stderr
    finally:  # a failure half-way must not leave webhooks nobody serves
        kinds = "mutatingwebhookconfiguration,validatingwebhookconfiguration"
        kubectl("delete", kinds, "-l", f"olm.kubeloop.dev/package={NAME}", "--ignore-not-found")
    kubectl("get", "crd", "etcdclusters.etcd.cloud.io")  # the CRDs and their data stay


@pytest.mark.long  # about 25 s; make test-long
def test_make_dev_runs_the_operator_on_the_embedded_server_and_the_samples_become_ready(
    project: Path, tmp_path: Path
) -> None:
    """`make dev` with no Go on PATH: the embedded server, the CRDs, the operator, the samples Ready."""
    dev = subprocess.Popen(
        ["make", f"PYTHON={sys.executable}", "dev"],
        cwd=project,
        env=without_go(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []

    def read() -> None:
        assert dev.stdout is not None
        output.extend(dev.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        eventually(
            lambda: "Ctrl-C stops" in "".join(output) or dev.poll() is not None,
            timeout=120,
            what="make dev's banner",
        )
        shown = "".join(output)
        assert dev.poll() is None, shown
        assert "starting the embedded API server" in shown, shown
        assert "every sample is Ready" in shown, shown
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(timeout=30)
        reader.join(timeout=5)
