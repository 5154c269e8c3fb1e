"""Field ownership: ``metadata.managedFields`` for updates and server-side apply.

Role: pure functions used by ``rest``. A field set maps paths (``("f:spec", "f:containers",
'k:{"name":"app"}', "f:image")``) to the value at that path; leaves are scalars, atomic lists, empty
maps, set members (``v:``) and the items of associative lists (``k:``). ``fieldsV1`` is the nested form
the real server writes.

Semantics (a simplification of structured-merge-diff that keeps what clients observe):

- An Update (create/replace/patch) gives its manager every field whose value it changed and each map
  it added (the map's own member, ``"."`` in ``fieldsV1``), and takes those fields from every other
  manager; removed fields are removed from everyone.
- An Apply conflicts with every other manager that owns a field the configuration sets to a different
  value (409 with one cause per field); ``force`` takes the fields instead. Fields the manager applied
  before and no longer applies are removed from the object unless another manager still owns them,
  and so is a struct field that held them once nobody owns anything in it (with what it holds).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson

from kubeloop.apiserver.machinery.errors import Cause, StatusError
from kubeloop.apiserver.machinery.meta import now
from kubeloop.apiserver.registry.schemas import Node
from kubeloop.objectmeta import SERVER_SET_METADATA

__all__ = ["apply", "entries", "field_set", "identity", "rebuild", "track_update"]

Obj = dict[str, Any]
Path = tuple[str, ...]
_MISSING = object()


def owned_part(obj: Obj, subresource: str | None, has_status: bool) -> Obj:
    """The part of ``obj`` whose fields are tracked for an operation on ``subresource``."""
    out: Obj = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            meta = {k: v for k, v in (value or {}).items() if k not in SERVER_SET_METADATA}
            if meta and subresource != "status":
                out["metadata"] = meta
            continue
        if has_status and (key == "status") != (subresource == "status"):
            continue
        out[key] = value
    return out


def _key_of(item: Obj, keys: tuple[str, ...], schema: Node) -> str:
    """An item's identity by every map key, a key the item leaves out taking its schema default (as
    the real server defaults ``protocol: TCP`` of an applied port); keys with neither are left out."""
    identity = {}
    for key in keys:
        value = item[key] if key in item else schema.key_default(key)
        if value is not None:
            identity[key] = value
    return "k:" + orjson.dumps(identity, option=orjson.OPT_SORT_KEYS).decode()


def field_set(value: Any, schema: Node, prefix: Path = (), *, members: bool = False) -> dict[Path, Any]:
    """Leaf paths of ``value`` with their values (an atomic map is one leaf); with ``members``, also
    the path of each map (a Go map, not a struct) that holds keys, marked as list items are: what an
    Update compares, as structured-merge-diff's comparison adds a map the Go zero value lacks."""
    out: dict[Path, Any] = {}
    if isinstance(value, dict) and prefix and schema.atomic_map:
        out[prefix] = value
    elif isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        elif members and prefix and schema.is_map:
            out[prefix] = _MARK
        for key, child in value.items():
            out.update(field_set(child, schema.field(key), (*prefix, f"f:{key}"), members=members))
    elif isinstance(value, list):
        keys = schema.list_keys
        if keys and all(isinstance(i, dict) and all(k in i for k in keys[:1]) for i in value) and value:
            for item in value:
                path = (*prefix, _key_of(item, keys, schema.items()))
                out[path] = _MARK
                out.update(field_set({k: v for k, v in item.items()}, schema.items(), path, members=members))
        elif schema.is_set and value and all(not isinstance(i, dict | list) for i in value):
            for item in value:
                out[(*prefix, "v:" + orjson.dumps(item).decode())] = item
        else:
            out[prefix] = value
    else:
        out[prefix] = value
    return out


class _Mark:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Mark)

    def __hash__(self) -> int:
        return 0


_MARK = _Mark()


