"""``registry+v1`` bundle directories and ``olm.bundle`` catalog documents, both ways.

A bundle directory is what ``operator-sdk generate bundle`` writes and ``opm render`` reads:
``metadata/annotations.yaml`` (media type, package, channels) beside a manifests directory holding
one ClusterServiceVersion and the objects it installs. ``load_bundle``/``write_bundle`` read and
write it; ``bundle_to_fbc``/``bundle_from_fbc`` turn a ``Bundle`` into the ``olm.bundle`` document
of a file-based catalog and back, carrying the manifests inline as ``olm.bundle.object``
properties (we do not pull bundle images). ``load_documents`` is shared by the catalog and
generator modules, so every file error reads the same.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import semver
import yaml

from kubeloop import crd
from kubeloop.gvk import split_api_version
from kubeloop.olm._model import CRD_KIND, CSV_KIND, Bundle, Obj, OLMError
from kubeloop.olm._semver import parse_version

__all__ = [
    "bundle_from_fbc",
    "bundle_to_fbc",
    "derived_properties",
    "dump_documents",
    "load_bundle",
    "load_documents",
    "manifest_file_name",
    "parse_documents",
    "write_bundle",
]

_ANNOTATION = "operators.operatorframework.io.bundle."
MEDIATYPE = _ANNOTATION + "mediatype.v1"
MANIFESTS = _ANNOTATION + "manifests.v1"
METADATA = _ANNOTATION + "metadata.v1"
PACKAGE = _ANNOTATION + "package.v1"
CHANNELS = _ANNOTATION + "channels.v1"
DEFAULT_CHANNEL = _ANNOTATION + "channel.default.v1"
REGISTRY_V1 = "registry+v1"
BUNDLE_OBJECT = "olm.bundle.object"
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def load_documents(path: Path) -> list[Obj]:
    """The mappings in the YAML (multi-document) or JSON (several objects allowed) file ``path``.

    OLMError naming the file (and the line, for a parse error) when it cannot be read or parsed, or
    ``<path>: document N is not a mapping``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise OLMError(f"{path}: cannot read: {e.strerror or e}") from e
    return parse_documents(str(path), text)


def parse_documents(name: str, text: str) -> list[Obj]:
    """The mappings in ``text``, JSON when ``name`` ends in ``.json`` and YAML otherwise; errors as
    ``load_documents``'s, naming ``name``."""
    docs = _parse_json(name, text) if name.endswith(".json") else _parse_yaml(name, text)
    for number, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise OLMError(f"{name}: document {number} is not a mapping but {type(doc).__name__}")
    return docs


def _parse_yaml(name: str, text: str) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise OLMError(f"{name}{line}: invalid YAML: {problem}") from e


