"""Differential conformance (issue 15 point 5): hypothesis-made sequences of requests (create, get, list
with selectors and pages, bounded watches, update, every patch type, apply, delete with preconditions
and propagation, status and scale) on ConfigMaps, Secrets, Services, Deployments and a custom kind, each
request sent to the real kube-apiserver and to the embedded server and the answers compared
(``differential_compare``); a difference not in ``differential_known.KNOWN`` fails the run.

``make test`` runs a short form; ``make test-differential`` the long one (``KUBELOOP_DIFFERENTIAL=N``
sequences; 10,000 for the figures in docs/apiserver.md) as ``DIFFERENTIAL_CHUNKS`` processes at once, each
a chunk (``--hypothesis-seed``) that counts every sequence before failing and writes its counts to
``build/differential-<seed>.json``, merged into ``build/differential.md`` by running this file with their
paths. ``KUBELOOP_DIFFERENTIAL_RESUME=1`` makes a chunk go on from its file, on the same code only."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from apiserver_twin import Answer, Twin
from differential_compare import Report, Step, differences, normalise
from differential_kinds import CRD, FINALIZER
from differential_known import CONTROLLERS, KNOWN, tolerated, tolerated_answers
from differential_machine import Cleanups, Context, Sequence, TeardownFailed, settled
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyFailure, FlakyStrategyDefinition
from hypothesis.stateful import run_state_machine_as_test

ROOT = Path(__file__).parents[3]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
LONG = int(os.environ.get("KUBELOOP_DIFFERENTIAL", "0"))
RESUME = os.environ.get("KUBELOOP_DIFFERENTIAL_RESUME") == "1"


def code_digest() -> str:
    """What a long chunk runs, as 12 hex digits: every file of kubeloop (the embedded server and what it
    is built on; the real server's version is pinned there too) and of this directory, so that a resumed
    chunk goes on only on the code it began on."""
    here = Path(__file__).parent
    files = [*(ROOT / "src/kubeloop").rglob("*.py"), *here.glob("*.py"), here.parent / "conftest.py"]
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path.relative_to(ROOT)}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture
def gizmos(twin: Twin) -> Iterator[None]:
    """The custom kind on both servers, established."""
    name = CRD["metadata"]["name"]
    with asyncio.Runner() as runner:
        runner.run(twin.call("POST", CRDS, CRD))
        deadline = time.monotonic() + 60
        while True:
            answers = runner.run(twin.call("GET", f"/apis/{CRD['spec']['group']}/v1/gizmos"))
            if [a.status for a in answers] == [200, 200]:
                break
            assert time.monotonic() < deadline, answers
            time.sleep(0.2)
        yield
        runner.run(twin.call("DELETE", f"{CRDS}/{name}"))


def run(
    twin: Twin,
    namespace: str,
    sequences: int,
    steps: int,
    stop_at_first: bool,
    derandomize: bool = False,
    checkpoint: Callable[[Report], None] | None = None,
    report: Report | None = None,
    seed: int | None = None,
) -> Report:
    """``sequences`` more sequences into ``report`` (a new one by default); ``seed`` overrides
    ``--hypothesis-seed`` (a long run's later parts)."""
    report = report if report is not None else Report()
    with asyncio.Runner() as runner:
        connections = contextlib.AsyncExitStack()
        runner.run(connections.enter_async_context(twin.connected()))
        try:
            # Names of sequences go on from the report's count: objects of an earlier part may remain.
            counter = itertools.count(report.sequences)
            ctx = Context(twin, namespace, runner, report, stop_at_first, counter, checkpoint=checkpoint)

            def machine() -> Sequence:
                return Sequence(ctx)

            if seed is not None:
                machine._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
            with ctx.cleanups.finishing():  # before the connections close, whatever happens
                run_state_machine_as_test(
                    machine,
                    settings=settings(
                        max_examples=sequences,
                        stateful_step_count=steps,
                        derandomize=derandomize,
                        deadline=None,
                        database=None,
                        suppress_health_check=list(HealthCheck),
                        print_blob=True,
                        # No shrinking: each step is two servers' round trips, and a shrink can take
                        # minutes; the failing sequence is printed as it ran.
                        phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    ),
                )
        finally:
            runner.run(connections.aclose())
    return report


def test_request_sequences_get_the_same_answers_from_both_servers(twin: Twin, tns: str, gizmos: None) -> None:
    # The same sequences every run: make test checks them as regressions, while the long run explores
    # (a random short run found a new divergence in one run of three: CI must not depend on luck).
    report = run(twin, tns, sequences=12, steps=12, stop_at_first=True, derandomize=True)
    print(report.table())
    assert sum(report.steps.values()) > 100


@pytest.mark.long
@pytest.mark.timeout(0)
def test_ten_thousand_sequences_find_no_unlisted_divergence(
    twin: Twin, tns: str, gizmos: None, pytestconfig: pytest.Config
) -> None:
    # A chunk of a long run: pytest --hypothesis-seed=N makes it repeatable; its counts go to
    # build/differential-<seed>.json (rewritten every 20 sequences, so a chunk stopped early still
    # counts what it finished) for merge_reports (build/differential.md for the whole run). Resumed
    # (KUBELOOP_DIFFERENTIAL_RESUME=1), it goes on from that file with its next part's seed.
    given = pytestconfig.getoption("hypothesis_seed", None)
    seed = int(given) if given is not None else None  # the option is the string it was given as
    (ROOT / "build").mkdir(exist_ok=True)
    out = ROOT / f"build/differential-{seed or os.getpid()}.json"
    wanted, report, code = LONG or 10_000, Report(), code_digest()
    if RESUME and out.exists():
        report = Report.merged([out.read_text()])
        assert report.code == code, f"{out} was made on code {report.code}, this is {code}: start anew"
        print(f"resuming {out}: {report.sequences:,} sequences in {report.parts} parts")
    report.code, part = code, report.parts
    while report.sequences < wanted:
        report.parts = part + 1  # a resumed chunk must not run this part's seed again
        try:
            run(
                twin,
                tns,
                wanted - report.sequences,
                steps=10,
                stop_at_first=False,
                checkpoint=lambda r: out.write_text(r.to_json()),
                report=report,
                seed=None if part == 0 else (seed or 0) * 1000 + part,
            )
        except (FlakyStrategyDefinition, FlakyFailure) as exc:
            # The servers are external state: a controller's timing can make a sequence hypothesis
            # replays draw differently from the first time, and a step that timed out under load (a
            # bounded watch's 10 s) pass when replayed (session 10: two of three chunks stopped so
            # at load 35). A divergence is counted, not raised, so neither is one. The run goes on
            # with the next seed; the log keeps what happened.
            print(f"restarting after {type(exc).__name__}: {exc!r}")
            report.restarts += 1
        part += 1
    out.write_text(report.to_json())
    text = (
        f"seed {seed}: {report.sequences:,} sequences ({report.restarts} restarts, code {code})\n\n"
        f"{report.table()}\n\n{report.known_table()}\n"
    )
    print(text)
    assert not report.diverged, report.divergences()


def merge_reports(paths: list[Path]) -> str:
    """The table of a long run made in chunks (``python test_apiserver_differential.py build/*.json``)."""
    report = Report.merged([p.read_text() for p in paths])
    # A chunk run before a known difference was listed counted what it explains as divergences.
    moved = report.reclassify(tolerated)
    return (
        f"{report.sequences:,} sequences on code {report.code or '(not recorded)'} ({moved} divergences "
        f"explained by known differences listed since their chunk ran)\n\n"
        f"{report.table()}\n\n{report.known_table()}\n\n"
        f"{report.divergences(per_category=100)}\n"
    )


def test_a_watch_of_deployments_tolerates_controller_events_at_other_places() -> None:
    # Found by the long differential run: a watch of a Deployment got as many events from each server,
    # but the controllers' writes fell at other places between the sequence's (one before a scale on
    # one server, after it on the other), so the events differed item by item. Without the events
    # only a controller's write made, the two are the same; what the sequence wrote still counts.
    def events(*replicas: int) -> Answer:
        kinds = ["ADDED"] + ["MODIFIED"] * (len(replicas) - 1)
        body = [
            {
                "type": kind,
                "object": {"kind": "Deployment", "spec": {"replicas": n}, "status": {"version": i}},
            }
            for i, (kind, n) in enumerate(zip(kinds, replicas, strict=True))
        ]
        return Answer(200, body, [])

    step = Step("watch", "Deployment", "GET", "/apis/apps/v1/namespaces/n/deployments?watch=1")
    real = events(2, 2, 3, 3)
    for embedded, judged in ((events(2, 2, 2, 3), [CONTROLLERS]), (events(2, 2, 2, 4), None)):
        normal = normalise(real, "Deployment"), normalise(embedded, "Deployment")
        diffs = differences(*normal)
        assert diffs
        assert tolerated(step, diffs) is None
        assert tolerated_answers(step, *normal, diffs) == judged


def test_a_conflicting_apply_of_a_custom_value_of_the_wrong_type_is_a_known_difference() -> None:
    # Found by the long differential run: the real server builds the typed patch (a 500) before it
    # looks for conflicts; the embedded server checks a custom resource's schema after them (a 409).
    path = "/apis/differential.kubeloop.dev/v1/namespaces/n/gizmos/g?fieldManager=bob"
    step = Step("apply", "Gizmo", "PATCH", path, {"spec": {"size": "big"}})
    typed = "failed to create typed patch object (/g; differential.kubeloop.dev/v1, Kind=Gizmo): .spec.size: "
    real = Answer(
        500,
        {
            "kind": "Status",
            "status": "Failure",
            "message": typed + "expected numeric (int or float), got string",
            "code": 500,
        },
        [],
    )
    conflict = {"reason": "FieldManagerConflict", "message": 'conflict with "Python"', "field": ".spec.size"}
    embedded = Answer(
        409,
        {
            "kind": "Status",
            "status": "Failure",
            "message": 'Apply failed with 1 conflict: conflict with "Python": .spec.size',
            "reason": "Conflict",
            "details": {"causes": [conflict]},
            "code": 409,
        },
        [],
    )
    normal = normalise(real, "Gizmo"), normalise(embedded, "Gizmo")
    assert set(tolerated_answers(step, *normal, differences(*normal)) or []) == {
        "Apply of a value of the wrong type"
    }


def test_a_cluster_ip_the_real_allocator_found_taken_is_a_known_difference() -> None:
    # Found by the long differential run (session 14): the real server answered a Service's create with
    # a 500 from its random IP pick (allocated before validation), the embedded server with the
    # create's own 422. Only that 500 is tolerated.
    step = Step("create", "Service", "POST", "/api/v1/namespaces/n/services", {"spec": {}})
    taken = "failed to allocate a serviceIP: provided IP is already allocated"
    real = Answer(
        500,
        {
            "kind": "Status",
            "status": "Failure",
            "message": f"Internal error occurred: {taken}",
            "reason": "InternalError",
            "details": {
                "causes": [{"message": "failed to allocate a serviceIP: provided IP is already allocated"}]
            },
            "code": 500,
        },
        [],
    )
    cause = {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports[0].name"}
    message = 'Service "s" is invalid: spec.ports[0].name: Required value'
    embedded = Answer(
        422,
        {
            "kind": "Status",
            "status": "Failure",
            "message": message,
            "reason": "Invalid",
            "details": {"name": "s", "kind": "Service", "causes": [cause]},
            "code": 422,
        },
        [],
    )
    other = Answer(422, dict(embedded.body, message='Service "s" is invalid: spec.type: Required value'), [])
    for first, expected in ((real, ["Cluster IP allocation races"]), (other, None)):
        normal = normalise(first, "Service"), normalise(embedded, "Service")
        assert tolerated_answers(step, *normal, differences(*normal)) == expected


def test_teardowns_finish_when_the_sequences_raise_and_their_errors_are_their_own() -> None:
    # Found by review: a restart (FlakyFailure) skipped the wait, so its sequences' objects stayed on
    # both servers, and a teardown's error was raised inside a later sequence's teardown.
    finished: list[str] = []

    async def teardown(name: str, error: bool) -> None:
        await asyncio.sleep(0.01)
        finished.append(name)
        if error:
            raise OSError(f"{name}: connection reset")

    def restarted(cleanups: Cleanups) -> None:
        with cleanups.finishing():
            cleanups.add("s0", teardown("s0", error=True))
            cleanups.add("s1", teardown("s1", error=False))  # collects s0's failure: not raised here
            cleanups.add("s2", teardown("s2", error=True))
            raise FlakyFailure("replayed differently", [ValueError()])

    def finished_alone(cleanups: Cleanups, error: bool) -> None:
        with cleanups.finishing():
            cleanups.add("s3", teardown("s3", error=error))

    with asyncio.Runner() as runner:
        cleanups = Cleanups(runner, limit=1)
        with pytest.raises(FlakyFailure) as raised:
            restarted(cleanups)
        assert finished == ["s0", "s1", "s2"]
        assert raised.value.__notes__ == [
            "teardown of s0 failed too: OSError('s0: connection reset')",
            "teardown of s2 failed too: OSError('s2: connection reset')",
        ]
        with pytest.raises(
            TeardownFailed, match=r"^teardown of s3 failed: OSError\('s3: connection reset'\)$"
        ):
            finished_alone(cleanups, error=True)
        finished_alone(cleanups, error=False)  # nothing left over from before
        assert finished[3:] == ["s3", "s3"]


def test_a_deleted_object_held_by_our_finalizer_settles_once_the_collectors_finalizers_are_gone() -> None:
    # Found by session 16's long run (s816-s818): a Gizmo holding the test's finalizer, deleted with
    # propagationPolicy=Orphan, counted as settled while the real garbage collector had not yet taken
    # out `orphan` (the embedded one had), so a later watch saw that write on one server only.
    def answer(*finalizers: str, status: int = 200) -> Answer:
        return Answer(status, {"metadata": {"finalizers": list(finalizers)}}, [])

    assert settled(answer(status=404))
    assert settled(answer(FINALIZER))
    assert not settled(answer(FINALIZER, "orphan"))
    assert not settled(answer("foregroundDeletion", FINALIZER))
    assert not settled(answer())  # deleted, not yet gone, and not ours to hold


def test_every_known_difference_is_listed_in_the_docs() -> None:
    docs = (ROOT / "docs/apiserver.md").read_text()
    listed = set(re.findall(r"\*\*([^*]+)\.\*\*", docs))
    assert [k.name for k in KNOWN if k.name not in listed] == []
    assert all(k.reason for k in KNOWN)


if __name__ == "__main__":
    import sys

    text = merge_reports([Path(p) for p in sys.argv[1:]])
    (ROOT / "build/differential.md").write_text(text)
    print(text)