def to_v1(paths: set[Path]) -> Obj:
    """The nested ``fieldsV1`` form of a set of paths."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    for path in paths:
        node = root
        for part in path:
            node = node[part]
        if node:
            node["."] = {}
    return root


def from_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    """The set of paths of a ``fieldsV1`` tree."""
    out: set[Path] = set()
    if not tree and prefix:
        out.add(prefix)
    for key, child in tree.items():
        if key == ".":
            out.add(prefix)
        else:
            out |= from_v1(child, (*prefix, key))
    return out


def identity(entry: Obj) -> tuple[str, str, str, str]:
    """Whose an entry is, as the real field manager keys entries (BuildManagerIdentifier): manager,
    operation, subresource and, for an Update, the apiVersion."""
    operation = entry.get("operation", "")
    version = "" if operation == "Apply" else entry.get("apiVersion", "")
    return entry.get("manager", ""), operation, version, entry.get("subresource") or ""


def entries(managed: list[Obj]) -> list[tuple[Obj, set[Path]]]:
    """``managed`` as the real field manager decodes it, each entry with its paths: one entry per
    identity, a later one of the same identity replacing an earlier (a scale write can leave two)."""
    decoded = {identity(e): (e, from_v1(e.get("fieldsV1") or {})) for e in managed}
    return list(decoded.values())


def rebuild(pairs: list[tuple[Obj, set[Path]]]) -> list[Obj]:
    """The entries that still own fields, in the real server's order: by operation, time, manager,
    apiVersion and subresource."""
    out = []
    for entry, paths in pairs:
        if not paths:
            continue
        out.append(dict(entry, fieldsType="FieldsV1", fieldsV1=to_v1(paths)))
    return sorted(
        out,
        key=lambda e: (
            e.get("operation", ""),
            e.get("time") or "",
            e.get("manager", ""),
            e.get("apiVersion", ""),
            e.get("subresource") or "",
        ),
    )


def _same(entry: Obj, manager: str, operation: str, subresource: str | None) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and entry.get("subresource", None) == subresource
    )


def track_update(
    old: Obj | None,
    new: Obj,
    manager: str,
    api_version: str,
    schema: Node,
    subresource: str | None,
    has_status: bool,
) -> list[Obj]:
    """``new``'s managedFields after ``manager`` turned ``old`` into ``new`` with an Update."""
    managed = (old or {}).get("metadata", {}).get("managedFields") or []
    before = field_set(owned_part(old, subresource, has_status), schema, members=True) if old else {}
    after = field_set(owned_part(new, subresource, has_status), schema, members=True)
    changed = {p for p, v in after.items() if _changed(before.get(p, _MISSING), v)}
    removed = set(before) - set(after)
    pairs = entries(managed)
    if not changed and not removed:
        return list(managed) if len(pairs) == len(managed) else rebuild(pairs)
    found = False
    for entry, paths in pairs:
        paths -= removed
        if _same(entry, manager, "Update", subresource):
            found = True
            paths |= changed
            entry.update(time=now(), apiVersion=api_version)
        else:
            paths -= changed
    if not found and changed:
        entry = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": now()}
        if subresource:
            entry["subresource"] = subresource
        pairs.append((entry, set(changed)))
    return rebuild(pairs)


def _changed(before: Any, after: Any) -> bool:
    """Whether an Update changed a path: a leaf's value; a map or list item only by appearing (a map
    that held keys and is emptied, or an empty one that gets keys, is neither added nor changed)."""
    if _MARK in (before, after) and {} in (before, after):
        return False
    return bool(before != after)


def describe(path: Path) -> str:
    """A path as the real server prints it in conflicts: ``.spec.containers[name="app"].image``."""
    out = ""
    for part in path:
        kind, _, rest = part.partition(":")
        if kind == "f":
            out += f".{rest}"
        elif kind == "k":
            keys = orjson.loads(rest)
            out += "[" + ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in keys.items()) + "]"
        elif kind == "v":
            out += f"[={rest}]"
        else:
            out += f"[{rest}]"
    return out


