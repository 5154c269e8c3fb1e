"""The lifecycle operator against the real kube-apiserver: catalogs pushed into ConfigMaps are served by
ClusterCatalogs, and ClusterExtensions install, upgrade (along the graph or self-certified, within a
version range, never across an unsafe CRD change) and uninstall packages, reporting it in conditions
and Events.

The operator runs in-process for the whole module, as a user bound to nothing but the ClusterRole
generated from it (``operator_rules``): every install below shows that role suffices, as the operator
does nothing but act as the extensions' service accounts. Every test pushes its own package (the
bundles of ``test_olm_install``: a CSV with RBAC and a Deployment, and a CRD in the package's own
group) to a ClusterCatalog of its own, and installs as a service account ``installer`` of its
namespace (cluster-admin, unless the test grants less); the ``case`` fixture deletes the
ClusterExtensions (while the operator runs, so their finalizers complete), the ClusterCatalog, the
CRD and the cluster roles afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from live_webhook import serve_webhooks
from olm_widgets import INSTALLER, SA, V1_CRD, V2_CRD, Package, absent, admin_installer, crd_version, get

from kubeloop.client import ApiError, Client
from kubeloop.olm import (
    Bundle,
    ClusterCatalog,
    ClusterExtension,
    apply_crds,
    lifecycle_operator,
    load_catalog_from_configmaps,
    push_catalog,
    render_catalog,
)
from kubeloop.olm._bundle import dump_documents
from kubeloop.olm._catalog import package_documents
from kubeloop.olm._push import CATALOG_LABEL
from kubeloop.scaffold import operator_rules
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster
from kubeloop.testing.process import free_port

CATALOGS = ClusterCatalog.resource_info().crd_name
EXTENSIONS = ClusterExtension.resource_info().crd_name
# 1.2.0 drops the field `size` of the stored version v1: an unsafe CRD change.
UNSAFE_CRD = [crd_version("v1", storage=True, fields=("color",))]
CERT_LIFETIME = dt.timedelta(seconds=40)


def generated_role(name: str) -> dict[str, Any]:
    rules = operator_rules(lifecycle_operator())
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


@pytest.fixture(scope="module")
async def lifecycle(cluster: Cluster, kubectl: Kubectl) -> AsyncIterator[None]:
    """The CRDs installed and the lifecycle operator running as a user bound only to its generated
    ClusterRole, with short-lived (40 s) serving certificates; the CRDs deleted afterwards."""
    user = f"kubeloop-olm-{uuid.uuid4().hex[:8]}"
    async with await Client.load(cluster.kubeconfig) as client:
        await apply_crds(client)
    await asyncio.to_thread(kubectl, "apply", "-f", "-", input=json.dumps(generated_role(user)))
    await asyncio.to_thread(
        kubectl, "create", "clusterrolebinding", user, f"--clusterrole={user}", f"--user={user}"
    )
    operator = lifecycle_operator(certificate_lifetime=CERT_LIFETIME)
    async with run_operator(operator, cluster.user_kubeconfig(user)):
        yield
    await asyncio.to_thread(kubectl, "delete", "crd", CATALOGS, EXTENSIONS, "--ignore-not-found")
    await asyncio.to_thread(kubectl, "delete", "clusterrolebinding,clusterrole", user, "--ignore-not-found")


@dataclass
class Case:
    """One test's package, catalog and namespace, and the ClusterExtensions it made."""

    client: Client
    kubectl: Kubectl
    namespace: str
    package: Package
    catalog: str
    extensions: list[str] = field(default_factory=list)
    cleanup: list[tuple[str, ...]] = field(default_factory=list)
    """kubectl commands run once the extensions are gone (their uninstall may need what these delete)."""

    def bundle(
        self,
        version: str,
        replaces: str | None = None,
        crd: list[dict[str, Any]] = V1_CRD,
        webhooks: bool = False,
        package: Package | None = None,
    ) -> Bundle:
        """The package (default: the case's) at ``version`` in channel stable, upgrading from
        ``replaces`` (a version)."""
        return (package or self.package).in_channel(version, replaces, crd_versions=crd, webhooks=webhooks)

    async def push(
        self, *bundles: Bundle, deprecations: dict[tuple[str, str, str], str] | None = None
    ) -> str:
        """Push a catalog of ``bundles`` (with ``deprecations``); returns its digest once the
        ClusterCatalog serves it."""
        catalog = dataclasses.replace(render_catalog(bundles), deprecations=deprecations or {})
        configmaps = await push_catalog(self.client, catalog, self.catalog, self.namespace)
        names = sorted(cm["metadata"]["name"] for cm in configmaps)

        async def serving() -> bool:
            status = (await get(self.kubectl, CATALOGS, self.catalog)).get("status") or {}
            resolved = (status.get("resolvedSource") or {}).get("configMaps") or {}
            return condition(status, "Serving")["status"] == "True" and resolved.get("names") == names

        await until(serving, within=30, what=f"ClusterCatalog {self.catalog} serving {names}")
        status = (await get(self.kubectl, CATALOGS, self.catalog))["status"]
        return str(status["resolvedSource"]["configMaps"]["digest"])

    async def extension(self, package: str | None = None, **spec: Any) -> str:
        """Create a ClusterExtension for ``package`` (default: the case's) from the case's catalog."""
        name = f"{self.package.name}-{len(self.extensions)}"
        spec = {
            "packageName": package or self.package.name,
            "namespace": self.namespace,
            "serviceAccount": {"name": INSTALLER},
            "catalog": self.catalog,
            **spec,
        }
        body = {"apiVersion": "olm.kubeloop.dev/v1", "kind": "ClusterExtension", "metadata": {"name": name}}
        await asyncio.to_thread(self.kubectl, "create", "-f", "-", input=json.dumps({**body, "spec": spec}))
        self.extensions.append(name)
        return name

    async def status(self, extension: str) -> dict[str, Any]:
        return dict((await get(self.kubectl, EXTENSIONS, extension)).get("status") or {})

    async def installed(self, extension: str, version: str) -> dict[str, Any]:
        """Wait until ``extension`` reports ``version`` installed and Progressing Succeeded; the status
        read that said so (a later reconcile may rewrite its conditions: read again, it may not)."""
        seen: dict[str, Any] = {}

        async def done() -> bool:
            seen.clear()
            seen.update(status := await self.status(extension))
            bundle = (status.get("install") or {}).get("bundle") or {}
            return (
                bundle.get("version") == version
                and condition(status, "Installed")["status"] == "True"
                and condition(status, "Progressing")["reason"] == "Succeeded"
            )

        await until(done, within=60, what=f"{extension} at {version}")
        return seen

    async def image(self) -> str:
        dep = await get(self.kubectl, "deployment", SA, "-n", self.namespace)
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])

    async def events(self, extension: str, reason: str) -> list[str]:
        """The notes of the Events about ``extension`` with ``reason``, oldest first."""
        found = await get(self.kubectl, "events.events.k8s.io", "-n", "default")
        ours = [
            e
            for e in found["items"]
            if e.get("regarding", {}).get("name") == extension and e.get("reason") == reason
        ]
        return [e["note"] for e in sorted(ours, key=lambda e: e["eventTime"])]


