"""One ansible-runner run over one object, in a subprocess the event loop only awaits.

The private data directory of an object (``<root>/<group>/<version>/<kind>/<namespace>/<name>``)
holds the inventory (localhost, this Python), the extra vars, a playbook importing the role or the
user's playbook, and ``artifacts/<ident>`` of each run (the newest N kept, ``artifacts/latest``
pointing at the last). The result is read from the run's job events, as
operator-sdk reads them: the ``playbook_on_stats`` counts and every ``runner_on_failed`` not ignored
or rescued. A run past its timeout is stopped (its process tree SIGTERMed, then SIGKILLed) and
reported naming the task it was in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RunResult", "TaskFailure", "run_ansible"]

log = logging.getLogger("kubeloop.ansible")

_KILL_GRACE = 5.0
COLLECTIONS = Path(__file__).parent / "collections"
"""kubeloop's operator_sdk.util collection (k8s_status), last on every run's collections path."""
_DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed: its name and the module's message."""

    task: str
    message: str
    stopped: bool = False
    """The run was stopped in this task (its timeout): ``message`` says so whole."""

    def __str__(self) -> str:
        return self.message if self.stopped else f"task {self.task!r} failed: {self.message}"


@dataclass(frozen=True)
class RunResult:
    """What one run did."""

    ident: str
    artifacts: Path
    rc: int | None
    ok: int = 0
    changed: int = 0
    skipped: int = 0
    failures: int = 0
    completion: str = ""
    failed: tuple[TaskFailure, ...] = ()
    timed_out: bool = False
    finished: bool = False
    """Whether the playbook reached its end (``playbook_on_stats``)."""
    stdout_tail: str = ""

    @property
    def successful(self) -> bool:
        return self.finished and not self.failed and not self.timed_out

    @property
    def message(self) -> str:
        """The failures in one message, as the ``Failure`` condition carries them."""
        if self.failed:
            return "\n".join(str(f) for f in self.failed)
        if not self.finished:
            tail = " | ".join(line for line in self.stdout_tail.splitlines()[-3:] if line.strip())
            return f"the run ended without a result (ansible-runner exit code {self.rc}): {tail}"
        return ""

    def ansible_result(self) -> dict[str, Any]:
        """The ``ansibleResult`` of operator-sdk's conditions."""
        return {
            "ok": self.ok,
            "changed": self.changed,
            "skipped": self.skipped,
            "failures": self.failures,
            "completion": self.completion,
        }


def _playbook(role: Path | None, playbook: Path | None) -> list[dict[str, Any]]:
    if playbook is not None:
        return [{"import_playbook": str(playbook)}]
    return [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.import_role": {"name": str(role)}}],
        }
    ]


def _prepare(private: Path, role: Path | None, playbook: Path | None, extravars: Mapping[str, Any]) -> None:
    for sub in ("project", "inventory", "env"):
        (private / sub).mkdir(parents=True, exist_ok=True)
    (private / "project" / "kubeloop-run.yml").write_text(yaml.safe_dump(_playbook(role, playbook)))
    (private / "inventory" / "hosts").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    (private / "env" / "extravars").write_text(json.dumps(dict(extravars), default=str))


async def run_ansible(
    private: Path,
    *,
    role: Path | None,
    playbook: Path | None,
    extravars: Mapping[str, Any],
    env: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - the run is stopped (its process tree killed), not just abandoned
    max_artifacts: int,
    verbosity: int = 0,
) -> RunResult:
    """Run the role or playbook with ``extravars`` in ``private`` (see the module docstring)."""
    await asyncio.to_thread(_prepare, private, role, playbook, extravars)
    ident = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    bindir = os.path.dirname(sys.executable)
    environ = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        **env,
    }
    collections = environ.get("ANSIBLE_COLLECTIONS_PATH") or _DEFAULT_COLLECTIONS_PATH
    environ["ANSIBLE_COLLECTIONS_PATH"] = f"{collections}{os.pathsep}{COLLECTIONS}"
    args = [sys.executable, "-m", "ansible_runner", "run", str(private), "-p", "kubeloop-run.yml"]
    args += ["--ident", ident]
    if verbosity:
        args.append("-" + "v" * verbosity)
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    timed_out = False
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        timed_out = True
        await _stop(proc)
        stderr = b""
    except BaseException:
        await _stop(proc)
        raise
    artifacts = private / "artifacts" / ident
    result = await asyncio.to_thread(_read_result, ident, artifacts, proc.returncode, timed_out, timeout)
    if not result.finished and stderr:
        result = _with_tail(result, stderr.decode(errors="replace"))
    await asyncio.to_thread(_keep_newest, private / "artifacts", ident, max_artifacts)
    return result


