"""Admission webhooks called by the real kube-apiserver over TLS: defaulting visible in
``kubectl get -o yaml``, validation messages and warnings shown by ``kubectl apply``, a failing
handler answered with an error (and the server still serving), a rotated certificate picked up
without restart.

Each test runs an operator whose webhooks are scoped (namespaceSelector) to the test's namespace
and deletes its webhook configurations afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from webhook_support import in_namespace, installed, run, unique_group

import kubeloop as kl
from kubeloop import crd, webhook
from kubeloop.client import ApiError, Client
from kubeloop.manager import ManagerOptions, WebhookServerOptions
from kubeloop.testing import Kubectl, run_operator, until, wait_for_crds
from kubeloop.testing.fixtures import Cluster
from kubeloop.webhook import AdmissionRequest, FieldError, Invalid

GROUP = unique_group("whadm")


class AppServiceSpec(crd.Model):
    size: int = 1
    image: str = ""


@crd.resource(group=GROUP, version="v1")
class AppService(crd.CustomResource):
    spec: AppServiceSpec


@pytest.fixture(scope="module")
def appservice_crd(kubectl: Kubectl) -> Iterator[str]:
    name = AppService.resource_info().crd_name
    kubectl("apply", "-f", "-", input=crd.to_yaml([AppService]))
    wait_for_crds(kubectl, name)
    yield name
    kubectl("delete", "crd", name, "--wait=false", "--ignore-not-found")


def manifest(namespace: str, name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "AppService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def operator_for(namespace: str) -> kl.Operator:
    operator = kl.Operator(f"whadm-{namespace}"[:60])

    @operator.default(AppService, namespace_selector=in_namespace(namespace))
    def default(app: AppService, request: AdmissionRequest) -> None:
        if not app.spec.image:
            app.spec.image = "nginx:1.27"
        app.metadata.labels = {**(app.metadata.labels or {}), "defaulted-by": "kubeloop"}

    @operator.validate(AppService, namespace_selector=in_namespace(namespace))
    def validate(app: AppService, request: AdmissionRequest) -> list[str] | None:
        if app.spec.image == "explode":
            raise RuntimeError("the validator exploded")
        if app.spec.size > 10:
            raise Invalid(FieldError("spec.size", "must be at most 10", value=app.spec.size))
        return ["size 0 stops the app"] if app.spec.size == 0 else None

    return operator


async def defaulting_active(kubectl: Kubectl, namespace: str) -> bool:
    """Whether the API server calls the webhooks yet (configurations take effect asynchronously)."""
    proc = await run(
        kubectl,
        "create",
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        "-",
        input=manifest(namespace, "probe"),
        check=False,
    )
    return proc.returncode == 0 and '"defaulted-by": "kubeloop"' in proc.stdout


@pytest.fixture
def cert_dir(tmp_path: Path) -> tuple[Path, bytes]:
    return tmp_path, webhook.serving_certificate(tmp_path)


def serving_from(cert_dir: Path) -> ManagerOptions:
    """Webhooks served on a free loopback port with the certificate in ``cert_dir``."""
    return ManagerOptions(webhook_server=WebhookServerOptions(bind_address="127.0.0.1:0", cert_dir=cert_dir))


@pytest.fixture
async def serving(
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    appservice_crd: str,
    cert_dir: tuple[Path, bytes],
) -> AsyncIterator[kl.Operator]:
    """An operator serving this namespace's webhooks, its configurations installed and in effect."""
    operator = operator_for(namespace)
    directory, ca = cert_dir
    async with (
        run_operator(operator, cluster.kubeconfig, serving_from(directory)),
        installed(kubectl, operator, ca),
    ):
        await until(lambda: defaulting_active(kubectl, namespace), within=30, what="webhooks active")
        yield operator


async def test_defaulting_webhook_fills_fields_visible_in_kubectl_get(
    serving: kl.Operator, kubectl: Kubectl, namespace: str
) -> None:
    await run(kubectl, "apply", "-f", "-", input=manifest(namespace, "web", size=2))
    shown = yaml.safe_load(
        (await run(kubectl, "get", "appservice", "web", "-n", namespace, "-o", "yaml")).stdout
    )
    assert shown["spec"] == {"size": 2, "image": "nginx:1.27"}
    assert shown["metadata"]["labels"] == {"defaulted-by": "kubeloop"}
    # an explicit value is kept
    await run(kubectl, "apply", "-f", "-", input=manifest(namespace, "own", image="httpd:2"))
    own = (
        await run(kubectl, "get", "appservice", "own", "-n", namespace, "-o", "jsonpath={.spec.image}")
    ).stdout
    assert own == "httpd:2"