def condition(status: dict[str, Any], type: str) -> dict[str, Any]:
    return next(
        (c for c in status.get("conditions") or () if c["type"] == type), {"status": None, "reason": None}
    )


@pytest.fixture
async def case(lifecycle: None, client: Client, kubectl: Kubectl, namespace: str) -> AsyncIterator[Case]:
    suffix = uuid.uuid4().hex[:8]
    package = Package(name=f"widgets-{suffix}", group=f"g{suffix}.olm.kubeloop.dev")
    made = Case(client, kubectl, namespace, package, catalog=f"catalog-{suffix}")
    admin = await admin_installer(kubectl, namespace)
    yield made
    for name in made.extensions:
        await asyncio.to_thread(kubectl, "delete", EXTENSIONS, name, "--ignore-not-found", "--wait=false")
    for name in made.extensions:
        await until(lambda n=name: absent(kubectl, EXTENSIONS, n), within=60, what=f"{name} deleted")
    await asyncio.to_thread(kubectl, "delete", "clusterrolebinding", admin, "--ignore-not-found")
    for command in made.cleanup:
        await asyncio.to_thread(kubectl, *command)
    await asyncio.to_thread(kubectl, "delete", CATALOGS, made.catalog, "--ignore-not-found")
    await asyncio.to_thread(kubectl, "delete", "crd", package.crd, "--ignore-not-found", "--wait=false")
    selector = f"olm.kubeloop.dev/package={package.name}"
    kinds = "clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration"
    kubectl("delete", kinds, "-l", selector, "--ignore-not-found", "--wait=false")


# -- catalogs ----------------------------------------------------------------------------------------


async def test_a_pushed_catalog_serves_its_packages(case: Case) -> None:
    digest = await case.push(case.bundle("1.0.0"))

    got = await get(case.kubectl, CATALOGS, case.catalog)
    status = got["status"]
    assert status["packages"] == [case.package.name]
    assert digest.startswith("sha256:")
    assert status["lastLoaded"].endswith("Z")
    assert condition(status, "Serving")["reason"] == "Available"
    assert got["spec"]["source"]["configMaps"]["namespace"] == case.namespace
    loaded = await load_catalog_from_configmaps(
        case.client, case.namespace, f"{CATALOG_LABEL}={case.catalog}"
    )
    assert list(loaded.packages) == [case.package.name]

    assert await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0")) != digest