def _keep_newest(artifacts: Path, ident: str, keep: int) -> None:
    """Point ``latest`` at ``ident`` and delete all but the newest ``keep`` runs' artifacts (idents
    start with the time in ns: their names sort by age). ansible-runner's own ``--rotate-artifacts``
    fails the next run on the ``latest`` link (rmtree of a symlink). Nothing to do when no run got
    as far as making its artifacts (ansible-runner could not start: the result says why)."""
    if not artifacts.is_dir():
        return
    with contextlib.suppress(OSError):
        latest = artifacts / "latest"
        latest.unlink(missing_ok=True)
        latest.symlink_to(ident)
    runs = sorted(p for p in artifacts.iterdir() if p.is_dir() and not p.is_symlink())
    for old in runs[: max(0, len(runs) - max(1, keep))]:
        shutil.rmtree(old, ignore_errors=True)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Stop the run and everything it started: ansible-runner puts ansible-playbook in a session of
    its own (a pty), whose task processes outlive a signal to ours, so the whole tree is signalled."""
    tree = await asyncio.to_thread(_tree, proc.pid)
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE), (signal.SIGKILL, None)):
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), wait)
        except TimeoutError:
            tree |= await asyncio.to_thread(_tree, proc.pid)


def _tree(root: int) -> set[int]:
    """``root`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def _with_tail(result: RunResult, text: str) -> RunResult:
    return replace(result, stdout_tail=(result.stdout_tail + "\n" + text).strip()[-2000:])


def _events(artifacts: Path) -> list[dict[str, Any]]:
    events = []
    for file in (artifacts / "job_events").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            event = json.loads(file.read_text())
            if isinstance(event, dict) and "event" in event:
                events.append(event)
    return sorted(events, key=lambda e: int(e.get("counter") or 0))


def _res(data: Mapping[str, Any]) -> dict[str, Any]:
    res = data.get("res")
    return res if isinstance(res, dict) else {}


def _read_result(ident: str, artifacts: Path, rc: int | None, timed_out: bool, timeout: float) -> RunResult:
    stats: dict[str, Any] | None = None
    completion = ""
    failed: list[TaskFailure] = []
    running_task = ""
    for event in _events(artifacts):
        data = event.get("event_data") or {}
        kind = event["event"]
        if kind == "playbook_on_task_start":
            running_task = str(data.get("task") or data.get("name") or "")
        elif kind == "playbook_on_stats":
            stats, completion = data, str(event.get("created") or "")
        elif kind == "runner_on_failed" and not data.get("ignore_errors") and not data.get("rescued"):
            res = _res(data)
            message = str(res.get("msg") or res.get("stderr") or res.get("reason") or "unknown failure")
            failed.append(TaskFailure(str(data.get("task") or ""), message))
        elif kind == "runner_on_unreachable":
            res = _res(data)
            failed.append(TaskFailure(str(data.get("task") or ""), f"host unreachable: {res.get('msg', '')}"))
    if timed_out:
        where = f"task {running_task!r}" if running_task else "the run"
        message = f"{where} did not finish within {timeout:g} s; the run was stopped"
        failed.append(TaskFailure(running_task, message, stopped=True))
    tail = ""
    with contextlib.suppress(OSError):
        tail = (artifacts / "stdout").read_text(errors="replace")[-2000:]

    def count(key: str) -> int:
        values = (stats or {}).get(key) or {}
        return sum(int(v) for v in values.values()) if isinstance(values, dict) else 0

    return RunResult(
        ident=ident,
        artifacts=artifacts,
        rc=rc,
        ok=count("ok"),
        changed=count("changed"),
        skipped=count("skipped"),
        failures=count("failures"),
        completion=completion,
        failed=tuple(failed),
        timed_out=timed_out,
        finished=stats is not None,
        stdout_tail=tail,
    )
