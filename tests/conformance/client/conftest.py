"""Fixtures for the client conformance suite: a ``Client`` on the session control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubeloop.client import Client, ClientSettings
from kubeloop.testing.fixtures import Cluster


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[Client]:
    """A client with the admin kubeconfig; rate limiting off so tests are not slowed by it."""
    async with await Client.load(cluster.kubeconfig, settings=ClientSettings(qps=None)) as c:
        yield c
