"""One child process of a local control plane: started with its own log, health-checked, stopped.

Children are started in their own session (a terminal's Ctrl-C reaches only the parent, which
then stops them in order) and, on Linux, with a parent-death signal so that even a parent
killed with SIGKILL leaves no orphan behind. That signal fires when the *thread* that forked the
child ends (prctl(2)), not the process: so children are forked by the main thread, or for any other
thread (``asyncio.to_thread``, a thread pool) by one thread kept for the life of the process.

A new session is a new scheduling group where the kernel groups by session (``sched_autogroup``),
by default at nice 0 whatever the parent's: so each child's group gets the parent's group's nice, and
a test run given a low share of the CPU keeps its control plane there too.

A child is waited for while it makes progress, not for a fixed time: a kube-apiserver given a small
share of a loaded machine (load 20-30, at nice 19) took more than a minute to answer ``/readyz`` while
logging all along; one that hangs shows no progress and fails sooner.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from kubeloop.errors import ComponentError

__all__ = ["ManagedProcess", "Progress", "free_port", "http_answer", "http_ok", "port_in_use", "terminate"]

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGKILL it when the parent dies."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_Call = tuple[Callable[[], Any], "Future[Any]"]
_forker: tuple[int, queue.SimpleQueue[_Call]] | None = None  # (for which pid, its calls)
_forker_lock = threading.Lock()


def _on_a_lasting_thread(call: Callable[[], T]) -> T:
    """``call()`` on a thread that lasts as long as this process: the main thread when called there,
    else a daemon thread started for the purpose (a child it forks gets its parent-death signal only
    when the process ends, not when the calling thread does)."""
    if threading.current_thread() is threading.main_thread():
        return call()
    global _forker
    with _forker_lock:
        if _forker is None or _forker[0] != os.getpid():  # none yet, or inherited through a fork
            calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(calls,), name="kubeloop-forker", daemon=True).start()
            _forker = (os.getpid(), calls)
        calls = _forker[1]
    done: Future[T] = Future()
    calls.put((call, done))
    return done.result()


def _serve(calls: queue.SimpleQueue[_Call]) -> None:
    while True:
        call, done = calls.get()
        try:
            done.set_result(call())
        except BaseException as exc:  # handed to the caller, who raises it
            done.set_exception(exc)


_AUTOGROUP = Path("/proc/self/autogroup")


def _autogroup_nice() -> str | None:
    """This process's scheduling group's nice (``/autogroup-12 nice 19``), where the kernel has them."""
    try:
        return _AUTOGROUP.read_text().split()[-1]
    except (OSError, IndexError):
        return None


def _in_new_session(nice: str | None) -> Callable[[], None]:
    """What the child runs before exec, after ``setsid``: its new group at ``nice``, and
    ``_die_with_parent``."""

    def prepare() -> None:
        if nice is not None and nice != "0":
            with contextlib.suppress(OSError):
                _AUTOGROUP.write_text(nice)
        _die_with_parent()

    return prepare


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def http_ok(url: str, context: ssl.SSLContext | None = None, timeout: float = 1.0) -> bool:
    """Whether GET ``url`` answers 200."""
    return http_answer(url, context, timeout) == "200"


def http_answer(url: str, context: ssl.SSLContext | None = None, timeout: float = 1.0) -> str | None:
    """GET ``url``'s answer: ``"200"``, or the status and body of another (``/readyz``'s 500 lists its
    failing checks), or None when nothing answered within ``timeout`` s."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return (
                str(resp.status)
                if resp.status == 200
                else f"{resp.status} {resp.read(4096).decode(errors='replace')}"
            )
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(4096).decode(errors="replace")
        except (OSError, ValueError):  # the body not sent within ``timeout`` (a starved server)
            body = "(no body)"
        return f"{exc.code} {body}"
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _said(answer: str | None) -> str:
    """The last answer of a health probe, in a few words for an error message."""
    if answer is None:
        return "it did not answer"
    status, _, body = answer.partition(" ")
    failing = [line.split()[0][3:] for line in body.splitlines() if line.startswith("[-]")]
    return f"it answered {status}" + (f" ({', '.join(failing)} failing)" if failing else "")