async def test_an_invalid_catalog_is_not_serving_until_mended(case: Case) -> None:
    await case.push(case.bundle("1.0.0"))
    broken = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{case.catalog}-broken", "labels": {CATALOG_LABEL: case.catalog}},
        "data": {"orphan.yaml": "schema: olm.channel\nname: stable\npackage: nope\nentries: [{name: x}]\n"},
    }
    await asyncio.to_thread(case.kubectl, "apply", "-n", case.namespace, "-f", "-", input=json.dumps(broken))

    async def unavailable() -> bool:
        status = (await get(case.kubectl, CATALOGS, case.catalog))["status"]
        serving = condition(status, "Serving")
        return serving["status"] == "False" and "channel stable of unknown package nope" in serving["message"]

    await until(unavailable, within=30, what="Serving=False naming the problem")
    status = (await get(case.kubectl, CATALOGS, case.catalog))["status"]
    assert f"{case.namespace}/{case.catalog}-broken/orphan.yaml" in condition(status, "Serving")["message"]
    assert "packages" not in status
    notes = await case.events(case.catalog, "Unavailable")
    assert any("unknown package nope" in n for n in notes)

    await asyncio.to_thread(
        case.kubectl, "delete", "configmap", f"{case.catalog}-broken", "-n", case.namespace
    )
    await until(lambda: _serving(case), within=30, what="Serving again once mended")


async def _serving(case: Case) -> bool:
    status = (await get(case.kubectl, CATALOGS, case.catalog))["status"]
    return condition(status, "Serving")["status"] == "True"


# -- extensions --------------------------------------------------------------------------------------


async def test_an_extension_installs_and_follows_catalog_upgrades_until_an_unsafe_crd_change(
    case: Case,
) -> None:
    await case.push(case.bundle("1.0.0"))
    name = await case.extension(catalog=None)  # any Serving catalog with the package

    status = await case.installed(name, "1.0.0")
    assert status["install"]["bundle"]["name"] == f"{case.package.name}.v1.0.0"
    assert status["observedGeneration"] == 1
    assert condition(status, "Installed")["reason"] == "Succeeded"
    assert await case.image() == "registry.example/widgets:1.0.0"

    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"))
    await case.installed(name, "1.1.0")
    assert await case.image() == "registry.example/widgets:1.1.0"

    await case.push(
        case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"), case.bundle("1.2.0", "1.1.0", UNSAFE_CRD)
    )

    async def blocked() -> bool:
        return condition(await case.status(name), "Progressing")["reason"] == "Blocked"

    await until(blocked, within=60, what="Progressing=Blocked")
    status = await case.status(name)
    progressing = condition(status, "Progressing")
    assert progressing["status"] == "False"
    assert case.package.crd in progressing["message"]
    assert ".spec.size" in progressing["message"]
    assert condition(status, "Installed")["status"] == "True"
    assert status["install"]["bundle"]["version"] == "1.1.0"
    assert await case.image() == "registry.example/widgets:1.1.0"
    await until(lambda: case.events(name, "Blocked"), within=30, what="a Warning Event Blocked")


async def test_a_version_range_pins_the_extension_until_it_is_relaxed(case: Case) -> None:
    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"))
    name = await case.extension(version="<1.1.0")
    await case.installed(name, "1.0.0")

    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"), case.bundle("1.2.0", "1.1.0"))
    await asyncio.sleep(2)
    assert (await case.status(name))["install"]["bundle"]["version"] == "1.0.0"
    assert await case.image() == "registry.example/widgets:1.0.0"

    patch = json.dumps({"spec": {"version": "<1.2.0"}})
    await asyncio.to_thread(case.kubectl, "patch", EXTENSIONS, name, "--type=merge", "-p", patch)
    status = await case.installed(name, "1.1.0")
    assert status["observedGeneration"] == 2


@pytest.mark.parametrize(
    ("policy", "steps"),
    [("CatalogProvided", ["1.1.0", "1.2.0"]), ("SelfCertified", ["1.2.0"])],
    ids=["along-the-graph", "self-certified-skips-it"],
)
async def test_the_upgrade_policy_decides_the_path(case: Case, policy: str, steps: list[str]) -> None:
    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"), case.bundle("1.2.0", "1.1.0"))
    name = await case.extension(version="1.0.0", upgradeConstraintPolicy=policy)
    await case.installed(name, "1.0.0")

    patch = json.dumps({"spec": {"version": None}})
    await asyncio.to_thread(case.kubectl, "patch", EXTENSIONS, name, "--type=merge", "-p", patch)
    await case.installed(name, "1.2.0")
    notes = await case.events(name, "Upgraded")
    assert [n.rpartition(".v")[2].split()[0] for n in notes] == steps


