"""Bad input at scale: hypothesis generates odd AppServices (names of every shape, huge and invalid labels,
finalizers of another party, owner references to objects that do not exist, specs and statuses of any
JSON type through a schema-less variant of the CRD), and the shipped AppService operator, running for
real against the control plane, must end each one with a Ready condition and an Event that name the
problem, unless the API server refuses the object, without crashing or spinning: reconciles per object
and the operator's API requests are counted over a quiet window at the end.

``KUBELOOP_BADINPUT_EXAMPLES`` sets how many objects (60 in ``make test``, derandomized; above 100
a random seed, which hypothesis prints when one fails; ``make test-badinput`` runs 1,000).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import itertools
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pydantic
import pytest
import yaml
from appservice_checks import ready_condition
from appservice_operator.api.app_v1 import AppService, AppServiceStatus
from appservice_operator.operator import operator
from badinput_cases import Case, cases
from hypothesis import HealthCheck, Phase, given, settings

from kubeloop import crd
from kubeloop.client import ApiError, Client, NotFoundError
from kubeloop.controller import Request
from kubeloop.manager import Manager
from kubeloop.testing import ControlPlane, Kubectl, run_operator, until, wait_for_crds

EXAMPLES = int(os.environ.get("KUBELOOP_BADINPUT_EXAMPLES", "60"))
FULL = EXAMPLES > 100  # a long run: a random seed, failures shrunk, hours allowed
CRD_NAME = "appservices.app.example.com"
RESOURCE = "app.example.com/v1/AppService"
SETTLE = 60.0
"""Seconds an accepted object has to get its condition and Event."""
GROW = 10.0
"""Seconds from the last object settled to the quiet window: backoffs grow past the window meanwhile."""
QUIET = 8.0
"""The window over which nothing may spin, once the last object settled and backoffs grew."""
MAX_RECONCILES_IN_QUIET = 3
"""Per object in the quiet window: a key failing since ≥ 10 s retries every ≥ 5 s (5 ms doubling), so
at most twice in 8 s; one more for a late child event. A hot loop does hundreds."""


def crd_documents(*, schemaless: bool) -> dict[str, Any]:
    """The AppService CRD as shipped, or with every version's schema replaced by 'anything goes'."""
    doc: dict[str, Any] = yaml.safe_load(crd.to_yaml([AppService]))
    if schemaless:
        for version in doc["spec"]["versions"]:
            version["schema"] = {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            }
    return doc


async def put_crd(client: Client, kubectl: Kubectl, doc: dict[str, Any]) -> None:
    """Create or replace (PUT: nothing of the old schema is merged in) the CRD; wait until it is served."""
    doc = copy.deepcopy(doc)
    try:
        current = await client.get("apiextensions.k8s.io/v1/CustomResourceDefinition", CRD_NAME)
    except NotFoundError:
        await client.create(doc)
    else:
        doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await client.replace(doc)
    await asyncio.to_thread(wait_for_crds, kubectl, CRD_NAME)


@pytest.fixture
async def schemaless_crd(client: Client, kubectl: Kubectl) -> AsyncIterator[None]:
    """The AppService CRD without a schema, for this test; the shipped one is put back afterwards."""
    await put_crd(client, kubectl, crd_documents(schemaless=True))
    try:
        yield
    finally:
        await put_crd(client, kubectl, crd_documents(schemaless=False))


