"""The worst-case cost kube-apiserver estimates for a checked CEL rule (cel-go's ``checker.Cost`` with
apiextensions' size estimator): sizes of strings, lists and maps come from the schema (``Decl``:
``maxLength``/``maxItems``/``maxProperties`` or what fits in a request), comprehensions multiply their
loop's cost by their range's size, string functions scale with their operands' lengths.

Only what the standard library's estimator does is modelled; a rule calling a function of the
Kubernetes or extension libraries (whose costs this module does not know) has no estimate (None), and
the CRD is then not refused for cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kubeloop.apiserver.cel.checker import Checked
from kubeloop.apiserver.cel.decls import Decl, Type
from kubeloop.apiserver.cel.parse import Node

__all__ = ["estimate"]

_MAX = 2**64 - 1
_STRING_TRAVERSAL = 0.1
_REGEX_LENGTH = 0.25
_UNKNOWN = (0, _MAX)
_SCALARS = frozenset(("bool", "double", "duration", "int", "timestamp", "uint"))

Range = tuple[int, int]  # (min, max) of a size or a cost, saturating at 2**64 - 1


def _add(a: Range, b: Range) -> Range:
    return min(a[0] + b[0], _MAX), min(a[1] + b[1], _MAX)


def _mul(a: Range, b: Range) -> Range:
    return min(a[0] * b[0], _MAX), min(a[1] * b[1], _MAX)


def _factor(a: Range, by: float) -> Range:
    def one(x: int) -> int:
        if x > 0 and by > 0 and x > _MAX / by:
            return _MAX
        product = math.ceil(float(x) * by)
        return _MAX if product >= 2.0**64 else int(product)

    return one(a[0]), one(a[1])


def _union(a: Range, b: Range) -> Range:
    return min(a[0], b[0]), max(a[1], b[1])


class Unestimated(Exception):
    """The rule calls what this module cannot cost."""


@dataclass
class _Local:
    path: list[str]
    size: Range | None
    entry: tuple[str, Range, Range] | None = None


@dataclass
class _Coster:
    checked: Checked
    root: Decl
    paths: dict[int, list[str]] = field(default_factory=dict)
    sizes: dict[int, Range] = field(default_factory=dict)
    entries: dict[int, tuple[str, Range, Range]] = field(default_factory=dict)
    scopes: dict[str, list[_Local]] = field(default_factory=dict)

    def type(self, node: Node) -> Type:
        return self.checked.types.get(id(node), Type("dyn"))

    def local(self, name: str) -> _Local | None:
        stack = self.scopes.get(name)
        return stack[-1] if stack else None

    def path(self, node: Node) -> list[str]:
        if node.kind == "ident":
            found = self.local(str(node.value))
            if found is not None:
                return list(found.path)
        return list(self.paths.get(id(node), []))

    def schema_size(self, path: list[str]) -> Range | None:
        """apiextensions' size estimator: the bound of the schema node ``path`` leads to."""
        if not path:
            return None
        node: Decl | None = self.root
        for step in path[1:]:
            assert node is not None
            if step in ("@items", "@values"):
                node = node.elem
            elif step == "@keys":
                node = Decl(Type("string")) if node.type.kind == "map" else None
            else:
                node = node.fields.get(step)
            if node is None:
                return None
        assert node is not None
        return 0, node.max_elements

    def size(self, node: Node, *, path: list[str] | None = None) -> Range | None:
        if id(node) in self.sizes:
            return self.sizes[id(node)]
        literal = _literal_size(node)
        if literal is not None:
            return literal
        found = self.schema_size(self.path(node) if path is None else path)
        if found is not None:
            self.sizes[id(node)] = found
            return found
        if self.type(node).kind in _SCALARS:
            return 1, 1
        if node.kind == "ident":
            local = self.local(str(node.value))
            if local is not None and local.size is not None:
                return local.size
        return None

    def size_or_unknown(self, node: Node) -> Range:
        found = self.size(node)
        return _UNKNOWN if found is None else found

    def entry(self, node: Node) -> tuple[str, Range, Range] | None:
        if id(node) in self.entries:
            return self.entries[id(node)]
        if node.kind == "ident":
            local = self.local(str(node.value))
            if local is not None:
                return local.entry
        return None

    def push(
        self, name: str, path: list[str], size: Range | None, entry: tuple[str, Range, Range] | None
    ) -> None:
        self.scopes.setdefault(name, []).append(_Local(path, size, entry))

    def pop(self, name: str) -> None:
        self.scopes[name].pop()

    def cost(self, node: Node) -> Range:
        return getattr(self, f"_{node.kind}")(node)  # type: ignore[no-any-return]

    def _literal(self, node: Node) -> Range:
        return 0, 0

    def _ident(self, node: Node) -> Range:
        local = self.local(str(node.value))
        self.paths[id(node)] = list(local.path) if local is not None else [str(node.value)]
        return 1, 1

    def _select(self, node: Node) -> Range:
        assert node.target is not None
        if node.test_only:  # Kubernetes sets PresenceTestHasCost(false): has() costs its operand only
            return self.cost(node.target)
        total = self.cost(node.target)
        if self.type(node.target).kind in ("map", "object", "param"):
            total = _add(total, (1, 1))
        self.paths[id(node)] = [*self.path(node.target), str(node.value)]
        return total

    def _list(self, node: Node) -> Range:
        total: Range = (0, 0)
        item: Range = (_MAX, 0) if node.args else (0, 0)
        for element in node.args:
            total = _add(total, self.cost(element))
            item = _union(item, self.size_or_unknown(element))
        self.entries[id(node)] = ("list", (1, 1), item)
        return _add(total, (10, 10))

    def _map(self, node: Node) -> Range:
        total: Range = (0, 0)
        keys: Range = (_MAX, 0) if node.args else (0, 0)
        values = keys
        for n, element in enumerate(node.args):
            total = _add(total, self.cost(element))
            if n % 2 == 0:
                keys = _union(keys, self.size_or_unknown(element))
            else:
                values = _union(values, self.size_or_unknown(element))
        self.entries[id(node)] = ("map", keys, values)
        return _add(total, (30, 30))

    def _comprehension(self, node: Node) -> Range:
        over, init, cond, step, result = node.loop()
        total = _add(self.cost(over), self.cost(init))
        self.push(node.accu, self.path(init), self.size(init), self.entry(init))
        entry = self.entry(over)
        container = entry[0] if entry is not None else self.type(over).kind
        if container == "list":
            size, element = (entry[2] if entry else None), "@items"
        else:
            size, element = (entry[1] if entry else None), "@keys"
        self.push(node.var, [*self.path(over), element], size, None)
        loop = self.cost(cond)
        each = self.cost(step)
        self.pop(node.var)
        total = _add(total, self.cost(result))
        self.pop(node.accu)
        count = self.size_or_unknown(over)
        total = _add(total, _mul(count, _add(each, loop)))
        if init.kind == "literal":
            found = self.size(init)
            if found is not None:
                self.sizes[id(node)] = found
        elif init.kind in ("list", "map"):
            self.sizes[id(node)] = count
            step_entry = self.entry(step)
            if step_entry is not None:
                self.entries[id(node)] = step_entry
        return total

    def _call(self, node: Node) -> Range:
        name = str(node.value)
        if name == "dyn" and node.target is None:
            argument = self.cost(node.args[0])
            found = self.size(node.args[0])
            if found is not None:
                self.sizes[id(node)] = found
            return _add((1, 1), argument)
        argument_costs = [self.cost(arg) for arg in node.args]
        overloads = self.checked.overloads.get(id(node))
        if overloads is None:
            raise Unestimated(name)
        total: Range = (0, 0)
        if node.target is not None:
            total = self.cost(node.target)
        call: Range = (_MAX, 0)
        result: Range | None = None
        for overload in overloads:
            estimate, size = self.function(node, overload, argument_costs)
            call = _union(call, estimate)
            if size is not None:
                result = size if result is None else _union(result, size)
            if overload in ("index_list", "index_map"):
                entry = self.entry(node.args[0])
                result = entry[2] if entry else None
                step = "@items" if overload == "index_list" else "@values"
                self.paths[id(node)] = [*self.path(node.args[0]), step]
            if result is None:
                result = self.size(node)
        if result is not None:
            self.sizes[id(node)] = result
        return _add(total, call)

    def function(self, node: Node, overload: str, costs: list[Range]) -> tuple[Range, Range | None]:
        """cel-go's cost of one overload (``coster.functionCost``), arguments' costs included."""
        summed: Range = (0, 0)
        for one in costs:
            summed = _add(summed, one)
        args, target = node.args, node.target
        if overload in ("starts_with_string", "ends_with_string") and len(args) == 1:
            return _add(_factor(self.size_or_unknown(args[0]), _STRING_TRAVERSAL), summed), None
        if overload == "in_list" and len(args) == 2:
            return _add(self.size_or_unknown(args[1]), summed), None
        if overload == "matches_string" and target is not None and len(args) == 1:
            text = _factor(_add(self.size_or_unknown(target), (1, 1)), _STRING_TRAVERSAL)
            regex = _factor(self.size_or_unknown(args[0]), _REGEX_LENGTH)
            return _add(_mul(text, regex), summed), None
        if overload == "contains_string" and target is not None and len(args) == 1:
            text = _factor(self.size_or_unknown(target), _STRING_TRAVERSAL)
            sub = _factor(self.size_or_unknown(args[0]), _STRING_TRAVERSAL)
            return _add(_mul(text, sub), summed), None
        if overload in ("logical_and", "logical_or"):
            return (costs[0][0], _add(costs[0], costs[1])[1]), None
        if overload == "conditional":
            size = _union(self.size_or_unknown(args[1]), self.size_or_unknown(args[2]))
            left, right = self.entry(args[1]), self.entry(args[2])
            if left is not None and right is not None:
                self.entries[id(node)] = (left[0], _union(left[1], right[1]), _union(left[2], right[2]))
            return _add(costs[0], _union(costs[1], costs[2])), size
        if overload in ("add_string", "add_bytes", "add_list") and len(args) == 2:
            size = _add(self.size_or_unknown(args[0]), self.size_or_unknown(args[1]))
            left, right = self.entry(args[0]), self.entry(args[1])
            if left is not None and right is not None:
                self.entries[id(node)] = (left[0], _union(left[1], right[1]), _union(left[2], right[2]))
            if overload == "add_list":
                return _add((1, 1), summed), size
            return _add(_factor(size, _STRING_TRAVERSAL), summed), size
        if overload in _SIZED_COMPARISONS:
            lhs, rhs = self.size_or_unknown(args[0]), self.size_or_unknown(args[1])
            smallest = min(lhs[1], rhs[1])
            return _add(_factor((1 if smallest > 0 else 0, smallest), _STRING_TRAVERSAL), summed), None
        return _add((1, 1), summed), None


_SIZED_COMPARISONS = frozenset(
    f"{op}_{kind}"
    for op in ("less", "greater", "less_equals", "greater_equals")
    for kind in ("string", "bytes")
) | {"equals", "not_equals"}


def _literal_size(node: Node) -> Range | None:
    if node.kind == "literal":
        value = node.value
        if isinstance(value, str):
            return len(value), len(value)
        if isinstance(value, bytes):
            return len(value), len(value)
        return 1, 1
    if node.kind in ("list", "map"):
        count = len(node.args) if node.kind == "list" else len(node.args) // 2
        return count, count
    return None


def estimate(tree: Node, checked: Checked, root: Decl) -> int | None:
    """The rule's largest estimated cost (None when it calls what this module cannot cost)."""
    coster = _Coster(checked, root)
    try:
        return coster.cost(tree)[1]
    except Unestimated:
        return None
