"""File-based catalogs: load and validate one, render one from bundles, write one.

A file-based catalog (FBC) is a tree of YAML/JSON documents with a ``schema`` each: ``olm.package``
(name, default channel), ``olm.channel`` (a package's channel and its entries with their upgrade
edges) and ``olm.bundle`` (see ``_bundle.bundle_to_fbc``). ``load_catalog`` reads catalogs written
by ``opm`` as well as ours and checks the rules of operator-registry's model validation, reporting
every problem at once; ``render_catalog`` turns bundles (e.g. from ``load_bundle``) into a catalog,
the way ``opm`` renders ``registry+v1`` bundles; ``write_catalog`` writes one file per package.
``catalog_from_files`` reads a catalog from (file name, text) pairs with the same checks, for catalogs
kept where there are no files (ConfigMaps, see ``_push``); ``package_documents`` gives the documents
of one package, in the order ``write_catalog`` writes them.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubeloop import crd
from kubeloop.olm._bundle import (
    bundle_from_fbc,
    bundle_to_fbc,
    dump_documents,
    load_documents,
    parse_documents,
)
from kubeloop.olm._model import Bundle, Catalog, Channel, ChannelEntry, Obj, OLMError, Package

__all__ = [
    "add_bundle",
    "catalog_from_files",
    "load_catalog",
    "package_documents",
    "render_catalog",
    "write_catalog",
]

log = logging.getLogger("kubeloop.olm")

_SUFFIXES = (".yaml", ".yml", ".json")
DEPRECATIONS = "olm.deprecations"
_DEPRECATABLE = ("olm.package", "olm.channel", "olm.bundle")


@dataclass
class _Parts:
    """What a catalog is made of before validation, each item with where it came from."""

    packages: list[tuple[str, Package]] = field(default_factory=list)
    channels: list[tuple[str, Channel]] = field(default_factory=list)
    bundles: list[tuple[str, Bundle]] = field(default_factory=list)
    deprecations: list[tuple[str, tuple[str, str, str], str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_catalog(path: str | Path) -> Catalog:
    """The catalog in ``path``: a directory (walked recursively, ``*.yaml``/``*.yml``/``*.json``)
    or one file.

    Unknown schemas are skipped (with a warning). OLMError listing every problem found, each naming
    its file, when the catalog is not valid.
    """
    root = Path(path)
    if not root.exists():
        raise OLMError(f"{root}: no such catalog file or directory")
    files = (
        [root]
        if root.is_file()
        else sorted(p for p in root.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    )
    parts = _Parts()
    for file in files:
        _add_file(parts, str(file), functools.partial(load_documents, file))
    return _validated(parts)


def catalog_from_files(files: Iterable[tuple[str, str]]) -> Catalog:
    """The catalog of ``files``, (file name, text) pairs: a name ending in ``.json`` holds JSON
    documents, any other YAML. Checked as ``load_catalog`` checks a directory, problems naming the file.
    """
    parts = _Parts()
    for name, text in files:
        _add_file(parts, name, functools.partial(parse_documents, name, text))
    return _validated(parts)


def _add_file(parts: _Parts, source: str, documents: Callable[[], list[Obj]]) -> None:
    """Add the documents of one file to ``parts``, or its problems."""
    try:
        docs = documents()
    except OLMError as e:
        parts.problems.append(str(e))
        return
    for number, doc in enumerate(docs, 1):
        try:
            _add_document(parts, source, doc)
        except OLMError as e:
            parts.problems.append(f"{source}: document {number}: {e}")


def _add_document(parts: _Parts, source: str, doc: Obj) -> None:
    schema = doc.get("schema")
    if schema == "olm.package":
        parts.packages.append((source, _package(doc)))
    elif schema == "olm.channel":
        parts.channels.append((source, _channel(doc)))
    elif schema == "olm.bundle":
        parts.bundles.append((source, bundle_from_fbc(doc)))
    elif schema == DEPRECATIONS:
        parts.deprecations += [(source, ref, message) for ref, message in _deprecations(doc)]
    elif not schema:
        raise OLMError("no 'schema'")
    else:
        log.warning("%s: skipping a document of unknown schema %r", source, schema)


def _deprecations(doc: Obj) -> Iterator[tuple[tuple[str, str, str], str]]:
    """The entries of an ``olm.deprecations`` document: ((package, schema, name), message)."""
    package = doc.get("package")
    entries = doc.get("entries")
    if not package or not isinstance(entries, list):
        raise OLMError("olm.deprecations needs a package and a list of entries")
    for entry in entries:
        reference = (entry or {}).get("reference") or {}
        schema, name = reference.get("schema"), reference.get("name") or ""
        if schema not in _DEPRECATABLE or (schema != "olm.package") != bool(name):
            raise OLMError(f"olm.deprecations of {package}: bad reference {reference!r}")
        yield (package, schema, name), str(entry.get("message") or "")


def _package(doc: Obj) -> Package:
    if not doc.get("name"):
        raise OLMError("olm.package without a name")
    return Package(doc["name"], doc.get("defaultChannel") or "", doc.get("description") or "")


def _channel(doc: Obj) -> Channel:
    if not doc.get("name") or not doc.get("package"):
        raise OLMError("olm.channel needs a name and a package")
    entries = doc.get("entries") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("name") for e in entries):
        raise OLMError(f"channel {doc['name']}: entries must be a list of mappings with a name")
    return Channel(
        doc["package"],
        doc["name"],
        tuple(
            ChannelEntry(
                e["name"], e.get("replaces") or None, tuple(e.get("skips") or ()), e.get("skipRange")
            )
            for e in entries
        ),
    )


def _validated(parts: _Parts) -> Catalog:
    """The catalog of ``parts``; OLMError with every problem of ``parts`` and its checks."""
    problems = parts.problems
    packages: dict[str, Package] = {}
    channels: dict[tuple[str, str], Channel] = {}
    bundles: dict[str, Bundle] = {}
    package_source: dict[str, str] = {}
    for source, pkg in parts.packages:
        if pkg.name in packages:
            problems.append(f"{source}: duplicate package {pkg.name}")
        packages.setdefault(pkg.name, pkg)
        package_source.setdefault(pkg.name, source)
    for source, ch in parts.channels:
        if ch.package not in packages:
            problems.append(f"{source}: channel {ch.name} of unknown package {ch.package}")
        elif (ch.package, ch.name) in channels:
            problems.append(f"{source}: duplicate channel {ch.name} of package {ch.package}")
        channels.setdefault((ch.package, ch.name), ch)
    for source, b in parts.bundles:
        if b.package not in packages:
            problems.append(f"{source}: bundle {b.name} of unknown package {b.package}")
        elif b.name in bundles:
            problems.append(f"{source}: duplicate bundle {b.name}")
        bundles.setdefault(b.name, b)
    deprecations = {}
    for source, (package, schema, name), message in parts.deprecations:
        known = {"olm.package": package in packages, "olm.channel": (package, name) in channels}
        if not known.get(schema, name in bundles and bundles[name].package == package):
            problems.append(
                f"{source}: deprecation of unknown {schema.removeprefix('olm.')} {name or package}"
            )
        deprecations[(package, schema, name)] = message
    catalog = Catalog(packages, channels, bundles, deprecations)
    for name, pkg in packages.items():
        problems += [f"{package_source[name]}: {p}" for p in _package_problems(catalog, pkg)]
    for source, ch in parts.channels:
        if ch.package in packages:
            problems += [f"{source}: channel {ch.name}: {p}" for p in _channel_problems(catalog, ch)]
    in_channels = {(c.package, e.name) for c in channels.values() for e in c.entries}
    for source, b in parts.bundles:
        if b.package in packages and (b.package, b.name) not in in_channels:
            problems.append(f"{source}: bundle {b.name} is in no channel of package {b.package}")
    if problems:
        raise OLMError(f"invalid catalog: {'; '.join(problems)}")
    return catalog


def _package_problems(catalog: Catalog, pkg: Package) -> list[str]:
    names = [c.name for c in catalog.channels_of(pkg.name)]
    problems = []
    if not names:
        problems.append(f"package {pkg.name} has no channels")
    elif not pkg.default_channel:
        problems.append(f"package {pkg.name} has no defaultChannel")
    elif pkg.default_channel not in names:
        problems.append(
            f"default channel {pkg.default_channel} of package {pkg.name} is not among its channels "
            f"({', '.join(names)})"
        )
    by_version: dict[str, list[str]] = defaultdict(list)
    for b in catalog.bundles_of(pkg.name):
        by_version[str(b.version)].append(b.name)
    problems += [
        f"package {pkg.name}: bundles {', '.join(sorted(names))} share version {v}"
        for v, names in by_version.items()
        if len(names) > 1
    ]
    return problems


def _channel_problems(catalog: Catalog, channel: Channel) -> list[str]:
    if not channel.entries:
        return ["it has no entries"]
    problems = []
    seen: set[str] = set()
    for entry in channel.entries:
        bundle = catalog.bundles.get(entry.name)
        if entry.name in seen:
            problems.append(f"duplicate entry {entry.name}")
        elif bundle is None:
            problems.append(f"entry {entry.name} is not a bundle of the catalog")
        elif bundle.package != channel.package:
            problems.append(f"entry {entry.name} is a bundle of package {bundle.package}")
        seen.add(entry.name)
    return problems + _graph_problems({e.name: e for e in channel.entries})


def _graph_problems(entries: Mapping[str, ChannelEntry]) -> list[str]:
    """operator-registry's upgrade graph rules: no ``replaces`` cycle, exactly one head (an entry
    nothing replaces or skips), and every entry reachable from the head by ``replaces`` unless
    skipped. The last entry may replace a bundle absent from the channel."""
    for start in entries:
        chain = [start]
        current = entries[start].replaces
        while current is not None and current in entries:
            if current in chain:
                cycle = [*chain[chain.index(current) :], current]
                return [f"replaces cycle {' -> '.join(cycle)}"]
            chain.append(current)
            current = entries[current].replaces
    skipped = {s for e in entries.values() for s in e.skips}
    replaced = {e.replaces for e in entries.values() if e.replaces}
    heads = sorted(set(entries) - skipped - replaced)
    if len(heads) != 1:
        return [f"{len(heads)} channel heads ({', '.join(heads) or 'none'}); an upgrade graph has one"]
    reached = set(heads)
    current = entries[heads[0]].replaces
    while current is not None and current in entries and current not in skipped:
        reached.add(current)
        current = entries[current].replaces
    stranded = sorted(set(entries) - reached - skipped)
    return [f"stranded entries {', '.join(stranded)}: not reached from head {heads[0]}"] if stranded else []


def render_catalog(bundles: Iterable[Bundle]) -> Catalog:
    """The catalog of ``bundles`` (e.g. loaded with ``load_bundle``).

    Each package's default channel is that of its highest-version bundle; each bundle is an entry
    of every channel in ``bundle.channels`` (lowest version first), with the CSV's
    ``spec.replaces``, ``spec.skips`` and ``olm.skipRange`` annotation as its edges. The catalog's
    bundles carry no ``channels``/``default_channel``, as if read from a catalog. OLMError when a
    package's highest version names no default channel or the result is not a valid catalog.
    """
    by_package: dict[str, list[Bundle]] = defaultdict(list)
    for b in bundles:
        by_package[b.package].append(b)
    parts = _Parts()
    for name, members in sorted(by_package.items()):
        members.sort(key=lambda b: b.version)
        source = f"bundles of package {name}"
        default = members[-1].default_channel
        if not default:
            raise OLMError(
                f"package {name}: its highest version, bundle {members[-1].name}, has no default channel"
            )
        parts.packages.append((source, Package(name, default)))
        entries: dict[str, list[ChannelEntry]] = defaultdict(list)
        for b in members:
            if not b.channels:
                parts.problems.append(f"bundle {b.name} names no channel")
            for channel in b.channels:
                entries[channel].append(_entry(b))
            parts.bundles.append((f"bundle {b.name}", replace(b, channels=(), default_channel=None)))
        parts.channels += [(source, Channel(name, ch, tuple(e))) for ch, e in sorted(entries.items())]
    return _validated(parts)


def add_bundle(catalog: Catalog, bundle: Bundle) -> Catalog:
    """``catalog`` with ``bundle`` (e.g. loaded with ``load_bundle``) added as ``render_catalog`` adds
    it: an entry at the end of each channel it names (a new channel when the package has none of that
    name; a new package when the catalog has none), with its CSV's edges; the package's default
    channel becomes the bundle's when it is the highest version. OLMError when the bundle is already
    there, names no channel, or the result is not a valid catalog (every problem named)."""
    if bundle.name in catalog.bundles:
        raise OLMError(f"bundle {bundle.name} is already in the catalog")
    if not bundle.channels:
        raise OLMError(f"bundle {bundle.name} names no channel")
    package = bundle.package
    highest = all(b.version < bundle.version for b in catalog.bundles_of(package))
    parts = _Parts(deprecations=[("the catalog", ref, m) for ref, m in catalog.deprecations.items()])
    for name, pkg in catalog.packages.items():
        if name == package and highest and bundle.default_channel:
            pkg = replace(pkg, default_channel=bundle.default_channel)
        parts.packages.append(("the catalog", pkg))
    if package not in catalog.packages:
        parts.packages.append((f"bundle {bundle.name}", Package(package, bundle.default_channel or "")))
    added = [
        Channel(package, name, ()) for name in bundle.channels if (package, name) not in catalog.channels
    ]
    for channel in [*catalog.channels.values(), *added]:
        if channel.package == package and channel.name in bundle.channels:
            channel = replace(channel, entries=(*channel.entries, _entry(bundle)))
        parts.channels.append(("the catalog", channel))
    parts.bundles += [("the catalog", b) for b in catalog.bundles.values()]
    parts.bundles.append((f"bundle {bundle.name}", replace(bundle, channels=(), default_channel=None)))
    return _validated(parts)


def _entry(bundle: Bundle) -> ChannelEntry:
    csv = bundle.csv
    spec = csv.get("spec") or {}
    skip_range = ((csv.get("metadata") or {}).get("annotations") or {}).get("olm.skipRange")
    return ChannelEntry(bundle.name, spec.get("replaces") or None, tuple(spec.get("skips") or ()), skip_range)


def write_catalog(catalog: Catalog, path: str | Path) -> Path:
    """Write ``catalog`` as ``<path>/<package>/catalog.yaml`` per package; returns ``path``.

    Each file holds the ``olm.package`` document, then the package's ``olm.channel`` documents by
    name, then its ``olm.bundle`` documents by version, so ``load_catalog`` gives ``catalog`` back.
    """
    root = Path(path)
    for name in sorted(catalog.packages):
        text = dump_documents(package_documents(catalog, name))
        crd.write_file_atomically(root / name / "catalog.yaml", text)
    return root


def package_documents(catalog: Catalog, package: str) -> list[Obj]:
    """The FBC documents of ``package``: its ``olm.package``, then its ``olm.channel`` documents by name,
    then its ``olm.bundle`` documents by version."""
    docs = [_package_doc(catalog.package(package))]
    docs += [_channel_doc(c) for c in catalog.channels_of(package)]
    docs += [bundle_to_fbc(b) for b in catalog.bundles_of(package)]
    entries = [
        {"reference": {"schema": schema, **({"name": name} if name else {})}, "message": message}
        for (pkg, schema, name), message in sorted(catalog.deprecations.items())
        if pkg == package
    ]
    if entries:
        docs.append({"schema": DEPRECATIONS, "package": package, "entries": entries})
    return docs


def _package_doc(pkg: Package) -> Obj:
    doc: Obj = {"schema": "olm.package", "name": pkg.name, "defaultChannel": pkg.default_channel}
    if pkg.description:
        doc["description"] = pkg.description
    return doc


def _channel_doc(channel: Channel) -> Obj:
    return {
        "schema": "olm.channel",
        "package": channel.package,
        "name": channel.name,
        "entries": [_entry_doc(e) for e in channel.entries],
    }


def _entry_doc(entry: ChannelEntry) -> Obj:
    doc: Obj = {"name": entry.name}
    if entry.replaces:
        doc["replaces"] = entry.replaces
    if entry.skips:
        doc["skips"] = list(entry.skips)
    if entry.skip_range:
        doc["skipRange"] = entry.skip_range
    return doc
