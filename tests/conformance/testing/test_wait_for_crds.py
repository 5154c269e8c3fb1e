"""``wait_for_crds``: once it returns, kubectl writes the CRD's kind at every served version.

kube-apiserver lists a new CRD's resource in discovery a moment after the CRD is Established (its
discovery controller runs apart), most often for a CRD created again the moment its old self is gone:
read in-process at once after Established, discovery lacked the resource 7 times in 150 such rounds
(17-102 ms) at load 16-19, and 0 times in 150 right after ``wait_for_crds``. Each round here deletes
the CRD, creates it again as soon as the server lets it, and right after the wait lists both versions
of its kind through a new client (it reads discovery then; a read does not wait for a kind),
then writes them: v1 with a kubectl whose discovery cache is empty (it reads discovery as the server
lists it then), v2 with kubectl's usual cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubeloop.client import AlreadyExistsError, Client, NotFoundError
from kubeloop.testing import Kubectl, KubectlError, wait_for_crds

CRDS = "apiextensions.k8s.io/v1/CustomResourceDefinition"


def probe_crd(group: str) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"probes.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "probes", "singular": "probe", "kind": "Probe"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": schema},
                {"name": "v2", "served": True, "storage": False, "schema": schema},
            ],
        },
    }


def probe(group: str, version: str, name: str) -> str:
    return json.dumps({"apiVersion": f"{group}/{version}", "kind": "Probe", "metadata": {"name": name}})


async def create_again(client: Client, crd: dict[str, Any]) -> None:
    """Delete ``crd`` if it is there and create it again as soon as the old one is gone (409 until then)."""
    with contextlib.suppress(NotFoundError):
        await client.delete(CRDS, crd["metadata"]["name"])
    while True:
        try:
            await client.create(crd)
            return
        except AlreadyExistsError:  # the old one is still terminating
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("rounds", [4, pytest.param(40, marks=pytest.mark.long)], ids=["short", "long"])
async def test_a_crd_created_again_takes_writes_of_its_kind_right_after_wait_for_crds(
    client: Client, kubectl: Kubectl, namespace: str, rounds: int, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.crds.kubeloop.dev"
    name = f"probes.{group}"

    def write(i: int) -> None:
        empty_cache = f"--cache-dir={tmp_path / str(i)}"
        kubectl("create", "-n", namespace, empty_cache, "-f", "-", input=probe(group, "v1", f"v1-{i}"))
        kubectl("create", "-n", namespace, "-f", "-", input=probe(group, "v2", f"v2-{i}"))

    try:
        for i in range(rounds):
            await create_again(client, probe_crd(group))
            (found,) = await asyncio.to_thread(wait_for_crds, kubectl, name)
            assert found["metadata"]["name"] == name
            async with await Client.load(kubectl.kubeconfig) as fresh:  # reads discovery on first use
                for version in ("v1", "v2"):  # a read does not wait for a kind: discovery lists it now
                    await fresh.list(f"{group}/{version}/Probe", namespace=namespace)
            await asyncio.to_thread(write, i)
        listed = kubectl.json("get", name, "-n", namespace)["items"]
        assert sorted(o["metadata"]["name"] for o in listed) == [f"v1-{rounds - 1}", f"v2-{rounds - 1}"]
    finally:
        kubectl("delete", "crd", name, "--ignore-not-found", "--wait=false")


def test_wait_for_crds_raises_the_kubectl_error_for_a_name_that_is_no_crd(kubectl: Kubectl) -> None:
    with pytest.raises(KubectlError, match="not found"):
        wait_for_crds(kubectl, f"nothings.g{uuid.uuid4().hex[:8]}.crds.kubeloop.dev", timeout=5)
