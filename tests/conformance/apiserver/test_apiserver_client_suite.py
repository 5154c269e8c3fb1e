"""The client conformance suite (``tests/conformance/client``), unchanged, against the embedded server.

Its test functions are loaded from their files and run here with ``client`` and ``namespace`` bound to
``EmbeddedServer`` instead of the real control plane, so the embedded server is held to the same
assertions the client was written against.
"""

from __future__ import annotations

import importlib.util
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import Kubectl

SUITE = Path(__file__).resolve().parent.parent / "client"
# Tests that act on the real control plane's internals (etcd compaction) have no embedded counterpart.
REAL_ONLY = {"test_exact_list_at_compacted_resource_version_raises_gone"}
MODULES = [
    "test_client_api_crud",
    "test_client_api_list",
    "test_client_api_patch",
    "test_client_api_watch",
    "test_client_api_custom_resources",
]

for _name in MODULES:
    _path = SUITE / f"{_name}.py"
    if not _path.exists():
        continue
    _spec = importlib.util.spec_from_file_location(f"embedded_{_name}", _path)
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    for _attr, _value in vars(_module).items():
        if _attr in REAL_ONLY:
            continue
        if _attr.startswith("test_") and callable(_value):
            globals()[f"{_attr}__{_name.removeprefix('test_client_api_')}"] = _value
        elif not _attr.startswith("_") and _attr not in globals() and not isinstance(_value, type(pytest)):
            globals()[_attr] = _value


@pytest.fixture
async def client(embedded_server: EmbeddedServer) -> AsyncIterator[Client]:
    async with await Client.load(embedded_server.kubeconfig, settings=ClientSettings(qps=None)) as c:
        yield c


@pytest.fixture
def kubectl(embedded_server: EmbeddedServer) -> Kubectl:
    return Kubectl(embedded_server.kubeconfig)


@pytest.fixture
def namespace(embedded_server: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[str]:
    kubectl = Kubectl(embedded_server.kubeconfig)
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.originalname.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
