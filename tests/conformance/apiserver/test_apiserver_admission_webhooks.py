"""Admission webhooks called by both servers from their configurations, compared answer by answer:
mutating (JSONPatch, warnings, reinvocation) before validating, denials with the webhook's status,
selectors and rules, matchPolicy, dry run, and the failures: a webhook down (failurePolicy Fail vs
Ignore, blocking only its rules' kinds), a timeout and an invalid response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from admission_hooks import GROUP_PATH, HookServer, allow, closed_port, configured, deny, hook, json_patch
from apiserver_twin import Twin

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"


@pytest.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[HookServer]:
    async with HookServer(tmp_path) as server:
        yield server


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": data,
    }


def labels_of(obj: Obj | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


async def test_mutating_webhooks_patch_before_validating_webhooks_check_and_deny(
    twin: Twin, tns: str, hooks: HookServer
) -> None:
    def label(request: Obj) -> Obj:
        labels = {**labels_of(request["object"]), "mutated": "yes"}
        return allow(
            warnings=["label added"], **json_patch({"op": "add", "path": "/metadata/labels", "value": labels})
        )

    def check(request: Obj) -> Obj:
        if request["operation"] == "DELETE":
            if "protected" in labels_of(request["oldObject"]):
                return deny("protected", code=422, reason="Invalid")
            return allow()
        if labels_of(request["object"]).get("mutated") != "yes":
            return deny("not mutated")
        if "bad" in (request["object"].get("data") or {}):
            return {"allowed": False, "status": {"message": "bad data"}}
        return allow(warnings=["checked"])

    hooks.handlers.update({"/label": label, "/check": check})
    unskipped = {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}
    everything = [
        {"operations": ["*"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["configmaps", "pods/*"]}
    ]
    path = f"/api/v1/namespaces/{tns}/configmaps"
    async with (
        configured(
            twin,
            hooks,
            tns,
            "MutatingWebhookConfiguration",
            [hook("label.kubeloop.test", hooks.client("/label"), tns, objectSelector=unskipped)],
        ),
        configured(
            twin,
            hooks,
            tns,
            "ValidatingWebhookConfiguration",
            [hook("check.kubeloop.test", hooks.client("/check"), tns, rules=everything)],
        ),
    ):
        real, embedded = await twin.call("POST", path, configmap("good", {"protected": "1"}, a="1"))
        assert real.status == embedded.status == 201, embedded.body
        assert labels_of(real.body) == labels_of(embedded.body) == {"protected": "1", "mutated": "yes"}
        assert real.warnings == embedded.warnings == ['299 - "label added"', '299 - "checked"']
        # denials: the webhook's status (code, reason) with its name in the message; nothing stored
        await twin.same_refusal("POST", path, configmap("skipped", {"skip": "1"}))
        await twin.same_refusal("POST", path, configmap("bad", bad="1"))
        await twin.same_refusal("PATCH", f"{path}/good", {"data": {"bad": "1"}}, MERGE)
        await twin.same_refusal("DELETE", f"{path}/good")
        calls = [r["operation"] for r in hooks.calls["/check"]]
        assert calls.count("DELETE") == 2  # one per server; the dry-run probes are not ConfigMaps here
        # an update both allow; the validating webhook saw the mutated object
        real, embedded = await twin.call("PATCH", f"{path}/good", {"data": {"b": "2"}}, MERGE)
        assert real.status == embedded.status == 200, embedded.body
        assert real.body["data"] == embedded.body["data"] == {"a": "1", "b": "2"}


async def test_a_refused_write_carries_the_warnings_of_the_webhooks_it_called(
    twin: Twin, tns: str, hooks: HookServer
) -> None:
    # Noticed in session 13: the embedded server sent webhooks' warnings only with an accepted write,
    # and never with a delete. The real server records each webhook's warnings as its answer comes,
    # the refusing one's too, for every operation.
    def check(request: Obj) -> Obj:
        name, operation = request.get("name"), request["operation"]
        if name == "refused" or (name == "kept" and operation == "DELETE"):
            return {**deny(f"not {name}"), "warnings": [f"{name} here"]}
        return allow(warnings=[f"{request['operation'].lower()} allowed"])

    hooks.handlers.update({"/warn": lambda request: allow(warnings=["mutated here"]), "/check": check})
    creates_deletes = [
        {
            "operations": ["CREATE", "DELETE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["configmaps"],
        }
    ]
    async with (
        configured(
            twin,
            hooks,
            tns,
            "MutatingWebhookConfiguration",
            [hook("warn.kubeloop.test", hooks.client("/warn"), tns)],
        ),
        configured(
            twin,
            hooks,
            tns,
            "ValidatingWebhookConfiguration",
            [hook("check.kubeloop.test", hooks.client("/check"), tns, rules=creates_deletes)],
        ),
    ):
        path = f"/api/v1/namespaces/{tns}/configmaps"
        steps = [
            ("POST", path, configmap("refused"), 403, ["mutated here", "refused here"]),
            ("POST", path, configmap("gone"), 201, ["mutated here", "create allowed"]),
            ("DELETE", f"{path}/gone", None, 200, ["delete allowed"]),
            ("POST", path, configmap("kept"), 201, ["mutated here", "create allowed"]),
            ("DELETE", f"{path}/kept", None, 403, ["kept here"]),
        ]
        for method, where, body, status, warnings in steps:
            real, embedded = await twin.call(method, where, body)
            assert real.status == embedded.status == status, embedded.body
            assert embedded.warnings == real.warnings == [f'299 - "{w}"' for w in warnings], where


async def test_reinvocation_dry_run_match_policy_and_match_conditions(
    twin: Twin, tns: str, hooks: HookServer
) -> None:
    def first(request: Obj) -> Obj:
        annotations = dict(request["object"]["metadata"].get("annotations") or {})
        annotations["calls"] = str(int(annotations.get("calls", "0")) + 1)
        annotations["saw-second"] = str("second" in labels_of(request["object"]))
        annotations["dry-run"] = str(request["dryRun"])
        annotations["named"] = f"{request.get('name', '')}/{request['object']['metadata'].get('name', '')}"
        return allow(**json_patch({"op": "add", "path": "/metadata/annotations", "value": annotations}))

    def second(request: Obj) -> Obj:
        labels = {**labels_of(request["object"]), "second": "yes"}
        return allow(**json_patch({"op": "add", "path": "/metadata/labels", "value": labels}))

    def versions(request: Obj) -> Obj:
        return deny(f"called as {request['kind']['version']} for {request['requestKind']['version']}")

    hooks.handlers.update({"/first": first, "/second": second, "/versions": versions})
    hpa_v1 = [
        {
            "operations": ["CREATE"],
            "apiGroups": ["autoscaling"],
            "apiVersions": ["v1"],
            "resources": ["horizontalpodautoscalers"],
        }
    ]
    async with configured(
        twin,
        hooks,
        tns,
        "MutatingWebhookConfiguration",
        [
            hook("first.kubeloop.test", hooks.client("/first"), tns, reinvocationPolicy="IfNeeded"),
            hook("second.kubeloop.test", hooks.client("/second"), tns),
            hook("equivalent.kubeloop.test", hooks.client("/versions"), tns, rules=hpa_v1),
            hook(
                "exact.kubeloop.test",
                hooks.client("/versions"),
                tns,
                rules=hpa_v1,
                matchPolicy="Exact",
                objectSelector={"matchLabels": {"exact": "only"}},
            ),
            hook(
                "conditional.kubeloop.test",
                hooks.client("/versions"),
                tns,
                objectSelector={"matchLabels": {"cond": "yes"}},
                matchConditions=[{"name": "named-cond", "expression": "object.metadata.name == 'cond'"}],
            ),
            hook(
                "conditional-ignored.kubeloop.test",
                hooks.client("/versions"),
                tns,
                objectSelector={"matchLabels": {"cond": "ignore"}},
                matchConditions=[{"name": "named-cond", "expression": "object.metadata.name == 'cond'"}],
                failurePolicy="Ignore",
            ),
        ],
    ):
        path = f"/api/v1/namespaces/{tns}/configmaps"
        real, embedded = await twin.call("POST", f"{path}?dryRun=All", configmap("twice"))
        assert real.status == embedded.status == 201, embedded.body
        annotations = [answer.body["metadata"]["annotations"] for answer in (real, embedded)]
        expected = {"calls": "2", "saw-second": "True", "dry-run": "True", "named": "twice/twice"}
        assert annotations[0] == annotations[1] == expected
        assert [answer.status for answer in await twin.call("GET", f"{path}/twice")] == [404, 404]
        # a generated name comes after the mutating webhooks
        generated = {"metadata": {"generateName": "gen-"}}
        answers = await twin.call("POST", f"{path}?dryRun=All", generated)
        assert [a.body["metadata"]["annotations"]["named"] for a in answers] == ["/", "/"]
        # matchPolicy Equivalent: a rule for autoscaling/v1 is called (as v1) for a v2 request; Exact is not
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h", "labels": {"exact": "only"}},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"},
                "maxReplicas": 2,
            },
        }
        refused = await twin.same_refusal(
            "POST", f"/apis/autoscaling/v2/namespaces/{tns}/horizontalpodautoscalers", hpa
        )
        assert "called as v1 for v2" in refused.body["message"]
        assert len(hooks.calls["/versions"]) == 2  # equivalent.kubeloop.test once per server
        # matchConditions: only the ConfigMap named cond is sent to conditional.kubeloop.test
        refused = await twin.same_refusal("POST", path, configmap("cond", {"cond": "yes"}))
        assert "called as v1 for v1" in refused.body["message"]
        # a condition that cannot be evaluated (no name yet) is a 403
        refused = await twin.same_status(
            "POST", path, {"metadata": {"generateName": "c-", "labels": {"cond": "yes"}}}
        )
        assert refused.status == 403
        # ... unless its failurePolicy is Ignore: the webhook is skipped (not called: it would refuse)
        generated = {"metadata": {"generateName": "c-", "labels": {"cond": "ignore"}}}
        real, embedded = await twin.call("POST", f"{path}?dryRun=All", generated)
        assert real.status == embedded.status == 201, embedded.body


async def test_a_failing_webhook_blocks_only_its_kinds_as_its_failure_policy_says(
    twin: Twin, tns: str, hooks: HookServer
) -> None:
    async def slow(request: Obj) -> Obj:
        await asyncio.sleep(2)
        return allow()

    hooks.handlers.update(
        {"/slow": slow, "/absent": lambda request: None, "/patching": lambda request: allow(patch="W10=")}
    )
    down = {"url": f"https://127.0.0.1:{closed_port()}/validate", "caBundle": hooks.client("/")["caBundle"]}

    def only(kind: str) -> Obj:
        return {"matchLabels": {"case": kind}}

    secrets = [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["secrets"]}]
    async with configured(
        twin,
        hooks,
        tns,
        "ValidatingWebhookConfiguration",
        [
            hook("down.kubeloop.test", down, tns, objectSelector=only("down")),
            hook("ignored.kubeloop.test", down, tns, rules=secrets, failurePolicy="Ignore"),
            hook(
                "slow.kubeloop.test",
                hooks.client("/slow"),
                tns,
                objectSelector=only("slow"),
                timeoutSeconds=1,
            ),
            hook("absent.kubeloop.test", hooks.client("/absent"), tns, objectSelector=only("absent")),
            hook("patching.kubeloop.test", hooks.client("/patching"), tns, objectSelector=only("patching")),
        ],
    ):
        path = f"/api/v1/namespaces/{tns}/configmaps"
        for case in ("down", "slow", "absent", "patching"):
            refused = await twin.same_refusal("POST", path, configmap(case, {"case": case}))
            assert refused.status == 500
            assert f'failed calling webhook "{case}.kubeloop.test"' in refused.body["message"]
        # the same webhook down with failurePolicy Ignore lets Secrets through; other kinds are untouched
        for kind, body in (("secrets", {"metadata": {"name": "s"}}), ("configmaps", configmap("other"))):
            real, embedded = await twin.call("POST", f"/api/v1/namespaces/{tns}/{kind}", body)
            assert real.status == embedded.status == 201, embedded.body


async def test_a_webhook_is_called_through_an_external_name_service(
    twin: Twin, tns: str, tmp_path: Path
) -> None:
    # As kube-apiserver's service resolver: the URL and the certificate name <service>.<ns>.svc, the
    # connection goes to the ExternalName's host at the webhook's port; a missing Service fails the call.
    def check(request: Obj) -> Obj:
        return (
            deny("refused through the Service")
            if labels_of(request["object"]).get("case") == "deny"
            else allow()
        )

    async with HookServer(tmp_path, f"hooks.{tns}.svc") as hooks:
        hooks.handlers["/check"] = check
        service = {
            "metadata": {"name": "hooks"},
            "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
        }
        real, embedded = await twin.call("POST", f"/api/v1/namespaces/{tns}/services", service)
        assert real.status == embedded.status == 201, embedded.body
        ca = hooks.client("/")["caBundle"]
        through = {
            "service": {"name": "hooks", "namespace": tns, "port": hooks.port, "path": "/check"},
            "caBundle": ca,
        }
        missing = {"service": {"name": "missing", "namespace": tns, "path": "/check"}, "caBundle": ca}
        absent = {"matchLabels": {"case": "missing"}}
        async with configured(
            twin,
            hooks,
            tns,
            "ValidatingWebhookConfiguration",
            [
                hook("service.kubeloop.test", through, tns),
                hook("missing.kubeloop.test", missing, tns, objectSelector=absent),
            ],
        ):
            path = f"/api/v1/namespaces/{tns}/configmaps"
            real, embedded = await twin.call("POST", path, configmap("allowed"))
            assert real.status == embedded.status == 201, embedded.body
            refused = await twin.same_refusal("POST", path, configmap("denied", {"case": "deny"}))
            assert "refused through the Service" in refused.body["message"]
            refused = await twin.same_refusal("POST", path, configmap("missing", {"case": "missing"}))
            assert 'service "missing" not found' in refused.body["message"], refused.body
            assert len(hooks.calls["/check"]) == 6  # allowed, denied and missing, on each server


async def test_webhook_configurations_are_defaulted_and_validated(twin: Twin, tns: str) -> None:
    path = f"{GROUP_PATH}/mutatingwebhookconfigurations"
    good = {"url": "https://127.0.0.1:1/x"}
    name = f"{tns}-checked"

    def configuration(*hooks: Obj) -> Obj:
        return {"metadata": {"name": name}, "webhooks": list(hooks)}

    for bad in (
        hook("short.name", good, tns),
        hook("side.kubeloop.test", good, tns, sideEffects="Some"),
        hook("none.kubeloop.test", good, tns, sideEffects=None),
        hook(
            "enums.kubeloop.test",
            good,
            tns,
            failurePolicy="Never",
            matchPolicy="Loose",
            reinvocationPolicy="Always",
        ),
        hook("slow.kubeloop.test", good, tns, timeoutSeconds=31),
        hook("plain.kubeloop.test", {"url": "http://127.0.0.1:1/x?y=1"}, tns),
        hook(
            "both.kubeloop.test",
            {"url": "https://127.0.0.1:1/", "service": {"name": "s", "namespace": "n"}},
            tns,
        ),
        hook("versions.kubeloop.test", good, tns, admissionReviewVersions=["v2"]),
    ):
        await twin.same_refusal("POST", path, configuration({k: v for k, v in bad.items() if v is not None}))
    await twin.same_refusal("POST", path, configuration(hook("a.b.c", good, tns), hook("a.b.c", good, tns)))
    defaulted = hook(
        "plain.kubeloop.test",
        good,
        tns,
        rules=[{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
    )
    for key in ("namespaceSelector", "timeoutSeconds"):
        del defaulted[key]
    real, embedded = await twin.call("POST", path, configuration(defaulted))
    try:
        assert real.status == embedded.status == 201
        assert real.body["webhooks"] == embedded.body["webhooks"]
    finally:
        await twin.call("DELETE", f"{path}/{name}")