async def test_validating_webhook_rejection_and_warnings_are_shown_by_kubectl_apply(
    client: Client, serving: kl.Operator, kubectl: Kubectl, namespace: str
) -> None:
    rejected = await run(kubectl, "apply", "-f", "-", input=manifest(namespace, "big", size=11), check=False)
    assert rejected.returncode != 0
    # kubectl prints an Invalid status from its causes, as for the API server's own validation
    expected = "spec.size: Invalid value: 11: must be at most 10"
    assert f'The AppService "big" is invalid: {expected}' in rejected.stderr
    with pytest.raises(ApiError) as caught:
        await client.create(yaml.safe_load(manifest(namespace, "big", size=11)))
    assert caught.value.code == 422
    assert caught.value.message == (
        f'admission webhook "vappservice-v1.{GROUP}" denied the request: '
        f'AppService.{GROUP} "big" is invalid: {expected}'
    )
    assert [(c.field, c.message) for c in caught.value.causes] == [
        ("spec.size", "Invalid value: 11: must be at most 10")
    ]
    absent = await run(kubectl, "get", "appservice", "big", "-n", namespace, check=False)
    assert "NotFound" in absent.stderr

    warned = await run(kubectl, "apply", "-f", "-", input=manifest(namespace, "idle", size=0))
    assert "Warning: size 0 stops the app" in warned.stderr

    assert serving.manager is not None
    rejections = serving.manager.metrics.registry.get_sample_value(
        "kubeloop_webhook_admission_rejections_total",
        {"webhook": f"/validate-{GROUP.replace('.', '-')}-v1-appservice", "code": "422"},
    )
    assert rejections is not None
    assert rejections >= 1


async def test_a_handler_that_raises_answers_an_error_and_the_server_keeps_serving(
    serving: kl.Operator, kubectl: Kubectl, namespace: str
) -> None:
    failed = await run(
        kubectl, "apply", "-f", "-", input=manifest(namespace, "boom", image="explode"), check=False
    )
    assert failed.returncode != 0
    assert "denied the request: internal error in validator of AppService" in failed.stderr
    assert "RuntimeError: the validator exploded" in failed.stderr
    # not a transport failure: the API server got an answer (a dropped connection reads
    # "failed calling webhook")
    assert "failed calling webhook" not in failed.stderr
    await run(kubectl, "apply", "-f", "-", input=manifest(namespace, "fine", size=3))


async def test_a_rotated_certificate_is_picked_up_without_restart(
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    appservice_crd: str,
    cert_dir: tuple[Path, bytes],
) -> None:
    operator = operator_for(namespace)
    directory, ca = cert_dir
    async with run_operator(operator, cluster.kubeconfig, serving_from(directory)):
        server = operator.webhook_server
        assert server is not None
        await until(server.started, within=10, what="webhook server listening")
        port = server.port
        async with installed(kubectl, operator, ca):
            await until(lambda: defaulting_active(kubectl, namespace), within=30, what="webhooks active")
        # Once the API server no longer calls with the old configuration, a new CA and serving
        # certificate are written while the server runs, and the configurations re-created trusting
        # only the new CA: calls then succeed only if the new certificate is served.
        await until(
            lambda: _not(defaulting_active(kubectl, namespace)), within=30, what="old configuration gone"
        )
        new_ca = webhook.serving_certificate(directory)
        await until(lambda: server.certs.reloads >= 1, within=10, what="certificate reload")
        async with installed(kubectl, operator, new_ca):
            await until(
                lambda: defaulting_active(kubectl, namespace), within=30, what="webhooks active with new CA"
            )
            await run(kubectl, "apply", "-f", "-", input=manifest(namespace, "rotated"))
            image = (
                await run(
                    kubectl, "get", "appservice", "rotated", "-n", namespace, "-o", "jsonpath={.spec.image}"
                )
            ).stdout
            assert image == "nginx:1.27"
        assert server.port == port
        assert operator.webhook_server is server


async def _not(check: Any) -> bool:
    return not await check


async def test_a_local_run_installs_configurations_reaching_it_and_removes_them_on_exit(
    cluster: Cluster, kubectl: Kubectl, namespace: str, appservice_crd: str
) -> None:
    operator = operator_for(namespace)
    names = [f"mutating-{operator.name}", f"validating-{operator.name}"]
    local = ManagerOptions(webhook_server=WebhookServerOptions(bind_address="127.0.0.1:0", local=True))
    async with run_operator(operator, cluster.kubeconfig, local):
        server = operator.webhook_server
        assert server is not None
        await until(lambda: defaulting_active(kubectl, namespace), within=30, what="webhooks active")
        mutating = (await run(kubectl, "get", "mutatingwebhookconfiguration", names[0], "-o", "json")).stdout
        assert f'"url": "https://127.0.0.1:{server.port}/mutate-' in mutating
    for kind, name in zip(
        ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"), names, strict=True
    ):
        gone = await run(kubectl, "get", kind, name, check=False)
        assert "NotFound" in gone.stderr
