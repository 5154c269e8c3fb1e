"""The machine's real ``kubectl``, bound to one kubeconfig: the tool end-to-end tests drive."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubeloop.errors import ComponentError

__all__ = ["Kubectl", "KubectlError", "namespace_name", "temporary_namespace"]


class KubectlError(ComponentError):
    """kubectl exited non-zero; ``stderr`` holds what it printed."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        self.args_run = args
        self.returncode = returncode
        self.stderr = stderr
        first = stderr.strip().splitlines()[0] if stderr.strip() else f"exit code {returncode}"
        super().__init__("kubectl", f"`kubectl {' '.join(args)}` failed: {first}")


class Kubectl:
    """Runs ``kubectl`` with ``--kubeconfig`` set; blocking, meant for tests and set-up scripts."""

    def __init__(self, kubeconfig: Path, executable: str | None = None, timeout: float = 120.0) -> None:
        self.kubeconfig = kubeconfig
        self.timeout = timeout
        found = executable or shutil.which("kubectl")
        if found is None:
            raise ComponentError("kubectl", "not found on PATH; install kubectl")
        self.executable = found

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl ARGS``; raise KubectlError on a non-zero exit unless ``check=False``."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.run(
            [self.executable, *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=self.timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise KubectlError(list(args), proc.returncode, proc.stderr)
        return proc

    def json(self, *args: str) -> Any:
        """Run ``kubectl ARGS -o json`` and parse the output."""
        return json.loads(self(*args, "-o", "json").stdout)


def namespace_name(label: str) -> str:
    """A fresh namespace name made of ``label`` (cut and made a DNS label) and a random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40].strip("-")
    return f"{slug}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def temporary_namespace(kubectl: Kubectl, label: str) -> Iterator[str]:
    """Create a namespace named after ``label`` (plus a random suffix); delete it on exit (not waiting).

    With one HTTPS request each way where ``kubectl``'s kubeconfig allows (``_namespaces``: two kubectl
    processes cost tenths of a second each, in hundreds of tests), else with kubectl."""
    from kubeloop.testing._namespaces import NamespaceApi

    name = namespace_name(label)
    api = NamespaceApi.for_kubeconfig(Path(kubectl.kubeconfig))
    if api is not None:
        api.create(name)
    else:
        kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        if api is not None:
            api.delete(name)
        else:
            kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
