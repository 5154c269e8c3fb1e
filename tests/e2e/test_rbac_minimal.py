"""The generated RBAC is sufficient and minimal for the AppService operator.

Sufficient: the operator's core path — apply an AppService, get its Deployment and Service and
``Ready=True`` with an Event recorded; delete the Deployment and see it restored (the repeated Event
counted in its series); a stale child this operator applied before is pruned — passes when the
operator runs as a user bound to nothing but the generated ClusterRole (and the generated
leader-election Role, leader election on).

Minimal: for every single permission (one verb on one resource) of those roles, the same path run
under the roles without it fails within a bounded time. ``<plural>/finalizers: update`` is needed
only where the ``OwnerReferencesPermissionEnforcement`` admission plugin runs (not in a default
kube-apiserver): a second control plane with the plugin on shows it.

The proofs run on the real control plane and on the embedded API server (``cluster``: ``real`` or
``embedded``), whose RBAC must decide as the real one's: make test runs the first case of the
one-permission-less proof on the embedded server (the others wait out a timeout), make test-long all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from appservice_operator.api.app_v1 import AppService
from appservice_operator.operator import operator

import kubeloop as kl
from kubeloop import crd
from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ForbiddenError, NotFoundError
from kubeloop.manager import LeaderElectionLost, LeaderElectionOptions, ManagerOptions
from kubeloop.scaffold import leader_election_role, operator_rules
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, run_operator, until, wait_for_crds
from rbac_rules import Permission, Rule, permissions, without

EXAMPLE = Path(__file__).parents[2] / "examples" / "appservice"
RESOURCE = "appservices.app.example.com"
# Seconds each step of the path may take before the path counts as failed: the passing path takes
# under 2 s a step (its whole path 8.5 s, 6 of them a wait for the lease, at load 20 on 2 cores), and
# 11 of the 18 one-permission-less cases wait one step out (12 s made them 44 s longer in all).
STEP = 8.0
RESTORE_STEP = 24.0  # a new Deployment available again: kube-controller-manager and kwok lag under load
POLL = 0.1  # seconds between two reads of a step's outcome
LEASE = LeaderElectionOptions(
    lease_duration=6.0, renew_deadline=3.0, retry_period=0.5
)  # short: renewals matter

GENERATED = operator_rules(operator)
LEADER = leader_election_role("leader-election-role")["rules"]
CASES = [("role", p) for p in permissions(GENERATED)] + [("leader-election", p) for p in permissions(LEADER)]


def case_id(case: tuple[str, Permission]) -> str:
    role, (group, resource, verb) = case
    return f"{role}:{group or 'core'}/{resource}:{verb}"


def test_the_roles_under_test_are_the_generated_files() -> None:
    role = yaml.safe_load((EXAMPLE / "config" / "rbac" / "role.yaml").read_text())
    leader = yaml.safe_load((EXAMPLE / "config" / "rbac" / "leader_election_role.yaml").read_text())
    assert role["rules"] == GENERATED
    assert leader["rules"] == LEADER


Cluster = ControlPlane | EmbeddedServer
SHORT_FORM = 1  # one-permission-less cases on the embedded server in make test (most wait out STEP)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """The server the proofs run on: the real control plane, or the embedded one (``indirect``)."""
    which = getattr(request, "param", "real")
    server: Cluster = request.getfixturevalue("control_plane" if which == "real" else "embedded_api_server")
    return server


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster) -> Kubectl:
    """kubectl as the admin of ``cluster`` (the ``namespace`` fixture uses it too)."""
    return Kubectl(cluster.kubeconfig)


@pytest.fixture
async def namespace(client: Client, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace for this test, deleted afterwards (the plugin's, made through the admin's client
    instead of two kubectl processes per case)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    with contextlib.suppress(NotFoundError):
        await client.delete("v1/Namespace", name)


BOTH = pytest.mark.parametrize("cluster", ["real", "embedded"], indirect=True)


@pytest.fixture(scope="module")
def appservice_crd(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"))
    wait_for_crds(kubectl, RESOURCE)


RBAC = "rbac.authorization.k8s.io"


class Identity:
    """A user with a client certificate, bound to the given ClusterRole rules and leader Role rules.

    The roles and bindings are written through the admin's client (``admin``), not kubectl: a case
    spent seconds of a loaded machine starting kubectl for them."""

    def __init__(self, plane: Cluster, admin: Client, kubectl: Kubectl, namespace: str) -> None:
        self.plane = plane
        self.admin = admin
        self.kubectl = kubectl
        self.namespace = namespace
        self.user = f"operator-{uuid.uuid4().hex[:8]}"

    async def grant(self, cluster_rules: list[Rule], leader_rules: list[Rule]) -> Path:
        user, ns = self.user, self.namespace
        subjects = [{"kind": "User", "apiGroup": RBAC, "name": user}]
        for kind, namespace, rules in (("ClusterRole", None, cluster_rules), ("Role", ns, leader_rules)):
            meta = {"name": user, **({"namespace": namespace} if namespace else {})}
            role = {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta, "rules": rules}
            await self.admin.create(role)
            binding = {
                "apiVersion": f"{RBAC}/v1",
                "kind": f"{kind}Binding",
                "metadata": meta,
                "subjects": subjects,
                "roleRef": {"apiGroup": RBAC, "kind": kind, "name": user},
            }
            await self.admin.create(binding)
        return self.plane.user_kubeconfig(user)

    def can(self, permission: Permission) -> bool:
        group, resource, verb = permission
        name, _, sub = resource.partition("/")
        target = f"{name}.{group}" if group else name
        args = ["auth", "can-i", verb, target, f"--as={self.user}", "-n", self.namespace]
        if sub:
            args.append(f"--subresource={sub}")
        return self.kubectl(*args, check=False).stdout.strip() == "yes"

    async def revoke(self) -> None:
        for kind in ("ClusterRoleBinding", "ClusterRole"):
            with contextlib.suppress(NotFoundError):
                await self.admin.delete(f"{RBAC}/v1/{kind}", self.user)


@pytest.fixture
async def identity(
    cluster: Cluster, client: Client, kubectl: Kubectl, namespace: str
) -> AsyncIterator[Identity]:
    who = Identity(cluster, client, kubectl, namespace)
    yield who
    await who.revoke()


def app_manifest(namespace: str, name: str = "web") -> str:
    return json.dumps(
        {
            "apiVersion": "app.example.com/v1",
            "kind": "AppService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": 1, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 80}]},
        }
    )


# The cluster is read and written through the admin's client, not kubectl: the steps poll, and a
# kubectl process per poll kept a core busy while a case waited out a step.
APP = "app.example.com/v1/AppService"
DEPLOYMENT = "apps/v1/Deployment"
SERVICE = "v1/Service"


async def get(admin: Client, ref: str, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await admin.get(ref, name, namespace=namespace)
    except NotFoundError:
        return None
    return found


async def ready(admin: Client, namespace: str, name: str = "web") -> bool:
    app = await get(admin, APP, name, namespace) or {}
    for condition in (app.get("status") or {}).get("conditions") or ():
        if condition["type"] == "Ready":
            if condition["status"] == "False" and condition.get("reason") == "Forbidden":
                raise ForbiddenError({"reason": "Forbidden", "code": 403, "message": condition["message"]})
            return bool(condition["status"] == "True")
    return False


async def reconciled_events(admin: Client, namespace: str) -> list[dict[str, Any]]:
    events = (await admin.list("events.k8s.io/v1/Event", namespace=namespace))["items"]
    return [
        e
        for e in events
        if e.get("reason") == "Reconciled" and (e.get("regarding") or {}).get("kind") == "AppService"
    ]


def stale_children(namespace: str, app_uid: str) -> list[dict[str, Any]]:
    """A Service and a Deployment owned by the app, as if an older version of the operator applied them."""
    owner = {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "name": "web",
        "uid": app_uid,
        "controller": True,
    }
    meta = {"name": "web-stale", "namespace": namespace, "ownerReferences": [owner]}
    labels = {"app": "web-stale"}
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"ports": [{"port": 81}]}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                },
            },
        },
    ]


async def core_path(admin: Client, namespace: str, kubeconfig: Path) -> None:
    """The AppService operator's end-to-end path, run as the identity of ``kubeconfig``."""
    started = time.monotonic()
    leading = ManagerOptions(leader_election=replace(LEASE, lease_namespace=namespace))
    async with run_operator(operator, kubeconfig, leading, ready_timeout=STEP):
        await admin.create(json.loads(app_manifest(namespace)))
        await until(lambda: ready(admin, namespace), within=STEP, what="Ready=True", interval=POLL)
        deployment = await get(admin, DEPLOYMENT, "web", namespace)
        assert deployment is not None
        assert await get(admin, SERVICE, "web", namespace) is not None

        async def recorded() -> bool:
            return bool(await reconciled_events(admin, namespace))

        await until(recorded, within=STEP, what="a Reconciled Event", interval=POLL)

        # Self-healing: a deleted child comes back; the repeated Event is counted in its series.
        await admin.delete(DEPLOYMENT, "web", namespace=namespace)

        async def restored(ref: str, old: dict[str, Any]) -> bool:
            again = await get(admin, ref, "web", namespace)
            return again is not None and again["metadata"]["uid"] != old["metadata"]["uid"]

        await until(
            lambda: restored(DEPLOYMENT, deployment), within=STEP, what="Deployment restored", interval=POLL
        )
        # the new Deployment must become available first (kube-controller-manager and kwok, which lag
        # on a loaded 2-core machine): one failed full run took over 12 s here
        await until(
            lambda: ready(admin, namespace),
            within=RESTORE_STEP,
            what="Ready=True after restore",
            interval=POLL,
        )

        async def counted() -> bool:
            events = await reconciled_events(admin, namespace)
            return any((e.get("series") or {}).get("count", 1) >= 2 for e in events)

        await until(counted, within=STEP, what="a repeated Event counted in its series", interval=POLL)

        # Pruning: children this operator applied before, and does not apply now, are deleted.
        app = await get(admin, APP, "web", namespace)
        assert app is not None
        for child in stale_children(namespace, app["metadata"]["uid"]):
            await admin.apply(child, field_manager=operator.name)

        async def pruned(ref: str) -> bool:
            return await get(admin, ref, "web-stale", namespace) is None

        for ref in (SERVICE, DEPLOYMENT):
            await until(lambda ref=ref: pruned(ref), within=STEP, what=f"stale {ref} pruned", interval=POLL)

        # Past the lease's renew deadline the operator still leads, and heals.
        await asyncio.sleep(max(0.0, started + 2 * LEASE.renew_deadline - time.monotonic()))
        service = await get(admin, SERVICE, "web", namespace)
        assert service is not None
        await admin.delete(SERVICE, "web", namespace=namespace)
        await until(
            lambda: restored(SERVICE, service),
            within=STEP,
            what="Service restored, still leading",
            interval=POLL,
        )


