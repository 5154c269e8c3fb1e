"""The lifecycle operator's generated ClusterRole is sufficient and minimal, proven as the operator
RBAC is (tests/e2e/test_rbac_minimal.py).

Sufficient: the lifecycle operator's path — a pushed catalog Serving, a ClusterExtension installed (as
its service account) with an Event, an installed Deployment deleted twice and restored each time (the
repeated Event counted in its series), the extension deleted and its package uninstalled — passes
when the operator runs as a user bound to nothing but ``operator_rules(lifecycle_operator())``.

Minimal: for every single permission of that role (one verb on one resource), the same path run
without it fails within a bounded time — except ``watch`` on ConfigMaps and ClusterCatalogs: without
it the informers fall back to relisting (backing off to every 30 s), so a catalog is still served, only
late; the catalog here exists before the operator starts, and no timing of a later change would tell
the two apart reliably. They stay in the role because changes should arrive when they happen.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from olm_widgets import SA, Package, absent, admin_installer, get

from kubeloop.client import Client
from kubeloop.errors import KubeloopError
from kubeloop.olm import apply_crds, lifecycle_operator, push_catalog, render_catalog
from kubeloop.scaffold import operator_rules
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster
from rbac_rules import Permission, Rule, permissions, without

STEP = 15.0  # seconds each step of the path may take before the path counts as failed
GENERATED = operator_rules(lifecycle_operator())
EXTENSIONS = "clusterextensions.olm.kubeloop.dev"


def case_id(permission: Permission) -> str:
    group, resource, verb = permission
    return f"{group or 'core'}/{resource}:{verb}"


async def events(kubectl: Kubectl, extension: str, reason: str) -> list[dict[str, Any]]:
    found = await get(kubectl, "events.events.k8s.io", "-n", "default")
    return [
        e
        for e in found["items"]
        if e.get("regarding", {}).get("name") == extension and e.get("reason") == reason
    ]


async def lifecycle_path(
    cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str, rules: list[Rule]
) -> None:
    """The path above, the lifecycle operator running as a user holding only ``rules``."""
    suffix = uuid.uuid4().hex[:8]
    user, package = f"olm-{suffix}", Package(f"widgets-{suffix}", f"g{suffix}.olm.kubeloop.dev")
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": user}}
    await asyncio.to_thread(kubectl, "apply", "-f", "-", input=json.dumps({**role, "rules": rules}))
    await asyncio.to_thread(
        kubectl, "create", "clusterrolebinding", user, f"--clusterrole={user}", f"--user={user}"
    )
    installer = await admin_installer(kubectl, namespace)
    bundle = package.in_channel("1.0.0")
    await push_catalog(client, render_catalog([bundle]), f"catalog-{suffix}", namespace)
    extension = package.extension(namespace)
    try:
        async with run_operator(lifecycle_operator(), cluster.user_kubeconfig(user), ready_timeout=STEP):
            await asyncio.to_thread(kubectl, "create", "-f", "-", input=json.dumps(extension))

            async def installed() -> bool:
                if not await absent(kubectl, "deployment", SA, "-n", namespace):
                    return True
                await _not_refused_impersonation(kubectl, package.name)
                return False

            async def reported() -> bool:
                status = (await get(kubectl, EXTENSIONS, package.name)).get("status") or {}
                return (status.get("install") or {}).get("bundle", {}).get("version") == "1.0.0"

            await until(installed, within=2 * STEP, what="the package installed")
            await until(reported, within=STEP, what="the install reported in the status")
            await until(lambda: events(kubectl, package.name, "Installed"), within=STEP, what="an Event")
            for _ in range(2):
                await asyncio.to_thread(kubectl, "delete", "deployment", SA, "-n", namespace)
                await until(installed, within=STEP, what="the Deployment restored")

            async def counted() -> bool:
                restored = await events(kubectl, package.name, "Restored")
                return any((e.get("series") or {}).get("count", 1) >= 2 for e in restored)

            try:
                await until(counted, within=STEP, what="the repeated Event counted in its series")
            except AssertionError as exc:  # flaky once under load: say which Events there were
                restored = await events(kubectl, package.name, "Restored")
                seen = [(e.get("note"), e.get("series")) for e in restored]
                raise AssertionError(f"{exc}; the Restored Events: {seen}") from None
            await asyncio.to_thread(kubectl, "delete", EXTENSIONS, package.name, "--wait=false")
            await until(lambda: absent(kubectl, EXTENSIONS, package.name), within=STEP, what="uninstalled")
            assert await absent(kubectl, "deployment", SA, "-n", namespace)
    finally:
        await _force_delete(kubectl, package.name)
        for command in (
            ("delete", "clusterrolebinding", user, installer, "--ignore-not-found"),
            ("delete", "clusterrole", user, "--ignore-not-found"),
            ("delete", "clustercatalog", f"catalog-{suffix}", "--ignore-not-found"),
            ("delete", "crd", package.crd, "--ignore-not-found", "--wait=false"),
            ("delete", "clusterrole,clusterrolebinding", "-l", f"olm.kubeloop.dev/package={package.name}"),
        ):
            await asyncio.to_thread(kubectl, *command)


async def _not_refused_impersonation(kubectl: Kubectl, extension: str) -> None:
    """AssertionError as soon as the extension's status says the operator may not act as its service
    account: nothing is installed then, however long one waits (without ``impersonate`` the path
    waited out its 30 s step)."""
    status = (await get(kubectl, EXTENSIONS, extension)).get("status") or {}
    for condition in status.get("conditions") or ():
        message = condition.get("message") or ""
        if condition.get("reason") == "Retrying" and "cannot impersonate" in message:
            raise AssertionError(f"the install refused: {message}")


async def _force_delete(kubectl: Kubectl, extension: str) -> None:
    """Drop a ClusterExtension the crippled operator could not finalize."""
    if not await absent(kubectl, EXTENSIONS, extension):
        patch = json.dumps({"metadata": {"finalizers": None}})
        await asyncio.to_thread(kubectl, "patch", EXTENSIONS, extension, "--type=merge", "-p", patch)
        await asyncio.to_thread(kubectl, "delete", EXTENSIONS, extension, "--ignore-not-found")


@pytest.fixture
async def crds(cluster: Cluster) -> None:
    async with await Client.load(cluster.kubeconfig) as admin:
        await apply_crds(admin)


async def test_the_path_passes_with_only_the_generated_role(
    crds: None, cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str
) -> None:
    await lifecycle_path(cluster, kubectl, client, namespace, GENERATED)


LATENCY_ONLY = {("", "configmaps", "watch"), ("olm.kubeloop.dev", "clustercatalogs", "watch")}


NEEDED = [p for p in permissions(GENERATED) if p not in LATENCY_ONLY]


# Every case runs in make test, as the operator's own RBAC proof does (about 4 min in all: a case
# without a write waits out its step).
@pytest.mark.parametrize("removed", NEEDED, ids=case_id)
async def test_the_path_fails_without_any_one_permission(
    crds: None,
    cluster: Cluster,
    kubectl: Kubectl,
    client: Client,
    namespace: str,
    removed: Permission,
) -> None:
    with pytest.raises((TimeoutError, AssertionError, KubeloopError)) as failed:
        await lifecycle_path(cluster, kubectl, client, namespace, without(GENERATED, removed))
    print(f"without {case_id(removed)}: {type(failed.value).__name__}: {failed.value}")
