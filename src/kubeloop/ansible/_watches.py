"""``watches.yaml`` in operator-sdk's format: which role or playbook reconciles which kind.

Keys and defaults are operator-sdk's (``manageStatus``, ``watchDependentResources`` true;
``watchClusterScopedResources`` false; ``maxRunnerArtifacts`` 20; ``reconcilePeriod`` 0;
``snakeCaseParameters`` true; ``${VAR}`` replaced from the environment). kubeloop adds two keys
operator-sdk ignores: ``rbac`` (the ClusterRole rules the role needs, for ``generate rbac``) and
``runTimeout`` (a run longer than this is stopped and reported as a failure).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.errors import KubeloopError
from kubeloop.gvk import GroupVersionKind

__all__ = ["Finalizer", "Watch", "WatchesError", "load_watches", "parse_duration"]

DEFAULT_RUN_TIMEOUT = 600.0


class WatchesError(KubeloopError):
    """A watches file that cannot be used: its path and what is wrong in it."""


@dataclass(frozen=True)
class Finalizer:
    """The finalizer of a watched kind: its name and what runs on deletion (a role, a playbook, or
    the watch's own role/playbook with ``vars``)."""

    name: str
    role: Path | None = None
    playbook: Path | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Watch:
    """One entry of a watches file, paths made absolute."""

    gvk: GroupVersionKind
    role: Path | None = None
    playbook: Path | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    finalizer: Finalizer | None = None
    reconcile_period: float = 0.0
    manage_status: bool = True
    watch_dependent_resources: bool = True
    watch_cluster_scoped_resources: bool = False
    snake_case_parameters: bool = True
    max_runner_artifacts: int = 20
    run_timeout: float = DEFAULT_RUN_TIMEOUT
    rbac: Sequence[Mapping[str, Any]] = ()

    @property
    def path(self) -> Path:
        """The role directory or the playbook that reconciles the kind."""
        found = self.playbook or self.role
        assert found is not None
        return found


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Seconds of a Go duration (``1m30s``, ``500ms``, ``0``) or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text in ("", "0"):
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r} (use Go's form: 30s, 1m30s, 1h)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def load_watches(path: str | Path) -> list[Watch]:
    """Read and check the watches file at ``path``; roles and playbooks resolve as operator-sdk does,
    relative to the file's directory (``roles/<name>``, ``$ANSIBLE_ROLES_PATH``, collections)."""
    path = Path(path).resolve()
    try:
        text = os.path.expandvars(path.read_text())
        entries = yaml.safe_load(text) or []
    except (OSError, yaml.YAMLError) as exc:
        raise WatchesError(f"{path}: {exc}") from exc
    if not isinstance(entries, list):
        raise WatchesError(f"{path}: expected a list of watches, got {type(entries).__name__}")
    watches: list[Watch] = []
    for i, entry in enumerate(entries):
        try:
            watch = _watch(entry, path.parent)
        except (ValueError, TypeError, KeyError) as exc:
            raise WatchesError(f"{path}: entry {i + 1}: {exc}") from exc
        if any(w.gvk == watch.gvk for w in watches):
            raise WatchesError(f"{path}: duplicate GVK: {watch.gvk}")
        watches.append(watch)
    return watches


def _watch(entry: object, root: Path) -> Watch:
    if not isinstance(entry, dict):
        raise TypeError(f"expected a mapping, got {type(entry).__name__}")
    gvk = GroupVersionKind(
        str(entry.get("group") or ""), str(entry.get("version") or ""), str(entry.get("kind") or "")
    )
    if not gvk.version:
        raise ValueError("version must not be empty")
    if not gvk.kind:
        raise ValueError("kind must not be empty")
    role, playbook = _target(entry, root, required=True)
    finalizer = None
    if (fin := entry.get("finalizer")) is not None:
        if not isinstance(fin, dict) or not fin.get("name"):
            raise ValueError("finalizer must have a name")
        fin_role, fin_playbook = _target(fin, root, required=not fin.get("vars"))
        finalizer = Finalizer(str(fin["name"]), fin_role, fin_playbook, dict(fin.get("vars") or {}))
    rbac = entry.get("rbac") or []
    if not isinstance(rbac, list) or not all(isinstance(r, dict) for r in rbac):
        raise ValueError("rbac must be a list of ClusterRole rules (apiGroups, resources, verbs)")
    return Watch(
        gvk=gvk,
        role=role,
        playbook=playbook,
        vars=dict(entry.get("vars") or {}),
        finalizer=finalizer,
        reconcile_period=parse_duration(entry.get("reconcilePeriod", 0)),
        manage_status=bool(entry.get("manageStatus", True)),
        watch_dependent_resources=bool(entry.get("watchDependentResources", True)),
        watch_cluster_scoped_resources=bool(entry.get("watchClusterScopedResources", False)),
        snake_case_parameters=bool(entry.get("snakeCaseParameters", True)),
        max_runner_artifacts=int(entry.get("maxRunnerArtifacts") or 20),
        run_timeout=parse_duration(entry.get("runTimeout", DEFAULT_RUN_TIMEOUT)) or DEFAULT_RUN_TIMEOUT,
        rbac=tuple(rbac),
    )


def _target(entry: Mapping[str, Any], root: Path, *, required: bool) -> tuple[Path | None, Path | None]:
    if playbook := entry.get("playbook"):
        found = root / str(playbook)
        if not found.is_file():
            raise ValueError(f"playbook: {found} was not found")
        return None, found
    if role := entry.get("role"):
        for candidate in _role_paths(root, str(role)):
            if candidate.is_dir():
                return candidate, None
        raise ValueError(f"role: {role} was not found (looked in {root / 'roles'} and $ANSIBLE_ROLES_PATH)")
    if required:
        raise ValueError("must specify role or playbook")
    return None, None


def _role_paths(root: Path, role: str) -> list[Path]:
    if os.path.isabs(role):
        return [Path(role)]
    paths: list[Path] = []
    parts = role.split(".")
    if len(parts) == 3:  # a role of a collection: <namespace>.<collection>.<role>
        collections = (
            os.environ.get("ANSIBLE_COLLECTIONS_PATH")
            or "/usr/share/ansible/collections:~/.ansible/collections"
        )
        for parent in collections.split(":"):
            paths.append(
                Path(parent).expanduser() / "ansible_collections" / parts[0] / parts[1] / "roles" / parts[2]
            )
    for parent in filter(None, os.environ.get("ANSIBLE_ROLES_PATH", "").split(":")):
        paths += [Path(parent) / role, Path(parent) / "roles" / role]
    return [*paths, root / "roles" / role]
