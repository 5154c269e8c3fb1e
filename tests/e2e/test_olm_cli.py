"""`kubeloop olm` end to end, as a user runs it: bundles of the AppService example at three versions
(the third with an unsafe CRD change), a file-based catalog rendered from them and validated, then
install → upgrade → refused unsafe upgrade → forced upgrade → already newest → uninstall on a control
plane of its own (the flow changes the AppService CRD, which tests on the shared control plane use),
checked with real kubectl; what a user sees for bad input; and the declarative way: `catalog push`,
`kubeloop olm run`, a ClusterExtension installed, upgraded by a version change, blocked by the unsafe
CRD change, and uninstalled when deleted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, eventually

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "appservice"
KUBELOOP = Path(sys.executable).parent / "kubeloop"  # the venv's console script, as a user runs it
PACKAGE = "appservice-operator"
CRD = "appservices.app.example.com"
DEPLOYMENT = "appservice-operator-controller-manager"
ACCOUNT = "appservice-operator-controller-manager"
NS = "ops"
PACKAGE_LABEL = f"olm.kubeloop.dev/package={PACKAGE}"
RELEASE = f"kubeloop-olm-{PACKAGE}"
IMAGES = {v: f"registry.example.com/appservice-operator:{v}" for v in ("0.1.0", "0.2.0", "0.3.0")}


def kubeloop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`kubeloop ARGS` in a fresh process; the cluster comes only from an explicit --kubeconfig."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [str(KUBELOOP), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def ok(*args: str, cwd: Path) -> str:
    done = kubeloop(*args, cwd=cwd)
    assert done.returncode == 0, f"kubeloop {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error of a command that failed as the CLI promises: exit 1, one `Error: ...` line, no stdout."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith("Error: "), done.stderr
    assert "\n" not in message, done.stderr
    return message


@dataclass(frozen=True)
class Made:
    work: Path
    bundles: dict[str, Path]
    catalog: Path
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """etcd and kube-apiserver only: the CRD and the objects are all the flow needs."""
    assert KUBELOOP.is_file(), f"{KUBELOOP} is missing: install kubeloop into the venv"
    with ControlPlane(ControlPlaneOptions(controller_manager=False, nodes=0)) as started:
        yield started


@pytest.fixture(scope="module")
def kubectl(plane: ControlPlane) -> Kubectl:
    return Kubectl(plane.kubeconfig)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """Three bundles (0.2.0 replaces 0.1.0, 0.3.0 replaces 0.2.0 and lowers spec.size's maximum) and
    the catalog rendered from them."""
    work = tmp_path_factory.mktemp("olm")
    bundles = {v: work / f"bundle-{v}" for v in IMAGES}
    outputs = {}
    for version, previous in (("0.1.0", None), ("0.2.0", "0.1.0"), ("0.3.0", "0.2.0")):
        args = ["olm", "bundle", "--root", str(EXAMPLE), "--version", version, "--image", IMAGES[version]]
        args += ["--output", str(bundles[version])]
        if previous:
            args += ["--replaces", f"{PACKAGE}.v{previous}"]
        outputs[version] = ok(*args, cwd=work)
    crd_file = bundles["0.3.0"] / "manifests" / f"{CRD.partition('.')[2]}_appservices.yaml"
    text = crd_file.read_text()
    assert text.count("maximum: 100\n") == 1, "spec.size's maximum is no longer 100: update the test"
    crd_file.write_text(text.replace("maximum: 100\n", "maximum: 50\n"))
    outputs["render"] = ok(
        "olm", "catalog", "render", *map(str, bundles.values()), "--output", "catalog", cwd=work
    )
    return Made(work, bundles, work / "catalog", outputs)


# -- bundles and catalog ------------------------------------------------------------------------------


def test_bundles_are_written_as_registry_v1_directories(made: Made) -> None:
    replaces = {}
    for version, path in made.bundles.items():
        assert made.outputs[version].strip() == f"wrote bundle {PACKAGE}.v{version} (3 manifests) to {path}"
        annotations = yaml.safe_load((path / "metadata" / "annotations.yaml").read_text())["annotations"]
        assert annotations["operators.operatorframework.io.bundle.mediatype.v1"] == "registry+v1"
        assert annotations["operators.operatorframework.io.bundle.package.v1"] == PACKAGE
        assert annotations["operators.operatorframework.io.bundle.channels.v1"] == "alpha"
        csv_file = path / "manifests" / f"{PACKAGE}.v{version}.clusterserviceversion.yaml"
        csv = yaml.safe_load(csv_file.read_text())
        assert csv["spec"]["version"] == version
        (deployment,) = csv["spec"]["install"]["spec"]["deployments"]
        assert deployment["name"] == DEPLOYMENT
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES[version]
        replaces[version] = csv["spec"].get("replaces")
    assert replaces == {"0.1.0": None, "0.2.0": f"{PACKAGE}.v0.1.0", "0.3.0": f"{PACKAGE}.v0.2.0"}


def test_catalog_is_rendered_with_the_upgrade_edges_and_inline_objects(made: Made) -> None:
    assert made.outputs["render"].strip() == "wrote a catalog of 3 bundle(s) to catalog"
    docs = list(yaml.safe_load_all((made.catalog / PACKAGE / "catalog.yaml").read_text()))
    by_schema: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_schema.setdefault(doc["schema"], []).append(doc)
    assert by_schema["olm.package"] == [{"schema": "olm.package", "name": PACKAGE, "defaultChannel": "alpha"}]
    (channel,) = by_schema["olm.channel"]
    assert channel["entries"] == [
        {"name": f"{PACKAGE}.v0.1.0"},
        {"name": f"{PACKAGE}.v0.2.0", "replaces": f"{PACKAGE}.v0.1.0"},
        {"name": f"{PACKAGE}.v0.3.0", "replaces": f"{PACKAGE}.v0.2.0"},
    ]
    assert [b["name"] for b in by_schema["olm.bundle"]] == [f"{PACKAGE}.v{v}" for v in IMAGES]
    for bundle in by_schema["olm.bundle"]:
        inline = [p for p in bundle["properties"] if p["type"] == "olm.bundle.object"]
        assert len(inline) == 3  # the CSV, the CRD, the metrics Service: no image to pull


def test_catalog_validate_prints_the_channel_head(made: Made) -> None:
    out = ok("olm", "catalog", "validate", str(made.catalog), cwd=made.work)
    assert out.splitlines() == [
        f"{PACKAGE} (default channel alpha)",
        f"  alpha: 3 bundle(s), head {PACKAGE}.v0.3.0 (0.3.0)",
    ]


# -- install, upgrade, uninstall ----------------------------------------------------------------------


def image(kubectl: Kubectl, namespace: str = NS) -> str:
    deployment = kubectl.json("get", "deployment", DEPLOYMENT, "-n", namespace)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def size_schema(kubectl: Kubectl) -> dict[str, Any]:
    crd = kubectl.json("get", "crd", CRD)
    (version,) = crd["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"])


def names(kubectl: Kubectl, kind: str, *scope: str) -> list[str]:
    """The names of the package's objects of ``kind`` (by the package label)."""
    items = kubectl.json("get", kind, "-l", PACKAGE_LABEL, *scope)["items"]
    return sorted(item["metadata"]["name"] for item in items)


def test_bundle_validate_passes_a_made_bundle_and_names_each_problem_of_a_broken_one(
    made: Made, plane: ControlPlane
) -> None:
    config = ("--kubeconfig", str(plane.kubeconfig))
    out = ok("olm", "bundle", "validate", str(made.bundles["0.1.0"]), *config, cwd=made.work)
    assert out.strip() == f"bundle {PACKAGE}.v0.1.0 is valid"

    broken = made.work / "broken-bundle"
    shutil.copytree(made.bundles["0.1.0"], broken)
    (broken / "manifests" / f"{CRD.partition('.')[2]}_appservices.yaml").unlink()
    csv_file = broken / "manifests" / f"{PACKAGE}.v0.1.0.clusterserviceversion.yaml"
    csv = yaml.safe_load(csv_file.read_text())
    csv["spec"]["minKubeVersion"] = "99.0.0"
    csv_file.write_text(yaml.safe_dump(csv))
    error = one_line_error(kubeloop("olm", "bundle", "validate", str(broken), *config, cwd=made.work))
    assert f"bundle {PACKAGE}.v0.1.0 is not valid" in error
    assert f"owned CRD {CRD} is not in the bundle" in error
    assert "CSV spec.minKubeVersion 99.0.0 is above the cluster's v1." in error


def test_catalog_add_appends_a_bundle_with_its_edges(made: Made) -> None:
    work = made.work
    ok("olm", "catalog", "render", str(made.bundles["0.1.0"]), "--output", "grown", cwd=work)
    for version in ("0.2.0", "0.3.0"):
        out = ok("olm", "catalog", "add", str(made.bundles[version]), "--catalog", "grown", cwd=work)
        assert out.strip() == f"added {PACKAGE}.v{version} to grown (channels alpha)"
    grown = (work / "grown" / PACKAGE / "catalog.yaml").read_text()
    assert grown == (made.catalog / PACKAGE / "catalog.yaml").read_text()  # as if rendered at once
    again = kubeloop("olm", "catalog", "add", str(made.bundles["0.3.0"]), "--catalog", "grown", cwd=work)
    assert one_line_error(again) == f"Error: bundle {PACKAGE}.v0.3.0 is already in the catalog"


def test_install_upgrade_and_uninstall(made: Made, plane: ControlPlane, kubectl: Kubectl) -> None:
    cluster = ("--catalog", str(made.catalog), "-n", NS, "--kubeconfig", str(plane.kubeconfig))
    listed = ("olm", "list", "--kubeconfig", str(plane.kubeconfig))
    run = made.work
    assert kubectl("get", "namespace", NS, check=False).returncode != 0
    assert ok(*listed, cwd=run).strip() == "no operator installed"

    # install 0.1.0, creating the namespace
    out = ok("olm", "install", PACKAGE, "--version", "0.1.0", "--create-namespace", *cluster, cwd=run)
    assert out.strip() == f"installed {PACKAGE} 0.1.0 ({PACKAGE}.v0.1.0) in {NS}: 8 objects"
    crd = kubectl.json("get", "crd", CRD)
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established["Established"] == "True"
    assert image(kubectl) == IMAGES["0.1.0"]
    account = kubectl.json("get", "serviceaccount", ACCOUNT, "-n", NS)
    assert account["metadata"]["labels"]["olm.kubeloop.dev/package"] == PACKAGE
    (cluster_role,) = names(kubectl, "clusterrole")
    assert cluster_role.startswith(f"{PACKAGE}.v0.1.0-")
    rules = kubectl.json("get", "clusterrole", cluster_role)["rules"]
    assert {
        "apiGroups": ["app.example.com"],
        "resources": ["appservices"],
        "verbs": ["list", "watch"],
    } in rules
    binding = kubectl.json("get", "clusterrolebinding", cluster_role)
    assert binding["roleRef"]["name"] == cluster_role
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NS}]
    (role,) = names(kubectl, "role", "-n", NS)  # leader election
    assert names(kubectl, "rolebinding", "-n", NS) == [role]
    assert names(kubectl, "service", "-n", NS) == ["appservice-operator-controller-manager-metrics-service"]
    release = kubectl.json("get", "configmap", RELEASE, "-n", NS)["data"]
    assert (release["bundle"], release["version"]) == (f"{PACKAGE}.v0.1.0", "0.1.0")
    assert ok(*listed, cwd=run).strip() == f"{PACKAGE} 0.1.0 ({PACKAGE}.v0.1.0) in {NS}"
    out = ok("olm", "install", PACKAGE, "--version", "0.1.0", *cluster, cwd=run)
    assert out.strip() == f"{PACKAGE} 0.1.0 ({PACKAGE}.v0.1.0) is already installed in {NS}"

    # upgrade to 0.2.0: new image, the old version's generated RBAC pruned
    out = ok("olm", "upgrade", PACKAGE, *cluster, cwd=run)
    assert out.strip() == f"upgraded {PACKAGE} 0.2.0 ({PACKAGE}.v0.2.0) in {NS}: 8 objects"
    assert image(kubectl) == IMAGES["0.2.0"]
    (cluster_role,) = names(kubectl, "clusterrole")
    assert cluster_role.startswith(f"{PACKAGE}.v0.2.0-")
    assert names(kubectl, "clusterrolebinding") == [cluster_role]
    assert ok(*listed, cwd=run).strip() == f"{PACKAGE} 0.2.0 ({PACKAGE}.v0.2.0) in {NS}"

    # 0.3.0 lowers spec.size's maximum: refused, one line naming the CRD and the field, nothing changed
    crd_before = kubectl.json("get", "crd", CRD)
    release_before = kubectl.json("get", "configmap", RELEASE, "-n", NS)
    message = one_line_error(kubeloop("olm", "upgrade", PACKAGE, *cluster, cwd=run))
    assert f"{CRD} v1 .spec.size: maximum lowered from 100 to 50" in message
    assert f"upgrade of {PACKAGE}.v0.3.0 refused" in message
    assert image(kubectl) == IMAGES["0.2.0"]
    crd_after = kubectl.json("get", "crd", CRD)
    assert crd_after["metadata"]["resourceVersion"] == crd_before["metadata"]["resourceVersion"]
    assert size_schema(kubectl)["maximum"] == 100
    release_after = kubectl.json("get", "configmap", RELEASE, "-n", NS)
    assert release_after["metadata"]["resourceVersion"] == release_before["metadata"]["resourceVersion"]
    assert ok(*listed, cwd=run).strip() == f"{PACKAGE} 0.2.0 ({PACKAGE}.v0.2.0) in {NS}"

    # forced
    out = ok("olm", "upgrade", PACKAGE, "--force-unsafe-crds", *cluster, cwd=run)
    assert out.strip() == f"upgraded {PACKAGE} 0.3.0 ({PACKAGE}.v0.3.0) in {NS}: 8 objects"
    assert image(kubectl) == IMAGES["0.3.0"]
    assert size_schema(kubectl)["maximum"] == 50

    out = ok("olm", "upgrade", PACKAGE, *cluster, cwd=run)
    assert out.strip() == f"{PACKAGE}: already at the newest version the catalog offers"
    assert image(kubectl) == IMAGES["0.3.0"]

    # uninstall: everything but the CRD goes
    out = ok("olm", "uninstall", PACKAGE, "-n", NS, "--kubeconfig", str(plane.kubeconfig), cwd=run)
    assert out.strip() == f"uninstalled {PACKAGE} from {NS}"
    for kind in ("deployment", "serviceaccount", "role", "rolebinding", "service", "configmap"):
        assert names(kubectl, kind, "-n", NS) == [], kind
    assert names(kubectl, "clusterrole") == []
    assert names(kubectl, "clusterrolebinding") == []
    assert kubectl("get", "deployment", DEPLOYMENT, "-n", NS, check=False).returncode != 0
    assert kubectl("get", "configmap", RELEASE, "-n", NS, check=False).returncode != 0
    assert names(kubectl, "crd") == [CRD]
    assert size_schema(kubectl)["maximum"] == 50
    assert ok(*listed, cwd=run).strip() == "no operator installed"


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("schema: olm.package\nname: [unclosed\n", "invalid YAML"),
        ("name: orphan\n", "document 1: no 'schema'"),
    ],
    ids=["invalid-yaml", "no-schema"],
)
def test_a_broken_catalog_file_is_named(
    made: Made, plane: ControlPlane, tmp_path: Path, content: str, problem: str
) -> None:
    catalog = shutil.copytree(made.catalog, tmp_path / "catalog")
    broken = catalog / "extra" / "broken.yaml"
    broken.parent.mkdir()
    broken.write_text(content)
    message = one_line_error(kubeloop("olm", "catalog", "validate", str(catalog), cwd=tmp_path))
    assert message.startswith(f"Error: invalid catalog: {broken}")
    assert problem in message
    install = ("olm", "install", PACKAGE, "--catalog", str(catalog), "-n", "default")
    message = one_line_error(kubeloop(*install, "--kubeconfig", str(plane.kubeconfig), cwd=tmp_path))
    assert str(broken) in message
    assert problem in message


