"""Namespaces for tests made and deleted with one HTTPS request each (``temporary_namespace``, and so
the ``namespace`` fixture).

The fixture ran ``kubectl create namespace`` and ``kubectl delete namespace`` for every test that uses
it: two processes of a few tenths of a second of CPU and wall time each, in some three hundred tests
of this project's suite on a 2-core machine. A blocking request does the same in milliseconds, and
from a fixture that is not async. Kubeconfigs this does not speak (an exec plugin, a token file,
basic auth, a proxy, impersonation, a TLS server name) return None from ``for_kubeconfig``: the
caller uses kubectl then.
"""

from __future__ import annotations

import functools
import json
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from kubeloop.client.config import ClientConfig, load_kubeconfig

__all__ = ["NamespaceApi"]


class NamespaceApi:
    """Creates and deletes namespaces of the cluster of one admin kubeconfig."""

    def __init__(self, config: ClientConfig) -> None:
        self._server = config.server.rstrip("/")
        ctx = ssl.create_default_context(cadata=config.ca_data.decode() if config.ca_data else None)
        if config.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if config.client_cert_data and config.client_key_data:
            with tempfile.TemporaryDirectory(prefix="kubeloop-ns-") as tmp:  # load_cert_chain reads files
                cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
                cert.write_bytes(config.client_cert_data)
                key.write_bytes(config.client_key_data)
                key.chmod(0o600)
                ctx.load_cert_chain(cert, key)
        self._ssl = ctx
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if config.token:
            self._headers["Authorization"] = f"Bearer {config.token}"

    @staticmethod
    @functools.cache
    def for_kubeconfig(kubeconfig: Path) -> NamespaceApi | None:
        """The API of ``kubeconfig``'s cluster (made once per file), or None when it needs kubectl."""
        config = load_kubeconfig(kubeconfig)
        unspoken = (
            config.exec,
            config.token_file,
            config.username,
            config.proxy_url,
            config.impersonate,
            config.tls_server_name,
        )
        return None if any(unspoken) else NamespaceApi(config)

    def create(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self._call("POST", "/api/v1/namespaces", json.dumps(body).encode())

    def delete(self, name: str) -> None:
        """Delete ``name`` without waiting for it to go; nothing when it is gone already."""
        try:
            self._call("DELETE", f"/api/v1/namespaces/{name}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    def _call(self, method: str, path: str, body: bytes | None = None) -> None:
        request = urllib.request.Request(self._server + path, data=body, method=method, headers=self._headers)
        with urllib.request.urlopen(request, timeout=30, context=self._ssl) as resp:
            resp.read()