def apply(
    current: Obj | None,
    applied: Obj,
    manager: str,
    api_version: str,
    schema: Node,
    *,
    force: bool,
    subresource: str | None,
    has_status: bool,
) -> Obj:
    """The object after ``manager`` applies ``applied`` to ``current``, managedFields included.

    Raises 409 Conflict naming every conflicting field and manager unless ``force``.
    """
    managed = (current or {}).get("metadata", {}).get("managedFields") or []
    mine_part = owned_part(applied, subresource, has_status)
    wanted = field_set(mine_part, schema)
    existing = field_set(owned_part(current, subresource, has_status), schema) if current else {}
    pairs = entries(managed)
    # As structured-merge-diff compares the live object with the merged one: a field another manager
    # owns conflicts when the configuration adds it (a map or list item new to the object included)
    # or changes its value; maps and list items themselves are never changed, only added.
    live_nodes, config_nodes = _nodes(existing), _nodes(wanted)
    conflicts: list[tuple[str, Path]] = []
    for entry, paths in pairs:
        if _same(entry, manager, "Apply", subresource):
            continue
        for path in paths & config_nodes:
            value = wanted.get(path, _MARK)
            changed = value != _MARK and value != {} and existing.get(path, _MISSING) != value
            if path not in live_nodes or changed:
                conflicts.append((_printed(entry, api_version), path))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    if force:
        taken = {c[1] for c in conflicts}
        for entry, paths in pairs:
            if not _same(entry, manager, "Apply", subresource):
                paths -= taken
    base = copy.deepcopy(current) if current else {}
    merged: Obj = _merge(base, _without_nulls(mine_part), schema)
    mine = next((p for e, p in pairs if _same(e, manager, "Apply", subresource)), set())
    others: set[Path] = set()
    for entry, paths in pairs:
        if not _same(entry, manager, "Apply", subresource):
            others |= paths
    # Shortest paths first: an associative-list item goes as a whole before its key fields would
    # (removing its key field first would leave the item unfindable, and half of it in place).
    # A path still applied below (an empty map applied before, keys applied now) stays too.
    kept = others | set(wanted)
    # An item's key fields after its other fields: the item is found by its keys (an applied item that
    # leaves out its defaulted protocol no longer owns it, nor its targetPort: both go).
    for path in sorted(mine - set(wanted), key=lambda p: (len(p), _is_key_field(p))):
        if not any(o[: len(path)] == path for o in kept):
            _remove_path(merged, path)
    # A field of a struct that held what the manager applied before goes whole, with what nobody owns
    # below it (a Secret's data made from stringData), when nobody owns anything there any more: as
    # structured-merge-diff prunes with the named fields above the last applied set as members. The
    # metadata stays (the configuration's name is in it).
    for path in sorted(_named_fields_above(mine, schema), key=len):
        if path != ("f:metadata",) and not any(o[: len(path)] == path for o in kept):
            _remove_path(merged, path)
    md = merged.setdefault("metadata", {})
    for key in ("finalizers", "labels", "annotations"):  # emptied ones go, as Go's omitempty drops them
        if key in md and not md[key]:
            del md[key]
    pairs = [(e, p) for e, p in pairs if not _same(e, manager, "Apply", subresource)]
    entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now()}
    if subresource:
        entry["subresource"] = subresource
    pairs.insert(0, (entry, set(wanted)))
    merged.setdefault("metadata", {})["managedFields"] = rebuild(pairs)
    return merged


