#!/usr/bin/env python3
"""Regenerate ``kubeloop/resources/<group>_<version>.py``: a ``TypedDict`` for every built-in kind and
every structure nested in one, from the OpenAPI of the pinned Kubernetes version.

Inputs come from the Go module cache, which building the control plane fills (``go mod download``
fetches them otherwise): ``k8s.io/kubernetes@<version>/api/openapi-spec/v3`` (every group/version the
release knows, alpha and beta included) for the shapes and descriptions, and the Go types of
``k8s.io/api``, apimachinery, apiextensions-apiserver and kube-aggregator for the enums (types marked
``+enum``, with their constants), which the published OpenAPI leaves out. Field names stay as the API
spells them; descriptions become docstrings; required fields are ``Required``; int-or-string, quantities
and times get the aliases of ``kubeloop.resources._scalars``. The output is deterministic, so
``tests/unit/resources/test_generated.py`` can regenerate in memory and compare:

    .venv/bin/python hack/generate-resources.py
"""

from __future__ import annotations

import json
import keyword
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "src" / "kubeloop" / "resources"
sys.path.insert(0, str(REPO / "src"))

from kubeloop.testing.versions import KUBERNETES_VERSION  # noqa: E402

WIDTH = 110
STAGING = f"v0{KUBERNETES_VERSION[2:]}"  # k8s.io/api etc. are tagged v0.<minor>.<patch>
_PACKAGES = {
    "io.k8s.apimachinery.pkg.apis.meta.v1": "meta_v1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1": "apiextensions_v1",
    "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1": "apiregistration_v1",
}
_GO_DIRS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1": ("k8s.io/apimachinery", "pkg/apis/meta/v1"),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1": (
        "k8s.io/apiextensions-apiserver",
        "pkg/apis/apiextensions/v1",
    ),
    "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1": (
        "k8s.io/kube-aggregator",
        "pkg/apis/apiregistration/v1",
    ),
}
# Definitions that are not structures: their Python spelling (names from kubeloop.resources._scalars).
_SCALARS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "RawExtension",
}
# Definitions the OpenAPI leaves shapeless (custom JSON marshalling): their Python spelling.
_ALIASES = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "dict[str, Any]",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": "dict[str, Any]",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "Any",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": (
        "JSONSchemaProps | list[JSONSchemaProps]"
    ),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": (
        "JSONSchemaProps | bool"
    ),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": (
        "JSONSchemaProps | list[str]"
    ),
}
_SKIPPED = {"io.k8s.apimachinery.pkg.version.Info"}  # /version's answer, not an API object
_RESOURCE_PATH = re.compile(
    r"^/apis?/(?:[^/]+/)?[^/]+/(namespaces/\{namespace\}/)?([a-z0-9]+)(?:/\{name\})?$"
)


# -- inputs --------------------------------------------------------------------------------------------


def module_dir(module: str, version: str) -> Path:
    """Where the Go module cache holds ``module@version`` (downloaded into it if missing)."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(done.stdout or "{}")
    if done.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module}@{version}: {info.get('Error') or done.stderr}")
    return Path(info["Dir"])


@dataclass
class Spec:
    """What the generator reads: every schema, the REST resources, and what the Go types add."""

    schemas: dict[str, dict[str, Any]]
    resources: dict[tuple[str, str, str], tuple[str, bool]]  # (group, version, kind) -> (plural, namespaced)
    enums: dict[tuple[str, str], Enum]  # (definition, property) -> its enum
    nullable: set[tuple[str, str]]  # (definition, property) the server may send as null


@dataclass(frozen=True)
class Enum:
    """A Go string type marked ``+enum``: its name, the module of its package, doc and values."""

    name: str
    module: str | None
    doc: str
    values: tuple[str, ...]


def load_spec() -> Spec:
    """Read the pinned version's OpenAPI v3 files and Go types from the module cache."""
    openapi = module_dir("k8s.io/kubernetes", KUBERNETES_VERSION) / "api" / "openapi-spec" / "v3"
    schemas: dict[str, dict[str, Any]] = {}
    resources: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for path in sorted(openapi.glob("*.json")):
        document = json.loads(path.read_text())
        schemas.update(document.get("components", {}).get("schemas", {}))
        for url, operations in document.get("paths", {}).items():
            match = _RESOURCE_PATH.match(url)
            for operation in operations.values():
                gvk = isinstance(operation, dict) and operation.get("x-kubernetes-group-version-kind")
                if (
                    not match
                    or not gvk
                    or operation.get("x-kubernetes-action") not in ("list", "post", "get")
                ):
                    continue
                key = (gvk["group"], gvk["version"], gvk["kind"])
                plural, namespaced = resources.get(key, (match.group(2), False))
                resources[key] = (plural, namespaced or bool(match.group(1)))
    enums, nullable = _go_facts(schemas)
    return Spec(schemas, resources, enums, nullable)


