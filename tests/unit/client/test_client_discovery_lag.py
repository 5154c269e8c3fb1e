"""The RestMapper's wait for a custom kind that kube-apiserver lists in discovery a moment after its CRD
became Established (the CI failure of docs/webhooks.md's example: a create right after the wait for
Established was refused with "no resource for kind"), and what a lookup remembers between reloads.
The lag cannot be forced on a real server, so a stand-in serves the two aggregated discovery documents
and decides when the kind appears (and goes)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kubeloop.client import UnknownResourceError
from kubeloop.client.discovery import DISCOVERY_LAG, RestMapper
from kubeloop.client.transport import Transport
from kubeloop.clock import InstantClock


def _group(name: str, kinds: list[tuple[str, str]]) -> dict[str, Any]:
    resources = [
        {"resource": plural, "responseKind": {"kind": kind}, "scope": "Namespaced", "verbs": ["get"]}
        for kind, plural in kinds
    ]
    return {"metadata": {"name": name}, "versions": [{"version": "v1", "resources": resources}]}


class LaggingDiscovery:
    """Aggregated discovery in which ``example.com/v1`` ``Widget`` is listed from load ``shows_at`` on
    (a load being the pair of /api and /apis requests)."""

    def __init__(self, shows_at: int | None, hides_at: int | None = None) -> None:
        self.shows_at = shows_at
        self.hides_at = hides_at  # from this load on, not listed again (its CRD deleted)
        self.loads = 0

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert method == "GET"
        if path == "/api":
            self.loads += 1
            return {"kind": "APIGroupDiscoveryList", "items": [_group("", [("ConfigMap", "configmaps")])]}
        assert path == "/apis"
        shown = self.shows_at is not None and self.loads >= self.shows_at
        shown = shown and (self.hides_at is None or self.loads < self.hides_at)
        widgets = [("Widget", "widgets")] if shown else []
        items = [_group("apps", [("Deployment", "deployments")]), _group("example.com", widgets)]
        return {"kind": "APIGroupDiscoveryList", "items": items}


def _mapper(discovery: LaggingDiscovery) -> tuple[RestMapper, InstantClock]:
    clock = InstantClock()
    return RestMapper(cast(Transport, discovery), clock=clock), clock


async def test_a_kind_to_be_written_is_found_once_discovery_lists_it_within_the_lag() -> None:
    discovery = LaggingDiscovery(shows_at=5)
    mapper, clock = _mapper(discovery)
    await mapper.for_kind("apps/v1", "Deployment")  # loaded before the CRD, as a client in use is

    found = await mapper.for_kind("example.com/v1", "Widget", wait=DISCOVERY_LAG)

    assert (found.plural, discovery.loads) == ("widgets", 5)
    assert 0 < clock.now() < DISCOVERY_LAG
    assert clock.slept == sorted(clock.slept)  # backing off


async def test_a_kind_never_listed_fails_after_the_lag_with_a_few_refreshes() -> None:
    discovery = LaggingDiscovery(shows_at=None)
    mapper, clock = _mapper(discovery)
    await mapper.for_kind("apps/v1", "Deployment")

    with pytest.raises(UnknownResourceError, match="no resource for kind 'Widget'"):
        await mapper.for_kind("example.com/v1", "Widget", wait=DISCOVERY_LAG)

    assert clock.now() == pytest.approx(DISCOVERY_LAG)
    assert discovery.loads <= 10


@pytest.mark.parametrize(("api_version", "wait"), [("v1", DISCOVERY_LAG), ("example.com/v1", 0.0)])
async def test_a_core_kind_or_a_lookup_without_wait_refreshes_once_and_does_not_wait(
    api_version: str, wait: float
) -> None:
    discovery = LaggingDiscovery(shows_at=3)
    mapper, clock = _mapper(discovery)
    await mapper.for_kind("apps/v1", "Deployment")

    with pytest.raises(UnknownResourceError):
        await mapper.for_kind(api_version, "Widget", wait=wait)

    assert (discovery.loads, clock.now()) == (2, 0.0)


async def test_a_reload_forgets_what_lookups_found() -> None:
    # Every request resolves its resource, answered from what earlier lookups found rather than by a
    # scan of every resource the server serves (hundreds with many CRDs); a reload forgets those
    # answers, so a kind gone since is not found again (a miss reloads once more, as before).
    discovery = LaggingDiscovery(shows_at=1, hides_at=2)
    mapper, _ = _mapper(discovery)
    by_name = await mapper.resolve("widgets.example.com")
    by_kind = await mapper.for_kind("example.com/v1", "Widget")
    assert await mapper.resolve("widgets.example.com") is by_name
    assert await mapper.for_kind("example.com/v1", "Widget") is by_kind
    assert discovery.loads == 1

    await mapper.refresh()

    with pytest.raises(UnknownResourceError):
        await mapper.resolve("widgets.example.com")
    with pytest.raises(UnknownResourceError):
        await mapper.for_kind("example.com/v1", "Widget")
    assert (await mapper.resolve("deployments")).kind == "Deployment"