@BOTH
async def test_the_path_passes_with_only_the_generated_roles(
    appservice_crd: None, identity: Identity, client: Client, namespace: str
) -> None:
    kubeconfig = await identity.grant(GENERATED, LEADER)
    assert not identity.can(("", "secrets", "list"))
    assert not identity.can(("", "events", "create"))  # core-group Events are not used
    await core_path(client, namespace, kubeconfig)


# `appservices/finalizers: update` matters only where OwnerReferencesPermissionEnforcement runs (not in
# a default kube-apiserver); the test at the end of this module shows it is needed there.
PATH_CASES = [c for c in CASES if not c[1][1].endswith("/finalizers")]


@pytest.mark.parametrize(
    ("cluster", "case"),
    [pytest.param("real", c, id=f"real-{case_id(c)}") for c in PATH_CASES]
    + [
        pytest.param(
            "embedded", c, id=f"embedded-{case_id(c)}", marks=[pytest.mark.long] if i >= SHORT_FORM else []
        )
        for i, c in enumerate(PATH_CASES)
    ],
    indirect=["cluster"],
)
async def test_the_path_fails_without_any_single_permission(
    appservice_crd: None, identity: Identity, client: Client, namespace: str, case: tuple[str, Permission]
) -> None:
    role, removed = case
    cluster_rules = without(GENERATED, removed) if role == "role" else GENERATED
    leader_rules = without(LEADER, removed) if role == "leader-election" else LEADER
    kubeconfig = await identity.grant(cluster_rules, leader_rules)
    assert not identity.can(removed)
    # The failures the path can have: a step that does not happen, caches that never sync, a refusal
    # surfacing in the Ready condition, the operator losing its lease.
    with pytest.raises((AssertionError, TimeoutError, ForbiddenError, LeaderElectionLost)) as failed:
        await core_path(client, namespace, kubeconfig)
    print(f"without {case_id(case)}: {type(failed.value).__name__}: {failed.value}")