class UnexpectedErrors(logging.Handler):
    """Collects log records that carry a traceback: exceptions the runtime did not expect."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def unexpected_errors() -> Iterator[UnexpectedErrors]:
    handler = UnexpectedErrors()
    logger = logging.getLogger("kubeloop")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def model_errors(obj: dict[str, Any]) -> list[str] | None:
    """The paths the model refuses in ``obj`` (status aside: that is the operator's to write), or None."""
    try:
        AppService.model_validate({k: v for k, v in obj.items() if k != "status"})
    except pydantic.ValidationError as exc:
        return [".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False)]
    return None


def same_start(a: str, b: str) -> bool:
    shorter, longer = sorted((a, b), key=len)
    return longer.startswith(shorter)


def status_fits(obj: dict[str, Any]) -> bool:
    try:
        AppServiceStatus.model_validate(obj.get("status"))
    except pydantic.ValidationError:
        return False
    return True


class Harness:
    """Creates each case's object, waits for its outcome and checks it; keeps the tallies."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.index = itertools.count()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.reconciles: collections.Counter[Request] = collections.Counter()
        self.held: dict[str, list[str]] = {}
        """Objects deleted while another party's finalizer holds them → their finalizers."""

    def count_reconciles(self, manager: Manager) -> None:
        """Count reconciles per key by wrapping the controller's reconciler (the operator is unchanged)."""
        controller = manager.controllers[0]
        inner = controller.reconciler

        async def counting(request: Request) -> Any:
            self.reconciles[request] += 1
            return await inner(request)

        controller.reconciler = counting

    async def check(self, case: Case) -> None:
        obj = case.object(next(self.index))
        try:
            created = await self.client.create(obj, namespace=self.namespace)
        except ApiError as exc:
            refusal = exc
        else:
            refusal = None
        if refusal is not None:
            assert 400 <= refusal.code < 500, f"refused with {refusal}"
            assert refusal.code != 409, f"a name taken twice: {refusal}"
            assert refusal.message, f"refused with no message: {refusal}"
            self.outcomes["refused by the API server"] += 1
            return
        name = created["metadata"]["name"]
        settled = await self.settle(name, case, created)
        if settled is None:
            self.outcomes["garbage-collected (owner does not exist)"] += 1
            return
        got, outcome = settled
        self.outcomes[outcome] += 1
        if case.garbage_status is not None:
            await self.client.patch(
                RESOURCE, name, case.garbage_status, subresource="status", namespace=self.namespace
            )
            nudge = {"metadata": {"labels": {"badinput.example.com/nudge": "1"}}}
            await self.client.patch(RESOURCE, name, nudge, namespace=self.namespace)
            if await self.settle(name, case, got, repaired=True) is not None:
                self.outcomes["garbage status replaced"] += 1
        if case.delete:
            await self.client.delete(RESOURCE, name, namespace=self.namespace)
            self.held[name] = list(case.finalizers)

    async def settle(
        self, name: str, case: Case, created: dict[str, Any], *, repaired: bool = False
    ) -> tuple[dict[str, Any], str] | None:
        """Wait for the Ready condition of the current generation and an Event with its reason; check
        both say what the object's problem is; returns the object and its outcome, None when the object
        was garbage-collected."""
        uid = created["metadata"]["uid"]
        seen: dict[str, Any] = {}

        async def settled() -> bool:
            try:
                obj = await self.client.get(RESOURCE, name, namespace=self.namespace)
            except NotFoundError:
                assert case.owner_references, f"{name} vanished without an owner to collect it"
                seen.clear()
                return True
            seen["obj"] = obj
            cond = ready_condition(obj)
            if cond is None or cond.get("observedGeneration") != obj["metadata"]["generation"]:
                return False
            if repaired and not status_fits(obj):
                return False
            expected = (
                "Reconciled" if cond.get("reason") in ("Available", "Progressing") else cond.get("reason")
            )
            events = await self.client.list(
                "v1/Event", namespace=self.namespace, field_selector=f"involvedObject.uid={uid}"
            )
            seen["events"] = [e for e in events["items"] if e.get("reason") == expected]
            return bool(seen["events"])

        try:
            await until(settled, within=SETTLE, what=f"Ready condition and Event on {name}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {json.dumps(seen.get('obj'))[:3000]}") from None
        if "obj" not in seen:
            return None
        obj, events = seen["obj"], seen["events"]
        cond = ready_condition(obj)
        assert cond is not None
        assert cond.get("message"), f"{name}: a condition without a message: {cond}"
        errors = model_errors(obj)
        if errors is not None:
            assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec"), cond
            assert len(cond["message"]) >= 1000 or all(path in cond["message"] for path in errors), (
                f"{name}: the message names {errors}: {cond['message']}"
            )
            assert all(e["type"] == "Warning" for e in events)
            outcome = "InvalidSpec"
        elif cond["reason"] in ("Available", "Progressing"):
            await self.check_children(name, AppService.model_validate(obj))
            outcome = f"Ready ({cond['reason']})"
        else:
            assert cond["status"] == "False", cond
            assert cond["reason"] != "ReconcileError", f"{name}: an unexpected exception: {cond['message']}"
            assert any(kind in cond["message"].lower() for kind in ("deployment", "service")), cond
            # Both cut the same message: the condition at 1000 characters, the Event at 1024 bytes.
            assert all(e["type"] == "Warning" and same_start(e["message"], cond["message"]) for e in events)
            outcome = f"child refused ({cond['reason']})"
        return obj, outcome

    async def check_children(self, name: str, app: AppService) -> None:
        deployment = await self.client.get("apps/v1/Deployment", name, namespace=self.namespace)
        service = await self.client.get("v1/Service", name, namespace=self.namespace)
        assert deployment["spec"]["replicas"] == app.spec.size
        assert [p["port"] for p in service["spec"]["ports"]] == [p.port for p in app.spec.ports]


async def request_count(manager: Manager) -> float:
    total = 0.0
    for metric in manager.metrics.registry.collect():
        if metric.name == "rest_client_requests":
            total += sum(s.value for s in metric.samples if s.name == "rest_client_requests_total")
    return total


async def cleanup(client: Client, namespace: str) -> None:
    """Release the foreign finalizers and delete what the test made, Services first (their node ports)."""
    async for app in client.list_items(RESOURCE, namespace=namespace):
        name = app["metadata"]["name"]
        if app["metadata"].get("finalizers"):
            patch = {"metadata": {"finalizers": None}}
            await client.patch(RESOURCE, name, patch, namespace=namespace)
    await client.delete_collection(RESOURCE, namespace=namespace)
    await client.delete_collection("v1/Service", namespace=namespace)

    async def services_gone() -> bool:
        return not (await client.list("v1/Service", namespace=namespace))["items"]

    await until(services_gone, within=60, what="the test's Services deleted")


@pytest.mark.parametrize(
    "garbage",
    ["not an object", {"readyReplicas": "many", "nodePorts": {"a": 1}}, {"conditions": [1, "Ready"]}],
    ids=["string", "wrong-types", "conditions-not-objects"],
)
async def test_a_status_in_a_shape_the_model_refuses_is_replaced_and_the_object_reconciled(
    control_plane: ControlPlane, client: Client, namespace: str, schemaless_crd: None, garbage: object
) -> None:
    app = {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": "garbled"},
        "spec": {"size": 0, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 80}]},
    }
    async with run_operator(operator, control_plane.kubeconfig):
        created = await client.create(app, namespace=namespace)

        async def reconciled() -> bool:
            obj = await client.get(RESOURCE, "garbled", namespace=namespace)
            cond = ready_condition(obj)
            return status_fits(obj) and cond is not None and cond["reason"] == "Available"

        await until(reconciled, what="Ready")
        await client.patch(
            RESOURCE, "garbled", {"status": garbage}, subresource="status", namespace=namespace
        )
        await client.delete("apps/v1/Deployment", "garbled", namespace=namespace)  # so that a pass shows
        await until(reconciled, what="a status that fits the model, with Ready")

        async def recreated() -> bool:
            # The status may be fixed by a pass that ran before the deletion reached the cache (it
            # sent no apply of the unchanged Deployment); the deletion's own pass recreates it.
            try:
                await client.get("apps/v1/Deployment", "garbled", namespace=namespace)
            except NotFoundError:
                return False
            return True

        await until(recreated, what="the Deployment recreated")

        async def warned() -> bool:
            selector = f"involvedObject.uid={created['metadata']['uid']},reason=InvalidStatus"
            events = await client.list("v1/Event", namespace=namespace, field_selector=selector)
            return any(e["type"] == "Warning" and "status" in e["message"] for e in events["items"])

        await until(warned, what="a Warning Event InvalidStatus")


