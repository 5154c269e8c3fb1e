"""The helm.sdk.operatorframework.io annotations of operator-sdk's helm-operator, each beside a Pin
without it, on the real control plane. The operator does not watch the release's objects here, so
nothing but the Pin's own events and periods reconciles it. The watch's ``overrideValues`` win over
the spec's values (a Pin's ``team``):

- ``upgrade-force: "true"``: the upgrade replaces the Deployment (``helm upgrade --force``): a label
  added by hand is gone; a plain upgrade (a three-way merge) keeps it.
- ``rollback-force``: the rollback after a failed upgrade (an immutable selector) replaces by default
  (the hand-added label gone); ``"false"`` rolls back by a patch (the label kept).
- ``uninstall-wait: "true"``: deleting the Pin waits until the release's Deployment (held by a
  finalizer) is gone, saying so in its Deployed condition, and the release's record is purged then;
  a plain Pin goes at once.
- ``reconcile-period: 1s``: the Deployment scaled by hand is put back by the periodic reconcile; a
  plain Pin's stays scaled. A value that is not a duration is Irreconcilable, naming the annotation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.gvk import GroupVersionKind
from kubeloop.helm import (
    RECONCILE_PERIOD,
    ROLLBACK_FORCE,
    UNINSTALL_WAIT,
    UPGRADE_FORCE,
    HelmOperator,
    HelmWatch,
)
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster

HERE = Path(__file__).parent
RESOURCE = "pins.helm.kubeloop.test"
HOLD = "test.kubeloop.dev/hold"
WATCH = HelmWatch(
    GroupVersionKind("helm.kubeloop.test", "v1", "Pin"),
    HERE / "charts" / "pinned",
    override_values={"team": "platform"},
    watch_dependent_resources=False,
)


def pin(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "helm.kubeloop.test/v1",
        "kind": "Pin",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"track": "stable", "team": "mine"},
    }


@pytest.mark.usefixtures("pins_crd")
async def test_the_operator_sdk_annotations_change_upgrades_rollbacks_uninstalls_and_periods(
    helm: Path,
    helm_server: Path,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    client: Client,
    tmp_path: Path,
) -> None:
    ns = namespace

    async def get(name: str) -> dict[str, Any] | None:
        found: list[dict[str, Any]] = (await client.list(RESOURCE, namespace=ns))["items"]
        return next((p for p in found if p["metadata"]["name"] == name), None)

    async def condition(name: str, type_: str) -> dict[str, Any]:
        conditions = (((await get(name)) or {}).get("status") or {}).get("conditions") or ()
        return next((c for c in conditions if c["type"] == type_), {})

    async def revision(name: str) -> int:
        return int(
            (((await get(name)) or {}).get("status") or {}).get("deployedRelease", {}).get("revision", 0)
        )

    async def deployment(name: str) -> dict[str, Any]:
        return await client.get("apps/v1/Deployment", name, namespace=ns)

    def patch(kind: str, name: str, body: dict[str, Any]) -> None:
        kubectl("patch", kind, name, "-n", ns, "--type=merge", "-p", json.dumps(body))

    pins = {
        "forced": {UPGRADE_FORCE: "true"},
        "plain": {},
        "rollback": {},
        "rollback-patch": {ROLLBACK_FORCE: "false"},
        "wait": {UNINSTALL_WAIT: "true"},
        "period": {},
        "bad-period": {RECONCILE_PERIOD: "1x3m9s"},
    }
    operator = HelmOperator(
        [WATCH],
        helm=helm,
        helm_server=helm_server,
        name="annotations-operator",
        work_dir=tmp_path,
        max_concurrent_reconciles=8,
    )
    async with run_operator(operator, cluster.kubeconfig):
        for name, annotations in pins.items():
            kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pin(name, annotations)))
        for name in pins:
            if name != "bad-period":
                await until(lambda n=name: revision(n), within=90, what=f"{name} installed")  # type: ignore[misc]
        assert (await deployment("plain"))["metadata"]["annotations"]["team"] == "platform"
        bad = await condition("bad-period", "Irreconcilable")
        assert (bad["status"], bad["reason"]) == ("True", "InvalidAnnotation")
        assert RECONCILE_PERIOD in bad["message"]
        assert "1x3m9s" in bad["message"]

        # upgrade-force: a replacing upgrade drops what the chart does not render.
        for name in ("forced", "plain", "rollback", "rollback-patch"):
            patch("deployment", name, {"metadata": {"labels": {"by-hand": "yes"}}})
        for name in ("forced", "plain"):
            patch(RESOURCE, name, {"spec": {"note": "upgraded"}})
        for name in ("forced", "plain"):
            await until(lambda n=name: _at(revision(n), 2), within=90, what=f"{name} upgraded")  # type: ignore[misc]
            assert (await deployment(name))["metadata"]["annotations"]["note"] == "upgraded"
        assert "by-hand" not in ((await deployment("forced"))["metadata"].get("labels") or {})
        assert (await deployment("plain"))["metadata"]["labels"]["by-hand"] == "yes"

        # rollback-force: the rollback after the failed upgrade replaces unless told not to.
        for name in ("rollback", "rollback-patch"):
            patch(RESOURCE, name, {"spec": {"track": "canary"}})
        for name in ("rollback", "rollback-patch"):

            async def rolled_back(n: str = name) -> bool:
                return (
                    (await condition(n, "ReleaseFailed"))
                    .get("message", "")
                    .endswith("; rolled back to revision 1")
                )

            await until(rolled_back, within=90, what=f"{name} rolled back")
        assert "by-hand" not in ((await deployment("rollback"))["metadata"].get("labels") or {})
        assert (await deployment("rollback-patch"))["metadata"]["labels"]["by-hand"] == "yes"

        # reconcile-period: only the Pin with a period is reconciled without an event of its own (the
        # period set only now: each reconcile runs helm twice). Put back once (the annotation's own
        # event may be what reconciles it), then again: by the period alone.
        patch(RESOURCE, "period", {"metadata": {"annotations": {RECONCILE_PERIOD: "1s"}}})

        async def put_back() -> bool:
            return bool((await deployment("period"))["spec"]["replicas"] == 0)

        for names in (("period",), ("period", "plain")):
            for name in names:
                patch("deployment", name, {"spec": {"replicas": 3}})
            await until(put_back, within=30, what="the period's Deployment put back")
        assert (await deployment("plain"))["spec"]["replicas"] == 3
        patch(RESOURCE, "period", {"metadata": {"annotations": {RECONCILE_PERIOD: None}}})

        # uninstall-wait: the Pin stays until the release's Deployment is gone.
        for name in ("wait", "plain"):
            patch("deployment", name, {"metadata": {"finalizers": [HOLD]}})
            kubectl("delete", RESOURCE, name, "-n", ns, "--wait=false")
        await until(lambda: _gone(get("plain")), within=60, what="the plain Pin deleted")
        assert (await deployment("plain"))["metadata"]["deletionTimestamp"]

        async def waiting() -> bool:
            return "Deployment/wait" in (await condition("wait", "Deployed")).get("message", "")

        await until(waiting, within=60, what="the wait Pin's Deployed condition naming what it waits for")
        deployed = await condition("wait", "Deployed")
        assert (deployed["status"], deployed["reason"]) == ("False", "UninstallSuccessful")
        assert deployed["message"].startswith("Waiting until all resources are deleted")
        assert await get("wait") is not None
        for name in ("wait", "plain"):
            patch("deployment", name, {"metadata": {"finalizers": None}})
        await until(lambda: _gone(get("wait")), within=60, what="the wait Pin deleted once its Deployment is")
        records = kubectl.json("get", "secrets", "-n", ns, "-l", "owner=helm,name=wait")["items"]
        assert records == []


async def _at(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def _gone(found: Any) -> bool:
    return await found is None
