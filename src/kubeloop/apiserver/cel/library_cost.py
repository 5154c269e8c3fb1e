"""The estimated cost of the Kubernetes CEL libraries' calls, as ``apiserver/pkg/cel/library/cost.go``'s
``EstimateCallCost`` and cel-go's sets extension give it: what scales with its operands (string and
list functions, regexes, parsing a URL, quantity or address) by their sizes, the rest at 1.

The real estimator is asked before cel-go's standard one for every call, and a call it does not know
(None here) falls through to the standard estimate.
"""

from __future__ import annotations

import math
from typing import Protocol

from kubeloop.apiserver.cel.decls import Type
from kubeloop.apiserver.cel.parse import Node
from kubeloop.apiserver.cel.ranges import MAX, Range, add, factor, mul

__all__ = ["Sizes", "estimate_call"]

_MAX = MAX
_TRAVERSAL = 0.1  # common.StringTraversalCostFactor
_REGEX = 0.25  # common.RegexStringLengthCostFactor
_NAME_FORMAT_REGEX = 128  # cel.MaxNameFormatRegexSize
_FORMAT = 64  # cel.MaxFormatSize
_ADDRESS = (4, 16)  # an IP's bytes
_ONE = (1, 1)


class Sizes(Protocol):
    """What the estimate reads from the cost walk: a node's size (computed, or from the schema, None
    when unknown), the size of the schema node under a path, a node's path and checked type."""

    def computed(self, node: Node) -> Range | None: ...

    def schema_size(self, path: list[str]) -> Range | None: ...

    def path(self, node: Node) -> list[str]: ...

    def type(self, node: Node) -> Type: ...


def _size(sizes: Sizes, node: Node) -> Range:
    """``CostEstimator.sizeEstimate``: computed, else from the schema, else unknown (no scalar
    default, unlike cel-go's own)."""
    found = sizes.computed(node)
    return (0, _MAX) if found is None else found


def _element(sizes: Sizes, target: Node) -> tuple[Type, Range] | None:
    """``listElementNode``: a list's element type and size (from the schema under ``@items``)."""
    kind = sizes.type(target)
    if not kind.params:
        return None
    path = sizes.path(target)
    found = sizes.schema_size([*path, "@items"]) if path else None
    return kind.params[0], (0, _MAX) if found is None else found


def _sets(sizes: Sizes, overload: str, args: list[Node]) -> Range | None:
    """cel-go's ``estimateSetsCost``: the product of the two lists' sizes (twice for equivalent)."""
    if len(args) != 2:
        return None
    product = mul(_size(sizes, args[0]), _size(sizes, args[1]))
    return add(factor(product, 2 if overload == "list_sets_equivalent_list" else 1), _ONE)


def _join(sizes: Sizes, target: Node, args: list[Node]) -> Range:
    listed = _size(sizes, target)
    element = _element(sizes, target)
    size: Range = (0, 0) if element is None else mul(listed, element[1])
    if args:
        separators = (max(listed[0] - 1, 0), max(listed[1] - 1, 0))
        size = add(size, mul(_size(sizes, args[0]), separators))
    return size


def _replace(sizes: Sizes, target: Node, args: list[Node]) -> Range:
    """The size of ``replace``'s result, as the estimator bounds it."""
    size, old, new = _size(sizes, target), _size(sizes, args[0]), _size(sizes, args[1])
    if old[0] == 0:
        count_max, kept_max = (size[1] + 1 if size[1] < _MAX else size[1]), size[1]
    elif new[1] <= old[0]:
        count_max, kept_max = 0, size[1]
    else:
        count_max, kept_max = math.ceil(size[1] / old[0]), 0
    if old[1] == 0:
        count_min, kept_min = (size[0] + 1 if size[0] < _MAX else size[0]), size[0]
    elif old[1] <= new[0]:
        count_min, kept_min = 0, size[0]
    else:
        count_min, kept_min = math.ceil(size[0] / old[1]), 0
    return add(mul((count_min, count_max), new), (kept_min, kept_max))