@pytest.mark.timeout(4 * 3600 if FULL else 900)
# Hypothesis's own PRNG bookkeeping warns when @given first runs in a thread of its own.
@pytest.mark.filterwarnings("ignore:It looks like `register_random`")
async def test_odd_appservices_end_with_a_condition_and_an_event_or_a_refusal_and_nothing_spins(
    control_plane: ControlPlane,
    client: Client,
    namespace: str,
    schemaless_crd: None,
    unexpected_errors: UnexpectedErrors,
) -> None:
    loop = asyncio.get_running_loop()
    harness = Harness(client, namespace)
    try:
        async with run_operator(operator, control_plane.kubeconfig) as manager:
            harness.count_reconciles(manager)

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=not FULL,
                phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if FULL else [])],
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            )
            @given(case=cases())
            def each_case(case: Case) -> None:
                asyncio.run_coroutine_threadsafe(harness.check(case), loop).result(timeout=3 * SETTLE)

            # Hypothesis drives the examples from a thread; the operator keeps running on this loop.
            await asyncio.to_thread(each_case)
            print(f"\n{EXAMPLES} odd AppServices: {dict(harness.outcomes)}")

            await asyncio.sleep(GROW)  # backoffs of the last objects grow past the window
            before_reconciles, before_requests = dict(harness.reconciles), await request_count(manager)
            await asyncio.sleep(QUIET)
            after_requests = await request_count(manager)
            spinning = {
                str(key): n - before_reconciles.get(key, 0)
                for key, n in harness.reconciles.items()
                if n - before_reconciles.get(key, 0) > MAX_RECONCILES_IN_QUIET
            }
            accepted = EXAMPLES - harness.outcomes["refused by the API server"]
            print(
                f"quiet {QUIET:.0f} s: {after_requests - before_requests:.0f} API requests, "
                f"{sum(harness.reconciles.values()) - sum(before_reconciles.values())} reconciles "
                f"of {len(harness.reconciles)} keys; most reconciled: {harness.reconciles.most_common(3)}"
            )
            assert not spinning, (
                f"reconciled more than {MAX_RECONCILES_IN_QUIET} times in {QUIET} s: {spinning}"
            )
            # A key failing since >= 10 s retries at most twice in the window (an apply, an Event series
            # patch each); settled keys make none. A hot loop makes thousands.
            assert after_requests - before_requests <= accepted // 4 + 40, "API requests in the quiet window"

            for name, finalizers in harness.held.items():
                held = await client.get(RESOURCE, name, namespace=namespace)
                assert held["metadata"].get("deletionTimestamp")
                assert held["metadata"]["finalizers"] == finalizers, "another party's finalizers left alone"

            assert not unexpected_errors.records, [r.getMessage() for r in unexpected_errors.records][:5]
            assert harness.outcomes["InvalidSpec"], harness.outcomes
            assert accepted >= EXAMPLES // 4, harness.outcomes
            assert operator.manager is manager, "the operator kept running"
    finally:
        await cleanup(client, namespace)
