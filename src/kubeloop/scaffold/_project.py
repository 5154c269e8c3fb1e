"""The ``PROJECT`` file: what the scaffolding tool knows about a project (kubebuilder's PROJECT).

YAML with ``domain``, ``layout`` (``kubeloop/v1``), ``projectName``, ``package``, ``namespace`` and
``resources`` (one entry per group/version/kind: scope, whether the tool made its model and its
controller, its webhooks). The tool owns it: ``init`` writes it, ``create`` commands add to it. Keys
it does not know are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.scaffold._names import ScaffoldError

__all__ = ["LAYOUT", "PROJECT_FILE", "Project", "Resource", "Webhooks"]

PROJECT_FILE = "PROJECT"
LAYOUT = "kubeloop/v1"

_HEADER = (
    "# Written by kubeloop's scaffolding commands (init, create api, create webhook); they read it\n"
    "# to know the project's domain, package and resources. Edit with care.\n"
)


@dataclass
class Webhooks:
    """Which admission and conversion webhooks were scaffolded for a resource."""

    defaulting: bool = False
    validation: bool = False
    conversion: bool = False

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("defaulting", "validation", "conversion"):
            if getattr(self, key):
                out[key] = True
        out["webhookVersion"] = "v1"
        return out


@dataclass
class Resource:
    """One group/version/kind of the project."""

    group: str
    version: str
    kind: str
    domain: str
    plural: str
    namespaced: bool = True
    api: bool = True
    controller: bool = True
    webhooks: Webhooks | None = None

    @property
    def api_group(self) -> str:
        return f"{self.group}.{self.domain}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.api_group}"

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": self.group,
            "version": self.version,
            "kind": self.kind,
            "domain": self.domain,
            "plural": self.plural,
        }
        if self.api:
            out["api"] = {"crdVersion": "v1", "namespaced": self.namespaced}
        out["controller"] = self.controller
        if self.webhooks is not None:
            out["webhooks"] = self.webhooks.to_yaml()
        return out

    @classmethod
    def from_yaml(cls, data: dict[str, Any]) -> Resource:
        api = data.get("api")
        hooks = data.get("webhooks")
        return cls(
            group=data["group"],
            version=data["version"],
            kind=data["kind"],
            domain=data["domain"],
            plural=data["plural"],
            namespaced=bool((api or {}).get("namespaced", True)),
            api=api is not None,
            controller=bool(data.get("controller", False)),
            webhooks=None
            if hooks is None
            else Webhooks(
                defaulting=bool(hooks.get("defaulting")),
                validation=bool(hooks.get("validation")),
                conversion=bool(hooks.get("conversion")),
            ),
        )


@dataclass
class Project:
    """The contents of ``PROJECT``."""

    domain: str
    project_name: str
    package: str
    namespace: str
    resources: list[Resource] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def find(self, group: str, kind: str, version: str | None = None) -> list[Resource]:
        """Resources of ``group``/``kind`` (of ``version`` when given)."""
        return [
            r
            for r in self.resources
            if r.group == group and r.kind == kind and (version is None or r.version == version)
        ]

    def dump(self) -> str:
        data: dict[str, Any] = {
            "domain": self.domain,
            "layout": LAYOUT,
            "projectName": self.project_name,
            "package": self.package,
            "namespace": self.namespace,
            **self.extra,
            "resources": [r.to_yaml() for r in self.resources],
        }
        return _HEADER + yaml.safe_dump(data, sort_keys=False)

    @classmethod
    def parse(cls, text: str, where: str = PROJECT_FILE) -> Project:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScaffoldError(f"{where} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ScaffoldError(f"{where} is not a YAML mapping")
        if data.get("layout") != LAYOUT:
            raise ScaffoldError(f"{where} has layout {data.get('layout')!r}; this kubeloop knows {LAYOUT!r}")
        try:
            known = {"domain", "layout", "projectName", "package", "namespace", "resources"}
            return cls(
                domain=data["domain"],
                project_name=data["projectName"],
                package=data["package"],
                namespace=data["namespace"],
                resources=[Resource.from_yaml(r) for r in data.get("resources") or []],
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError) as exc:
            raise ScaffoldError(f"{where} lacks a required key: {exc}") from exc

    @classmethod
    def load(cls, root: Path) -> Project:
        """Read ``root/PROJECT``; ScaffoldError when ``root`` is not a kubeloop project."""
        path = root / PROJECT_FILE
        if not path.is_file():
            raise ScaffoldError(
                f"not inside a kubeloop project: no {PROJECT_FILE} file in {root.resolve()} "
                "(run `kubeloop init --domain ...` first, or cd to the project's root)"
            )
        return cls.parse(path.read_text(), str(path))
