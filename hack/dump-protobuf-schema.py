#!/usr/bin/env python3
"""Regenerate ``kubeloop/apiserver/data/protobuf.json.gz``: how to decode Kubernetes protobuf bodies.

kubectl sends built-in objects as ``application/vnd.kubernetes.protobuf`` (``kubectl create
namespace``, ``create configmap``…). The embedded server turns them into JSON with a table of every
message of k8s.io/api and k8s.io/apimachinery's meta/v1, read from the Go type definitions (the struct
tags carry the protobuf field number, wire type and JSON name; the Go type tells pointers, slices,
maps and nested messages). Reads the Go module cache (``go env GOMODCACHE``) at the Kubernetes version
of the control plane:

    .venv/bin/python hack/dump-protobuf-schema.py [KUBE_MINOR_VERSION like 0.33.13]
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "kubeloop" / "apiserver" / "data" / "protobuf.json.gz"
_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
_ALIAS = re.compile(r"^type (\w+) ([^\s{][^\n]*)$", re.M)
_IMPORT = re.compile(r'^\s*(\w+\s+)?"(k8s\.io/[^"]+)"', re.M)


def _package_id(import_path: str) -> str:
    if import_path.startswith("k8s.io/api/"):
        return import_path[len("k8s.io/api/") :]
    return {
        "k8s.io/apimachinery/pkg/apis/meta/v1": "meta/v1",
        "k8s.io/apimachinery/pkg/runtime": "runtime",
        "k8s.io/apimachinery/pkg/api/resource": "resource",
        "k8s.io/apimachinery/pkg/util/intstr": "intstr",
        "k8s.io/apimachinery/pkg/types": "types",
    }.get(import_path, import_path)


def _parse_package(directory: Path, pkg: str, messages: dict[str, object], aliases: dict[str, str]) -> None:
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go") or path.name.startswith("zz_") or path.name == "generated.pb.go":
            continue
        text = path.read_text()
        imports = {}
        block = re.search(r"^import \((.*?)\)", text, re.S | re.M)
        for m in _IMPORT.finditer(block.group(1) if block else ""):
            alias = (m.group(1) or "").strip() or m.group(2).rsplit("/", 1)[-1]
            imports[alias] = _package_id(m.group(2))
        for m in _ALIAS.finditer(text):
            if m.group(2).startswith(("struct", "interface", "func", "=")):
                continue
            aliases[f"{pkg}.{m.group(1)}"] = _qualify(m.group(2).split("//")[0].strip(), pkg, imports)
        for m in _STRUCT.finditer(text):
            fields = {}
            for line in m.group(2).splitlines():
                line = line.strip()
                if "`" not in line or 'protobuf:"' not in line or line.startswith("//"):
                    continue
                head, tag = line.split("`", 1)
                tokens = head.split()
                go_type = tokens[-1] if tokens else ""
                proto = re.search(r'protobuf:"([^"]+)"', tag)
                json_tag = re.search(r'json:"([^"]*)"', tag)
                if proto is None:
                    continue
                parts = proto.group(1).split(",")
                if len(parts) < 2:
                    continue
                json_name, _, json_opts = (json_tag.group(1) if json_tag else "").partition(",")
                fields[parts[1]] = {
                    "json": json_name,
                    "inline": "inline" in json_opts,
                    "omitempty": "omitempty" in json_opts,
                    "wire": parts[0],
                    "type": _qualify(go_type, pkg, imports),
                }
            messages[f"{pkg}.{m.group(1)}"] = fields


def _qualify(go_type: str, pkg: str, imports: dict[str, str]) -> str:
    def one(name: str) -> str:
        if name in (
            "string",
            "bool",
            "int",
            "int32",
            "int64",
            "uint32",
            "uint64",
            "float32",
            "float64",
            "byte",
        ):
            return name
        if "." in name:
            alias, _, local = name.partition(".")
            return f"{imports.get(alias, alias)}.{local}"
        return f"{pkg}.{name}"

    out = ""
    rest = go_type
    while rest:
        if rest.startswith("*"):
            out += "*"
            rest = rest[1:]
        elif rest.startswith("[]"):
            out += "[]"
            rest = rest[2:]
        elif rest.startswith("map["):
            key, _, value = rest[4:].partition("]")
            return out + f"map[{_qualify(key, pkg, imports)}]{_qualify(value, pkg, imports)}"
        else:
            return out + one(rest)
    return out


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "0.33.13"
    cache = Path(
        subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    )
    api_root = cache / "k8s.io" / f"api@v{version}"
    machinery = cache / "k8s.io" / f"apimachinery@v{version}"
    messages: dict[str, object] = {}
    aliases: dict[str, str] = {}
    for types_file in sorted(api_root.glob("*/*/types.go")):
        pkg = str(types_file.parent.relative_to(api_root))
        _parse_package(types_file.parent, pkg, messages, aliases)
    _parse_package(machinery / "pkg" / "apis" / "meta" / "v1", "meta/v1", messages, aliases)
    data = {"version": version, "messages": messages, "aliases": aliases}
    OUT.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), 9))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(messages)} messages)")


if __name__ == "__main__":
    main()
