"""RBAC rules derived from what an operator declares."""

from __future__ import annotations

import kubeloop as kl
from kubeloop import crd
from kubeloop.controller import map_to_self
from kubeloop.resources import apps_v1, core_v1
from kubeloop.scaffold import leader_election_role, operator_rules


class WidgetSpec(crd.Model):
    size: int = 1


@crd.resource(group="example.io", version="v1")
class Widget(crd.CustomResource):
    spec: WidgetSpec


def test_rules_grant_exactly_what_the_declarations_need() -> None:
    operator = kl.Operator("widgets", rbac=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])

    @operator.reconcile(Widget, owns=[apps_v1.Deployment], watches=[kl.Watch(core_v1.ConfigMap, map_to_self)])
    async def reconcile(w: Widget, ctx: kl.Context) -> None:
        return None

    assert rule_map(operator) == {
        ("example.io", "widgets"): ("list", "watch"),
        ("example.io", "widgets/status"): ("patch",),
        ("example.io", "widgets/finalizers"): ("update",),
        ("apps", "deployments"): ("create", "delete", "list", "patch", "watch"),
        ("", "configmaps"): ("list", "watch"),
        ("events.k8s.io", "events"): ("create", "patch"),
        ("", "secrets"): ("get",),
    }


def rule_map(operator: kl.Operator) -> dict[tuple[str, str], tuple[str, ...]]:
    return {
        (r["apiGroups"][0], res): tuple(r["verbs"])
        for r in operator_rules(operator)
        for res in r["resources"]
    }


@crd.resource(group="example.io", version="v1", status=False)
class Gadget(crd.CustomResource):
    spec: WidgetSpec


def test_finalizers_and_status_without_subresource_patch_the_object_itself() -> None:
    operator = kl.Operator("gadgets")

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        return None

    @operator.finalize(Gadget)
    async def cleanup(g: Gadget, ctx: kl.Context) -> None:
        return None

    # No owned kinds: no owner references, so no <plural>/finalizers; no status subresource.
    assert rule_map(operator) == {
        ("example.io", "gadgets"): ("list", "patch", "watch"),
        ("events.k8s.io", "events"): ("create", "patch"),
    }


def test_a_finalizer_adds_patch_of_the_primary_beside_its_status() -> None:
    operator = kl.Operator("widgets")

    @operator.reconcile(Widget)
    async def reconcile(w: Widget, ctx: kl.Context) -> None:
        return None

    @operator.finalize(Widget)
    async def cleanup(w: Widget, ctx: kl.Context) -> None:
        return None

    rules = rule_map(operator)
    assert rules[("example.io", "widgets")] == ("list", "patch", "watch")
    assert rules[("example.io", "widgets/status")] == ("patch",)


def test_leader_election_role_gets_creates_and_updates_its_lease() -> None:
    (rule,) = leader_election_role("leader")["rules"]
    assert rule == {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["create", "get", "update"],
    }


def test_extra_rules_with_resource_names_or_urls_are_kept_as_they_are() -> None:
    named = {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["b", "a"],
        "verbs": ["update", "get"],
    }
    urls = {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}
    operator = kl.Operator("widgets", rbac=[named, urls])

    @operator.reconcile(Widget)
    async def reconcile(w: Widget, ctx: kl.Context) -> None:
        return None

    rules = operator_rules(operator)
    assert {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["a", "b"],
        "verbs": ["get", "update"],
    } in rules
    assert {"nonResourceURLs": ["/metrics"], "verbs": ["get"]} in rules
    broad = [r for r in rules if "configmaps" in r.get("resources", ()) and "resourceNames" not in r]
    assert broad == [], "no rule grants every ConfigMap"


def test_a_sharded_operator_may_patch_its_primary_kind_and_list_the_leases() -> None:
    operator = kl.Operator("widgets", sharding=True)

    @operator.reconcile(Widget)
    async def reconcile(w: Widget, ctx: kl.Context) -> None:
        return None

    assert rule_map(operator)[("example.io", "widgets")] == ("list", "patch", "watch")
    verbs = leader_election_role("r", sharded=True)["rules"][0]["verbs"]
    assert verbs == ["create", "get", "list", "update"]
    assert "list" not in leader_election_role("r")["rules"][0]["verbs"]