def _parse_json(name: str, text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return docs
        try:
            doc, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as e:
            raise OLMError(f"{name}:{e.lineno}: invalid JSON: {e.msg}") from e
        docs.append(doc)


def dump_documents(docs: Iterable[Obj]) -> str:
    """``docs`` as one multi-document YAML text, keys in their given order."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return "".join(
        "---\n" + yaml.dump(d, Dumper=dumper, sort_keys=False, default_flow_style=False, width=100)
        for d in docs
    )


def derived_properties(package: str, version: semver.Version, objects: Iterable[Obj]) -> list[Obj]:
    """The properties OLM derives from a bundle's manifests, in this order: ``olm.package``,
    ``olm.gvk`` per version of each CRD, ``olm.gvk.required`` per CRD the CSV requires."""
    props: list[Obj] = [{"type": "olm.package", "value": {"packageName": package, "version": str(version)}}]
    required: list[Obj] = []
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj.get("kind") == CRD_KIND:
            kind = spec.get("names", {}).get("kind", "")
            props += [
                {
                    "type": "olm.gvk",
                    "value": {"group": spec.get("group", ""), "kind": kind, "version": v.get("name", "")},
                }
                for v in spec.get("versions") or []
            ]
        elif obj.get("kind") == CSV_KIND:
            for owned in (spec.get("customresourcedefinitions") or {}).get("required") or []:
                group = str(owned.get("name", "")).partition(".")[2]
                value = {"group": group, "kind": owned.get("kind", ""), "version": owned.get("version", "")}
                required.append({"type": "olm.gvk.required", "value": value})
    return props + required


def load_bundle(path: str | Path) -> Bundle:
    """The ``registry+v1`` bundle in directory ``path``.

    Manifests are read in file-name order, documents in file order; ``properties`` are the derived
    ones (``derived_properties``) followed by those of ``metadata/properties.yaml`` not among them.
    OLMError naming the file on any problem.
    """
    root = Path(path)
    annotations = _annotations(root / "metadata" / "annotations.yaml")
    manifests_dir = root / annotations.get(MANIFESTS, "manifests/").strip("/")
    if not manifests_dir.is_dir():
        raise OLMError(f"{manifests_dir}: no such manifests directory")
    files = sorted(p for p in manifests_dir.iterdir() if p.is_file() and p.suffix in _MANIFEST_SUFFIXES)
    located = [(f, doc) for f in files for doc in load_documents(f)]
    csvs = [(f, doc) for f, doc in located if doc.get("kind") == CSV_KIND]
    if len(csvs) != 1:
        where = ", ".join(f.name for f, _ in csvs) or "none found"
        raise OLMError(f"{manifests_dir}: a bundle has exactly one ClusterServiceVersion ({where})")
    csv_file, csv = csvs[0]
    name = (csv.get("metadata") or {}).get("name")
    if not name:
        raise OLMError(f"{csv_file}: the ClusterServiceVersion has no metadata.name")
    if "version" not in (csv.get("spec") or {}):
        raise OLMError(f"{csv_file}: ClusterServiceVersion {name} has no spec.version")
    version = parse_version(csv["spec"]["version"], str(csv_file))
    package = annotations[PACKAGE]
    objects = [doc for _, doc in located]
    props = derived_properties(package, version, objects)
    props += [p for p in _extra_properties(root / "metadata" / "properties.yaml") if p not in props]
    channels = tuple(c.strip() for c in annotations[CHANNELS].split(",") if c.strip())
    return Bundle(
        name=name,
        package=package,
        version=version,
        properties=tuple(props),
        objects=tuple(objects),
        channels=channels,
        default_channel=annotations.get(DEFAULT_CHANNEL) or None,
    )


def _annotations(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise OLMError(f"{path}: no such file; a registry+v1 bundle needs metadata/annotations.yaml")
    docs = load_documents(path)
    annotations = docs[0].get("annotations") if docs else None
    if not isinstance(annotations, dict):
        raise OLMError(f"{path}: no 'annotations:' mapping")
    mediatype = annotations.get(MEDIATYPE)
    if mediatype != REGISTRY_V1:
        raise OLMError(f"{path}: {MEDIATYPE} is {mediatype!r}; only {REGISTRY_V1!r} is supported")
    for key in (PACKAGE, CHANNELS):
        if not annotations.get(key):
            raise OLMError(f"{path}: annotation {key} is missing or empty")
    return {str(k): str(v) for k, v in annotations.items()}


def _extra_properties(path: Path) -> list[Obj]:
    if not path.is_file():
        return []
    docs = load_documents(path)
    props = docs[0].get("properties") if docs else None
    if not isinstance(props, list) or not all(isinstance(p, dict) and "type" in p for p in props):
        raise OLMError(f"{path}: 'properties:' must be a list of {{type, value}} mappings")
    return props


def manifest_file_name(obj: Obj) -> str:
    """The file ``operator-sdk generate bundle`` gives ``obj`` in a bundle's manifests directory."""
    kind = str(obj.get("kind", ""))
    name = (obj.get("metadata") or {}).get("name", "")
    if kind == CSV_KIND:
        return f"{name}.clusterserviceversion.yaml"
    if kind == CRD_KIND:
        spec = obj.get("spec") or {}
        return f"{spec.get('group')}_{(spec.get('names') or {}).get('plural')}.yaml"
    group, version = split_api_version(str(obj.get("apiVersion", "")))
    return "_".join(p for p in (name, group, version, kind.lower()) if p) + ".yaml"


def write_bundle(bundle: Bundle, path: str | Path) -> Path:
    """Write ``bundle`` as a ``registry+v1`` directory at ``path``; returns ``path``.

    One file per object (``manifest_file_name``) under ``manifests/``, ``metadata/annotations.yaml``,
    and ``metadata/properties.yaml`` listing the properties that ``derived_properties`` would not
    recreate. ``load_bundle`` gives the objects back in file-name order. OLMError when the bundle has
    no channel or two objects would share a file.
    """
    root = Path(path)
    if not bundle.channels:
        raise OLMError(f"bundle {bundle.name} has no channels; a registry+v1 bundle names at least one")
    files: dict[str, Obj] = {}
    for obj in bundle.objects:
        file_name = manifest_file_name(obj)
        if file_name in files:
            raise OLMError(f"bundle {bundle.name}: two objects would be written to manifests/{file_name}")
        files[file_name] = obj
    annotations = {
        MEDIATYPE: REGISTRY_V1,
        MANIFESTS: "manifests/",
        METADATA: "metadata/",
        PACKAGE: bundle.package,
        CHANNELS: ",".join(bundle.channels),
    }
    if bundle.default_channel:
        annotations[DEFAULT_CHANNEL] = bundle.default_channel
    for file_name, obj in files.items():
        crd.write_file_atomically(root / "manifests" / file_name, dump_documents([obj])[len("---\n") :])
    crd.write_file_atomically(
        root / "metadata" / "annotations.yaml", dump_documents([{"annotations": annotations}])
    )
    derived = derived_properties(bundle.package, bundle.version, bundle.objects)
    extra = [p for p in bundle.properties if p not in derived]
    if extra:
        crd.write_file_atomically(
            root / "metadata" / "properties.yaml", dump_documents([{"properties": extra}])
        )
    return root


def bundle_to_fbc(bundle: Bundle) -> Obj:
    """``bundle`` as an ``olm.bundle`` document: its properties, then one ``olm.bundle.object``
    per object (``{"data": base64 of the object's JSON}``)."""
    objects = [
        {"type": BUNDLE_OBJECT, "value": {"data": base64.b64encode(_json(obj)).decode("ascii")}}
        for obj in bundle.objects
    ]
    return {
        "schema": "olm.bundle",
        "name": bundle.name,
        "package": bundle.package,
        "image": bundle.image or "",
        "properties": [*bundle.properties, *objects],
    }


def _json(obj: Obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def bundle_from_fbc(doc: Obj) -> Bundle:
    """The ``Bundle`` an ``olm.bundle`` document describes (OLMError naming the bundle otherwise).

    The version comes from its one ``olm.package`` property, the objects from its
    ``olm.bundle.object`` properties (kept out of ``properties``); a bundle given only by image is
    refused, since pulling bundle images is not supported.
    """
    name = doc.get("name") or "<unnamed>"
    package = doc.get("package") or ""
    props = doc.get("properties") or []
    if not isinstance(props, list) or not all(isinstance(p, dict) for p in props):
        raise OLMError(f"bundle {name}: properties must be a list of {{type, value}} mappings")
    packages = [p.get("value") or {} for p in props if p.get("type") == "olm.package"]
    if len(packages) != 1:
        raise OLMError(f"bundle {name}: needs exactly one olm.package property, found {len(packages)}")
    if packages[0].get("packageName") != package:
        raise OLMError(
            f"bundle {name}: package {package!r} does not match its olm.package property "
            f"{packages[0].get('packageName')!r}"
        )
    version = parse_version(packages[0].get("version"), f"bundle {name}")
    objects = [_decode_object(name, p) for p in props if p.get("type") == BUNDLE_OBJECT]
    if not objects:
        raise OLMError(
            f"bundle {name} references image {doc.get('image') or '<none>'} only; pulling bundle images "
            "is not supported: render the catalog from bundle directories"
        )
    return Bundle(
        name=name,
        package=package,
        version=version,
        properties=tuple(p for p in props if p.get("type") != BUNDLE_OBJECT),
        objects=tuple(objects),
        image=doc.get("image") or None,
    )


def _decode_object(bundle: str, prop: Obj) -> Obj:
    data = (prop.get("value") or {}).get("data", "")
    try:
        obj = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError) as e:
        raise OLMError(f"bundle {bundle}: an {BUNDLE_OBJECT} is not base64 of a JSON object: {e}") from e
    if not isinstance(obj, dict):
        raise OLMError(f"bundle {bundle}: an {BUNDLE_OBJECT} is not base64 of a JSON object")
    return obj