def terminate(
    proc: subprocess.Popen[bytes] | None, grace: float = 30.0, *, group: bool = False
) -> int | None:
    """SIGTERM ``proc`` (with ``group``, its process group: one it leads, started in a session of its
    own) and wait ``grace`` seconds, then SIGKILL it: its exit code (None if it had to be killed or
    was never started). Idempotent."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    _signal(proc, signal.SIGTERM, group)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL, group)
        proc.wait()
        return None


def _signal(proc: subprocess.Popen[bytes], signum: int, group: bool) -> None:
    """Send ``signum`` to ``proc``, or to its process group; nothing if it is already gone."""
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)


class Progress:
    """A wait that goes on while what it watches changes: stalled once it has not changed for ``quiet``
    s, or after ``limit`` s in all (a component given a small share of a loaded machine is slow, not
    stuck, as long as it shows progress)."""

    def __init__(self, quiet: float, limit: float) -> None:
        self.quiet, self.limit = quiet, limit
        self._began = self._changed = time.monotonic()
        self._seen: object = None

    def stalled(self, state: object, what: str) -> str | None:
        """Note ``state`` (``what`` names it); why the wait is over if it is, else None."""
        now = time.monotonic()
        if state != self._seen:
            self._seen, self._changed = state, now
        if now - self._changed > self.quiet:
            return f"no progress for {self.quiet:.0f} s ({what} unchanged)"
        if now - self._began > self.limit:
            return f"still starting after {self.limit:.0f} s"
        return None


class ManagedProcess:
    """A named child process writing to one log file, appended across starts; ``env`` is its whole
    environment (None: this process's)."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0  # where this start's output begins in the (appended) log

    @property
    def pid(self) -> int | None:
        """The child's pid, once started."""
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start the child; raises ComponentError if the executable cannot be run."""
        with self.log_path.open("ab") as log:
            self._log_start = log.tell()
            nice = _autogroup_nice()
            try:
                self._proc = _on_a_lasting_thread(
                    lambda: subprocess.Popen(
                        self.argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=self.env,
                        start_new_session=True,
                        preexec_fn=_in_new_session(nice) if sys.platform == "linux" else None,
                    )
                )
            except OSError as exc:
                raise ComponentError(self.name, f"cannot start {self.argv[0]}: {exc.strerror}") from exc

    @property
    def exited(self) -> bool:
        """Whether the child was started and has ended."""
        return self._proc is not None and self._proc.poll() is not None

    @property
    def returncode(self) -> int | None:
        """The child's exit code once it has ended (None: it runs, or was never started)."""
        return self._proc.poll() if self._proc is not None else None

    def output(self, since: int | None = None) -> str:
        """Its log from byte ``since`` on (None: what this start wrote so far); "" if there is none."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start if since is None else since)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines this start of the child wrote to its log."""
        return "\n".join(self.output().splitlines()[-lines:])

    def check_running(self) -> None:
        """Raise ComponentError (with the log's last error line) if the child has exited."""
        if self._proc is None or self._proc.poll() is None:
            return
        raise ComponentError(
            self.name, f"exited early with code {self._proc.returncode}{self._hint()}", str(self.log_path)
        )

    def _hint(self) -> str:
        lines = self.output().splitlines()
        keywords = ("error", "fatal", "failed", "panic", "in use")
        for line in reversed(lines[-50:]):
            if any(k in line.lower() for k in keywords):
                return ": " + line.strip()[:240]
        return ""

    def wait_healthy(
        self,
        probe_url: str,
        context: ssl.SSLContext | None = None,
        *,
        quiet: float = 60.0,
        limit: float = 300.0,
    ) -> None:
        """Poll ``probe_url`` until it answers 200 while the child makes progress (its log grows, or the
        probe's answer changes: no answer, then a 500 listing fewer failing checks): ComponentError once
        it has shown none for ``quiet`` s, or after ``limit`` s in all, or at once if it exits."""
        progress = Progress(quiet, limit)
        delay = 0.05
        while True:
            self.check_running()
            answer = http_answer(probe_url, context)
            if answer == "200":
                return
            if problem := progress.stalled((self.log_size(), answer), "its log and the answer"):
                raise ComponentError(
                    self.name,
                    f"not healthy at {probe_url}: {problem}; {_said(answer)}",
                    str(self.log_path),
                    details=f"its last log lines:\n{self.tail()}",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def log_size(self) -> int:
        """How many bytes the log holds (this start's and earlier ones'); 0 if there is none yet."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def kill(self) -> None:
        """SIGKILL the child's process group at once (a crash, no chance to clean up) and reap it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            _signal(proc, signal.SIGKILL, group=True)
            proc.wait()

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds: the child's exit
        code (None if it had to be killed or was never started). Idempotent."""
        return terminate(self._proc, grace, group=True)
