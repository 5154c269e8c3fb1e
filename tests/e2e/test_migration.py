"""The migration guides' example pairs (docs/migrating/from-kopf.md, docs/migrating/from-kubebuilder.md)
run and match: the kopf original (examples/appservice-kopf)
and the kubebuilder original (examples/appservice-kubebuilder, Go, built with the machine's Go and
cached) each run side by side with their kubeloop port (examples/appservice) on the same real
control plane, each in a namespace of its own, and make the same objects through the same story:
an AppService created, scaled, its Service deleted by hand, then itself deleted.

The CRDs the originals declare (written by hand for kopf, by controller-gen from markers for
kubebuilder) accept and default what the CRD generated from kubeloop's pydantic model does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from migration_support import (
    GO_ORIGINAL,
    KOPF_ORIGINAL,
    KUBELOOP_PORT,
    RESOURCE,
    app_manifest,
    events,
    get,
    made,
    ready,
    running,
)

from kubeloop.testing import ControlPlane, Kubectl, temporary_namespace, until, wait_for_crds

NAME = "nginx-app"
GENERATED_CRD = KUBELOOP_PORT / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"
ORIGINAL_CRDS = {
    "kopf": KOPF_ORIGINAL / "crd.yaml",
    "kubebuilder": GO_ORIGINAL / "config" / "crd" / "bases" / "app.example.com_appservices.yaml",
}


@pytest.fixture(scope="module")
def appservice_crd(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(GENERATED_CRD))
    wait_for_crds(kubectl, RESOURCE)


@pytest.mark.usefixtures("appservice_crd")
@pytest.mark.parametrize("original", ["kopf", "kubebuilder"])
async def test_the_port_makes_what_the_original_makes(
    original: str, control_plane: ControlPlane, kubectl: Kubectl, tmp_path: Path
) -> None:
    versions = {original: 30110, "kubeloop": 30111}  # version → the node port its AppService asks for
    with (
        temporary_namespace(kubectl, f"{original}-original") as theirs,
        temporary_namespace(kubectl, f"{original}-port") as ours,
    ):
        namespaces = {original: theirs, "kubeloop": ours}
        with (
            running(original, theirs, control_plane.kubeconfig, tmp_path) as their_log,
            running("kubeloop", ours, control_plane.kubeconfig, tmp_path) as our_log,
        ):
            logs = f"logs: {their_log}, {our_log}"

            def snapshot(version: str) -> dict[str, Any]:
                return made(kubectl, namespaces[version], NAME, versions[version])

            async def converged(size: int, what: str) -> None:
                for version, namespace in namespaces.items():
                    await until(
                        lambda ns=namespace: ready(get(kubectl, RESOURCE, NAME, ns), size),
                        within=120,
                        what=f"{version}: {what} ({logs})",
                    )
                assert snapshot(original) == snapshot("kubeloop")

            for version, namespace in namespaces.items():
                kubectl("apply", "-n", namespace, "-f", "-", input=app_manifest(NAME, 2, versions[version]))
            await converged(2, "2 replicas ready")
            reconciled = ("Normal", "Reconciled", "Deployment and Service in sync; 2/2 replicas ready")
            for version, namespace in namespaces.items():
                await until(
                    lambda ns=namespace: reconciled in events(kubectl, ns, NAME), what=f"{version}: Event"
                )

            for namespace in namespaces.values():
                kubectl("patch", RESOURCE, NAME, "-n", namespace, "--type=merge", "-p", '{"spec":{"size":3}}')
            await converged(3, "scaled to 3")

            uids = {v: get(kubectl, "service", NAME, ns)["metadata"]["uid"] for v, ns in namespaces.items()}
            for namespace in namespaces.values():
                kubectl("delete", "service", NAME, "-n", namespace)
            for version, namespace in namespaces.items():

                def restored(ns: str = namespace, old: str = uids[version]) -> bool:
                    service = get(kubectl, "service", NAME, ns)
                    return service is not None and service["metadata"]["uid"] != old

                await until(restored, within=60, what=f"{version}: Service restored ({logs})")
            await converged(3, "Service restored")
            assert snapshot(original) == snapshot("kubeloop")

            for namespace in namespaces.values():
                kubectl("delete", RESOURCE, NAME, "-n", namespace)
            for version, namespace in namespaces.items():
                # kube-controller-manager's garbage collector removes the children of the deleted owner.
                await until(
                    lambda ns=namespace: (
                        get(kubectl, "deployment", NAME, ns) is None
                        and get(kubectl, "service", NAME, ns) is None
                    ),
                    within=120,
                    what=f"{version}: children garbage-collected",
                )


def schema(path: Path) -> dict[str, Any]:
    """The v1 schema of the AppService CRD in ``path``: the part of a CRD that decides what the server
    accepts and stores, less descriptions, Go's int32/int64 formats (JSON has one integer type) and
    ``nullable`` (a pydantic ``int | None`` accepts an explicit null, which Go's ``*int32`` with
    ``omitempty`` does not; docs/migrating/from-kubebuilder.md says so)."""
    crd = next(d for d in yaml.safe_load_all(path.read_text()) if d)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return strip(copy.deepcopy(version["schema"]["openAPIV3Schema"]))


def strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: strip(v)
            for k, v in node.items()
            if k not in ("description", "nullable") and not (k == "format" and v in ("int32", "int64"))
        }
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


@pytest.mark.parametrize("original", sorted(ORIGINAL_CRDS))
def test_the_original_crd_validates_the_spec_as_the_generated_one(original: str) -> None:
    ours, theirs = schema(GENERATED_CRD), schema(ORIGINAL_CRDS[original])
    assert theirs["properties"]["spec"] == ours["properties"]["spec"]
    assert theirs["required"] == ours["required"] == ["spec"]
    status_fields = set(theirs["properties"]["status"]["properties"])
    assert status_fields == set(ours["properties"]["status"]["properties"])
