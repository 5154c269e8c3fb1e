"""ManagedProcess, which runs the control plane's components and the sharding replicas: the
environment it is given, its exit code from ``stop`` and ``returncode``, and the log of this start only."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from kubeloop.testing.process import ManagedProcess

# Ends with the code its SIGTERM handler is told, or ignores SIGTERM; says "ready" once the handler is
# set. Its sleep outlasts BOUND, so that a SIGTERM that never ended it cannot pass for one that did.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    code = int(sys.argv[1])
    signal.signal(signal.SIGTERM, signal.SIG_IGN if code < 0 else lambda *_: sys.exit(code))
    print(os.environ.get("GREETING"), "ready", flush=True)
    time.sleep(3600)
    """
)

# How long a child is given to start or to end on SIGTERM: a bound no run should reach (30 s ran out
# once, in a unit run at load 25; a child at group nice 19 at load 16-19 ends in under 0.1 s).
BOUND = 300.0


def child(log: Path, code: int, env: dict[str, str] | None = None) -> ManagedProcess:
    return started(ManagedProcess("child", [sys.executable, "-c", CHILD, str(code)], log, env))


def started(process: ManagedProcess) -> ManagedProcess:
    """``process`` started, once it says it is ready."""
    process.start()
    deadline = time.monotonic() + BOUND
    while "ready" not in process.output():
        assert not process.exited, process.output()
        assert time.monotonic() < deadline, process.output()
        time.sleep(0.02)
    return process


@pytest.mark.parametrize("code", [0, 7], ids=["zero", "seven"])
def test_stop_returns_the_exit_code_of_a_child_that_ends_on_sigterm(code: int, tmp_path: Path) -> None:
    process = child(tmp_path / "log", code)
    assert process.stop(grace=BOUND) == code
    assert process.stop() == code  # idempotent: the code again


def test_returncode_is_none_until_the_child_has_ended_then_its_exit_code(tmp_path: Path) -> None:
    never = ManagedProcess("child", [sys.executable], tmp_path / "never.log")
    assert never.returncode is None
    process = child(tmp_path / "log", 7)
    assert process.returncode is None
    process.stop(grace=BOUND)
    assert process.returncode == 7
    ends = ManagedProcess("child", [sys.executable, "-c", "raise SystemExit(5)"], tmp_path / "ends.log")
    ends.start()
    deadline = time.monotonic() + BOUND
    while not ends.exited:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ends.returncode == 5


def test_stop_returns_none_for_a_child_it_had_to_kill(tmp_path: Path) -> None:
    process = child(tmp_path / "log", -1)
    assert process.stop(grace=0.5) is None
    assert process.exited


def test_a_child_that_never_started_stops_with_none(tmp_path: Path) -> None:
    assert ManagedProcess("child", [sys.executable], tmp_path / "log").stop() is None


def test_the_child_gets_the_environment_it_is_given_and_its_tail_is_this_starts(tmp_path: Path) -> None:
    process = child(tmp_path / "log", 0, {"GREETING": "first"})
    process.stop()
    process.env = {"GREETING": "second"}
    started(process).stop()
    assert process.tail() == "second ready"
    assert process.output(since=0).splitlines() == ["first ready", "second ready"]