# -- Go types: enums and nulls ---------------------------------------------------------------------------

_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
_ENUM = re.compile(r"((?://[^\n]*\n)+)type (\w+) string\b", re.M)
_CONST = re.compile(r"^\s*(\w+)\s+(\w+)\s*=\s*\"([^\"]*)\"", re.M)
_IMPORT = re.compile(r'^\s*(\w+\s+)?"(k8s\.io/[^"]+)"', re.M)


@dataclass
class _GoPackage:
    fields: dict[str, dict[str, str]] = field(default_factory=dict)  # struct -> json name -> type
    inline: dict[str, list[str]] = field(default_factory=dict)  # struct -> embedded types
    enums: dict[str, list[str]] = field(default_factory=dict)  # type -> values
    docs: dict[str, str] = field(default_factory=dict)  # enum type -> its doc comment
    nullable: set[tuple[str, str]] = field(default_factory=set)  # (struct, json name) encoded as null


def _go_dir(package: str) -> tuple[str, str] | None:
    if package in _GO_DIRS:
        return _GO_DIRS[package]
    if package.startswith("io.k8s.api."):
        return "k8s.io/api", package[len("io.k8s.api.") :].replace(".", "/")
    return None


def _parse_go(directory: Path, go_package: str) -> _GoPackage:
    parsed = _GoPackage()
    enum_types: set[str] = set()
    consts: list[tuple[str, str]] = []
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go") or path.name.startswith(("zz_", "generated")):
            continue
        text = path.read_text()
        imports: dict[str, str] = {}
        block = re.search(r"^import \((.*?)\)", text, re.S | re.M)
        for m in _IMPORT.finditer(block.group(1) if block else ""):
            alias = (m.group(1) or "").strip() or m.group(2).rsplit("/", 1)[-1]
            imports[alias] = m.group(2)
        for m in _ENUM.finditer(text):
            if "+enum" in m.group(1):
                enum_types.add(m.group(2))
                comment = [line.strip()[2:].strip() for line in m.group(1).splitlines()]
                parsed.docs[m.group(2)] = " ".join(c for c in comment if c and not c.startswith("+"))
        consts += [(m.group(2), m.group(3)) for m in _CONST.finditer(text)]
        for m in _STRUCT.finditer(text):
            fields: dict[str, str] = {}
            embedded: list[str] = []
            for line in m.group(2).splitlines():
                line = line.strip()
                if not line or line.startswith("//"):
                    continue
                head, _, tag = line.partition("`")
                tokens = head.split()
                json_tag = re.search(r'json:"([^"]*)"', tag)
                name = json_tag.group(1).split(",")[0] if json_tag else ""
                go_type = _qualify(tokens[-1], go_package, imports) if tokens else ""
                if len(tokens) == 1 or (json_tag and "inline" in json_tag.group(1)):
                    embedded.append(go_type)
                elif name and name != "-":
                    fields[name] = go_type
                    if _null_when_empty(go_type, "omitempty" in json_tag.group(1) if json_tag else False):
                        parsed.nullable.add((m.group(1), name))
            parsed.fields[m.group(1)] = fields
            parsed.inline[m.group(1)] = embedded
    for type_name, value in consts:
        if type_name in enum_types:
            values = parsed.enums.setdefault(type_name, [])
            if value not in values:
                values.append(value)
    return parsed


_TIMES = ("k8s.io/apimachinery/pkg/apis/meta/v1.Time", "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime")


