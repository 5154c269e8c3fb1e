"""The three patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

Role: pure functions from (current object, patch) to the patched object; ``rest`` runs them inside
the writer so a patch applies atomically to the newest version. Failures raise ``StatusError`` with the
status the real server gives (a bare 422 for any JSON patch operation that does not apply, 400 for a
malformed patch).

Strategic merge follows the list keys of the object's schema (``schemas.Node``): lists with a merge key
(containers by ``name``, ports by ``containerPort``/``port``, env by ``name``…) merge item by item, lists
with strategy ``merge`` and no key merge as sets, every other list is replaced. Directives supported:
``$patch: replace|delete|merge``, ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and
``$setElementOrder/<field>`` (used for ordering).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubeloop.apiserver.machinery.errors import StatusError, bad_request
from kubeloop.apiserver.registry.schemas import Node

__all__ = ["json_patch", "merge_patch", "strategic_merge"]

Obj = dict[str, Any]
_REJECTED = "the server rejected our request due to an error in our request"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- JSON patch ------------------------------------------------------------------------------------


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _rejected()
    return [_unescape(t) for t in path[1:].split("/")]


def _rejected() -> StatusError:
    """The real server's answer to any operation that does not apply (a failed test, a missing path,
    an unknown operation): a bare 422 with empty details, whatever json-patch said."""
    return StatusError(422, "Invalid", _REJECTED, always_details=True)


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise _rejected()
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _split(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _rejected()


def _remove(doc: Any, path: str) -> Any:
    tokens = _split(path)
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _rejected()


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    tokens = _split(path)
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _rejected()
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = copy.deepcopy(value)
            else:
                parent.insert(int(last), copy.deepcopy(value))
        else:
            raise _rejected()
    else:
        raise _rejected()
    return doc


def json_patch(target: Obj, operations: Any) -> Obj:
    """RFC 6902 operations applied in order to a copy of ``target``."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc: Any = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise bad_request(_REJECTED)
        kind, path = op["op"], op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, op.get("value"))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, op.get("value"), replace=True)
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, _get(doc, op["from"]))
        elif kind == "test":
            tokens = _split(path)
            parent = _parent(doc, tokens) if tokens else None
            if tokens and isinstance(parent, dict) and tokens[-1] not in parent:
                found = None  # json-patch: a key missing from a map there passes a test for null
            else:
                found = _get(doc, path)
            if found != op.get("value"):
                raise _rejected()
        else:
            raise _rejected()
    if not isinstance(doc, dict):
        raise bad_request("the patch did not produce an object")
    return doc


# -- strategic merge patch -------------------------------------------------------------------------


def strategic_merge(target: Obj, patch: Obj, schema: Node) -> Obj:
    """Strategic merge ``patch`` into a copy of ``target`` following ``schema``'s list keys."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    result = _merge_map(copy.deepcopy(target), patch, schema)
    return result


def _merge_map(target: Obj, patch: Obj, schema: Node) -> Obj:
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(target.get(name), list):
                target[name] = [v for v in target[name] if v not in value]
            continue
        field = schema.field(key)
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_map(current if isinstance(current, dict) else {}, value, field)
        elif isinstance(value, list):
            target[key] = _merge_list(target.get(key), value, field)
        else:
            target[key] = value
    if isinstance(retain, list):
        for key in list(target):
            if key not in retain:
                del target[key]
    for key, order in patch.items():
        if key.startswith("$setElementOrder/") and isinstance(target.get(key.split("/", 1)[1]), list):
            _reorder(target, key.split("/", 1)[1], order, schema.field(key.split("/", 1)[1]))
    return target


def _merge_list(current: Any, patch: list[Any], schema: Node) -> list[Any]:
    keys = schema.patch_merge_keys
    existing = list(current) if isinstance(current, list) else []
    if keys and all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
            return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
        merged = existing[:]
        for item in patch:
            present = [k for k in keys if k in item] or list(keys[:1])
            match = next(
                (
                    n
                    for n, e in enumerate(merged)
                    if isinstance(e, dict) and all(e.get(k) == item.get(k) for k in present)
                ),
                None,
            )
            if item.get("$patch") == "delete":
                if match is not None:
                    merged.pop(match)
                continue
            if match is None:
                merged.append(_merge_map({}, item, schema.items()))
            else:
                merged[match] = _merge_map(merged[match], item, schema.items())
        kept = [i for i in patch if i.get("$patch") != "delete"]
        return _element_order(merged, kept, existing, lambda i: repr(i.get(keys[0])))
    if schema.is_set:
        out = existing[:]
        for item in patch:
            if item not in out:
                out.append(copy.deepcopy(item))
        return _element_order(out, patch, existing, repr)
    return [copy.deepcopy(i) for i in patch]


def _element_order(
    merged: list[Any], patch: list[Any], server: list[Any], ident: Callable[[Any], str]
) -> list[Any]:
    """The order of a merged list as strategic merge gives it (``normalizeElementOrder``): the items the
    patch names in the patch's order, the others in the server's, interleaved where the server's order
    puts one of the others before an item the patch names; the patch's new items go first."""
    patch_at = {ident(i): n for n, i in reversed(list(enumerate(patch)))}
    server_at = {ident(i): n for n, i in reversed(list(enumerate(server)))}
    named = sorted((i for i in merged if ident(i) in patch_at), key=lambda i: patch_at[ident(i)])
    others = sorted(
        (i for i in merged if ident(i) not in patch_at), key=lambda i: server_at.get(ident(i), -1)
    )
    out = []
    while named or others:
        left, right = (ident(others[0]) if others else None), (ident(named[0]) if named else None)
        if right is None or (left in server_at and right in server_at and server_at[left] < server_at[right]):
            out.append(others.pop(0))
        else:
            out.append(named.pop(0))
    return out


def _reorder(target: Obj, name: str, order: list[Any], schema: Node) -> None:
    keys = schema.patch_merge_keys
    items = target[name]

    def ident(item: Any) -> Any:
        if keys and isinstance(item, dict):
            return tuple(item.get(k) for k in keys)
        return item

    wanted = [ident(o) for o in order]
    ranked = {w if not isinstance(w, dict) else repr(w): n for n, w in enumerate(wanted)}

    def rank(item: Any) -> int:
        i = ident(item)
        return ranked.get(i if not isinstance(i, dict) else repr(i), len(ranked))

    target[name] = sorted(items, key=rank)
