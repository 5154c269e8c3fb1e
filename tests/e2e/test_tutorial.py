"""docs/tutorial.md, executed: every shell command and file of the tutorial, in order, in an empty
directory, with the real kubeloop CLI, kubectl and make.

Conventions of the page: ```sh blocks are commands (``cd`` and ``export`` carry over to the next
commands, as in one terminal); a block after ``<!-- file: PATH -->`` is written to PATH; an ```sh
block after ``<!-- background: until "TEXT" -->`` runs in the background until TEXT is printed,
and is stopped with Ctrl-C (SIGINT) at the end.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
STEP = re.compile(
    r"(?:<!-- (?P<directive>file|background): (?P<arg>[^>]*?) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)^```",
    re.S | re.M,
)


def steps() -> list[tuple[str | None, str, str, str]]:
    """(directive, argument, language, body) of each code block, in page order."""
    return [
        (m["directive"], (m["arg"] or "").strip(), m["lang"], m["body"])
        for m in STEP.finditer(TUTORIAL.read_text())
    ]


def test_the_tutorial_runs_from_an_empty_directory_to_a_working_operator(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "KUBELOOP_SOURCE": str(ROOT),  # `kubeloop init` makes the project depend on this checkout
        "PYTHON": sys.executable,  # the generated Makefile then uses this environment, no new virtualenv
    }
    env.pop("KUBECONFIG", None)
    cwd = tmp_path
    background: list[subprocess.Popen[str]] = []
    ran: list[str] = []
    try:
        for directive, arg, lang, body in steps():
            if directive == "file":
                (cwd / arg).parent.mkdir(parents=True, exist_ok=True)
                (cwd / arg).write_text(body)
                ran.append(f"wrote {arg}")
                continue
            if lang != "sh":
                continue
            for line in [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]:
                if line.startswith("cd "):
                    cwd = cwd / line[3:]
                elif line.startswith("export "):
                    name, _, value = line[len("export ") :].partition("=")
                    env[name] = value.replace("$PWD", str(cwd))
                elif directive == "background":
                    background.append(
                        _start_until(line, cwd, env, arg.removeprefix("until").strip().strip('"'))
                    )
                else:
                    proc = subprocess.run(
                        line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
                    )
                    assert proc.returncode == 0, f"`{line}` failed:\n{proc.stdout}\n{proc.stderr}"
                ran.append(line)
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in its terminal
            proc.wait(timeout=60)
    assert "make test" in ran
    assert any(line.startswith("kubeloop dev") for line in ran)


def _start_until(command: str, cwd: Path, env: dict[str, str], text: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 120
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if text in line:
            return proc
    proc.kill()
    pytest.fail(f"`{command}` never printed {text!r}:\n{''.join(seen)}")


def test_the_finished_tutorial_is_the_example() -> None:
    files = {arg: body for directive, arg, _, body in steps() if directive == "file"}
    assert files, "the tutorial writes files"
    for path, body in files.items():
        example = ROOT / "examples" / "appservice" / path
        assert example.exists(), f"examples/appservice/{path} is missing"
        assert example.read_text() == body, f"examples/appservice/{path} differs from the tutorial"
