"""Installer against the real kube-apiserver: install, upgrade (safe, unsafe, forced, downgrade) and
uninstall of a registry+v1 bundle, checked with the real kubectl.

Every test installs its own package (``widgets-<random>``) whose CRD is in its own group
(``g<random>.olm.kubeloop.dev``); the ``package`` fixture deletes the CRD and the cluster roles,
bindings and webhook configurations of that package afterwards (the namespace fixture removes the
rest). The webhooks are never served: their rules match only that group, and no test creates widgets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from olm_widgets import (
    SA,
    V1_CRD,
    V2_CRD,
    V3_DROPS_FIELD,
    V3_DROPS_STORED_VERSION,
    Package,
    absent,
    get,
)
from semver import Version

from kubeloop.client import Client, PatchType
from kubeloop.olm import OLMError
from kubeloop.olm._install import Installer
from kubeloop.olm._names import generated_name
from kubeloop.testing import Kubectl, until, wait_for_crds


@pytest.fixture
def package(kubectl: Kubectl) -> Iterator[Package]:
    """A unique package and CRD group; its CRD, cluster-scoped RBAC and webhook configurations are
    deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    pkg = Package(name=f"widgets-{suffix}", group=f"g{suffix}.olm.kubeloop.dev")
    yield pkg
    kubectl("delete", "crd", pkg.crd, "--ignore-not-found", "--wait=false")
    selector = f"olm.kubeloop.dev/package={pkg.name}"
    kinds = "clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration"
    kubectl("delete", kinds, "-l", selector, "--ignore-not-found", "--wait=false")


@pytest.fixture
def installer(client: Client) -> Installer:
    return Installer(client)


async def can_i(kubectl: Kubectl, namespace: str, *args: str) -> bool:
    user = f"--as=system:serviceaccount:{namespace}:{SA}"
    proc = await asyncio.to_thread(kubectl, "auth", "can-i", *args, user, check=False)
    return proc.stdout.strip() == "yes"