def estimate_call(
    sizes: Sizes, name: str, overload: str, target: Node | None, args: list[Node]
) -> tuple[Range, Range | None] | None:
    """The call's own cost (its arguments' not included) and its result's size, or None when the
    library estimators leave it to cel-go's."""
    if overload.startswith("list_sets_"):
        found = _sets(sizes, overload, args)
        return None if found is None else (found, None)
    if name in ("isSorted", "sum", "max", "min", "indexOf", "lastIndexOf") and target is not None:
        element = _element(sizes, target)
        if element is None:
            return factor(_size(sizes, target), _TRAVERSAL), None
        each = _ONE
        if element[0].kind in ("string", "bytes"):
            each = add(each, factor(element[1], _TRAVERSAL))
        return mul(_size(sizes, target), each), None
    if name == "url" and len(args) == 1:
        size = _size(sizes, args[0])
        return factor(size, _TRAVERSAL), size
    if name in ("lowerAscii", "upperAscii", "substring", "trim") and target is not None:
        size = _size(sizes, target)
        return factor(size, _TRAVERSAL), size
    if name == "replace" and target is not None and len(args) >= 2:
        return factor(_size(sizes, target), 2 * _TRAVERSAL), _replace(sizes, target, args)
    if name == "split" and target is not None:
        size = _size(sizes, target)
        most = size[1]
        if len(args) > 1 and args[1].kind == "literal" and isinstance(args[1].value, int):
            most = int(args[1].value) % 2**64
        return factor(size, 2 * _TRAVERSAL), (0, most)
    if name == "join" and target is not None:
        size = _join(sizes, target, args)
        return factor(size, _TRAVERSAL), size
    if name in ("find", "findAll") and target is not None and args:
        size = _size(sizes, target)
        text = factor(add(size, _ONE), _TRAVERSAL)
        return mul(text, factor(_size(sizes, args[0]), _REGEX)), (0, size[1])
    if name in ("cidr", "isIP", "isCIDR", "quantity", "isQuantity") and args:
        return factor(_size(sizes, args[0]), _TRAVERSAL), None
    if name == "ip":
        return (factor(_size(sizes, args[0]), _TRAVERSAL) if args else _ONE), None
    if name == "ip.isCanonical" and args:
        return factor(_size(sizes, args[0]), 2 * _TRAVERSAL), None
    if name in ("containsIP", "containsCIDR") and target is not None and args:
        cost = factor(add(_ADDRESS, _ADDRESS), _TRAVERSAL)
        if name == "containsCIDR":
            cost = add(add(cost, factor(_ADDRESS, _TRAVERSAL)), _ONE)
        if overload.endswith("_string"):
            cost = add(cost, factor(_size(sizes, args[0]), _TRAVERSAL))
        return cost, None
    if name == "validate" and target is not None and args:
        return factor(factor(_size(sizes, args[0]), _TRAVERSAL), _NAME_FORMAT_REGEX * _REGEX), None
    if name in _UNIT:
        return _ONE, None
    if name == "_==_" and len(args) == 2:
        return _equality(sizes, args)
    return None


_UNIT = frozenset(
    """
    masked prefixLength family isUnspecified isLoopback isLinkLocalMulticast isLinkLocalUnicast
    isGlobalUnicast format.named sign asInteger isInteger asApproximateFloat isGreaterThan isLessThan
    compareTo add sub getScheme getHostname getHost getPort getEscapedPath getQuery
    """.split()  # noqa: SIM905
)


def _equality(sizes: Sizes, args: list[Node]) -> tuple[Range, Range | None] | None:
    kind = sizes.type(args[0])
    if kind != sizes.type(args[1]):
        return None
    if kind.kind in ("net.IP", "net.CIDR", "kubernetes.Quantity"):
        return _ONE, None
    if kind.kind == "kubernetes.NamedFormat":
        return factor((1, _FORMAT), _TRAVERSAL), None
    if kind.kind == "kubernetes.URL":
        right = sizes.computed(args[1])  # the real estimator reads the right side twice
        return factor((1, right[1] if right is not None else 1), _TRAVERSAL), None
    return None
