"""Graceful deletion of Pods as the real kube-apiserver does it, with no kubelet to finish it: compared in
the same test. An unscheduled pod goes at once (the answer carries deletionTimestamp and a zero grace
period); a pod bound to a node gets deletionTimestamp = now + grace and stays Terminating; a later
delete may only shorten the grace period; 0 deletes it. Other kinds ignore gracePeriodSeconds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apiserver_twin import Answer, Twin


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}], **spec}}


def seconds_left(answer: Answer) -> float:
    stamp = dt.datetime.strptime(answer.body["metadata"]["deletionTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    return (stamp.replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)).total_seconds()


def deletion(answers: tuple[Answer, Answer]) -> list[Any]:
    return [(a.status, a.body["metadata"].get("deletionGracePeriodSeconds")) for a in answers]


async def test_an_unscheduled_pod_is_deleted_at_once(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/pods"
    await twin.call("POST", path, pod("unscheduled", schedulerName="no-scheduler"))
    answers = await twin.call("DELETE", f"{path}/unscheduled", {"gracePeriodSeconds": 30})
    assert deletion(answers) == [(200, 0)] * 2
    assert all(abs(seconds_left(a)) <= 2 for a in answers)
    gone = await twin.call("GET", f"{path}/unscheduled")
    assert [a.status for a in gone] == [404, 404]


async def test_a_bound_pod_waits_its_grace_period_which_may_only_shrink(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/pods"
    await twin.call("POST", path, pod("bound", nodeName="no-such-node", terminationGracePeriodSeconds=40))
    first = await twin.call("DELETE", f"{path}/bound")
    assert deletion(first) == [(200, 40)] * 2
    assert all(38 <= seconds_left(a) <= 41 for a in first)
    longer = await twin.call("DELETE", f"{path}/bound", {"gracePeriodSeconds": 90})
    assert deletion(longer) == [(200, 40)] * 2
    shorter = await twin.call("DELETE", f"{path}/bound", {"gracePeriodSeconds": 10})
    assert deletion(shorter) == [(200, 10)] * 2
    for before, after in zip(first, shorter, strict=True):
        assert round(seconds_left(before) - seconds_left(after)) == 30
    still = await twin.call("GET", f"{path}/bound")
    assert [a.status for a in still] == [200, 200]
    now = await twin.call("DELETE", f"{path}/bound", {"gracePeriodSeconds": 0})
    assert deletion(now) == [(200, 0)] * 2
    gone = await twin.call("GET", f"{path}/bound")
    assert [a.status for a in gone] == [404, 404]


async def test_a_pod_with_finalizers_stays_with_a_zero_grace_period(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/pods"
    body = pod("held", schedulerName="no-scheduler")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await twin.call("POST", path, body)
    answers = await twin.call("DELETE", f"{path}/held")
    assert deletion(answers) == [(200, 0)] * 2
    await twin.call(
        "PATCH", f"{path}/held", {"metadata": {"finalizers": None}}, "application/merge-patch+json"
    )


async def test_other_kinds_ignore_the_grace_period(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    await twin.call("POST", path, {"metadata": {"name": "plain"}})
    real, embedded = await twin.call("DELETE", f"{path}/plain", {"gracePeriodSeconds": 10})
    assert (
        (embedded.status, embedded.body["status"]) == (real.status, real.body["status"]) == (200, "Success")
    )
    assert {k: v for k, v in embedded.body["details"].items() if k != "uid"} == {
        k: v for k, v in real.body["details"].items() if k != "uid"
    }
