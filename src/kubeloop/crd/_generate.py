"""From declared ``CustomResource`` classes to CustomResourceDefinitions, as dicts and YAML files.

``to_crd`` builds one ``apiextensions.k8s.io/v1`` CRD from the classes declaring versions of one
kind; ``to_crds`` groups any classes by kind first; ``write_crds`` writes kustomize-ready files.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kubeloop.crd._errors import CRDError, CRDSchemaError
from kubeloop.crd._model import CustomResource
from kubeloop.crd._resource import Conversion, ResourceInfo
from kubeloop.crd._schema import openapi_schema

__all__ = ["resource_schema", "to_crd", "to_crds", "to_yaml", "write_crds", "write_file_atomically"]

Models = type[CustomResource] | Iterable[type[CustomResource]]

_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values."
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. In CamelCase."
)
_METADATA_TYPES = {
    "creationTimestamp": "date",
    "deletionTimestamp": "date",
    "generation": "integer",
    "deletionGracePeriodSeconds": "integer",
}
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[[^\]]*\]")
_VERSION_ORDER = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def resource_schema(model: type[CustomResource]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one version: the model's schema with the standard object fields.

    ``apiVersion`` and ``kind`` are plain strings and ``metadata`` a plain object, as the API server
    requires of a custom resource's root.
    """
    schema = openapi_schema(model)
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"description": _API_VERSION_DOC, "type": "string"}
    properties["kind"] = {"description": _KIND_DOC, "type": "string"}
    properties["metadata"] = {"type": "object"}
    ordered = {k: properties.pop(k) for k in ("apiVersion", "kind", "metadata")}
    schema["properties"] = {**ordered, **properties}
    required = [r for r in schema.get("required", ()) if r not in ordered]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    schema.pop("nullable", None)
    return schema


def _column_type(schema: Mapping[str, Any], path: str, where: str) -> str:
    tokens = list(_PATH_TOKEN.finditer(path))
    if not path.startswith(".") or "".join(t.group(0) for t in tokens) != path:
        raise CRDSchemaError(where, f"JSONPath {path!r} is not a simple .field[.field|[...]] path")
    node: Mapping[str, Any] = schema
    names = [t.group(1) for t in tokens]
    if names and names[0] == "metadata":
        return _METADATA_TYPES.get(names[1], "string") if len(names) == 2 else "string"
    for token in tokens:
        name = token.group(1)
        opaque = "properties" not in node and "items" not in node and "additionalProperties" not in node
        if opaque and node.get("x-kubernetes-preserve-unknown-fields"):
            return "string"
        if name is None:
            if "items" not in node:
                raise CRDSchemaError(where, f"JSONPath {path!r} indexes a field that is not a list")
            node = node["items"]
        elif name in node.get("properties", {}):
            node = node["properties"][name]
        elif "additionalProperties" in node:
            node = node["additionalProperties"]
        else:
            raise CRDSchemaError(where, f"JSONPath {path!r}: no field {name!r} in the schema")
    if node.get("x-kubernetes-int-or-string"):
        return "string"
    kind = node.get("type")
    if kind == "string" and node.get("format") in ("date-time", "datetime"):
        return "date"
    if kind in ("integer", "number", "boolean", "string"):
        return str(kind)
    return "string"