# -- blockOwnerDeletion under OwnerReferencesPermissionEnforcement -----------------------------------


ENFORCING = ControlPlaneOptions(
    apiserver_args=("--enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
)


@pytest.fixture(scope="module")
def enforcing_plane() -> Iterator[ControlPlane]:
    """A control plane whose kube-apiserver runs the OwnerReferencesPermissionEnforcement plugin."""
    with ControlPlane(ENFORCING) as plane:
        kubectl = Kubectl(plane.kubeconfig)
        kubectl("apply", "-f", "-", input=crd.to_yaml([AppService]))
        wait_for_crds(kubectl, RESOURCE)
        yield plane


@pytest.mark.parametrize("with_finalizers", [True, False], ids=["generated-role", "without-finalizers"])
async def test_owner_finalizers_update_is_needed_where_owner_references_are_enforced(
    enforcing_plane: ControlPlane, with_finalizers: bool
) -> None:
    kubectl = Kubectl(enforcing_plane.kubeconfig)
    namespace = f"enforced-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    async with await Client.load(enforcing_plane.kubeconfig) as admin:
        who = Identity(enforcing_plane, admin, kubectl, namespace)
        removed: Permission = ("app.example.com", "appservices/finalizers", "update")
        assert removed in permissions(GENERATED)
        kubeconfig = await who.grant(GENERATED if with_finalizers else without(GENERATED, removed), LEADER)
        async with run_operator(operator, kubeconfig, ready_timeout=STEP):
            await admin.create(json.loads(app_manifest(namespace)))

            async def children() -> bool:
                found = [await get(admin, ref, "web", namespace) for ref in (DEPLOYMENT, SERVICE)]
                return all(found)

            refusals: list[str] = []

            async def forbidden() -> bool:
                try:
                    await ready(admin, namespace)
                except ForbiddenError as exc:
                    refusals.append(str(exc))
                return bool(refusals)

            if with_finalizers:
                await until(children, within=STEP, what="Deployment and Service created", interval=POLL)
            else:
                await until(forbidden, within=STEP, what="Ready=False, Forbidden", interval=POLL)
                assert "cannot set blockOwnerDeletion" in refusals[0], refusals[0]
                assert await get(admin, DEPLOYMENT, "web", namespace) is None


async def test_extra_rules_naming_objects_or_urls_stay_that_narrow(identity: Identity) -> None:
    """An ``Operator(rbac=...)`` rule with ``resourceNames`` grants those objects only, and one with
    ``nonResourceURLs`` is kept (the API server's own authorizer says so, through kubectl auth can-i)."""
    extras = [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]
    narrow = kl.Operator("narrow", rbac=extras)

    @narrow.reconcile(AppService)
    async def reconcile(app: AppService, ctx: kl.Context) -> None:
        return None

    await identity.grant(operator_rules(narrow), [])

    def can(*args: str) -> bool:
        found = identity.kubectl(
            "auth", "can-i", *args, f"--as={identity.user}", "-n", identity.namespace, check=False
        )
        return found.stdout.strip() == "yes"

    assert can("get", "configmaps/settings")
    assert not can("get", "configmaps/other"), "resourceNames widened to every ConfigMap"
    assert not can("get", "configmaps")
    assert can("get", "/metrics"), "the nonResourceURLs rule was dropped"
    assert not can("get", "/logs")