def _is_key_field(path: Path) -> bool:
    """Whether ``path`` names a key field of the associative-list item above it."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return path[-1][2:] in orjson.loads(path[-2][2:])


def _named_fields_above(paths: set[Path], schema: Node) -> set[Path]:
    """The paths of the struct fields (named in their parent's schema, not map keys) above ``paths``."""
    out: set[Path] = set()
    for path in paths:
        node = schema
        for n, part in enumerate(path[:-1]):
            kind, _, name = part.partition(":")
            if kind != "f":
                node = node.items()
                continue
            if node.has(name):
                out.add(path[: n + 1])
            node = node.field(name)
    return out


def _nodes(fields: dict[Path, Any]) -> set[Path]:
    """Every path of a field set and every path above one (the maps and list items holding it)."""
    return {path[:n] for path in fields for n in range(1, len(path) + 1)}


def _merge(live: Any, config: Any, schema: Node) -> Any:
    """``config`` merged into ``live`` as structured-merge-diff merges an applied configuration: maps
    field by field, associative lists and sets item by item (``_merge_items``), anything else (atomic maps
    included) replaced."""
    if isinstance(config, dict) and not schema.atomic_map:
        out = dict(live) if isinstance(live, dict) else {}
        for key, value in config.items():
            out[key] = _merge(out.get(key), value, schema.field(key))
        return out
    if isinstance(config, list) and isinstance(live, list):
        keys = schema.list_keys
        if keys and all(isinstance(i, dict) for i in config + live):
            item = schema.items()
            return _merge_items(
                live, config, lambda i: _key_of(i, keys, item), lambda a, b: _merge(a, b, item)
            )
        if schema.is_set and not any(isinstance(i, dict | list) for i in config + live):
            return _merge_items(live, config, lambda i: orjson.dumps(i).decode(), lambda a, b: b)
    return copy.deepcopy(config)


def _merge_items(
    live: list[Any], config: list[Any], ident: Callable[[Any], str], merge: Callable[[Any, Any], Any]
) -> list[Any]:
    """The items of a merged list in structured-merge-diff's order (``visitListItems``): the live
    items the configuration leaves out stay where they are, the others follow the configuration's
    order, new ones where the configuration puts them."""
    lhs, rhs = [ident(i) for i in live], [ident(i) for i in config]
    seen_lhs: dict[str, Any] = {}
    for key, item in zip(lhs, live, strict=True):
        seen_lhs.setdefault(key, item)
    seen_rhs = dict(zip(rhs, config, strict=True))
    shared = [k for k in rhs if k in seen_lhs]
    next_shared = shared.pop(0) if shared else None
    merged: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            key = lhs[li]
            if key == rhs[ri]:
                merged.add(key)
                out.append(merge(seen_lhs[key], seen_rhs[key]))
                li, ri = li + 1, ri + 1
                next_shared = shared.pop(0) if shared else None
                continue
            if key in seen_rhs and next_shared is not None and next_shared != key:
                li += 1
                continue
        if li < len(lhs):
            key = lhs[li]
            if key not in seen_rhs:
                out.append(copy.deepcopy(live[li]))
                li += 1
                continue
            if key in merged:
                li += 1
        if ri < len(rhs):
            key = rhs[ri]
            merged.add(key)
            out.append(merge(seen_lhs[key], seen_rhs[key]) if key in seen_lhs else copy.deepcopy(config[ri]))
            ri += 1
            if next_shared is not None and next_shared == key:
                next_shared = shared.pop(0) if shared else None
    return out


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _remove_path(obj: Any, path: Path) -> None:
    node = obj
    for n, part in enumerate(path):
        last = n == len(path) - 1
        kind, _, rest = part.partition(":")
        if kind == "f" and isinstance(node, dict):
            if last:
                node.pop(rest, None)
                return
            node = node.get(rest)
        elif kind == "k" and isinstance(node, list):
            keys = orjson.loads(rest)
            idx = next(
                (
                    i
                    for i, it in enumerate(node)
                    if isinstance(it, dict) and all(it.get(k) == v for k, v in keys.items())
                ),
                None,
            )
            if idx is None:
                return
            if last:
                node.pop(idx)
                return
            node = node[idx]
        elif kind == "v" and isinstance(node, list):
            value = orjson.loads(rest)
            if value in node:
                node.remove(value)
            return
        else:
            return
        if node is None:
            return


def _printed(entry: Obj, api_version: str) -> str:
    """A manager as the real server prints it in a conflict: an applier by name, an updater with the
    version it used (``"kubectl" using v1``), either with its subresource."""
    out = orjson.dumps(entry.get("manager", "")).decode()
    if entry.get("subresource"):
        out += f' with subresource "{entry["subresource"]}"'
    if entry.get("operation") == "Update":
        out += f" using {entry.get('apiVersion', api_version)}"
    return out


def _conflict_error(conflicts: list[tuple[str, Path]]) -> StatusError:
    """The real 409: causes and message by manager (sorted), each manager's fields in the order
    structured-merge-diff iterates a field set."""
    order = {p: n for n, p in enumerate(_set_order([p for _, p in conflicts]))}
    conflicts = sorted(conflicts, key=lambda c: (c[0], order[c[1]]))
    causes = [Cause("FieldManagerConflict", f"conflict with {m}", describe(p)) for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {m}: {describe(p)}"
    else:
        lines = []
        for manager in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {describe(p)}" for m, p in conflicts if m == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, causes=causes)


_ELEMENT_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def _set_order(paths: list[Path], depth: int = 0) -> list[Path]:
    """``paths`` as structured-merge-diff's ``Set.Iterate`` visits them: at each level the paths that
    end there, then each deeper one's, both sorted by path element (field names before keys)."""

    def rank(part: str) -> tuple[int, str]:
        kind, _, rest = part.partition(":")
        return _ELEMENT_RANK.get(kind, 4), rest

    out = sorted({p for p in paths if len(p) == depth + 1}, key=lambda p: rank(p[depth]))
    for child in sorted({p[depth] for p in paths if len(p) > depth + 1}, key=rank):
        out += _set_order([p for p in paths if len(p) > depth + 1 and p[depth] == child], depth + 1)
    return out
