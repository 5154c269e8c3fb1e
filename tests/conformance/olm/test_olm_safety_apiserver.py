"""CRD upgrade safety against the real kube-apiserver: a CRD whose objects were stored at v1 and
then at v2 (so the server itself reports ``status.storedVersions: [v1, v2]``) is read back and
compared with proposed replacements; the real server's answer to each proposal is checked too.

Every test makes its own kind in this module's group (``safety-<random>.example.com``) and deletes
its CRD afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from kubeloop.client import Client, InvalidError
from kubeloop.olm._safety import crd_upgrade_violations
from kubeloop.testing import Kubectl, until, wait_for_crds

GROUP = f"safety-{uuid.uuid4().hex[:8]}.example.com"
CRDS = "customresourcedefinitions"
MANAGER = "kubeloop-olm-safety-test"
SIZE = {"type": "integer", "maximum": 10}


def crd_version(name: str, *, storage: bool, **fields: dict[str, Any]) -> dict[str, Any]:
    spec = {"type": "object", "properties": {"size": SIZE, **fields}}
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
    }


@dataclass(frozen=True)
class Kind:
    """One test's kind in ``GROUP``; ``crd(...)`` is its CRD as a bundle would ship it."""

    kind: str
    namespace: str

    @property
    def name(self) -> str:
        return f"{self.kind.lower()}s.{GROUP}"

    def crd(self, *versions: dict[str, Any]) -> dict[str, Any]:
        plural = f"{self.kind.lower()}s"
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name},
            "spec": {
                "group": GROUP,
                "names": {"plural": plural, "singular": self.kind.lower(), "kind": self.kind},
                "scope": "Namespaced",
                "versions": list(versions),
            },
        }

    def obj(self, version: str, name: str, size: int) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{version}",
            "kind": self.kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"size": size},
        }


@pytest.fixture
async def stored_twice(client: Client, kubectl: Kubectl, namespace: str) -> AsyncIterator[Kind]:
    """A kind with one object stored at v1, then (v2 the storage version) one stored at v2."""
    kind = Kind(f"Widget{uuid.uuid4().hex[:6]}", namespace)
    await client.apply(kind.crd(crd_version("v1", storage=True)), field_manager=MANAGER)
    try:
        await asyncio.to_thread(wait_for_crds, kubectl, kind.name)
        await client.create(kind.obj("v1", "stored-at-v1", 8))
        v1, v2 = crd_version("v1", storage=False), crd_version("v2", storage=True)
        await client.apply(kind.crd(v1, v2), field_manager=MANAGER)
        await asyncio.to_thread(wait_for_crds, kubectl, kind.name)  # v2 served too
        await client.create(kind.obj("v2", "stored-at-v2", 8))
        yield kind
    finally:
        await client.delete(CRDS, kind.name)


async def on_cluster(client: Client, kind: Kind) -> dict[str, Any]:
    current = await client.get(CRDS, kind.name)
    assert current["status"]["storedVersions"] == ["v1", "v2"]
    return current


async def test_dropping_a_stored_version_is_flagged_naming_it(client, stored_twice):
    current = await on_cluster(client, stored_twice)
    proposed = stored_twice.crd(crd_version("v2", storage=True))
    assert [(v.version, v.rule) for v in crd_upgrade_violations(current, proposed)] == [
        ("v1", "storedVersionRemoval")
    ]
    with pytest.raises(InvalidError, match="storedVersions"):  # the server refuses it as well
        await client.apply(proposed, field_manager=MANAGER)


async def test_adding_an_optional_field_is_safe_and_the_server_applies_it(client, stored_twice):
    current = await on_cluster(client, stored_twice)
    paused = {"paused": {"type": "boolean"}}
    proposed = stored_twice.crd(
        crd_version("v1", storage=False, **paused), crd_version("v2", storage=True, **paused)
    )
    assert crd_upgrade_violations(current, proposed) == []
    applied = await client.apply(proposed, field_manager=MANAGER)
    for version in applied["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert spec["properties"]["paused"] == {"type": "boolean"}


async def test_lowering_a_maximum_below_a_stored_value_is_flagged_though_the_server_accepts_it(
    client, stored_twice
):
    current = await on_cluster(client, stored_twice)
    lowered = {"size": {"type": "integer", "maximum": 5}}
    proposed = stored_twice.crd(
        crd_version("v1", storage=False, **lowered), crd_version("v2", storage=True, **lowered)
    )
    assert [str(v) for v in crd_upgrade_violations(current, proposed)] == [
        f"{stored_twice.name} v1 .spec.size: maximum lowered from 10 to 5",
        f"{stored_twice.name} v2 .spec.size: maximum lowered from 10 to 5",
    ]
    await client.apply(proposed, field_manager=MANAGER)  # accepted: the server does not look at objects
    stored = await client.get(
        f"{GROUP}/v2/{stored_twice.kind}", "stored-at-v1", namespace=stored_twice.namespace
    )
    assert stored["spec"]["size"] == 8

    async def same_object_rejected() -> bool:
        try:
            await client.create(stored_twice.obj("v2", "like-the-stored-one", 8), dry_run=True)
        except InvalidError:
            return True
        return False

    await until(same_object_rejected, within=30, what="an object like the stored one rejected")


async def test_reapplying_the_same_crd_has_no_violation_despite_server_defaults(client, stored_twice):
    current = await on_cluster(client, stored_twice)
    as_shipped = stored_twice.crd(crd_version("v1", storage=False), crd_version("v2", storage=True))
    assert current["spec"]["conversion"] == {"strategy": "None"}  # added by the server
    assert crd_upgrade_violations(current, as_shipped) == []
