"""An operator installed by the lifecycle manager actually runs with what was installed for it.

The AppService operator's bundles (generated from examples/appservice; 0.2.0 adds a printer column to
the CRD) are pushed as a catalog and installed by a ClusterExtension. Images cannot be pulled here, so
the installed Deployment's container is run as a process: the image's entrypoint (the example's
Dockerfile) with the Deployment's arguments, authenticated with a token of the service account the
bundle got, so it holds nothing but the installed RBAC. It reconciles a sample AppService and restores
a deleted child; then the extension upgrades (the CRD changes), rolls back (the CRD changes back), and
uninstalls, the operator still reconciling between the steps. The same AppService operator as an
Ansible role and as a Helm chart, each project made afresh as a user makes it (``kubeloop init
--plugin ansible`` and ``create api --generate-role``, then the example's role and the rules it needs
written in; ``kubeloop init --plugin helm`` and ``create api --helm-chart`` with the example's chart),
so the whole chain from scaffolding to an installed operator reconciling runs here: each
bundle made by the project's own ``make bundle`` (as its README says: ``generate rbac``, then ``olm
bundle``), installed, its Deployment's ``kubeloop run watches.yaml`` reconciling the sample under the
installed RBAC, then uninstalled (the steps between are the Python example's: they do not depend on
what the operator runs, and each Ansible run takes seconds). kubectl runs off the event loop:
the lifecycle operator runs on it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubeloop.cli.main import cli
from kubeloop.client import Client, load_kubeconfig
from kubeloop.olm import (
    Bundle,
    apply_crds,
    generate_bundle,
    lifecycle_operator,
    load_bundle,
    push_catalog,
    render_catalog,
)
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, KubectlError, run_operator, until
from kubeloop.testing.assets import find_binary

EXAMPLES = Path(__file__).parents[2] / "examples"
PACKAGE = "appservice-operator"
SA = "appservice-operator-controller-manager"
CRD = "appservices.app.example.com"
EXTENSIONS = "clusterextensions.olm.kubeloop.dev"
NAMESPACE = "appservice-system"
PRINTER_COLUMN = {"name": "Image", "type": "string", "jsonPath": ".spec.image"}


@dataclasses.dataclass(frozen=True)
class Example:
    """One of the AppService operator's projects, and what its installed operator must not be allowed."""

    directory: str
    forbidden: str
    lifecycle: bool = False
    """Whether the test goes through upgrade, rollback and deleted children restored (the Python example)."""
    helm: bool = False
    scaffold: tuple[str, ...] = ()
    """``kubeloop create api`` arguments: the project is made afresh by ``kubeloop init --plugin`` and
    these (its root then a directory of the test's), not taken from examples/."""
    authored: tuple[str, ...] = ()
    """What the author writes after scaffolding, copied from the example: files and directories."""

    @property
    def plugin(self) -> str:
        return "helm" if self.helm else "ansible"

    @property
    def root(self) -> Path:
        return EXAMPLES / self.directory

    def dockerfile(self, instruction: str) -> str:
        lines = (self.root / "Dockerfile").read_text().splitlines()
        return next(line for line in lines if line.startswith(instruction + " "))[len(instruction) :].strip()

    def entrypoint(self) -> list[str]:
        """The image's entrypoint as a command here: its Python, kubeloop and WORKDIR (the project)."""
        workdir = self.dockerfile("WORKDIR") if "WORKDIR" in (self.root / "Dockerfile").read_text() else ""
        command = []
        for i, arg in enumerate(yaml.safe_load(self.dockerfile("ENTRYPOINT"))):
            if i == 0:
                command += {
                    "python": [sys.executable],
                    "kubeloop": [sys.executable, "-m", "kubeloop.cli.main"],
                }[arg]
            else:
                command.append(
                    str(self.root) + arg[len(workdir) :] if workdir and arg.startswith(workdir) else arg
                )
        return command

    def sample(self) -> dict[str, Any]:
        path = self.root / "config" / "samples" / "app.example.com_v1_appservice.yaml"
        sample: dict[str, Any] = yaml.safe_load(path.read_text())
        return sample


KIND = ("--group", "app", "--version", "v1", "--kind", "AppService")
SAMPLE = "config/samples/app.example.com_v1_appservice.yaml"
PYTHON = Example("appservice", forbidden="secrets", lifecycle=True)
# The projects: init --plugin, then create api (what examples/appservice-ansible and -helm were made
# with); the Ansible author then writes the role, the rules it needs (watches.yaml) and a sample.
ANSIBLE = Example(
    "appservice-ansible",
    forbidden="secrets",
    scaffold=(*KIND, "--generate-role"),
    authored=("roles/appservice", "watches.yaml", SAMPLE),
)
# Helm keeps its releases in Secrets.
HELM = Example(
    "appservice-helm",
    forbidden="configmaps",
    helm=True,
    scaffold=(*KIND, "--helm-chart", str(EXAMPLES / "appservice-helm" / "helm-charts" / "appservice")),
)


