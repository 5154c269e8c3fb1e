"""A scaffolding plan: every file a command would write, checked as a whole before anything is
written, so that a command either does all of its work or none of it.

Who owns what:

- ``create``: a file the user owns once written (code, Makefile, Dockerfile, ...). Written when
  missing; left alone when its content is already what the template gives; a *conflict* when it
  differs (the user edited it): the command refuses and names it.
- ``seed``: a file another command regenerates (``kubeloop generate`` rewrites ``config/rbac``, the
  CRD and sample kustomizations). Written when missing, otherwise left to that command.
- ``replace``: a file the tool owns outright (``PROJECT``). Always written.
- ``insert``: a fragment placed just above a marker line ``# +kubeloop:scaffold:NAME`` (kubebuilder's
  ``// +kubebuilder:scaffold:`` markers). The region above a marker is where the tool adds; the
  rest of the file is the user's. Inserting a fragment already present changes nothing; a file
  whose marker was removed is a conflict.
- ``append_resource``: a kustomization's ``resources`` list gains an entry (YAML-merged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubeloop.scaffold._names import ScaffoldError

__all__ = ["MARKER_PREFIX", "Change", "Conflict", "Plan", "ScaffoldConflictError", "insert_at_marker"]

MARKER_PREFIX = "+kubeloop:scaffold:"


class ScaffoldConflictError(ScaffoldError):
    """Files stand in the way (edited by the user, or missing their marker); nothing was written."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        lines = "\n".join(f"  {c.path}: {c.reason}" for c in conflicts)
        super().__init__(f"refusing to overwrite, nothing was written:\n{lines}")


@dataclass(frozen=True)
class Conflict:
    """A file the plan may not change, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Change:
    """What applying the plan did to one file: ``created``, ``updated`` or ``unchanged``."""

    path: Path
    action: str


class MarkerMissingError(ScaffoldError):
    """The file has no ``+kubeloop:scaffold:NAME`` marker line."""


def insert_at_marker(text: str, marker: str, fragment: str) -> str:
    """``text`` with ``fragment`` inserted just above the line holding ``+kubeloop:scaffold:<marker>``.

    The fragment (without leading blank lines; its trailing ones are kept, to separate it from
    what follows) takes the marker line's indentation. Unchanged when the fragment, stripped of
    blank lines around it, is already in the text. MarkerMissingError when there is no marker.
    """
    if fragment.strip("\n") in text:
        return text
    lines = text.splitlines(keepends=True)
    tag = MARKER_PREFIX + marker
    for index, line in enumerate(lines):
        if line.lstrip().startswith("#") and line.split("#", 1)[1].strip() == tag:
            indent = line[: len(line) - len(line.lstrip())]
            body = "".join(
                indent + piece if piece.strip() else piece
                for piece in fragment.lstrip("\n").splitlines(keepends=True)
            )
            return "".join([*lines[:index], body if body.endswith("\n") else body + "\n", *lines[index:]])
    raise MarkerMissingError(f"the marker line `# {tag}` is missing")


@dataclass
class _Entry:
    kind: str  # create | seed | replace | edit
    content: str | None = None
    edits: list[Callable[[str], str]] = field(default_factory=list)


class Plan:
    """Files to write under ``root``; ``apply()`` checks them all, then writes them all or none."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._entries: dict[Path, _Entry] = {}

    def _entry(self, path: str | Path, kind: str, content: str | None = None) -> None:
        relative = Path(path)
        if relative in self._entries:
            raise ValueError(f"{relative} planned twice")
        self._entries[relative] = _Entry(kind, content)

    def create(self, path: str | Path, content: str) -> None:
        """Write a user-owned file when missing; conflict when it exists with other content."""
        self._entry(path, "create", content)

    def seed(self, path: str | Path, content: str) -> None:
        """Write a file when missing; leave it when present (another command regenerates it)."""
        self._entry(path, "seed", content)

    def replace(self, path: str | Path, content: str) -> None:
        """Write a tool-owned file whatever it holds."""
        self._entry(path, "replace", content)

    def insert(self, path: str | Path, marker: str, fragment: str) -> None:
        """Insert ``fragment`` above the file's ``marker`` line (the file may be planned here too)."""
        self._edits(path).append(lambda text: insert_at_marker(text, marker, fragment))

    def edit(self, path: str | Path, change: Callable[[str], str]) -> None:
        """Change a file (planned here or present) with ``change``, given its text."""
        self._edits(path).append(change)

    def append_resource(self, path: str | Path, resource: str) -> None:
        """Add ``resource`` to the ``resources`` list of a kustomization file (planned or present)."""

        def edit(text: str) -> str:
            data = yaml.safe_load(text) or {}
            listed = list(data.get("resources") or [])
            if resource in listed:
                return text
            data["resources"] = [*listed, resource]
            return yaml.safe_dump(data, sort_keys=False)

        self._edits(path).append(edit)

    def _edits(self, path: str | Path) -> list[Callable[[str], str]]:
        relative = Path(path)
        if relative not in self._entries:
            self._entries[relative] = _Entry("edit")
        return self._entries[relative].edits

    def resolve(self) -> tuple[dict[Path, str], list[Conflict], list[Change]]:
        """The new content of each file to write, the conflicts, and what each file would undergo."""
        writes: dict[Path, str] = {}
        conflicts: list[Conflict] = []
        changes: list[Change] = []
        for relative, entry in self._entries.items():
            target = self.root / relative
            existing = target.read_text() if target.is_file() else None
            if target.exists() and existing is None:
                conflicts.append(Conflict(relative, "exists and is not a file"))
                continue
            if entry.kind == "create" and existing is not None and existing != entry.content:
                conflicts.append(Conflict(relative, "exists with other content (edited?); not overwritten"))
                continue
            if entry.kind == "edit" and existing is None:
                conflicts.append(Conflict(relative, "is missing; the command adds to it"))
                continue
            text = entry.content if entry.kind == "replace" or existing is None else existing
            assert text is not None
            try:
                for edit in entry.edits:
                    text = edit(text)
            except MarkerMissingError as exc:
                conflicts.append(Conflict(relative, f"{exc}; restore it, or add the new code by hand"))
                continue
            except yaml.YAMLError as exc:
                conflicts.append(Conflict(relative, f"is not valid YAML: {exc}"))
                continue
            if text == existing:
                changes.append(Change(relative, "unchanged"))
            else:
                writes[relative] = text
                changes.append(Change(relative, "created" if existing is None else "updated"))
        return writes, conflicts, changes

    def apply(self) -> list[Change]:
        """Write every planned file, or raise ScaffoldConflictError and write none."""
        writes, conflicts, changes = self.resolve()
        if conflicts:
            raise ScaffoldConflictError(conflicts)
        for relative, text in writes.items():
            target = self.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return changes
