"""kubeloop.labels: one selector grammar; the embedded API server and the cache's matching agree."""

from __future__ import annotations

import pytest

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import BadRequestError, Client
from kubeloop.labels import LabelSelector, SelectorError, format_selector

LABELS = {
    "plain": {},
    "web-a": {"app": "web", "tier": "a"},
    "web-b": {"app": "web", "tier": "b"},
    "db": {"app": "db", "legacy": "1"},
    "empty-app": {"app": ""},
}
SELECTORS = ["app", "!app", "app=web", "app==web", "app!=web", "tier in (a,c)", "tier notin (a)",
             "app=web,tier in (a,b),!legacy", "app=", "legacy,app", " app = web , tier=b "]  # fmt: skip


async def test_the_embedded_server_selects_what_the_shared_grammar_matches() -> None:
    async with EmbeddedServer() as server, await Client.load(server.kubeconfig) as kube:
        for name, labels in LABELS.items():
            meta = {"name": name, "namespace": "default", "labels": labels}
            await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
        everything = (await kube.list("configmaps", namespace="default"))["items"]
        for selector in SELECTORS:
            served = await kube.list("configmaps", namespace="default", label_selector=selector)
            matched = {o["metadata"]["name"] for o in everything if LabelSelector.parse(selector).matches(o)}
            assert {o["metadata"]["name"] for o in served["items"]} == matched, selector
        with pytest.raises(BadRequestError, match="unable to parse requirement"):
            await kube.list("configmaps", namespace="default", label_selector="a b c")


@pytest.mark.parametrize(
    "text", ["a b c", "!a=b", "a in b", "=x"], ids=["spaces", "negated-equality", "no-parens", "no-key"]
)
def test_a_selector_that_does_not_parse_names_the_requirement(text: str) -> None:
    with pytest.raises(SelectorError, match="unable to parse requirement"):
        LabelSelector.parse(f"app=web,{text}")


def test_structured_selectors_format_sorted_by_key() -> None:
    structured = {
        "matchLabels": {"tier": "a", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "canary", "operator": "Exists"},
        ],
    }
    assert format_selector(structured) == "app=web,canary,env in (dev,prod),!legacy,tier=a"
    assert format_selector({}) == ""
