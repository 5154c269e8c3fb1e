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


def test_a_health_probe_answered_500_whose_body_never_comes_is_a_500_not_an_exception() -> None:
    # A starved kube-apiserver sent /readyz's 500 and its headers, and not its body within the probe's
    # timeout: reading the body raised TimeoutError out of the probe, which ended the control plane's
    # start at once instead of probing again until its limit.
    import socket
    import threading

    from kubeloop.testing.process import http_answer

    with socket.create_server(("127.0.0.1", 0)) as server:
        done = threading.Event()

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n")
                done.wait(BOUND)  # the body never sent

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.getsockname()[1]}/readyz"
            assert http_answer(url, timeout=0.5) == "500 (no body)"
        finally:
            done.set()
            thread.join()
