"""``ManagedProcess.wait_healthy`` waits while the child makes progress, not for a fixed time: a child
that logs all along is waited for past its ``quiet`` time (a kube-apiserver on a loaded machine), one
whose log and health answer stand still fails after ``quiet`` s naming its last answer and log lines,
one still logging fails at ``limit``, and one that exits fails at once."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubeloop.errors import ComponentError
from kubeloop.testing.process import ManagedProcess, free_port, http_answer

# Says "starting", logs "still starting" every 0.1 s for LOG_FOR s, then answers GET with STATUS and
# BODY (logging nothing more).
COMPONENT = textwrap.dedent(
    """
    import http.server, sys, time
    port, log_for, status, body = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    print("starting", flush=True)
    end = time.monotonic() + log_for
    while time.monotonic() < end:
        print("still starting", flush=True)
        time.sleep(0.1)

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
    """
)

# A bound no run should reach: where a test is about another limit, this one must not end it first.
BOUND = 300.0

READYZ = (
    "[+]ping ok\n[+]etcd ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n"
    "[-]poststarthook/scheduling/bootstrap-system-priority-classes failed: reason withheld\n"
    "readyz check failed\n"
)


def start(process: ManagedProcess, ready: Callable[[], bool]) -> None:
    """Start ``process`` and return once ``ready()``: the wait under test then starts with the child
    running, not with an interpreter still starting (seconds with no output at load 17-22, which
    a 1 s or 2 s quiet time took for a stall)."""
    process.start()
    deadline = time.monotonic() + BOUND
    while not ready():
        assert not process.exited, process.output()
        assert time.monotonic() < deadline, process.output()
        time.sleep(0.02)


@pytest.fixture
def component(tmp_path: Path) -> Iterator[tuple[ManagedProcess, str]]:
    """A ``COMPONENT`` not started yet (LOG_FOR, STATUS and BODY to append to its ``argv``) and its
    health URL; stopped after."""
    port = free_port()
    argv = [sys.executable, "-c", COMPONENT, str(port)]
    process = ManagedProcess("component", argv, tmp_path / "component.log")
    yield process, f"http://127.0.0.1:{port}/readyz"
    process.stop()


def test_a_component_that_logs_all_along_is_waited_for_past_its_quiet_time(
    component: tuple[ManagedProcess, str],
) -> None:
    process, url = component
    process.argv += ["4", "200", "ok"]  # logs for 4 s, twice its quiet time, then healthy
    start(process, lambda: "starting" in process.output())
    process.wait_healthy(url, quiet=2.0, limit=BOUND)
    assert "still starting" in process.output()


def test_a_component_whose_log_and_answer_stand_still_fails_after_its_quiet_time_naming_them(
    component: tuple[ManagedProcess, str],
) -> None:
    process, url = component
    process.argv += ["0", "500", READYZ]  # answers the same 500 every time, logs nothing more
    start(process, lambda: (http_answer(url) or "").startswith("500"))
    with pytest.raises(ComponentError) as raised:
        process.wait_healthy(url, quiet=1.0, limit=BOUND)
    assert raised.value.problem == (
        f"not healthy at {url}: no progress for 1 s (its log and the answer unchanged); it answered 500"
        " (poststarthook/rbac/bootstrap-roles, poststarthook/scheduling/bootstrap-system-priority-classes"
        " failing)"
    )
    assert raised.value.details == "its last log lines:\nstarting"
    assert not process.exited, "the caller stops it (and keeps its log)"


def test_a_component_that_keeps_logging_fails_at_the_limit(component: tuple[ManagedProcess, str]) -> None:
    process, url = component
    process.argv += [str(BOUND), "200", "ok"]  # logs longer than any test waits, never serves
    start(process, lambda: "still starting" in process.output())
    with pytest.raises(ComponentError) as raised:
        process.wait_healthy(url, quiet=BOUND, limit=2.0)
    assert raised.value.problem == f"not healthy at {url}: still starting after 2 s; it did not answer"
    assert raised.value.details.endswith("still starting")


def test_a_component_that_exits_fails_at_once_naming_its_error(tmp_path: Path) -> None:
    script = "import sys; print('E1207 run.go:72] error: unknown flag --surprise', flush=True); sys.exit(3)"
    process = ManagedProcess("component", [sys.executable, "-c", script], tmp_path / "component.log")
    process.start()
    with pytest.raises(ComponentError) as raised:
        process.wait_healthy(f"http://127.0.0.1:{free_port()}/readyz", quiet=BOUND, limit=BOUND)
    assert raised.value.problem == "exited early with code 3: E1207 run.go:72] error: unknown flag --surprise"