def _null_when_empty(go_type: str, omitempty: bool) -> bool:
    """Whether encoding/json writes ``null`` for the field's zero value: a time (its marshaller writes
    null, and omitempty never omits a struct), or a pointer, slice or map without omitempty."""
    return go_type in _TIMES or (not omitempty and go_type.startswith(("*", "[]", "map[")))


def _qualify(go_type: str, go_package: str, imports: dict[str, str]) -> str:
    """``[]*v1.PullPolicy`` -> ``[]k8s.io/api/core/v1.PullPolicy`` (prefixes kept, package made full)."""
    prefix = re.match(r"^[\[\]*]*", go_type).group(0)  # type: ignore[union-attr]
    name = go_type[len(prefix) :]
    if "." in name:
        alias, _, local = name.partition(".")
        return f"{prefix}{imports.get(alias, alias)}.{local}"
    return f"{prefix}{go_package}.{name}"


def _go_facts(
    schemas: dict[str, dict[str, Any]],
) -> tuple[dict[tuple[str, str], Enum], set[tuple[str, str]]]:
    """What the Go types say beyond the OpenAPI: enums, and the fields sent as ``null`` when empty."""
    packages: dict[str, _GoPackage] = {}

    def package(go_package: str) -> _GoPackage:
        if go_package not in packages:
            module = next((m for m in _MODULE_ROOTS if go_package.startswith(m + "/")), None)
            parsed = _GoPackage()
            if module is not None:
                root = module_dir(module, STAGING)
                parsed = _parse_go(root / go_package[len(module) + 1 :], go_package)
            packages[go_package] = parsed
        return packages[go_package]

    def field_type(go_package: str, struct: str, json_name: str, depth: int = 0) -> tuple[str, bool] | None:
        """The field's Go type and whether it may be null, looking into embedded structs."""
        pkg = package(go_package)
        found = pkg.fields.get(struct, {}).get(json_name)
        if found is not None:
            return found, (struct, json_name) in pkg.nullable
        if depth > 3:
            return None
        for embedded in pkg.inline.get(struct, []):
            inner_pkg, _, inner = embedded.lstrip("*").rpartition(".")
            inner_found = field_type(inner_pkg, inner, json_name, depth + 1)
            if inner_found is not None:
                return inner_found
        return None

    enums: dict[tuple[str, str], Enum] = {}
    nullable: set[tuple[str, str]] = set()
    by_package = {f"{root}/{path}": package for package, (root, path) in _GO_DIRS.items()}
    for name, schema in sorted(schemas.items()):
        package_name, _, struct = name.rpartition(".")
        located = _go_dir(package_name)
        if located is None:
            continue
        go_package = f"{located[0]}/{located[1]}"
        for prop in schema.get("properties", {}):
            found = field_type(go_package, struct, prop)
            if found is None:
                continue
            go_type, null = found
            if null:
                nullable.add((name, prop))
            enum_package, _, enum_name = go_type.lstrip("[]*").rpartition(".")
            parsed = package(enum_package)
            values = parsed.enums.get(enum_name)
            if values:
                openapi_package = by_package.get(enum_package) or "io.k8s.api." + enum_package.removeprefix(
                    "k8s.io/api/"
                ).replace("/", ".")
                module = module_of(f"{openapi_package}.{enum_name}")
                enums[(name, prop)] = Enum(enum_name, module, parsed.docs.get(enum_name, ""), tuple(values))
    return enums, nullable


_MODULE_ROOTS = (
    "k8s.io/apimachinery",
    "k8s.io/apiextensions-apiserver",
    "k8s.io/kube-aggregator",
    "k8s.io/api",
)


# -- output ----------------------------------------------------------------------------------------------


def module_of(definition: str) -> str | None:
    """The Python module of a definition (``io.k8s.api.apps.v1.Deployment`` -> ``apps_v1``)."""
    package = definition.rpartition(".")[0]
    if package in _PACKAGES:
        return _PACKAGES[package]
    if package.startswith("io.k8s.api."):
        return package[len("io.k8s.api.") :].replace(".", "_")
    return None


