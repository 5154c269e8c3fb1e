"""Kubeconfig parsing and merging (temp files), malformed-file messages, and the in-cluster config."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from kubeloop.client import ConfigError, load_config, load_in_cluster, load_kubeconfig


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def kubeconfig(cluster: str = "c1", user: str = "u1", context: str = "ctx1", **extra: object) -> dict:
    doc: dict = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.example:6443"}}],
        "users": [{"name": user, "user": {"token": f"token-{user}"}}],
        "contexts": [
            {"name": context, "context": {"cluster": cluster, "user": user, "namespace": f"ns-{context}"}}
        ],
        "current-context": context,
    }
    doc.update(extra)
    return doc


def test_current_context_selects_cluster_user_and_namespace(tmp_path: Path) -> None:
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig()))
    assert config.server == "https://c1.example:6443"
    assert config.token == "token-u1"
    assert config.namespace == "ns-ctx1"
    assert config.context == "ctx1"


def test_explicit_context_overrides_current_context(tmp_path: Path) -> None:
    doc = kubeconfig()
    doc["contexts"].append({"name": "other", "context": {"cluster": "c1", "user": "u1"}})
    config = load_kubeconfig(write(tmp_path / "config", doc), context="other")
    assert config.context == "other"
    assert config.namespace == "default"


def test_inline_certificate_data_is_decoded(tmp_path: Path) -> None:
    doc = kubeconfig()
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = b64(b"CA PEM")
    doc["users"][0]["user"] = {
        "client-certificate-data": b64(b"CERT PEM"),
        "client-key-data": b64(b"KEY PEM"),
    }
    config = load_kubeconfig(write(tmp_path / "config", doc))
    assert (config.ca_data, config.client_cert_data, config.client_key_data) == (
        b"CA PEM",
        b"CERT PEM",
        b"KEY PEM",
    )
    assert config.token is None


def test_certificate_paths_resolve_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(b"CA FILE")
    (tmp_path / "pki" / "client.crt").write_bytes(b"CERT FILE")
    (tmp_path / "pki" / "client.key").write_bytes(b"KEY FILE")
    doc = kubeconfig()
    doc["clusters"][0]["cluster"]["certificate-authority"] = "pki/ca.crt"
    doc["users"][0]["user"] = {
        "client-certificate": "pki/client.crt",
        "client-key": str(tmp_path / "pki/client.key"),
    }
    config = load_kubeconfig(write(tmp_path / "config", doc))
    assert (config.ca_data, config.client_cert_data, config.client_key_data) == (
        b"CA FILE",
        b"CERT FILE",
        b"KEY FILE",
    )


def test_token_file_exec_insecure_and_proxy_are_read(tmp_path: Path) -> None:
    doc = kubeconfig()
    doc["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": True, "proxy-url": "http://proxy:3128"})
    doc["users"][0]["user"] = {
        "tokenFile": "token",
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "./bin/plugin",
            "args": ["get-token"],
            "env": [{"name": "REGION", "value": "eu"}],
            "provideClusterInfo": True,
        },
    }
    config = load_kubeconfig(write(tmp_path / "config", doc))
    assert config.insecure_skip_tls_verify is True
    assert config.proxy_url == "http://proxy:3128"
    assert config.token_file == tmp_path / "token"
    assert config.exec is not None
    assert config.exec.command == str(tmp_path / "bin/plugin")
    assert config.exec.args == ("get-token",)
    assert config.exec.env == (("REGION", "eu"),)
    assert config.exec.api_version == "client.authentication.k8s.io/v1beta1"
    assert config.exec.provide_cluster_info is True


def test_impersonation_is_read_from_as_and_as_groups(tmp_path: Path) -> None:
    doc = kubeconfig()
    doc["users"][0]["user"].update({"as": "system:serviceaccount:ns:sa", "as-groups": ["a", "b"]})
    config = load_kubeconfig(write(tmp_path / "config", doc))
    assert config.impersonate == "system:serviceaccount:ns:sa"
    assert config.impersonate_groups == ("a", "b")


def test_exec_command_without_a_path_separator_is_left_for_path_lookup(tmp_path: Path) -> None:
    doc = kubeconfig()
    doc["users"][0]["user"] = {"exec": {"command": "aws", "args": ["eks", "get-token"]}}
    config = load_kubeconfig(write(tmp_path / "config", doc))
    assert config.exec is not None
    assert config.exec.command == "aws"


def test_kubeconfig_env_merges_files_first_definition_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(cluster="shared", user="u1", context="ctx1")
    second = kubeconfig(cluster="shared", user="u2", context="ctx2")
    second["clusters"][0]["cluster"]["server"] = "https://ignored.example"
    a = write(tmp_path / "a", first)
    b = write(tmp_path / "b", second)
    monkeypatch.setenv("KUBECONFIG", f"{a}:{tmp_path / 'missing'}:{b}")
    config = load_config()
    assert config.context == "ctx1"  # current-context of the first file that sets one
    other = load_config(context="ctx2")  # a context only the second file defines
    assert other.token == "token-u2"
    assert other.server == "https://shared.example:6443"  # cluster "shared" from the first file wins


def test_current_context_from_a_later_file_when_the_first_sets_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(context="ctx1")
    del first["current-context"]
    a = write(tmp_path / "a", first)
    b = write(tmp_path / "b", {"current-context": "ctx1"})
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    assert load_config().context == "ctx1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("clusters: [\n  - name: x\n  bad", "invalid YAML at line", id="broken-yaml"),
        pytest.param("- just\n- a list\n", "top level must be a mapping", id="not-a-mapping"),
        pytest.param("clusters: {name: x}\n", "'clusters' must be a list", id="clusters-not-list"),
        pytest.param("clusters:\n- cluster: {server: https://x}\n", "clusters[0] has no name", id="unnamed"),
        pytest.param("current-context: nope\n", "context 'nope' not found", id="missing-context"),
        pytest.param("contexts: []\n", "no current-context", id="no-current-context"),
    ],
)
def test_malformed_kubeconfig_gives_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken-config"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_kubeconfig(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda d: d["contexts"][0]["context"].update(cluster="ghost"),
            "unknown cluster 'ghost'",
            id="cluster",
        ),
        pytest.param(
            lambda d: d["contexts"][0]["context"].update(user="ghost"), "unknown user 'ghost'", id="user"
        ),
        pytest.param(lambda d: d["clusters"][0]["cluster"].pop("server"), "has no server", id="server"),
        pytest.param(
            lambda d: d["users"][0]["user"].update({"client-key-data": "%%%"}),
            "client-key-data is not valid base64",
            id="base64",
        ),
        pytest.param(
            lambda d: d["users"][0]["user"].update({"client-certificate": "nowhere.crt"}),
            "nowhere.crt",
            id="cert-file",
        ),
        pytest.param(
            lambda d: d["users"][0]["user"].update({"exec": {"args": []}}),
            "exec config has no command",
            id="exec",
        ),
    ],
)
def test_inconsistent_kubeconfig_names_the_problem(tmp_path: Path, mutate, message: str) -> None:
    doc = kubeconfig()
    mutate(doc)
    path = write(tmp_path / "config", doc)
    with pytest.raises(ConfigError) as err:
        load_kubeconfig(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_no_existing_kubeconfig_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no kubeconfig file exists"):
        load_kubeconfig([tmp_path / "absent"])


def test_in_cluster_config_reads_service_account_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(b"CLUSTER CA")
    (tmp_path / "namespace").write_text("operators\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = load_in_cluster(tmp_path)
    assert config.server == "https://10.0.0.1:443"
    assert config.namespace == "operators"
    assert config.ca_data == b"CLUSTER CA"
    assert config.token_file == tmp_path / "token"
    assert config.token is None  # kept as a file so a rotated token is read again


def test_in_cluster_ipv6_host_is_bracketed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("t")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    assert load_in_cluster(tmp_path).server == "https://[fd00::1]:6443"


def test_in_cluster_without_env_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        load_in_cluster(tmp_path)