async def test_a_package_not_in_the_catalog_fails_naming_it(case: Case) -> None:
    await case.push(case.bundle("1.0.0"))
    missing = f"{case.package.name}-missing"
    name = await case.extension(missing)

    async def failed() -> bool:
        return condition(await case.status(name), "Installed")["reason"] == "Failed"

    await until(failed, within=30, what="Installed=False/Failed")
    status = await case.status(name)
    assert condition(status, "Installed")["status"] == "False"
    assert missing in condition(status, "Installed")["message"]
    assert condition(status, "Progressing")["status"] == "False"
    assert "install" not in status
    await until(lambda: case.events(name, "Failed"), within=30, what="a Warning Event Failed")


async def test_deleting_the_extension_uninstalls_but_keeps_the_crd(case: Case) -> None:
    await case.push(case.bundle("1.0.0"))
    name = await case.extension()
    await case.installed(name, "1.0.0")
    ext = await get(case.kubectl, EXTENSIONS, name)
    assert ext["metadata"]["finalizers"]

    await asyncio.to_thread(case.kubectl, "delete", EXTENSIONS, name, "--wait=false")
    await until(lambda: absent(case.kubectl, EXTENSIONS, name), within=60, what="extension deleted")
    assert await absent(case.kubectl, "deployment", SA, "-n", case.namespace)
    assert await absent(case.kubectl, "configmap", f"kubeloop-olm-{case.package.name}", "-n", case.namespace)
    await get(case.kubectl, "crd", case.package.crd)


async def test_an_extension_with_webhooks_gets_its_certificate_and_loses_the_webhooks_when_deleted(
    case: Case,
) -> None:
    await case.push(case.bundle("1.0.0", webhooks=True))
    name = await case.extension()
    await case.installed(name, "1.0.0")
    selector = f"olm.kubeloop.dev/package={case.package.name}"
    kinds = "mutatingwebhookconfiguration,validatingwebhookconfiguration"
    found = (await get(case.kubectl, kinds, "-l", selector))["items"]
    assert sorted(c["kind"] for c in found) == [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ]
    secrets = (await get(case.kubectl, "secret", "-n", case.namespace, "-l", selector))["items"]
    (secret,) = [s for s in secrets if s["type"] == "kubernetes.io/tls"]
    for configuration in found:
        (webhook,) = configuration["webhooks"]
        assert webhook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]

    await asyncio.to_thread(case.kubectl, "delete", EXTENSIONS, name, "--wait=false")
    await until(lambda: absent(case.kubectl, EXTENSIONS, name), within=60, what="extension deleted")
    assert (await get(case.kubectl, kinds, "-l", selector))["items"] == []


# -- least privilege ---------------------------------------------------------------------------------


def cluster_role(name: str, rules: list[dict[str, Any]]) -> str:
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}}
    return json.dumps({**body, "rules": rules})


async def test_an_extension_without_a_service_account_is_refused_by_the_api_server(
    lifecycle: None, kubectl: Kubectl, namespace: str
) -> None:
    """As OLM v1: ``spec.serviceAccount`` is required (the CRD's schema), so no extension can be
    installed with the lifecycle operator's own rights."""
    body = {
        "apiVersion": "olm.kubeloop.dev/v1",
        "kind": "ClusterExtension",
        "metadata": {"name": f"no-account-{uuid.uuid4().hex[:8]}"},
        "spec": {"packageName": "anything", "namespace": namespace},
    }
    refused = await asyncio.to_thread(kubectl, "create", "-f", "-", input=json.dumps(body), check=False)
    assert refused.returncode != 0
    assert "spec.serviceAccount: Required value" in refused.stderr, refused.stderr


