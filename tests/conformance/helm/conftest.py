"""The helm binary the Helm operator's conformance tests run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.testing.assets import find_binary


@pytest.fixture(scope="module")
def helm() -> Path:
    found = find_binary("helm")
    assert found is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
    return found