async def image(kubectl: Kubectl, namespace: str) -> str:
    dep = await get(kubectl, "deployment", SA, "-n", namespace)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def crd_properties(kubectl: Kubectl, package: Package, version: str = "v1") -> set[str]:
    crd = await get(kubectl, "crd", package.crd)
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return set(found["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])


# -- install -----------------------------------------------------------------------------------------


async def test_install_creates_the_bundle_objects_and_records_the_release(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    bundle = package.bundle("1.0.0")
    release = await installer.install(bundle, namespace)

    crd = await get(kubectl, "crd", package.crd)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    await get(kubectl, "serviceaccount", SA, "-n", namespace)
    role, cluster_role = generated_name(bundle.name, SA), generated_name(bundle.name, SA, namespace)
    await get(kubectl, "role", role, "-n", namespace)
    await get(kubectl, "rolebinding", role, "-n", namespace)
    await get(kubectl, "clusterrole", cluster_role)
    await get(kubectl, "clusterrolebinding", cluster_role)
    assert await can_i(kubectl, namespace, "list", f"widgets.{package.group}", "--all-namespaces")
    assert await can_i(kubectl, namespace, "get", "configmaps", "-n", namespace)
    assert not await can_i(kubectl, namespace, "delete", "configmaps", "-n", namespace)
    dep = await get(kubectl, "deployment", SA, "-n", namespace)
    expected_spec = bundle.csv["spec"]["install"]["spec"]["deployments"][0]["spec"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/widgets:1.0.0"
    assert dep["spec"]["selector"] == expected_spec["selector"]
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == SA
    assert dep["metadata"]["labels"]["app"] == SA
    await get(kubectl, "service", "widget-metrics", "-n", namespace)

    cms = await get(kubectl, "configmaps", "-n", namespace, "-l", "olm.kubeloop.dev/release=true")
    assert [cm["metadata"]["name"] for cm in cms["items"]] == [f"kubeloop-olm-{package.name}"]
    assert await installer.release(namespace, package.name) == release
    assert (release.bundle, release.version, release.namespace) == (bundle.name, Version(1, 0, 0), namespace)
    assert {(r.kind, r.name) for r in release.objects} >= {
        ("CustomResourceDefinition", package.crd),
        ("Deployment", SA),
        ("Service", "widget-metrics"),
        ("ClusterRole", cluster_role),
    }
    assert release in await installer.releases(namespace)
    assert release in await installer.releases()
    # Every installed object, the CRD included, carries its release's labels.
    kinds = ",".join(sorted({r.kind for r in release.objects}))
    selector = f"olm.kubeloop.dev/package={package.name},olm.kubeloop.dev/namespace={namespace}"
    labelled = await get(kubectl, kinds, "--all-namespaces", "-l", selector)
    assert {(o["kind"], o["metadata"]["name"]) for o in labelled["items"]} == {
        (r.kind, r.name) for r in release.objects
    }


async def test_a_crd_that_is_never_established_fails_the_install_naming_it(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    clash = {**package.bundle("1.0.0").crds[0], "metadata": {"name": f"gadgets.{package.group}"}}
    clash["spec"] = {
        **clash["spec"],
        "names": {**clash["spec"]["names"], "plural": "gadgets", "singular": "gadget"},
    }
    await asyncio.to_thread(kubectl, "create", "-f", "-", input=json.dumps(clash))
    try:
        await asyncio.to_thread(wait_for_crds, kubectl, f"gadgets.{package.group}")
        with pytest.raises(OLMError, match=rf"CRD {package.crd}: names not accepted: .*Widget"):
            await installer.install(package.bundle("1.0.0"), namespace)
    finally:
        await asyncio.to_thread(kubectl, "delete", "crd", f"gadgets.{package.group}", "--wait=false")
    assert await absent(kubectl, "deployment", SA, "-n", namespace)
    assert await installer.release(namespace, package.name) is None


async def test_installing_an_installed_package_again_is_refused(
    installer: Installer, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    with pytest.raises(OLMError, match=rf"package {package.name} is already installed in {namespace}"):
        await installer.install(package.bundle("1.0.0"), namespace)


async def test_installing_into_a_missing_namespace_is_refused_before_anything_is_applied(
    installer: Installer, kubectl: Kubectl, package: Package
) -> None:
    missing = f"missing-{package.name}"
    with pytest.raises(OLMError, match=rf"^namespace {missing} does not exist: create it first$"):
        await installer.install(package.bundle("1.0.0"), missing)
    assert await absent(kubectl, "crd", package.crd)


async def test_installing_over_a_crd_left_on_the_cluster_checks_it_like_an_upgrade(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("2.0.0", crd_versions=V2_CRD), namespace)
    await installer.uninstall(namespace, package.name)  # the CRD stays, with 2.0.0's schema
    crd_before = await get(kubectl, "crd", package.crd)
    unsafe = package.bundle("3.0.0", crd_versions=V3_DROPS_FIELD)
    with pytest.raises(
        OLMError, match=rf"^install of {unsafe.name} refused, .*{package.crd} v1 \.spec\.color"
    ):
        await installer.install(unsafe, namespace)
    assert (await get(kubectl, "crd", package.crd))["metadata"]["resourceVersion"] == crd_before["metadata"][
        "resourceVersion"
    ]
    assert await installer.release(namespace, package.name) is None
    release = await installer.install(unsafe, namespace, force_unsafe_crds=True)
    assert release.version == Version(3, 0, 0)


# -- upgrade -----------------------------------------------------------------------------------------


async def test_upgrade_applies_the_new_bundle_and_deletes_what_it_dropped(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    v1 = package.bundle("1.0.0")
    await installer.install(v1, namespace)
    v2 = package.bundle("2.0.0", crd_versions=V2_CRD, service=False)
    release = await installer.upgrade(namespace, package.name, v2)

    assert await crd_properties(kubectl, package) == {"size", "color"}
    assert await crd_properties(kubectl, package, "v2") == {"size", "color"}
    assert await image(kubectl, namespace) == "registry.example/widgets:2.0.0"
    assert await absent(kubectl, "service", "widget-metrics", "-n", namespace)
    assert await absent(kubectl, "role", generated_name(v1.name, SA), "-n", namespace)
    assert await absent(kubectl, "clusterrole", generated_name(v1.name, SA, namespace))
    await get(kubectl, "role", generated_name(v2.name, SA), "-n", namespace)
    await get(kubectl, "clusterrole", generated_name(v2.name, SA, namespace))
    assert await can_i(kubectl, namespace, "list", f"widgets.{package.group}", "--all-namespaces")
    assert await installer.release(namespace, package.name) == release
    assert (release.bundle, release.version) == (v2.name, Version(2, 0, 0))
    assert "Service" not in {r.kind for r in release.objects}


@pytest.mark.parametrize(
    ("crd_versions", "problem"),
    [(V3_DROPS_FIELD, r"\bv1\b.*\.spec\.color"), (V3_DROPS_STORED_VERSION, r"\bv1\b.*stored version")],
    ids=["drops-a-field", "drops-a-stored-version"],
)
async def test_an_unsafe_crd_upgrade_is_refused_and_changes_nothing(
    installer: Installer,
    kubectl: Kubectl,
    namespace: str,
    package: Package,
    crd_versions: list[dict[str, Any]],
    problem: str,
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    v2 = await installer.upgrade(namespace, package.name, package.bundle("2.0.0", crd_versions=V2_CRD))
    crd_before = await get(kubectl, "crd", package.crd)

    with pytest.raises(OLMError) as err:
        await installer.upgrade(namespace, package.name, package.bundle("3.0.0", crd_versions=crd_versions))
    message = str(err.value)
    assert "\n" not in message
    assert package.crd in message
    assert re.search(problem, message), message

    assert await image(kubectl, namespace) == "registry.example/widgets:2.0.0"
    crd_after = await get(kubectl, "crd", package.crd)
    assert crd_after["metadata"]["resourceVersion"] == crd_before["metadata"]["resourceVersion"]
    assert await installer.release(namespace, package.name) == v2


async def test_force_unsafe_crds_applies_an_unsafe_upgrade(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    await installer.upgrade(namespace, package.name, package.bundle("2.0.0", crd_versions=V2_CRD))
    v3 = package.bundle("3.0.0", crd_versions=V3_DROPS_FIELD)
    release = await installer.upgrade(namespace, package.name, v3, force_unsafe_crds=True)

    assert await crd_properties(kubectl, package) == {"size"}
    assert await image(kubectl, namespace) == "registry.example/widgets:3.0.0"
    assert release.bundle == v3.name


async def test_forcing_a_change_the_server_rejects_fails_naming_the_crd_and_applies_nothing_else(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    v3 = package.bundle("3.0.0", crd_versions=V3_DROPS_STORED_VERSION)
    with pytest.raises(OLMError, match=rf"applying CustomResourceDefinition {package.crd} failed"):
        await installer.upgrade(namespace, package.name, v3, force_unsafe_crds=True)
    assert await image(kubectl, namespace) == "registry.example/widgets:1.0.0"
    assert (await installer.release(namespace, package.name)).bundle == f"{package.name}.v1.0.0"


async def test_a_crd_an_upgrade_no_longer_ships_is_kept_and_stays_in_the_release(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    release = await installer.upgrade(namespace, package.name, package.bundle("2.0.0", crd_versions=None))

    await get(kubectl, "crd", package.crd)
    assert ("CustomResourceDefinition", package.crd) in {(r.kind, r.name) for r in release.objects}
    await installer.uninstall(namespace, package.name, delete_crds=True)
    await until(lambda: absent(kubectl, "crd", package.crd), within=60, what="CRD deleted")


async def test_an_upgrade_with_a_bundle_of_another_package_is_refused(
    installer: Installer, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    other = Package(name=f"{package.name}-other", group=package.group).bundle("2.0.0")
    with pytest.raises(OLMError, match=rf"is of package {package.name}-other, not {package.name}"):
        await installer.upgrade(namespace, package.name, other)


@pytest.mark.parametrize("version", ["0.9.0", "1.0.0"], ids=["lower", "same"])
async def test_an_upgrade_to_a_version_not_newer_is_refused(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package, version: str
) -> None:
    installed = await installer.install(package.bundle("1.0.0"), namespace)
    with pytest.raises(OLMError, match=rf"{package.name}\.v{version} \({version}\) is not newer"):
        await installer.upgrade(namespace, package.name, package.bundle(version, service=False))
    await get(kubectl, "service", "widget-metrics", "-n", namespace)
    assert await installer.release(namespace, package.name) == installed


async def test_upgrading_a_package_not_installed_is_refused(
    installer: Installer, namespace: str, package: Package
) -> None:
    with pytest.raises(OLMError, match=rf"package {package.name} is not installed in {namespace}"):
        await installer.upgrade(namespace, package.name, package.bundle("2.0.0"))


# -- webhooks ----------------------------------------------------------------------------------------

SERVICE = f"{SA}-service"
CONFIGURATIONS = {"m": "mutatingwebhookconfiguration", "v": "validatingwebhookconfiguration"}


async def configurations(kubectl: Kubectl, package: Package, namespace: str) -> dict[str, Any]:
    """The package's webhook configurations, by ``m`` and ``v``."""
    return {
        kind: await get(kubectl, resource, f"{package.webhook_name(kind)}-{namespace}")
        for kind, resource in CONFIGURATIONS.items()
    }


def pem(value: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(value))


async def test_install_with_webhooks_makes_service_secret_and_configurations_trusting_its_certificate(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0", webhooks=True), namespace)

    service = await get(kubectl, "service", SERVICE, "-n", namespace)
    assert service["spec"]["selector"] == {"app": SA}
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(443, 9443)]
    secret = await get(kubectl, "secret", f"{SERVICE}-cert", "-n", namespace)
    assert secret["type"] == "kubernetes.io/tls"
    cert = pem(secret["data"]["tls.crt"])
    hooks = await configurations(kubectl, package, namespace)
    for config in hooks.values():
        (hook,) = config["webhooks"]
        assert hook["clientConfig"]["service"] | {"path": None} == {
            "namespace": namespace,
            "name": SERVICE,
            "path": None,
            "port": 443,
        }
        assert hook["rules"][0]["apiGroups"] == [package.group]
        ca = pem(hook["clientConfig"]["caBundle"])
        cert.verify_directly_issued_by(ca)  # raises unless the caBundle's CA signed the certificate
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert f"{SERVICE}.{namespace}.svc" in names.get_values_for_type(x509.DNSName)
        assert config["metadata"]["labels"]["olm.kubeloop.dev/package"] == package.name
    assert hooks["v"]["webhooks"][0]["clientConfig"]["service"]["path"] == "/validate-1.0.0"

    pod = (await get(kubectl, "deployment", SA, "-n", namespace))["spec"]["template"]["spec"]
    (webhook_cert,) = [v for v in pod["volumes"] if v["name"] == "webhook-cert"]
    assert webhook_cert["secret"]["secretName"] == f"{SERVICE}-cert"
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/tmp/k8s-webhook-server/serving-certs"] == {
        "name": "webhook-cert",
        "mountPath": "/tmp/k8s-webhook-server/serving-certs",
        "readOnly": True,
    }
    conversion = (await get(kubectl, "crd", package.crd))["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["service"]["path"] == "/convert"
    assert (
        conversion["webhook"]["clientConfig"]["caBundle"]
        == hooks["m"]["webhooks"][0]["clientConfig"]["caBundle"]
    )


async def test_an_upgrade_keeps_the_certificate_and_updates_the_configurations(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0", webhooks=True), namespace)
    before = await configurations(kubectl, package, namespace)
    secret = await get(kubectl, "secret", f"{SERVICE}-cert", "-n", namespace)
    await installer.upgrade(
        namespace, package.name, package.bundle("2.0.0", crd_versions=V2_CRD, webhooks=True)
    )

    after = await configurations(kubectl, package, namespace)
    for kind in CONFIGURATIONS:
        ca = before[kind]["webhooks"][0]["clientConfig"]["caBundle"]
        assert after[kind]["webhooks"][0]["clientConfig"]["caBundle"] == ca
    assert after["v"]["webhooks"][0]["clientConfig"]["service"]["path"] == "/validate-2.0.0"
    assert (await get(kubectl, "secret", f"{SERVICE}-cert", "-n", namespace))["data"] == secret["data"]
    assert after["v"]["metadata"]["annotations"]["olm.kubeloop.dev/bundle"] == f"{package.name}.v2.0.0"


async def test_an_upgrade_issues_a_new_certificate_when_the_secret_is_gone(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0", webhooks=True), namespace)
    before = await configurations(kubectl, package, namespace)
    await asyncio.to_thread(kubectl, "delete", "secret", f"{SERVICE}-cert", "-n", namespace)
    await installer.upgrade(
        namespace, package.name, package.bundle("2.0.0", crd_versions=V1_CRD, webhooks=True)
    )

    after = await configurations(kubectl, package, namespace)
    ca = after["m"]["webhooks"][0]["clientConfig"]["caBundle"]
    assert ca != before["m"]["webhooks"][0]["clientConfig"]["caBundle"]
    secret = await get(kubectl, "secret", f"{SERVICE}-cert", "-n", namespace)
    pem(secret["data"]["tls.crt"]).verify_directly_issued_by(pem(ca))


async def test_an_upgrade_without_webhooks_removes_them(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0", webhooks=True), namespace)
    await installer.upgrade(namespace, package.name, package.bundle("2.0.0"))

    for kind, resource in CONFIGURATIONS.items():
        assert await absent(kubectl, resource, f"{package.webhook_name(kind)}-{namespace}")
    assert await absent(kubectl, "service", SERVICE, "-n", namespace)
    assert await absent(kubectl, "secret", f"{SERVICE}-cert", "-n", namespace)
    assert (await get(kubectl, "crd", package.crd))["spec"]["conversion"] == {"strategy": "None"}


async def test_uninstall_removes_the_webhook_configurations_service_and_secret(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0", webhooks=True), namespace)
    await installer.uninstall(namespace, package.name)

    for kind, resource in CONFIGURATIONS.items():
        assert await absent(kubectl, resource, f"{package.webhook_name(kind)}-{namespace}")
    assert await absent(kubectl, "service", SERVICE, "-n", namespace)
    assert await absent(kubectl, "secret", f"{SERVICE}-cert", "-n", namespace)


# -- uninstall ---------------------------------------------------------------------------------------


async def test_uninstall_deletes_the_objects_and_the_release_but_keeps_the_crd(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    bundle = package.bundle("1.0.0")
    await installer.install(bundle, namespace)
    await installer.uninstall(namespace, package.name)

    role, cluster_role = generated_name(bundle.name, SA), generated_name(bundle.name, SA, namespace)
    for args in [
        ("deployment", SA, "-n", namespace),
        ("service", "widget-metrics", "-n", namespace),
        ("serviceaccount", SA, "-n", namespace),
        ("role", role, "-n", namespace),
        ("rolebinding", role, "-n", namespace),
        ("clusterrole", cluster_role),
        ("clusterrolebinding", cluster_role),
        ("configmap", f"kubeloop-olm-{package.name}", "-n", namespace),
    ]:
        assert await absent(kubectl, *args), args
    await get(kubectl, "crd", package.crd)
    assert await installer.release(namespace, package.name) is None
    assert await installer.releases(namespace) == []


async def test_uninstall_with_delete_crds_deletes_the_crd(
    installer: Installer, kubectl: Kubectl, namespace: str, package: Package
) -> None:
    await installer.install(package.bundle("1.0.0"), namespace)
    await installer.uninstall(namespace, package.name, delete_crds=True)

    await until(lambda: absent(kubectl, "crd", package.crd), within=60, what="CRD deleted")
    assert await absent(kubectl, "deployment", SA, "-n", namespace)


async def test_uninstalling_a_package_not_installed_is_refused(
    installer: Installer, namespace: str, package: Package
) -> None:
    with pytest.raises(OLMError, match=rf"package {package.name} is not installed in {namespace}"):
        await installer.uninstall(namespace, package.name)


# -- restoring what drifted ----------------------------------------------------------------------------


class _Meddling:
    """The client, but between the Installer's read of the Deployment and its apply, ``meddle`` acts on
    the cluster (as someone else would at that moment)."""

    def __init__(self, client: Client, meddle: Any) -> None:
        self._client = client
        self._meddle = meddle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def get(self, ref: str, name: str, **kwargs: Any) -> Any:
        found = await self._client.get(ref, name, **kwargs)
        if ref == "apps/v1/Deployment":
            await self._meddle(found)
        return found


@pytest.mark.parametrize("meanwhile", ["deleted", "written-by-another", "edited"])
async def test_restore_tells_a_deletion_from_an_edit_whatever_happens_between_its_read_and_apply(
    client: Client, namespace: str, package: Package, meanwhile: str
) -> None:
    """A Deployment deleted after restore read it is re-created by the apply: "was deleted" (it said
    "was changed", so the two Restored Events of two deletions could be of two notes and never one
    series). Another writer's change that leaves the bundle's fields alone (a controller's status,
    an annotation) is nothing restored (its new resourceVersion made it "was changed"); an edit of
    the bundle's fields still is."""
    bundle = package.bundle("1.0.0")
    release = await Installer(client).install(bundle, namespace)

    async def meddle(found: dict[str, Any]) -> None:
        if meanwhile == "deleted":
            await client.delete("apps/v1/Deployment", SA, namespace=namespace)
        elif meanwhile == "written-by-another":
            note = {"metadata": {"annotations": {"example.com/seen": found["metadata"]["resourceVersion"]}}}
            await client.patch("apps/v1/Deployment", SA, note, namespace=namespace)

    if meanwhile == "edited":
        edit = {"spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "evil:1"}]}}}}
        await client.patch("apps/v1/Deployment", SA, edit, namespace=namespace, type=PatchType.STRATEGIC)
    restored, _, _ = await Installer(_Meddling(client, meddle)).restore(release, bundle)  # type: ignore[arg-type]
    expected = {
        "deleted": [f"Deployment {namespace}/{SA} was deleted"],
        "written-by-another": [],
        "edited": [f"Deployment {namespace}/{SA} was changed"],
    }
    assert restored == expected[meanwhile]
