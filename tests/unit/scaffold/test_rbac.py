"""RBAC rules derived from what an operator declares."""

from __future__ import annotations

import kubeloop as kl
from kubeloop import crd
from kubeloop.controller import map_to_self
from kubeloop.resources import apps_v1, core_v1
from kubeloop.scaffold import operator_rules


class WidgetSpec(crd.Model):
    size: int = 1


@crd.resource(group="example.io", version="v1")
class Widget(crd.CustomResource):
    spec: WidgetSpec


def test_rules_grant_exactly_what_the_declarations_need() -> None:
    operator = kl.Operator("widgets", rbac=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])

    @operator.reconcile(Widget, owns=[apps_v1.Deployment], watches=[(core_v1.ConfigMap, map_to_self)])
    async def reconcile(w: Widget, ctx: kl.Context) -> None:
        return None

    rules = {
        (r["apiGroups"][0], res): tuple(r["verbs"])
        for r in operator_rules(operator)
        for res in r["resources"]
    }
    assert rules == {
        ("example.io", "widgets"): ("get", "list", "patch", "update", "watch"),
        ("example.io", "widgets/status"): ("get", "patch", "update"),
        ("example.io", "widgets/finalizers"): ("update",),
        ("apps", "deployments"): ("create", "delete", "get", "list", "patch", "update", "watch"),
        ("", "configmaps"): ("get", "list", "watch"),
        ("", "events"): ("create", "patch"),
        ("events.k8s.io", "events"): ("create", "patch"),
        ("", "secrets"): ("get",),
    }
