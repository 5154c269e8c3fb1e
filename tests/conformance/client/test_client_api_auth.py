"""Authentication paths against the real kube-apiserver: bad tokens, an exec plugin handing out the admin
client certificate, and a rotating service-account token file."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import stat
import sys
from pathlib import Path

import pytest

from kubeloop.client import (
    Client,
    ClientConfig,
    ExecConfig,
    ForbiddenError,
    UnauthorizedError,
    load_kubeconfig,
)
from kubeloop.testing import Kubectl
from kubeloop.testing.fixtures import Cluster


def admin_config(cluster: Cluster) -> ClientConfig:
    return load_kubeconfig(cluster.kubeconfig)


def anonymous(config: ClientConfig, **changes: object) -> ClientConfig:
    return dataclasses.replace(config, client_cert_data=None, client_key_data=None, **changes)  # type: ignore[arg-type]


async def test_bogus_bearer_token_raises_unauthorized_naming_the_server_and_the_credentials(
    cluster: Cluster,
) -> None:
    config = anonymous(admin_config(cluster), token="not-a-real-token")
    async with Client(config) as client:
        with pytest.raises(UnauthorizedError) as err:
            await client.get("namespaces", "default")
    assert err.value.code == 401
    # what `kubeloop run` prints: the server's message ("Unauthorized") says nothing of whose credentials
    assert str(err.value).endswith(
        f"(the API server {config.server} refused the bearer token of context {config.context!r}"
        f" in {cluster.kubeconfig})"
    ), str(err.value)


async def test_exec_plugin_client_certificate_authenticates_and_is_cached(
    cluster: Cluster, tmp_path: Path
) -> None:
    admin = admin_config(cluster)
    assert admin.client_cert_data
    assert admin.client_key_data
    calls = tmp_path / "calls"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": admin.client_cert_data.decode(),
            "clientKeyData": admin.client_key_data.decode(),
        },
    }
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(calls)!r}, 'a').write(os.environ['KUBERNETES_EXEC_INFO'] + '\\n')\n"
        f"sys.stdout.write(json.dumps({credential!r}))\n"
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    config = anonymous(admin, exec=ExecConfig(command=str(plugin), provide_cluster_info=True))
    async with Client(config) as client:
        for _ in range(3):
            assert (await client.get("namespaces", "default"))["metadata"]["name"] == "default"
    runs = calls.read_text().splitlines()
    assert len(runs) == 1
    info = json.loads(runs[0])
    assert info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == admin.server


async def test_rotated_token_file_is_reread_after_a_401_and_rbac_is_enforced(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(kubectl, "create", "serviceaccount", "reader", "-n", namespace)
    token = (await asyncio.to_thread(kubectl, "create", "token", "reader", "-n", namespace)).stdout.strip()
    token_file = tmp_path / "token"
    token_file.write_text("stale-token\n")
    config = anonymous(admin_config(cluster), token_file=token_file)
    async with Client(config) as client:
        with pytest.raises(UnauthorizedError):
            await client.get("configmaps", "kube-root-ca.crt", namespace=namespace)
        token_file.write_text(token + "\n")  # the kubelet rotates the projected token in place
        with pytest.raises(ForbiddenError) as err:  # authenticated now, but the account has no role yet
            await client.list("configmaps", namespace=namespace)
        assert "reader" in err.value.message
        await asyncio.to_thread(
            kubectl, "create", "role", "read-cm", "--verb=list", "--resource=configmaps", "-n", namespace
        )
        await asyncio.to_thread(
            kubectl,
            "create",
            "rolebinding",
            "read-cm",
            "--role=read-cm",
            f"--serviceaccount={namespace}:reader",
            "-n",
            namespace,
        )
        async with asyncio.timeout(30):
            while True:
                try:
                    page = await client.list("configmaps", namespace=namespace)
                    break
                except ForbiddenError:
                    await asyncio.sleep(0.2)
        assert page["kind"] == "ConfigMapList"


async def test_an_impersonating_client_acts_as_the_service_account_with_its_rights(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    await asyncio.to_thread(kubectl, "create", "serviceaccount", "deployer", "-n", namespace)
    user = f"system:serviceaccount:{namespace}:deployer"
    async with Client(admin_config(cluster)) as admin, admin.impersonating(user) as client:
        with pytest.raises(ForbiddenError) as err:
            await client.list("configmaps", namespace=namespace)
        assert user in err.value.message
        review = await client.create({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert review["status"]["userInfo"]["username"] == user
        assert f"system:serviceaccounts:{namespace}" in review["status"]["userInfo"]["groups"]
        await asyncio.to_thread(
            kubectl,
            "create",
            "rolebinding",
            "view",
            "--clusterrole=view",
            f"--serviceaccount={namespace}:deployer",
            "-n",
            namespace,
        )
        async with asyncio.timeout(30):
            while True:
                try:
                    page = await client.list("configmaps", namespace=namespace)
                    break
                except ForbiddenError:
                    await asyncio.sleep(0.2)
        assert page["kind"] == "ConfigMapList"
        assert (await admin.list("configmaps", namespace=namespace))["kind"] == "ConfigMapList"