def test_installing_an_unknown_package_names_it(made: Made, plane: ControlPlane, kubectl: Kubectl) -> None:
    cluster = ("--catalog", str(made.catalog), "-n", "default", "--kubeconfig", str(plane.kubeconfig))
    message = one_line_error(kubeloop("olm", "install", "nosuch-operator", *cluster, cwd=made.work))
    assert message == f"Error: package 'nosuch-operator' is not in the catalog (it has: {PACKAGE})"
    fresh = (*cluster[:2], "-n", "fresh", *cluster[4:], "--create-namespace")
    one_line_error(kubeloop("olm", "install", "nosuch-operator", *fresh, cwd=made.work))
    assert kubectl("get", "namespace", "fresh", check=False).returncode != 0, "nothing is created on failure"
    assert kubectl(
        "get", "configmap", "kubeloop-olm-nosuch-operator", "-n", "default", check=False
    ).returncode


# -- declarative: catalog push and the lifecycle operator ----------------------------------------------


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind]
    return found[0] if found else {}


def test_catalog_push_and_olm_run_install_upgrade_block_and_uninstall_a_cluster_extension(
    made: Made, plane: ControlPlane, kubectl: Kubectl
) -> None:
    config = ("--kubeconfig", str(plane.kubeconfig))
    out = ok("olm", "catalog", "push", str(made.catalog), "--name", "appservices", *config, cwd=made.work)
    assert out.strip() == "pushed ClusterCatalog appservices: 1 ConfigMap(s) in kubeloop-olm"
    namespace = "ops-declarative"
    kubectl("create", "namespace", namespace)
    log = made.work / "olm-run.log"
    with log.open("w") as sink:
        manager = subprocess.Popen(
            [
                str(KUBELOOP),
                "olm",
                "run",
                *config,
                "--metrics-bind-address",
                "0",
                "--health-probe-bind-address",
                "0",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def extension() -> dict[str, Any]:
            assert manager.poll() is None, f"kubeloop olm run exited {manager.returncode}:\n{log.read_text()}"
            return kubectl.json("get", "clusterextension", "appservice")

        def installed(version: str) -> bool:
            got = extension()
            at = ((got.get("status") or {}).get("install") or {}).get("bundle", {}).get("version")
            return condition(got, "Installed").get("status") == "True" and at == version

        def catalog() -> dict[str, Any]:
            return kubectl.json("get", "clustercatalog", "appservices")

        eventually(lambda: condition(catalog(), "Serving").get("status") == "True", what="catalog Serving")
        assert catalog()["status"]["packages"] == [PACKAGE]

        kubectl("create", "serviceaccount", "installer", "-n", namespace)
        installer = f"{namespace}-installer"
        kubectl(
            "create",
            "clusterrolebinding",
            installer,
            "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:installer",
        )
        wanted = {
            "packageName": PACKAGE,
            "namespace": namespace,
            "serviceAccount": {"name": "installer"},
            "version": "0.1.0",
        }
        extension_yaml = {
            "apiVersion": "olm.kubeloop.dev/v1",
            "kind": "ClusterExtension",
            "metadata": {"name": "appservice"},
            "spec": wanted,
        }
        kubectl("apply", "-f", "-", input=yaml.safe_dump(extension_yaml))
        eventually(lambda: installed("0.1.0"), what="0.1.0 installed")
        shown = ok("olm", "status", "appservice", *config, cwd=made.work).splitlines()
        assert shown[0] == f"appservice: package {PACKAGE} in {namespace} as service account installer"
        assert shown[1] == f"installed: {PACKAGE}.v0.1.0 (0.1.0)"
        assert any(line.startswith("Installed True Succeeded: installed") for line in shown[2:])
        assert "Deprecated False NotDeprecated" in shown
        assert image(kubectl, namespace) == IMAGES["0.1.0"]
        table = kubectl("get", "clusterextension", "appservice").stdout.split("\n")
        assert table[0].split() == [
            "NAME",
            "PACKAGE",
            "NAMESPACE",
            "VERSION",
            "INSTALLED",
            "PROGRESSING",
            "AGE",
        ]
        assert table[1].split()[:6] == ["appservice", PACKAGE, namespace, "0.1.0", "True", "Succeeded"]

        kubectl(
            "patch", "clusterextension", "appservice", "--type=merge", "-p", '{"spec":{"version":"<0.3.0"}}'
        )
        eventually(lambda: installed("0.2.0"), what="the upgrade to 0.2.0")
        assert image(kubectl, namespace) == IMAGES["0.2.0"]

        # 0.3.0 lowers spec.size's maximum: blocked, 0.2.0 stays
        kubectl(
            "patch",
            "clusterextension",
            "appservice",
            "--type=json",
            "-p",
            '[{"op":"remove","path":"/spec/version"}]',
        )
        eventually(lambda: condition(extension(), "Progressing").get("reason") == "Blocked", what="Blocked")
        progressing = condition(extension(), "Progressing")
        assert progressing["status"] == "False"
        assert f"{CRD} v1 .spec.size: maximum lowered from 100 to 50" in progressing["message"]
        assert installed("0.2.0")
        assert image(kubectl, namespace) == IMAGES["0.2.0"]
        blocked = kubectl.json("get", "events", "-A", "--field-selector", "reason=Blocked")["items"]
        assert [e["involvedObject"]["name"] for e in blocked] == ["appservice"]

        kubectl("delete", "clusterextension", "appservice", "--timeout=60s")
        assert kubectl("get", "deployment", DEPLOYMENT, "-n", namespace, check=False).returncode != 0
        assert names(kubectl, "clusterrole") == []
        assert kubectl("get", "crd", CRD, check=False).returncode == 0, "the CRD and its data stay"
        kubectl("delete", "clusterrolebinding", installer)
    finally:
        os.killpg(manager.pid, signal.SIGINT)
        manager.wait(timeout=60)
    assert "Traceback" not in log.read_text()