def scaffolded(example: Example, work: Path) -> Example:
    """``example`` made afresh: ``kubeloop init --plugin ... --domain example.com`` in a directory named
    as the package, then ``kubeloop create api`` (in process: a CLI subprocess takes seconds to start
    on a loaded machine), then what its author writes copied in."""
    root = work / "scaffold" / PACKAGE
    root.mkdir(parents=True)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        for args in (
            ["init", "--plugin", example.plugin, "--domain", "example.com"],
            ["create", "api", *example.scaffold],
        ):
            done = CliRunner().invoke(cli, args)
            assert done.exit_code == 0, done.output
    finally:
        os.chdir(cwd)
    for path in example.authored:
        source = example.root / path
        if source.is_dir():
            shutil.copytree(source, root / path, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, root / path)
    return dataclasses.replace(example, directory=str(root))


def make_bundle(example: Example, work: Path) -> Bundle:
    """Bundle 0.1.0 made by ``make bundle`` in a copy of the project (its manifests are regenerated
    there), with this interpreter's kubeloop."""
    project = work / Path(example.directory).name
    shutil.copytree(example.root, project, ignore=shutil.ignore_patterns(".venv", "bundles", "catalog"))
    done = subprocess.run(
        ["make", "bundle", "VERSION=0.1.0", f"IMG=registry.example/{example.directory}:0.1.0",
         f"PYTHON={sys.executable}", "KUBELOOP_SOURCE="],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"make bundle:\n{done.stdout}\n{done.stderr}"
    return load_bundle(project / "bundles" / "0.1.0")


def bundles(example: Example, work: Path) -> list[Bundle]:
    if not example.lifecycle:
        return [make_bundle(example, work)]
    first = generate_bundle(example.root, version="0.1.0", channels=["alpha"])
    second = generate_bundle(example.root, version="0.2.0", channels=["alpha"], replaces=first.name)
    objects = copy.deepcopy(list(second.objects))
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            for version in obj["spec"]["versions"]:
                version.setdefault("additionalPrinterColumns", []).append(PRINTER_COLUMN)
    return [first, dataclasses.replace(second, objects=tuple(objects))]


@pytest.fixture
def plane() -> Iterator[ControlPlane]:
    """A control plane of its own (each example's: all three install the same CRD): the AppService
    CRD must not exist unlabelled from other tests."""
    with ControlPlane(ControlPlaneOptions(controller_manager=False, nodes=0)) as started:
        yield started


async def get(kubectl: Kubectl, *args: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await asyncio.to_thread(kubectl.json, "get", *args)
    except KubectlError as err:
        if "NotFound" in err.stderr:
            return None
        raise
    return found


async def extension_at(kubectl: Kubectl, version: str) -> bool:
    ext = await get(kubectl, EXTENSIONS, PACKAGE) or {}
    status = ext.get("status") or {}
    progressing = next((c for c in status.get("conditions") or () if c["type"] == "Progressing"), {})
    installed = (status.get("install") or {}).get("bundle", {}).get("version")
    return installed == version and progressing.get("reason") == "Succeeded"


def token_kubeconfig(plane: ControlPlane, kubectl: Kubectl, path: Path) -> Path:
    """A kubeconfig authenticating as the installed service account (a token, no certificate)."""
    token = kubectl("create", "token", SA, "-n", NAMESPACE, "--duration=1h").stdout.strip()
    admin = load_kubeconfig(plane.kubeconfig)
    assert admin.ca_data is not None
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "plane",
                "cluster": {
                    "server": admin.server,
                    "certificate-authority-data": base64.b64encode(admin.ca_data).decode(),
                },
            }
        ],
        "users": [{"name": SA, "user": {"token": token}}],
        "contexts": [{"name": SA, "context": {"cluster": "plane", "user": SA, "namespace": NAMESPACE}}],
        "current-context": SA,
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def run_installed(
    example: Example, kubectl: Kubectl, kubeconfig: Path, tmp_path: Path
) -> subprocess.Popen[bytes]:
    """The installed Deployment's container as a process: entrypoint plus the Deployment's arguments
    (servers bound to free ports: none), as the service account; helm on PATH as in the image."""
    deployment = await get(
        kubectl, "deployment", "-n", NAMESPACE, "-l", f"olm.kubeloop.dev/package={PACKAGE}"
    )
    assert deployment is not None
    (dep,) = deployment["items"]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == SA
    args = [a for a in container.get("args") or () if not a.startswith(("--metrics-bind", "--health-probe"))]
    command = [*example.entrypoint(), *args, "--metrics-bind-address=0", "--health-probe-bind-address=0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBELOOP_")}
    env |= {"KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(example.root / "src"), "TMPDIR": str(tmp_path)}
    if example.helm:
        helm = find_binary("helm")
        assert helm is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
        env["PATH"] = f"{helm.parent}{os.pathsep}{env.get('PATH', '')}"
    env |= {e["name"]: e["value"] for e in container.get("env") or () if "value" in e}
    return await asyncio.to_thread(spawn, command, env, tmp_path / "operator.log")


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture
async def cluster(plane: ControlPlane) -> AsyncIterator[tuple[Client, Kubectl]]:
    async with await Client.load(plane.kubeconfig) as client:
        yield client, Kubectl(plane.kubeconfig)


@pytest.mark.parametrize("example", [PYTHON, ANSIBLE, HELM], ids=["python", "ansible", "helm"])
async def test_an_installed_operator_reconciles_with_its_installed_rbac_through_upgrade_rollback_uninstall(
    example: Example, plane: ControlPlane, cluster: tuple[Client, Kubectl], tmp_path: Path
) -> None:
    client, kubectl = cluster
    await apply_crds(client)
    kubectl("create", "namespace", NAMESPACE)
    kubectl("create", "serviceaccount", "installer", "-n", NAMESPACE)
    kubectl(
        "create",
        "clusterrolebinding",
        "installer",
        "--clusterrole=cluster-admin",
        f"--serviceaccount={NAMESPACE}:installer",
    )
    if example.scaffold:
        example = await asyncio.to_thread(scaffolded, example, tmp_path)
    made = await asyncio.to_thread(bundles, example, tmp_path)
    await push_catalog(client, render_catalog(made), "appservices", NAMESPACE)
    extension = {
        "apiVersion": "olm.kubeloop.dev/v1",
        "kind": "ClusterExtension",
        "metadata": {"name": PACKAGE},
        "spec": {
            "packageName": PACKAGE,
            "namespace": NAMESPACE,
            "serviceAccount": {"name": "installer"},
            "version": "0.1.0",
        },
    }
    log = tmp_path / "operator.log"
    async with run_operator(lifecycle_operator(), plane.kubeconfig):
        await asyncio.to_thread(kubectl, "create", "-f", "-", input=json.dumps(extension))
        await until(lambda: extension_at(kubectl, "0.1.0"), within=60, what="0.1.0 installed")
        operator = await run_installed(
            example, kubectl, token_kubeconfig(plane, kubectl, tmp_path / "sa.kubeconfig"), tmp_path
        )
        try:
            assert (
                kubectl(
                    "auth",
                    "can-i",
                    "list",
                    example.forbidden,
                    f"--as=system:serviceaccount:{NAMESPACE}:{SA}",
                    "-A",
                    check=False,
                ).stdout.strip()
                == "no"
            )
            sample = example.sample()
            await asyncio.to_thread(kubectl, "apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(sample))
            app = sample["metadata"]["name"]

            async def children() -> bool:
                dep = await get(kubectl, "deployment", app, "-n", NAMESPACE)
                svc = await get(kubectl, "service", app, "-n", NAMESPACE)
                return dep is not None and svc is not None

            await until(children, within=90, what="the sample's Deployment and Service")
            owned = await get(kubectl, "appservice", app, "-n", NAMESPACE)
            for kind in ("deployment", "service"):
                child = await get(kubectl, kind, app, "-n", NAMESPACE)
                assert child is not None
                (owner,) = child["metadata"]["ownerReferences"]
                assert (owner["name"], owner["uid"]) == (app, owned["metadata"]["uid"])  # type: ignore[index]

            async def heals() -> None:
                await asyncio.to_thread(kubectl, "delete", "deployment", app, "-n", NAMESPACE)
                await until(children, within=60, what="the sample's Deployment restored by the operator")

            if example.lifecycle:
                patch = json.dumps({"spec": {"version": "0.2.0"}})
                await asyncio.to_thread(kubectl, "patch", EXTENSIONS, PACKAGE, "--type=merge", "-p", patch)
                await until(lambda: extension_at(kubectl, "0.2.0"), within=60, what="the upgrade to 0.2.0")
                crd = await get(kubectl, "crd", CRD)
                assert crd is not None
                assert PRINTER_COLUMN in crd["spec"]["versions"][0]["additionalPrinterColumns"]
                await heals()

                patch = json.dumps({"spec": {"version": "0.1.0"}})
                await asyncio.to_thread(kubectl, "patch", EXTENSIONS, PACKAGE, "--type=merge", "-p", patch)
                await until(lambda: extension_at(kubectl, "0.1.0"), within=60, what="the rollback to 0.1.0")
                crd = await get(kubectl, "crd", CRD)
                assert crd is not None
                assert PRINTER_COLUMN not in (
                    crd["spec"]["versions"][0].get("additionalPrinterColumns") or []
                )
                await heals()
            assert operator.poll() is None, log.read_text()

            await asyncio.to_thread(kubectl, "delete", EXTENSIONS, PACKAGE, "--timeout=60s")
            assert await get(
                kubectl, "deployment", "-n", NAMESPACE, "-l", f"olm.kubeloop.dev/package={PACKAGE}"
            ) == {
                "apiVersion": "v1",
                "items": [],
                "kind": "List",
                "metadata": {"resourceVersion": ""},
            }
            assert await get(kubectl, "crd", CRD) is not None  # the data stays
        finally:
            if operator.poll() is None:
                os.killpg(operator.pid, signal.SIGTERM)
            operator.wait(timeout=30)
    assert "Traceback" not in log.read_text()
