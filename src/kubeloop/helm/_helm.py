"""The ``helm`` command, run as a subprocess the event loop awaits: install, upgrade, rollback,
uninstall (``HelmServer`` serves the same calls from one long-lived process). Releases are Helm's
own (``sh.helm.release.v1.*`` Secrets), so ``helm list`` and ``helm history`` show what the operator
did; ``read_release`` reads the last one from its Secret (what ``helm status`` reads) without helm."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from kubeloop.client import Client, PatchType
from kubeloop.errors import KubeloopError

__all__ = [
    "INPUTS_LABEL",
    "Helm",
    "HelmError",
    "Patch",
    "Release",
    "Releases",
    "inputs_digest",
    "read_release",
]

INPUTS_LABEL = "kubeloop.dev/inputs"
"""The release label (``helm --labels``) with the digest of the chart and values it was made from."""
RELEASE_SECRET_TYPE = "helm.sh/release.v1"


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
    config: Mapping[str, Any] | None = None
    """The values it was made with (``helm get values``)."""
    inputs: str = ""
    """Its ``INPUTS_LABEL`` (read from its Secret; empty when made without)."""

    @classmethod
    def parse(cls, data: Mapping[str, Any], inputs: str = "") -> Release:
        chart = (data.get("chart") or {}).get("metadata") or {}
        config = data.get("config")
        return cls(
            name=str(data.get("name", "")),
            namespace=str(data.get("namespace", "")),
            revision=int(data.get("version") or 0),
            status=str((data.get("info") or {}).get("status", "")),
            manifest=str(data.get("manifest") or ""),
            chart_version=str(chart.get("version", "")),
            config=config if isinstance(config, Mapping) else {},
            inputs=inputs,
        )


@dataclass(frozen=True)
class Patch:
    """What puts an object of a release back as it was deployed."""

    type: PatchType
    body: Mapping[str, Any]


Pair = tuple[Mapping[str, Any], Mapping[str, Any]]
"""An object of a release as deployed (its manifest with Helm's metadata) and as in the cluster."""


class Releases(Protocol):
    """The release operations a Helm operator calls, each through the kubeconfig given (its reconcile's
    token at the API proxy): served by the ``helm`` command (``Helm``) or by ``helm-server``
    (``HelmServer``). A failure is a ``HelmError`` with helm's message."""

    async def install(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Release: ...

    async def upgrade(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        *,
        force: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> Release:
        """``force``: objects replaced where a patch cannot change them (``helm upgrade --force``)."""
        ...

    async def rollback(
        self, kubeconfig: Path, name: str, namespace: str, revision: int, *, force: bool = False
    ) -> None: ...

    async def drift(self, objects: Sequence[Pair]) -> list[Patch | None]:
        """For each object (as deployed, as in the cluster), the patch that puts it back as deployed;
        None where nothing needs a request."""
        ...

    async def uninstall(
        self, kubeconfig: Path, name: str, namespace: str, *, keep_history: bool = False
    ) -> None:
        """None installed: nothing to do. ``keep_history``: the record stays, ``uninstalled``."""
        ...


def decode_release(secret: Mapping[str, Any]) -> Release:
    """The release a ``sh.helm.release.v1.*`` Secret holds (its data: base64 of gzipped JSON, as Helm's
    Secret driver writes it)."""
    raw = base64.b64decode(base64.b64decode((secret.get("data") or {})["release"]))
    if raw[:3] == b"\x1f\x8b\x08":
        raw = gzip.decompress(raw)
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return Release.parse(orjson.loads(raw), str(labels.get(INPUTS_LABEL, "")))


async def read_release(client: Client, name: str, namespace: str) -> Release | None:
    """The release's last revision (what ``helm status`` shows) from its Secret, or None when there is
    none: one list of the Secrets Helm labels ``owner=helm,name=<name>``."""
    found = await client.list("v1/Secret", namespace=namespace, label_selector=f"owner=helm,name={name}")
    secrets = [s for s in found["items"] if s.get("type") == RELEASE_SECRET_TYPE]
    if not secrets:
        return None
    last = max(secrets, key=lambda s: int((s["metadata"].get("labels") or {}).get("version") or 0))
    return decode_release(last)


_chart_digests: dict[tuple[Any, ...], str] = {}


def chart_digest(chart: Path) -> str:
    """The digest of a chart directory's files (or a packaged chart's bytes), recomputed when a file's
    size or modification time changes."""
    files = sorted(p for p in chart.rglob("*") if p.is_file()) if chart.is_dir() else [chart]
    key = tuple((str(p), st.st_size, st.st_mtime_ns) for p in files for st in (p.stat(),))
    digest = _chart_digests.get(key)
    if digest is None:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(chart) if chart.is_dir() else p.name).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
        digest = _chart_digests[key] = h.hexdigest()
    return digest


def inputs_digest(chart: Path, values: Mapping[str, Any]) -> str:
    """What a release is made from, as a label value: the chart's files and the values."""
    h = hashlib.sha256(chart_digest(chart).encode())
    h.update(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()[:40]


class Helm:
    """``Releases`` served by ``helm`` at ``binary``, talking to the cluster of ``kubeconfig`` (given per
    call)."""

    def __init__(self, binary: str | Path, *, timeout: float = 300.0, options: Sequence[str] = ()) -> None:
        """``options``: more flags for every install and upgrade."""
        self.binary = str(binary)
        self.timeout = timeout
        self._options = tuple(options)

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

    async def install(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Release:
        args = ["install", name, str(chart), "-n", namespace, "-f", await _values_file(kubeconfig, values)]
        args += ["-o", "json", *self._options, *_labels(labels)]
        return Release.parse(json.loads(await self._run(kubeconfig, *args)))

    async def upgrade(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        *,
        force: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> Release:
        """``force``: ``helm upgrade --force`` (objects replaced where a patch cannot change them)."""
        args = ["upgrade", name, str(chart), "-n", namespace, "-f", await _values_file(kubeconfig, values)]
        args += [
            "-o",
            "json",
            "--reset-values",
            *(("--force",) if force else ()),
            *self._options,
            *_labels(labels),
        ]
        return Release.parse(json.loads(await self._run(kubeconfig, *args)))

    async def rollback(
        self, kubeconfig: Path, name: str, namespace: str, revision: int, *, force: bool = False
    ) -> None:
        force_flag = ("--force",) if force else ()
        await self._run(kubeconfig, "rollback", name, str(revision), "-n", namespace, *force_flag)

    async def drift(self, objects: Sequence[Pair]) -> list[Patch | None]:
        """For each object, the patch that puts it back as deployed (None: nothing differs). The helm
        command computes none: each object is patched with its manifest (a strategic merge; a custom
        resource's, refused with 415, as a merge patch), which writes nothing where nothing differs
        but is a request to the API server each."""
        return [Patch(PatchType.STRATEGIC, expected) for expected, _ in objects]

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


def _labels(labels: Mapping[str, str] | None) -> Sequence[str]:
    return ("--labels", ",".join(f"{k}={v}" for k, v in labels.items())) if labels else ()


async def _values_file(kubeconfig: Path, values: Mapping[str, Any]) -> str:
    """The values written beside the run's kubeconfig, for ``helm -f``."""
    path = kubeconfig.with_name("values.json")
    await asyncio.to_thread(path.write_bytes, orjson.dumps(values))
    return str(path)