async def test_a_service_account_lacking_permissions_is_told_what_it_lacks_and_nothing_is_applied(
    case: Case,
) -> None:
    k, ns = case.kubectl, case.namespace
    limited = f"{ns}-limited"
    everything = ["*"]
    rules = [
        {"apiGroups": [""], "resources": ["serviceaccounts", "services", "configmaps"], "verbs": everything},
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": everything,
        },
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
            "verbs": ["get", "list", "watch", "create", "patch", "delete"],  # no escalate, no bind
        },
    ]
    more = [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": everything},
        {"apiGroups": [case.package.group], "resources": ["widgets"], "verbs": ["get", "list", "watch"]},
    ]
    await asyncio.to_thread(k, "create", "serviceaccount", "limited", "-n", ns)
    await asyncio.to_thread(k, "apply", "-f", "-", input=cluster_role(limited, rules))
    await asyncio.to_thread(
        k,
        "create",
        "clusterrolebinding",
        limited,
        f"--clusterrole={limited}",
        f"--serviceaccount={ns}:limited",
    )
    case.cleanup.append(("delete", "clusterrolebinding,clusterrole", limited, "--ignore-not-found"))
    await case.push(case.bundle("1.0.0"))
    name = await case.extension(serviceAccount={"name": "limited"})

    async def refused() -> bool:
        return "lacks" in condition(await case.status(name), "Progressing").get("message", "")

    await until(refused, within=60, what="Progressing naming the missing permissions")
    status = await case.status(name)
    message = condition(status, "Progressing")["message"]
    assert condition(status, "Progressing")["reason"] == "Retrying"
    assert f"system:serviceaccount:{ns}:limited lacks 9 permission(s)" in message
    for verb in ("get", "create", "patch", "delete"):
        assert f"{verb} apps/deployments" in message
    assert f"list apps/deployments in {ns}" in message
    role = rf"ClusterRole {case.package.name}\.v1\.0\.0-widget-operator-\S+\)"  # the namespace, cut
    for verb in ("get", "list", "watch"):  # to create the bundle's ClusterRole it must hold them
        wanted = rf"{verb} {case.package.group}/widgets cluster-wide \(granted by {role}"
        assert re.search(wanted, message)
    assert condition(status, "Installed")["status"] == "False"
    await until(lambda: case.events(name, "Retrying"), within=30, what="a Warning Event")
    assert await absent(k, "serviceaccount", SA, "-n", ns)
    assert await absent(k, "crd", case.package.crd)
    assert await absent(k, "configmap", f"kubeloop-olm-{case.package.name}", "-n", ns)

    await asyncio.to_thread(k, "apply", "-f", "-", input=cluster_role(limited, rules + more))
    await case.installed(name, "1.0.0")
    dep = await get(k, "deployment", SA, "-n", ns, "--show-managed-fields")
    assert {m["manager"] for m in dep["metadata"]["managedFields"]} >= {"kubeloop-olm"}


# -- ownership and drift -----------------------------------------------------------------------------


async def test_another_releases_objects_are_never_taken_over_and_uninstall_removes_only_its_own(
    case: Case,
) -> None:
    k, ns = case.kubectl, case.namespace
    other = Package(name=f"{case.package.name}-other", group=case.package.group)  # the same CRD
    await case.push(case.bundle("1.0.0"), case.bundle("2.0.0", package=other))
    first = await case.extension()
    await case.installed(first, "1.0.0")
    second = await case.extension(other.name)

    async def refused() -> bool:
        return "take over" in condition(await case.status(second), "Progressing").get("message", "")

    await until(refused, within=60, what="the second package refused")
    message = condition(await case.status(second), "Progressing")["message"]
    assert f"package {other.name} in {ns} refused" in message
    assert (
        f"CustomResourceDefinition {case.package.crd} belongs to package {case.package.name} in {ns}"
        in message
    )
    assert f"Deployment {ns}/{SA} belongs to package {case.package.name} in {ns}" in message
    await until(lambda: case.events(second, "Retrying"), within=30, what="a Warning Event")
    assert await case.image() == "registry.example/widgets:1.0.0"
    assert await absent(k, "configmap", f"kubeloop-olm-{other.name}", "-n", ns)

    # The Service now belongs to someone else: restoring and uninstalling the first leave it alone.
    relabel = ("label", "service", "widget-metrics", "-n", ns, "--overwrite")
    await asyncio.to_thread(k, *relabel, "olm.kubeloop.dev/package=someone-else")
    await asyncio.to_thread(k, "delete", EXTENSIONS, first, "--wait=false")
    await until(lambda: absent(k, EXTENSIONS, first), within=60, what="the first extension deleted")
    assert await absent(k, "deployment", SA, "-n", ns)
    service = await get(k, "service", "widget-metrics", "-n", ns)
    assert service["metadata"]["labels"]["olm.kubeloop.dev/package"] == "someone-else"


async def test_an_installed_object_deleted_or_edited_by_hand_is_restored_with_an_event(case: Case) -> None:
    k, ns = case.kubectl, case.namespace
    await case.push(case.bundle("1.0.0"))
    name = await case.extension()
    await case.installed(name, "1.0.0")

    await asyncio.to_thread(k, "delete", "deployment", SA, "-n", ns)
    await until(lambda: case.events(name, "Restored"), within=30, what="an Event Restored")
    assert await case.image() == "registry.example/widgets:1.0.0"
    assert f"restored Deployment {ns}/{SA} was deleted" in await case.events(name, "Restored")

    await asyncio.to_thread(k, "set", "image", f"deployment/{SA}", "manager=evil:1", "-n", ns)

    async def put_back() -> bool:
        return await case.image() == "registry.example/widgets:1.0.0"

    await until(put_back, within=30, what="the image put back")
    changed = f"restored Deployment {ns}/{SA} was changed"
    await until(lambda: _noted(case, name, changed), within=30, what="an Event naming the edit")


async def _noted(case: Case, extension: str, note: str) -> bool:
    return note in await case.events(extension, "Restored")