_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _docstring(text: str, indent: str) -> list[str]:
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    text = text.translate(_TYPOGRAPHIC)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    lines: list[str] = []
    for number, paragraph in enumerate(paragraphs):
        if number:
            lines.append("")
        flat = " ".join(paragraph.split())
        lines += textwrap.wrap(flat, WIDTH - len(indent) - 6, break_long_words=False, break_on_hyphens=False)
    if not lines:
        return []
    if len(lines) == 1 and not lines[0].endswith('"'):
        return [f'{indent}"""{lines[0]}"""']
    body = [f"{indent}{line}" if line else "" for line in lines]
    return [f'{indent}"""{lines[0]}', *body[1:], f'{indent}"""']


class _Module:
    """One generated module: its classes (ordered so that annotations evaluate eagerly, which is
    several times cheaper to import than string annotations), aliases and what they import."""

    def __init__(self, name: str, spec: Spec) -> None:
        self.name = name
        self.spec = spec
        self.imports: set[str] = set()
        self.scalars: set[str] = set()
        self.typing: set[str] = {"TypedDict"}
        self._local: set[str] = set()  # same-module names the annotation being built refers to

    def python_type(self, schema: dict[str, Any], owner: str, prop: str) -> str:
        """The annotation of one property (or array item / map value) schema."""
        ref = schema.get("$ref") or next(
            (s.get("$ref") for s in schema.get("allOf", []) if "$ref" in s), None
        )
        if ref:
            return self.reference(ref.rpartition("/")[2])
        enum = self.spec.enums.get((owner, prop))
        kind = schema.get("type")
        if kind == "string" and enum:
            if enum.module == self.name:
                return enum.name
            if enum.module is not None:
                self.imports.add(enum.module)
                return f"{enum.module}.{enum.name}"
            self.typing.add("Literal")
            return _literal(enum.values)
        simple = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
        if kind in simple:
            return simple[kind]
        if kind == "array":
            return f"list[{self.python_type(schema.get('items', {}), owner, prop)}]"
        if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            return f"dict[str, {self.python_type(schema['additionalProperties'], '', '')}]"
        self.typing.add("Any")
        return "dict[str, Any]" if kind == "object" else "Any"

    def reference(self, definition: str) -> str:
        if definition in _SCALARS:
            self.scalars.add(_SCALARS[definition])
            return _SCALARS[definition]
        module = module_of(definition)
        if module is None:
            raise ValueError(f"no module for {definition}")
        local = definition.rpartition(".")[2]
        if module == self.name:
            self._local.add(local)
            return local
        self.imports.add(module)
        return f"{module}.{local}"

    def fields(
        self, definition: str, schema: dict[str, Any], gvk: tuple[str, str, str] | None
    ) -> list[tuple[str, str, set[str], str]]:
        """(name, annotation, same-module names it uses, description) of every property."""
        required = set(schema.get("required", []))
        properties = schema.get("properties", {})
        out = []
        for prop in sorted(properties):
            self._local = set()
            annotation = self.python_type(properties[prop], definition, prop)
            if gvk is not None and prop in ("apiVersion", "kind"):
                value = f"{gvk[0] + '/' if gvk[0] else ''}{gvk[1]}" if prop == "apiVersion" else gvk[2]
                annotation = f'Literal["{value}"]'
                self.typing.add("Literal")
            if (definition, prop) in self.spec.nullable and (
                prop not in required or annotation in ("Time", "MicroTime")
            ):
                annotation = f"{annotation} | None"  # required ones are validated non-null by the server
            out.append((prop, annotation, self._local, properties[prop].get("description", "")))
            if prop in required:
                self.typing.add("Required")
        return out

    def structure(
        self,
        name: str,
        schema: dict[str, Any],
        fields: list[tuple[str, str, set[str], str]],
        defined: set[str],
    ) -> list[str]:
        """A ``TypedDict`` class (with a functional base holding keys that are not identifiers);
        annotations naming classes not yet ``defined`` (cycles) are quoted."""
        required = set(schema.get("required", []))

        def annotate(prop: str, annotation: str, uses: set[str]) -> str:
            if uses - defined:
                annotation = f'"{annotation}"'
            return f"Required[{annotation}]" if prop in required else annotation

        plain = [
            (p, annotate(p, a, u), d)
            for p, a, u, d in fields
            if p.isidentifier() and not keyword.iskeyword(p)
        ]
        odd = [
            (p, annotate(p, a, u))
            for p, a, u, _ in fields
            if not (p.isidentifier() and not keyword.iskeyword(p))
        ]
        lines: list[str] = []
        bases = "TypedDict"
        if odd:
            bases = f"_{name}Keys"
            entries = ", ".join(f'"{prop}": {annotation}' for prop, annotation in odd)
            one_line = f'{bases} = TypedDict("{bases}", {{{entries}}}, total=False)'
            if len(one_line) <= WIDTH:
                lines += [one_line]
            else:
                lines += [f"{bases} = TypedDict(", f'    "{bases}",', "    {"]
                lines += [f'        "{prop}": {annotation},' for prop, annotation in odd]
                lines += ["    },", "    total=False,", ")"]
            lines += ["", ""]
        lines.append(f"class {name}({bases}, total=False):")
        doc = _docstring(schema.get("description", "") or name, "    ")
        lines += doc
        for prop, annotation, description in plain:
            lines += ["", f"    {prop}: {annotation}", *_docstring(description, "    ")]
        return lines

    def render(
        self, definitions: list[tuple[str, dict[str, Any]]], group_version: tuple[str, str] | None
    ) -> str:
        aliases: list[str] = []  # before the classes
        late: list[str] = []  # after the classes, whose names they use
        kinds: list[str] = []
        names: list[str] = []
        structures: dict[str, tuple[dict[str, Any], list[tuple[str, str, set[str], str]]]] = {}
        gvks: dict[str, tuple[str, str, str]] = {}
        own_enums = {e.name: e for e in self.spec.enums.values() if e.module == self.name}
        for enum_name, enum in sorted(own_enums.items()):
            if any(d.rpartition(".")[2] == enum_name for d, _ in definitions):
                raise ValueError(f"enum {enum_name} clashes with a definition of {self.name}")
            names.append(enum_name)
            aliases += _enum_alias(enum)
            self.typing.update(("TypeAlias", "Literal"))
        for definition, schema in definitions:
            name = definition.rpartition(".")[2]
            names.append(name)
            if definition in _ALIASES or "properties" not in schema:
                text = _ALIASES.get(definition, "dict[str, Any]")
                self.typing.update(("TypeAlias", "Any") if "Any" in text else ("TypeAlias",))
                target = late if "JSONSchemaProps" in text else aliases
                target += ["", f"{name}: TypeAlias = {text}", *_docstring(schema.get("description", ""), "")]
                continue
            gvk = self._gvk(schema, group_version)
            if gvk is not None:
                gvks[name] = gvk
            structures[name] = (schema, self.fields(definition, schema, gvk))
        classes: list[str] = []
        defined = {line.split(":")[0] for line in aliases if ": TypeAlias" in line}
        visiting: set[str] = set()

        def emit(name: str) -> None:
            if name in defined or name in visiting or name not in structures:
                return
            visiting.add(name)
            schema, fields = structures[name]
            for _, _, uses, _ in fields:
                for used in sorted(uses):
                    emit(used)
            visiting.discard(name)
            classes.extend(["", "", *self.structure(name, schema, fields, defined)])
            defined.add(name)

        for name in sorted(structures):
            emit(name)
        for name, gvk in sorted(gvks.items()):
            plural, namespaced = self.spec.resources.get(gvk, ("", False))
            kinds += _call(
                "_kind.bind", [name, f'"{gvk[0]}"', f'"{gvk[1]}"', f'"{plural}"', f"namespaced={namespaced}"]
            )
        std = sorted(self.typing & {"Any", "Literal", "Required", "TypeAlias"})
        out = [*_docstring(self._title(group_version), ""), ""]
        if std:
            out.append(f"from typing import {', '.join(std)}")
            out.append("")
        out += ["from typing_extensions import TypedDict", ""]
        locals_ = sorted(self.imports | ({"_kind"} if kinds else set()))
        if locals_:
            out.append(f"from kubeloop.resources import {', '.join(locals_)}")
        if self.scalars:
            out.append(f"from kubeloop.resources._scalars import {', '.join(sorted(self.scalars))}")
        if locals_ or self.scalars:
            out.append("")
        out += ["__all__ = [", *[f'    "{n}",' for n in sorted(names, key=_export_order)], "]"]
        if aliases:
            out += ["", *aliases]
        out += classes
        if late:
            out += ["", *late]
        if kinds:
            out += ["", "", *kinds]
        return "\n".join(out) + "\n"

    def _title(self, group_version: tuple[str, str] | None) -> str:
        what = self.name.replace("_", "/")
        if group_version is not None:
            what = f"{group_version[0] or 'core'}/{group_version[1]}"
        return (
            f"Types of {what} in Kubernetes {KUBERNETES_VERSION}: a TypedDict per kind and per nested "
            "structure, over the plain dicts the client and cache hold.\n\n"
            "Generated by hack/generate-resources.py from the Kubernetes OpenAPI; do not edit."
        )

    def _gvk(
        self, schema: dict[str, Any], group_version: tuple[str, str] | None
    ) -> tuple[str, str, str] | None:
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if group_version is not None and (gvk["group"], gvk["version"]) == group_version:
                return gvk["group"], gvk["version"], gvk["kind"]
        return None