def _printer_columns(info: ResourceInfo, schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for column in info.printer_columns:
        where = f"{info.kind} printer column {column.name!r}"
        entry: dict[str, Any] = {
            "jsonPath": column.json_path,
            "name": column.name,
            "type": column.type or _column_type(schema, column.json_path, where),
        }
        if column.description is not None:
            entry["description"] = column.description
        if column.format is not None:
            entry["format"] = column.format
        if column.priority:
            entry["priority"] = column.priority
        out.append(entry)
    return out


def _version(model: type[CustomResource]) -> dict[str, Any]:
    info = model.resource_info()
    schema = resource_schema(model)
    version: dict[str, Any] = {"name": info.version, "served": info.served, "storage": info.storage}
    if info.deprecated:
        version["deprecated"] = True
        if info.deprecation_warning is not None:
            version["deprecationWarning"] = info.deprecation_warning
    columns = _printer_columns(info, schema)
    if columns:
        version["additionalPrinterColumns"] = columns
    version["schema"] = {"openAPIV3Schema": schema}
    subresources: dict[str, Any] = {}
    if info.status:
        subresources["status"] = {}
    if info.scale is not None:
        subresources["scale"] = info.scale.to_dict()
    if subresources:
        version["subresources"] = subresources
    return version


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first, others last."""
    match = _VERSION_ORDER.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, level, minor = match.groups()
    stage = {None: 0, "beta": 1, "alpha": 2}[level]
    return (stage, -int(major), -int(minor or 0), version)


def _models(model_or_models: Models) -> list[type[CustomResource]]:
    if isinstance(model_or_models, type):
        return [model_or_models]
    return list(model_or_models)


def to_crd(model_or_models: Models) -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CustomResourceDefinition of one kind, as a dict.

    Pass one ``@crd.resource`` class, or several declaring different versions of the same group
    and kind. Names, scope, short names and categories must agree across versions; exactly one
    version must be the storage version. Raises ``CRDError`` (``CRDSchemaError`` for schemas).
    """
    models = _models(model_or_models)
    if not models:
        raise CRDError("to_crd needs at least one CustomResource class")
    infos = [m.resource_info() for m in models]
    first = infos[0]
    for info in infos[1:]:
        if (info.group, info.kind) != (first.group, first.kind):
            raise CRDError(
                f"one CRD holds one kind: {first.kind}.{first.group} and {info.kind}.{info.group} differ; "
                "use to_crds"
            )
        for attr in ("plural", "singular", "scope", "short_names", "categories"):
            if getattr(info, attr) != getattr(first, attr):
                raise CRDError(
                    f"{first.kind}.{first.group}: versions {first.version} and {info.version} "
                    f"declare different "
                    f"{attr} ({getattr(first, attr)!r} vs {getattr(info, attr)!r})"
                )
    names = [i.version for i in infos]
    duplicates = sorted({v for v in names if names.count(v) > 1})
    if duplicates:
        raise CRDError(f"{first.kind}.{first.group}: version {duplicates[0]} is declared twice")
    storage = [i.version for i in infos if i.storage]
    if len(storage) != 1:
        raise CRDError(
            f"{first.kind}.{first.group}: exactly one version must be the storage version, "
            f"found {len(storage)} ({', '.join(storage) or 'none'}); pass storage=False on the others"
        )
    if not any(i.served for i in infos):
        raise CRDError(f"{first.kind}.{first.group}: no version is served")
    conversions = {i.conversion for i in infos if i.conversion is not None}
    if len(conversions) > 1:
        raise CRDError(f"{first.kind}.{first.group}: versions declare different conversions")
    conversion: Conversion | None = conversions.pop() if conversions else None
    names_spec: dict[str, Any] = {
        "kind": first.kind,
        "listKind": f"{first.kind}List",
        "plural": first.plural,
        "singular": first.singular,
    }
    if first.short_names:
        names_spec["shortNames"] = list(first.short_names)
    if first.categories:
        names_spec["categories"] = list(first.categories)
    ordered = sorted(models, key=lambda m: _version_priority(m.resource_info().version))
    spec: dict[str, Any] = {"group": first.group, "names": names_spec, "scope": first.scope}
    if conversion is not None:
        spec["conversion"] = conversion.to_dict()
    spec["versions"] = [_version(m) for m in ordered]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": first.crd_name},
        "spec": spec,
    }


def to_crds(models: Models) -> list[dict[str, Any]]:
    """One CRD per (group, kind) among ``models``, ordered by CRD name."""
    by_kind: dict[tuple[str, str], list[type[CustomResource]]] = {}
    for model in _models(models):
        info = model.resource_info()
        by_kind.setdefault((info.group, info.kind), []).append(model)
    crds = [to_crd(group) for group in by_kind.values()]
    return sorted(crds, key=lambda c: str(c["metadata"]["name"]))


def _dump(document: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(document, Dumper=dumper, sort_keys=False, default_flow_style=False, width=100)
    return "---\n" + text


def to_yaml(models: Models) -> str:
    """The CRDs of ``models`` as one multi-document YAML text."""
    return "".join(_dump(c) for c in to_crds(models))


def write_crds(models: Models, directory: str | Path) -> list[Path]:
    """Write ``<directory>/config/crd/bases/<group>_<plural>.yaml`` per kind and a kustomization.

    ``directory`` is the project root. ``config/crd/kustomization.yaml`` lists the written bases
    under ``resources``; an existing one keeps its other entries and keys (patches, configurations).
    Files of kinds no longer declared are left alone. Returns the CRD files written.

    Every CRD is generated before any file is touched, so a model that cannot be expressed
    (``CRDSchemaError``) leaves the directory as it was; each file is written to a temporary file
    beside it and renamed over it, so no reader ever sees half a file.
    """
    crd_dir = Path(directory) / "config" / "crd"
    bases = crd_dir / "bases"
    contents: dict[Path, str] = {}
    for crd in to_crds(models):
        spec = crd["spec"]
        contents[bases / f"{spec['group']}_{spec['names']['plural']}.yaml"] = _dump(crd)
    kustomization_path = crd_dir / "kustomization.yaml"
    kustomization: dict[str, Any] = {}
    if kustomization_path.exists():
        loaded = yaml.safe_load(kustomization_path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            kustomization = loaded
    kustomization.setdefault("apiVersion", "kustomize.config.k8s.io/v1beta1")
    kustomization.setdefault("kind", "Kustomization")
    resources: list[str] = list(kustomization.get("resources") or [])
    for path in contents:
        entry = f"bases/{path.name}"
        if entry not in resources:
            resources.append(entry)
    kustomization["resources"] = resources
    for path, text in contents.items():
        write_file_atomically(path, text)
    write_file_atomically(kustomization_path, _dump(kustomization)[len("---\n") :])
    return list(contents)


def write_file_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename:
    ``path`` holds either its old content or all of ``text``, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as out:  # created with the umask's mode
            out.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