# -- certificates ------------------------------------------------------------------------------------


async def test_a_short_lived_serving_certificate_is_renewed_under_live_admission_traffic_with_no_failure(
    case: Case, tmp_path: Path
) -> None:
    """The installed webhooks are served live (``live_webhook``: the Service an ExternalName of
    loopback, the certificate copied from the Secret as a kubelet would) and called without pause
    through a renewal at two thirds of the 40 s lifetime: not one admission request fails, the server
    loads the new certificate and keeps answering, and the CA bundle trusts both CAs."""
    k, ns = case.kubectl, case.namespace
    case.package = dataclasses.replace(case.package, webhook_port=free_port())
    await case.push(case.bundle("1.0.0", webhooks=True))
    name = await case.extension()
    await case.installed(name, "1.0.0")
    secret_name = f"{SA}-service-cert"
    first = (await get(k, "secret", secret_name, "-n", ns))["data"]

    async def renewed() -> bool:
        return (await get(k, "secret", secret_name, "-n", ns))["data"]["tls.crt"] != first["tls.crt"]

    paths = ["/mutate", "/validate-1.0.0"]
    failures: list[str] = []
    admitted = 0

    async def call_without_pause() -> None:
        nonlocal admitted
        while True:
            widget = {
                "apiVersion": f"{case.package.group}/v1",
                "kind": "Widget",
                "metadata": {"generateName": "w-"},
                "spec": {"size": admitted},
            }
            try:
                await case.client.create(widget, namespace=ns)
                admitted += 1
            except ApiError as exc:
                failures.append(str(exc))

    service = f"{SA}-service"
    port = case.package.webhook_port
    async with serve_webhooks(case.client, ns, service, secret_name, port, paths, tmp_path) as live:
        traffic = asyncio.create_task(call_without_pause())
        try:
            await until(lambda: live.calls >= 20, within=30, what="the webhooks called through the Service")
            await until(renewed, within=CERT_LIFETIME.total_seconds() * 1.5, what="the certificate renewed")
            await until(lambda: live.reloads >= 1, within=30, what="the server loading the new certificate")
            served = live.calls
            await until(lambda: live.calls >= served + 20, within=30, what="calls served with the new one")
        finally:
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic
    assert failures == [], f"{len(failures)} of {admitted + len(failures)} requests failed: {failures[:3]}"
    second = (await get(k, "secret", secret_name, "-n", ns))["data"]
    bundle = base64.b64decode(second["ca.crt"])
    old_ca = base64.b64decode(first["ca.crt"])
    assert bundle.count(b"BEGIN CERTIFICATE") == 2
    assert bundle.endswith(old_ca)  # servers still presenting the old certificate stay trusted
    new_ca = x509.load_pem_x509_certificates(bundle)[0]
    new_cert = x509.load_pem_x509_certificate(base64.b64decode(second["tls.crt"]))
    new_cert.verify_directly_issued_by(new_ca)
    lifetime = new_cert.not_valid_after_utc - new_cert.not_valid_before_utc
    assert lifetime <= CERT_LIFETIME * 1.1
    served_cert = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    assert served_cert == new_cert  # what the server loaded is the renewed certificate

    async def followed() -> bool:
        selector = f"olm.kubeloop.dev/package={case.package.name}"
        kinds = "mutatingwebhookconfiguration,validatingwebhookconfiguration"
        configurations = (await get(k, kinds, "-l", selector))["items"]
        crd = await get(k, "crd", case.package.crd)
        bundles = [c["webhooks"][0]["clientConfig"]["caBundle"] for c in configurations]
        bundles.append(crd["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"])
        current = (await get(k, "secret", secret_name, "-n", ns))["data"]["ca.crt"]
        return len(bundles) == 3 and set(bundles) == {current}

    await until(followed, within=30, what="the caBundles following the Secret")
    await until(lambda: case.events(name, "CertificateRotated"), within=30, what="an Event")


# -- upgrade policy ----------------------------------------------------------------------------------


async def test_a_manual_upgrade_waits_in_the_status_until_its_version_is_approved(case: Case) -> None:
    await case.push(case.bundle("1.0.0"))
    name = await case.extension(upgradeApproval="Manual")
    await case.installed(name, "1.0.0")  # an install needs no approval

    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"))

    async def pending() -> bool:
        return condition(await case.status(name), "Progressing")["reason"] == "AwaitingApproval"

    await until(pending, within=60, what="the upgrade awaiting approval")
    status = await case.status(name)
    assert status["pendingUpgrade"]["bundle"] == {"name": f"{case.package.name}.v1.1.0", "version": "1.1.0"}
    assert "set spec.approvedVersion to 1.1.0" in condition(status, "Progressing")["message"]
    assert status["install"]["bundle"]["version"] == "1.0.0"
    assert await case.image() == "registry.example/widgets:1.0.0"
    await until(lambda: case.events(name, "AwaitingApproval"), within=30, what="an Event")
    # held for approval, what is installed is still kept
    await asyncio.to_thread(case.kubectl, "delete", "deployment", SA, "-n", case.namespace)
    await until(lambda: case.events(name, "Restored"), within=30, what="the Deployment restored")
    assert await case.image() == "registry.example/widgets:1.0.0"

    patch = json.dumps({"spec": {"approvedVersion": "1.1.0"}})
    await asyncio.to_thread(case.kubectl, "patch", EXTENSIONS, name, "--type=merge", "-p", patch)
    status = await case.installed(name, "1.1.0")
    assert "pendingUpgrade" not in status
    assert await case.image() == "registry.example/widgets:1.1.0"


