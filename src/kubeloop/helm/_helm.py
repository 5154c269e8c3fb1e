"""The ``helm`` command, run as a subprocess the event loop awaits: install, upgrade, rollback,
uninstall, status. Releases are Helm's own (``sh.helm.release.v1.*`` Secrets), so ``helm list`` and
``helm history`` show what the operator did."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeloop.errors import KubeloopError

__all__ = ["Helm", "HelmError", "Release"]


class HelmError(KubeloopError):
    """A helm command failed; the message is what helm said."""

    def __init__(self, command: str, message: str) -> None:
        self.command = command
        self.message = message
        super().__init__(f"helm {command}: {message}")


@dataclass(frozen=True)
class Release:
    """A release as ``helm status -o json`` shows it."""

    name: str
    namespace: str
    revision: int
    status: str
    manifest: str
    chart_version: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Release:
        chart = (data.get("chart") or {}).get("metadata") or {}
        return cls(
            name=str(data.get("name", "")),
            namespace=str(data.get("namespace", "")),
            revision=int(data.get("version") or 0),
            status=str((data.get("info") or {}).get("status", "")),
            manifest=str(data.get("manifest") or ""),
            chart_version=str(chart.get("version", "")),
        )


class Helm:
    """``helm`` at ``binary``, talking to the cluster of ``kubeconfig`` (given per call)."""

    def __init__(self, binary: str | Path, *, timeout: float = 300.0) -> None:
        self.binary = str(binary)
        self.timeout = timeout

    async def _run(self, kubeconfig: Path, *args: str) -> str:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HELM_KUBECONTEXT": ""}
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip().removeprefix("Error: ")
            raise HelmError(args[0], message or f"exit code {proc.returncode}")
        return out.decode(errors="replace")

    async def status(self, kubeconfig: Path, name: str, namespace: str) -> Release | None:
        """The release, or None when there is none."""
        try:
            out = await self._run(
                kubeconfig, "status", name, "-n", namespace, "-o", "json", "--show-resources=false"
            )
        except HelmError as exc:
            if "not found" in exc.message:
                return None
            raise
        return Release.parse(json.loads(out))

    async def install(
        self, kubeconfig: Path, name: str, namespace: str, chart: Path, values: Path, *, dry_run: bool = False
    ) -> Release:
        args = ["install", name, str(chart), "-n", namespace, "-f", str(values), "-o", "json"]
        return Release.parse(json.loads(await self._run(kubeconfig, *args, *_dry(dry_run))))

    async def upgrade(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Path,
        *,
        dry_run: bool = False,
        force: bool = False,
    ) -> Release:
        """``force``: ``helm upgrade --force`` (objects replaced where a patch cannot change them)."""
        args = [
            "upgrade",
            name,
            str(chart),
            "-n",
            namespace,
            "-f",
            str(values),
            "-o",
            "json",
            "--reset-values",
            *(("--force",) if force else ()),
        ]
        return Release.parse(json.loads(await self._run(kubeconfig, *args, *_dry(dry_run))))

    async def rollback(
        self, kubeconfig: Path, name: str, namespace: str, revision: int, *, force: bool = False
    ) -> None:
        force_flag = ("--force",) if force else ()
        await self._run(kubeconfig, "rollback", name, str(revision), "-n", namespace, *force_flag)

    async def uninstall(
        self, kubeconfig: Path, name: str, namespace: str, *, keep_history: bool = False
    ) -> None:
        """Uninstall the release (none: nothing to do). ``keep_history``: its record stays, ``uninstalled``
        (``status`` still reads its manifest); a later uninstall without it purges the record."""
        keep = ("--keep-history",) if keep_history else ()
        try:
            await self._run(kubeconfig, "uninstall", name, "-n", namespace, *keep)
        except HelmError as exc:
            if "not found" not in exc.message:
                raise


def _dry(dry_run: bool) -> Sequence[str]:
    return ("--dry-run=server",) if dry_run else ()