def _export_order(name: str) -> tuple[int, str]:
    """``__all__`` in ruff's order (RUF022): CONSTANTS, then Classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _literal(values: tuple[str, ...]) -> str:
    return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"


def _enum_alias(enum: Enum) -> list[str]:
    """``Name: TypeAlias = Literal[...]`` as ruff format writes it, with the Go type's doc."""
    head = f"{enum.name}: TypeAlias = Literal["
    items = [json.dumps(v) for v in enum.values]
    lines = [head + ", ".join(items) + "]"]
    if len(lines[0]) > WIDTH:
        joined = "    " + ", ".join(items)
        lines = [head, joined, "]"] if len(joined) <= WIDTH else [head, *[f"    {i}," for i in items], "]"]
    return ["", *lines, *_docstring(enum.doc, "")]


def _call(function: str, args: list[str]) -> list[str]:
    """A call statement, one line when it fits, else one argument a line (as ruff format writes it)."""
    line = f"{function}({', '.join(args)})"
    if len(line) <= WIDTH:
        return [line]
    return [f"{function}(", *[f"    {a}," for a in args], ")"]


def generate(spec: Spec) -> dict[str, str]:
    """Every generated module's file name and text."""
    by_module: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for definition, schema in sorted(spec.schemas.items()):
        if definition in _SCALARS or definition in _SKIPPED:
            continue
        module = module_of(definition)
        if module is None:
            raise ValueError(f"no module for {definition}")
        by_module[module].append((definition, schema))
    group_versions = {(g, v) for g, v, _ in spec.resources}
    files: dict[str, str] = {}
    for module, definitions in sorted(by_module.items()):
        group_version = _group_version(module, definitions, group_versions)
        files[f"{module}.py"] = _Module(module, spec).render(definitions, group_version)
    return files


def _group_version(
    module: str, definitions: list[tuple[str, dict[str, Any]]], known: set[tuple[str, str]]
) -> tuple[str, str] | None:
    """The API group/version of a module: the one its kinds' GVKs share with the served resources."""
    for _, schema in definitions:
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if (gvk["group"], gvk["version"]) in known and module.endswith("_" + gvk["version"]):
                prefix = module[: -len(gvk["version"]) - 1]
                if prefix == (gvk["group"].split(".")[0] or "core") or prefix == "apiserverinternal":
                    return gvk["group"], gvk["version"]
    return None


def generated_modules() -> Iterator[Path]:
    """The files this generator wrote (every ``<name>_v<N>...py`` of the package)."""
    return iter(
        sorted(p for p in OUT.glob("*.py") if re.fullmatch(r"[a-z]+_v\d+(?:(?:alpha|beta)\d+)?\.py", p.name))
    )


def main() -> None:
    files = generate(load_spec())
    for stale in generated_modules():
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(files)} modules to {OUT} (Kubernetes {KUBERNETES_VERSION})")


if __name__ == "__main__":
    main()