@pytest.mark.parametrize(
    ("newer_crd", "rolls_back"), [(V1_CRD, True), (V2_CRD, False)], ids=["safe-crds", "unsafe-crds"]
)
async def test_a_version_below_the_installed_one_rolls_back_when_the_crds_allow(
    case: Case, newer_crd: list[dict[str, Any]], rolls_back: bool
) -> None:
    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0", newer_crd))
    name = await case.extension(version="1.0.0")
    await case.installed(name, "1.0.0")
    patch = json.dumps({"spec": {"version": "1.1.0"}})
    await asyncio.to_thread(case.kubectl, "patch", EXTENSIONS, name, "--type=merge", "-p", patch)
    await case.installed(name, "1.1.0")

    patch = json.dumps({"spec": {"version": "1.0.0"}})
    await asyncio.to_thread(case.kubectl, "patch", EXTENSIONS, name, "--type=merge", "-p", patch)
    if rolls_back:
        await case.installed(name, "1.0.0")
        assert await case.image() == "registry.example/widgets:1.0.0"
        notes = await case.events(name, "RolledBack")
        assert notes == [f"rolled back {case.package.name}.v1.0.0 in {case.namespace}"]
        return

    async def blocked() -> bool:
        return condition(await case.status(name), "Progressing")["reason"] == "Blocked"

    await until(blocked, within=60, what="the rollback Blocked")
    message = condition(await case.status(name), "Progressing")["message"]
    assert f"rollback of {case.package.name}.v1.0.0 refused" in message
    assert f"{case.package.crd} v1 .spec.color: field removed" in message
    assert (await case.status(name))["install"]["bundle"]["version"] == "1.1.0"
    assert await case.image() == "registry.example/widgets:1.1.0"
    await until(lambda: case.events(name, "Blocked"), within=30, what="a Warning Event")


async def test_deprecations_in_the_catalog_become_the_extensions_conditions(case: Case) -> None:
    await case.push(case.bundle("1.0.0"))
    name = await case.extension()
    status = await case.installed(name, "1.0.0")
    for kind in ("Deprecated", "PackageDeprecated", "ChannelDeprecated", "BundleDeprecated"):
        assert (condition(status, kind)["status"], condition(status, kind)["reason"]) == (
            "False",
            "NotDeprecated",
        )

    pkg = case.package.name
    deprecations = {
        (pkg, "olm.channel", "stable"): "stable is frozen: use fast",
        (pkg, "olm.bundle", f"{pkg}.v1.0.0"): "1.0.0 loses data on restart",
    }
    await case.push(case.bundle("1.0.0"), deprecations=deprecations)

    async def deprecated() -> bool:
        return condition(await case.status(name), "Deprecated")["status"] == "True"

    await until(deprecated, within=60, what="Deprecated=True")
    status = await case.status(name)
    assert condition(status, "ChannelDeprecated")["message"] == "stable is frozen: use fast"
    assert condition(status, "BundleDeprecated")["message"] == "1.0.0 loses data on restart"
    assert condition(status, "PackageDeprecated")["status"] == "False"
    assert (
        condition(status, "Deprecated")["message"]
        == "stable is frozen: use fast; 1.0.0 loses data on restart"
    )
    assert condition(status, "Installed")["status"] == "True"  # deprecated, still installed


