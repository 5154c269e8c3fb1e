"""The worst-case cost kube-apiserver estimates for a checked CEL rule (cel-go's ``checker.Cost`` with
apiextensions' size estimator): sizes of strings, lists and maps come from the schema (``Decl``:
``maxLength``/``maxItems``/``maxProperties`` or what fits in a request), comprehensions multiply their
loop's cost by their range's size, string functions scale with their operands' lengths.

The Kubernetes libraries' calls are estimated as their own estimator does (``library_cost``), asked
first as on the real server; a rule calling a function whose overloads the checker does not model
(optional values) has no estimate (None), and the CRD is then not refused for cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeloop.apiserver.cel import library_cost
from kubeloop.apiserver.cel.checker import Checked
from kubeloop.apiserver.cel.decls import Decl, Type
from kubeloop.apiserver.cel.parse import Node
from kubeloop.apiserver.cel.ranges import MAX, Range, add, factor, mul, union

__all__ = ["estimate"]

_MAX = MAX
_STRING_TRAVERSAL = 0.1
_REGEX_LENGTH = 0.25
_UNKNOWN = (0, _MAX)
_SCALARS = frozenset(("bool", "double", "duration", "int", "timestamp", "uint"))


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

    def computed(self, node: Node) -> Range | None:
        """The size the Kubernetes estimator reads: as ``size`` but unknown for a scalar."""
        return self.size(node, scalar=False)

    def size(self, node: Node, *, path: list[str] | None = None, scalar: bool = True) -> Range | None:
        if id(node) in self.sizes:
            return self.sizes[id(node)]
        literal = _literal_size(node)
        if literal is not None:
            return literal
        found = self.schema_size(self.path(node) if path is None else path)
        if found is not None:
            self.sizes[id(node)] = found
            return found
        if scalar and self.type(node).kind in _SCALARS:
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
            total = add(total, (1, 1))
        self.paths[id(node)] = [*self.path(node.target), str(node.value)]
        return total

    def _list(self, node: Node) -> Range:
        total: Range = (0, 0)
        item: Range = (_MAX, 0) if node.args else (0, 0)
        for element in node.args:
            total = add(total, self.cost(element))
            item = union(item, self.size_or_unknown(element))
        self.entries[id(node)] = ("list", (1, 1), item)
        return add(total, (10, 10))

    def _map(self, node: Node) -> Range:
        total: Range = (0, 0)
        keys: Range = (_MAX, 0) if node.args else (0, 0)
        values = keys
        for n, element in enumerate(node.args):
            total = add(total, self.cost(element))
            if n % 2 == 0:
                keys = union(keys, self.size_or_unknown(element))
            else:
                values = union(values, self.size_or_unknown(element))
        self.entries[id(node)] = ("map", keys, values)
        return add(total, (30, 30))

    def _comprehension(self, node: Node) -> Range:
        over, init, cond, step, result = node.loop()
        total = add(self.cost(over), self.cost(init))
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
        total = add(total, self.cost(result))
        self.pop(node.accu)
        count = self.size_or_unknown(over)
        total = add(total, mul(count, add(each, loop)))
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
            return add((1, 1), argument)
        argument_costs = [self.cost(arg) for arg in node.args]
        overloads = self.checked.overloads.get(id(node))
        if overloads is None:
            raise Unestimated(name)
        total: Range = (0, 0)
        if node.target is not None and id(node) not in self.checked.namespaced:
            total = self.cost(node.target)
        call: Range = (_MAX, 0)
        result: Range | None = None
        for overload in overloads:
            estimate, size = self.function(node, overload, argument_costs)
            call = union(call, estimate)
            if size is not None:
                result = size if result is None else union(result, size)
            if overload in ("index_list", "index_map"):
                entry = self.entry(node.args[0])
                result = entry[2] if entry else None
                step = "@items" if overload == "index_list" else "@values"
                self.paths[id(node)] = [*self.path(node.args[0]), step]
            if result is None:
                result = self.size(node)
        if result is not None:
            self.sizes[id(node)] = result
        return add(total, call)

    def function(self, node: Node, overload: str, costs: list[Range]) -> tuple[Range, Range | None]:
        """cel-go's cost of one overload (``coster.functionCost``), arguments' costs included."""
        summed: Range = (0, 0)
        for one in costs:
            summed = add(summed, one)
        args, target = node.args, node.target
        if id(node) in self.checked.namespaced:
            name, target = f"{_qualified_name(node.target)}.{node.value}", None
        else:
            name = str(node.value)
        found = library_cost.estimate_call(self, name, overload, target, list(args))
        if found is not None:
            return add(found[0], summed), found[1]
        if overload == "string_format" and target is not None:
            return add(factor(self.size_or_unknown(target), _STRING_TRAVERSAL), summed), None
        if overload == "strings_quote" and len(args) == 1:
            size = self.size_or_unknown(args[0])
            quoted = (min(size[0] + 2, _MAX), min(size[1] * 2 + 2, _MAX))
            return add(factor(size, _STRING_TRAVERSAL), summed), quoted
        if overload in ("starts_with_string", "ends_with_string") and len(args) == 1:
            return add(factor(self.size_or_unknown(args[0]), _STRING_TRAVERSAL), summed), None
        if overload == "in_list" and len(args) == 2:
            return add(self.size_or_unknown(args[1]), summed), None
        if overload == "matches_string" and target is not None and len(args) == 1:
            text = factor(add(self.size_or_unknown(target), (1, 1)), _STRING_TRAVERSAL)
            regex = factor(self.size_or_unknown(args[0]), _REGEX_LENGTH)
            return add(mul(text, regex), summed), None
        if overload == "contains_string" and target is not None and len(args) == 1:
            text = factor(self.size_or_unknown(target), _STRING_TRAVERSAL)
            sub = factor(self.size_or_unknown(args[0]), _STRING_TRAVERSAL)
            return add(mul(text, sub), summed), None
        if overload in ("logical_and", "logical_or"):
            return (costs[0][0], add(costs[0], costs[1])[1]), None
        if overload == "conditional":
            size = union(self.size_or_unknown(args[1]), self.size_or_unknown(args[2]))
            left, right = self.entry(args[1]), self.entry(args[2])
            if left is not None and right is not None:
                self.entries[id(node)] = (left[0], union(left[1], right[1]), union(left[2], right[2]))
            return add(costs[0], union(costs[1], costs[2])), size
        if overload in ("add_string", "add_bytes", "add_list") and len(args) == 2:
            size = add(self.size_or_unknown(args[0]), self.size_or_unknown(args[1]))
            left, right = self.entry(args[0]), self.entry(args[1])
            if left is not None and right is not None:
                self.entries[id(node)] = (left[0], union(left[1], right[1]), union(left[2], right[2]))
            if overload == "add_list":
                return add((1, 1), summed), size
            return add(factor(size, _STRING_TRAVERSAL), summed), size
        if overload in _SIZED_COMPARISONS:
            lhs, rhs = self.size_or_unknown(args[0]), self.size_or_unknown(args[1])
            smallest = min(lhs[1], rhs[1])
            return add(factor((1 if smallest > 0 else 0, smallest), _STRING_TRAVERSAL), summed), None
        return add((1, 1), summed), None


_SIZED_COMPARISONS = frozenset(
    f"{op}_{kind}"
    for op in ("less", "greater", "less_equals", "greater_equals")
    for kind in ("string", "bytes")
) | {"equals", "not_equals"}


def _qualified_name(node: Node | None) -> str:
    if node is None:
        return ""
    if node.kind == "select":
        return f"{_qualified_name(node.target)}.{node.value}"
    return str(node.value)


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
