"""cel-go's ``stringFormatValidator``, run after the type check: a ``'<literal>'.format([<list>])`` whose
format string does not parse, asks for more or fewer arguments than the list has, or gives a clause an
argument of a type it cannot render is refused at compilation, with the message the call would fail
with at run time, placed at the argument at fault."""

from __future__ import annotations

from kubeloop.apiserver.cel import formatting
from kubeloop.apiserver.cel.checker import Checked
from kubeloop.apiserver.cel.decls import Type
from kubeloop.apiserver.cel.parse import Node

__all__ = ["format_errors"]

# What each clause takes, by CEL type kind (dyn always), and how cel-go words its refusal.
_TAKES = {
    "d": ("int", "uint"),
    "f": ("double", "string"),
    "e": ("double", "string"),
    "b": ("int", "uint", "bool"),
    "x": ("int", "uint", "string", "bytes"),
    "X": ("int", "uint", "string", "bytes"),
    "o": ("int", "uint"),
}
_STRING = ("list", "map", "int", "uint", "double", "bool", "string", "timestamp", "bytes", "duration")
_WORDS = {
    "s": "string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, "
    "durations, and timestamps",
    "d": "decimal clause can only be used on integers",
    "f": "fixed-point clause can only be used on doubles",
    "e": "scientific clause can only be used on doubles",
    "b": "only integers and bools can be formatted as binary",
    "x": "only integers, byte buffers, and strings can be formatted as hex",
    "X": "only integers, byte buffers, and strings can be formatted as hex",
    "o": "octal clause can only be used on integers",
}
_GO_NAMES = {
    "null": "null_type",
    "timestamp": "google.protobuf.Timestamp",
    "duration": "google.protobuf.Duration",
}


def _name(found: Type) -> str:
    if found.kind in ("object", "param"):
        return str(found)
    return _GO_NAMES.get(found.kind, found.kind)


def _string_misfit(node: Node, checked: Checked) -> Node | None:
    """``verifyString``: the first node (the argument or an element of a literal list or map in it)
    ``%s`` cannot render."""
    found = checked.types.get(id(node), Type("dyn"))
    if not (found.loose or found.kind in (*_STRING, "type", "null")):
        return node
    if node.kind in ("list", "map"):
        for element in node.args:
            bad = _string_misfit(element, checked)
            if bad is not None:
                return bad
    return None


def _misfit(verb: str, node: Node, checked: Checked) -> Node | None:
    if verb == "s":
        return _string_misfit(node, checked)
    found = checked.types.get(id(node), Type("dyn"))
    return None if found.loose or found.kind in _TAKES[verb] else node


def _check(call: Node, checked: Checked) -> tuple[int, str] | None:
    assert call.target is not None
    text, args = str(call.target.value), call.args[0].args
    requested = 0

    def arg(index: int) -> None:
        nonlocal requested
        requested += 1

    def clause(index: int, verb: str, precision: int | None) -> str:
        bad = _misfit(verb, args[index], checked)
        if bad is not None:
            found = checked.types.get(id(bad), Type("dyn"))
            raise formatting.FormatError(f"{_WORDS[verb]}, was given {_name(found)}", bad.offset)
        return ""

    try:
        formatting.walk(text, len(args), arg, clause)
    except formatting.FormatError as exc:
        return (call.offset if exc.offset is None else exc.offset), str(exc)
    if len(args) > requested:
        expected = f"expected {requested}, got {len(args)}"
        return call.offset, f"too many arguments supplied to string.format ({expected})"
    return None


def _nodes(node: Node) -> list[Node]:
    found = [node]
    parts = (node.range, node.init, node.cond, node.step, node.result)
    for child in (node.target, *node.args, *parts):
        if child is not None:
            found += _nodes(child)
    return found


def format_errors(tree: Node, checked: Checked) -> list[tuple[int, str]]:
    """The validator's errors (offset, message) for the format calls of a checked rule."""
    errors = []
    for node in _nodes(tree):
        if not (
            node.kind == "call"
            and node.value == "format"
            and node.target is not None
            and node.target.kind == "literal"
            and isinstance(node.target.value, str)
            and len(node.args) == 1
            and node.args[0].kind == "list"
            and "string_format" in checked.overloads.get(id(node), ["string_format"])
            and id(node) not in checked.namespaced
        ):
            continue
        found = _check(node, checked)
        if found is not None:
            errors.append(found)
    return errors