async def test_an_extension_watching_one_namespace_installs_in_that_mode_or_is_refused(case: Case) -> None:
    k, ns = case.kubectl, case.namespace
    await case.push(case.package.in_channel("1.0.0", install_modes=("AllNamespaces", "OwnNamespace")))
    refused = await case.extension(watchNamespace="default")

    async def failed() -> bool:
        return condition(await case.status(refused), "Progressing")["reason"] == "Failed"

    await until(failed, within=60, what="the SingleNamespace install refused")
    message = condition(await case.status(refused), "Progressing")["message"]
    supported = "(it supports: AllNamespaces, OwnNamespace)"
    assert f"does not support the SingleNamespace install mode {supported}" in message
    assert await absent(k, "deployment", SA, "-n", ns)
    await until(lambda: case.events(refused, "Failed"), within=30, what="a Warning Event")
    await asyncio.to_thread(k, "delete", EXTENSIONS, refused)

    # OwnNamespace: the operator watches the namespace it is installed in.
    own = await case.extension(watchNamespace=ns)
    await case.installed(own, "1.0.0")
    dep = await get(k, "deployment", SA, "-n", ns)
    assert dep["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == ns
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert {"name": "KUBELOOP_NAMESPACE", "value": ns} in container["env"]
    roles = (await get(k, "role", "-n", ns, "-l", f"olm.kubeloop.dev/package={case.package.name}"))["items"]
    assert [r["rules"][0]["resources"] for r in roles] == [["configmaps"]]
    await asyncio.to_thread(k, "delete", EXTENSIONS, own, "--wait=false")
    await until(lambda: absent(k, EXTENSIONS, own), within=60, what="the OwnNamespace install removed")

    # SingleNamespace: another namespace.
    await case.push(case.package.in_channel("1.0.0", install_modes=("AllNamespaces", "SingleNamespace")))
    name = await case.extension(watchNamespace="default")
    await case.installed(name, "1.0.0")
    dep = await get(k, "deployment", SA, "-n", ns)
    assert dep["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == "default"
    assert {"name": "KUBELOOP_NAMESPACE", "value": "default"} in dep["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    roles = (await get(k, "role", "-n", "default", "-l", f"olm.kubeloop.dev/package={case.package.name}"))[
        "items"
    ]
    assert [r["rules"][0]["resources"] for r in roles] == [["configmaps"]]


# -- bad input ---------------------------------------------------------------------------------------


async def test_a_catalog_with_a_replaces_cycle_is_not_served_and_its_extension_waits_naming_it(
    case: Case,
) -> None:
    k, ns = case.kubectl, case.namespace
    pkg = case.package.name
    await case.push(case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0"))
    name = await case.extension()
    await case.installed(name, "1.1.0")  # along the graph
    catalog = render_catalog([case.bundle("1.0.0"), case.bundle("1.1.0", "1.0.0")])
    docs = package_documents(catalog, pkg)
    channel = next(d for d in docs if d["schema"] == "olm.channel")
    channel["entries"] = [
        {"name": f"{pkg}.v1.0.0", "replaces": f"{pkg}.v1.1.0"},
        {"name": f"{pkg}.v1.1.0", "replaces": f"{pkg}.v1.0.0"},
    ]
    configmaps = (await get(k, "configmap", "-n", ns, "-l", f"{CATALOG_LABEL}={case.catalog}"))["items"]
    (configmap,) = configmaps
    (key,) = configmap["data"]
    patch = json.dumps({"data": {key: dump_documents(docs)}})
    await asyncio.to_thread(k, "patch", "configmap", configmap["metadata"]["name"], "-n", ns, "-p", patch)

    async def unavailable() -> bool:
        status = (await get(k, CATALOGS, case.catalog))["status"]
        return condition(status, "Serving")["status"] == "False"

    await until(unavailable, within=30, what="Serving=False")
    serving = condition((await get(k, CATALOGS, case.catalog))["status"], "Serving")
    cycle = f"replaces cycle {pkg}.v1.0.0 -> {pkg}.v1.1.0 -> {pkg}.v1.0.0"
    assert cycle in serving["message"]
    assert any(cycle in n for n in await case.events(case.catalog, "Unavailable"))

    async def waiting() -> bool:
        return cycle in condition(await case.status(name), "Progressing").get("message", "")

    await until(waiting, within=60, what="the extension naming the cycle")
    assert condition(await case.status(name), "Progressing")["reason"] == "Retrying"
    assert (await case.status(name))["install"]["bundle"]["version"] == "1.1.0"  # nothing changed


async def test_a_malformed_bundle_fails_naming_it_and_applies_nothing(case: Case) -> None:
    bundle = case.bundle("1.0.0")
    csv = copy.deepcopy(bundle.csv)
    csv["spec"]["install"]["spec"]["deployments"] = []
    objects = tuple(csv if o is bundle.csv else o for o in bundle.objects)
    await case.push(dataclasses.replace(bundle, objects=objects))
    name = await case.extension()

    async def failed() -> bool:
        return condition(await case.status(name), "Progressing")["reason"] == "Failed"

    await until(failed, within=60, what="Failed")
    message = condition(await case.status(name), "Progressing")["message"]
    assert f"bundle {case.package.name}.v1.0.0: its CSV has no deployments" in message
    await until(lambda: case.events(name, "Failed"), within=30, what="a Warning Event")
    assert await absent(case.kubectl, "crd", case.package.crd)
    assert await absent(case.kubectl, "serviceaccount", SA, "-n", case.namespace)
