"""The helm and helm-server binaries the Helm operator's conformance tests run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.testing.assets import find_binary


@pytest.fixture(scope="module")
def helm() -> Path:
    found = find_binary("helm")
    assert found is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
    return found


@pytest.fixture(scope="module")
def helm_server() -> Path:
    found = find_binary("helm-server")
    assert found is not None, (
        "no helm-server in the kubeloop cache: run `kubeloop controlplane build helm-server`"
    )
    return found
