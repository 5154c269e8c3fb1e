"""The type check kube-apiserver runs on every ``x-kubernetes-validations`` rule when a CRD is created
or updated (cel-go's ``checker``, in the environment ``apiextensions`` declares): ``self`` and
``oldSelf`` typed by the schema (``decls``), the standard functions and operators with their
overloads, comprehension ranges, field selection; errors in cel-go's words and positions.

The standard library, the Kubernetes CEL libraries and cel-go's extensions v1.33 offers new rules are
declared with their overloads; optional values and a few others by name only (a call to one of them is
taken as correct and its result as ``unknown``), so a call this module does not model can never refuse
a rule, and a function v1.33 does not offer new rules (semver, math) is an undeclared reference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from kubeloop.apiserver.cel.decls import (
    BOOL,
    BYTES,
    DOUBLE,
    DURATION,
    DYN,
    ERROR,
    INT,
    NULL,
    STRING,
    TIMESTAMP,
    UINT,
    UNKNOWN,
    Decl,
    Type,
    list_of,
    map_of,
)
from kubeloop.apiserver.cel.library import FORMATS
from kubeloop.apiserver.cel.parse import Node, Uint

__all__ = ["Checked", "Overload", "check"]


@dataclass(frozen=True)
class Overload:
    """One overload: its id (as cel-go names the ones the cost estimator treats specially), call
    style, argument types (the receiver first for a member) and result; ``params``: its type params."""

    id: str
    member: bool
    args: tuple[Type, ...]
    result: Type


def _t(text: str) -> Type:
    """A type from its CEL spelling; single capitals are type parameters."""
    text = text.strip()
    if len(text) == 1 and text.isupper():
        return Type("param", name=text)
    if text.endswith(")"):
        head, _, inner = text[:-1].partition("(")
        return Type(head, tuple(_t(p) for p in _split(inner)))
    return Type(text)


def _split(text: str) -> list[str]:
    """``text`` split at its top-level commas."""
    depth, parts, start = 0, [], 0
    for n, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:n])
            start = n + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


_FUNCTIONS: dict[str, list[Overload]] = {}


def _declare(name: str, *signatures: str, member: bool = False, prefix: str = "") -> None:
    for signature in signatures:
        args, _, result = signature.partition("->")
        types = tuple(_t(a) for a in _split(args))
        oid = prefix + types[0].kind if prefix.endswith("_") else prefix
        _FUNCTIONS.setdefault(name, []).append(Overload(oid, member, types, _t(result)))


_ORDERED = ("bool", "int", "uint", "double", "string", "bytes", "timestamp", "duration")
_CROSS = (
    ("int", "uint"),
    ("int", "double"),
    ("uint", "int"),
    ("uint", "double"),
    ("double", "int"),
    ("double", "uint"),
)
for _op, _short in (("_<_", "less"), ("_<=_", "less_equals"), ("_>_", "greater"), ("_>=_", "greater_equals")):
    _declare(_op, *(f"{t},{t}->bool" for t in _ORDERED), prefix=f"{_short}_")
    _declare(_op, *(f"{a},{b}->bool" for a, b in _CROSS), prefix=f"{_short}_")
_declare("_&&_", "bool,bool->bool", prefix="logical_and")
_declare("_||_", "bool,bool->bool", prefix="logical_or")
_declare("_==_", "A,A->bool", prefix="equals")
_declare("_!=_", "A,A->bool", prefix="not_equals")
_declare("!_", "bool->bool", prefix="logical_not")
_declare("-_", "int->int", "double->double", prefix="negate_")
_declare("_?_:_", "bool,A,A->A", prefix="conditional")
_declare("@not_strictly_false", "bool->bool", prefix="not_strictly_false")
_declare("@in", "A,list(A)->bool", "A,map(A,B)->bool", prefix="in_")
_declare("_[_]", "list(A),int->A", "map(K,V),K->V", prefix="index_")
_declare(
    "_+_",
    "int,int->int",
    "uint,uint->uint",
    "double,double->double",
    "string,string->string",
    "bytes,bytes->bytes",
    "list(A),list(A)->list(A)",
    "timestamp,duration->timestamp",
    "duration,timestamp->timestamp",
    "duration,duration->duration",
    prefix="add_",
)
_declare(
    "_-_",
    "int,int->int",
    "uint,uint->uint",
    "double,double->double",
    "timestamp,timestamp->duration",
    "timestamp,duration->timestamp",
    "duration,duration->duration",
    prefix="subtract_",
)
_declare("_*_", "int,int->int", "uint,uint->uint", "double,double->double", prefix="multiply_")
_declare("_/_", "int,int->int", "uint,uint->uint", "double,double->double", prefix="divide_")
_declare("_%_", "int,int->int", "uint,uint->uint", prefix="modulo_")
_declare("size", "string->int", "bytes->int", "list(A)->int", "map(K,V)->int", prefix="size_")
_declare("size", "string->int", "bytes->int", "list(A)->int", "map(K,V)->int", member=True, prefix="size_")
for _name, _id in (("contains", "contains_string"), ("startsWith", "starts_with_string")):
    _FUNCTIONS[_name] = [Overload(_id, True, (STRING, STRING), BOOL)]
_FUNCTIONS["endsWith"] = [Overload("ends_with_string", True, (STRING, STRING), BOOL)]
_FUNCTIONS["matches"] = [
    Overload("matches", False, (STRING, STRING), BOOL),
    Overload("matches_string", True, (STRING, STRING), BOOL),
]
# Conversions take anything here (their argument overloads are many and a wrong one is rare).
for _name, _result in (
    ("int", INT),
    ("uint", UINT),
    ("double", DOUBLE),
    ("string", STRING),
    ("bytes", BYTES),
    ("bool", BOOL),
    ("duration", DURATION),
    ("timestamp", TIMESTAMP),
    ("dyn", DYN),
):
    _FUNCTIONS[_name] = [Overload(f"to_{_name}", False, (Type("param", name="A"),), _result)]


# The Kubernetes CEL libraries and cel-go's extensions of v1.33's environment for new expressions
# (``apiserver/pkg/cel/environment/base.go`` at compatibility version 1.32: lists, regex, URLs, authz,
# quantity, strings v2, sets, IP, CIDR, format, optional types, two-variable comprehensions; not
# semver, math, encoders or cel-go's lists extension), with cel-go's overload ids.
def _library(name: str, oid: str, signature: str, *, member: bool = True) -> None:
    args, _, result = signature.partition("->")
    types = tuple(_t(a) for a in _split(args))
    _FUNCTIONS.setdefault(name, []).append(Overload(oid, member, types, _t(result)))


_COMPARABLE = ("int", "uint", "double", "bool", "duration", "timestamp", "string", "bytes")
for _kind in _COMPARABLE:
    _library("isSorted", f"list_{_kind}_is_sorted_bool", f"list({_kind})->bool")
    _library("max", f"list_{_kind}_max_{_kind}", f"list({_kind})->{_kind}")
    _library("min", f"list_{_kind}_min_{_kind}", f"list({_kind})->{_kind}")
for _kind in ("int", "uint", "double", "duration"):
    _library("sum", f"list_{_kind}_sum_{_kind}", f"list({_kind})->{_kind}")
for _name, _oid, _signature in (
    ("indexOf", "list_a_index_of_int", "list(A),A->int"),
    ("lastIndexOf", "list_a_last_index_of_int", "list(A),A->int"),
    ("charAt", "string_char_at_int", "string,int->string"),
    ("indexOf", "string_index_of_string", "string,string->int"),
    ("indexOf", "string_index_of_string_int", "string,string,int->int"),
    ("lastIndexOf", "string_last_index_of_string", "string,string->int"),
    ("lastIndexOf", "string_last_index_of_string_int", "string,string,int->int"),
    ("lowerAscii", "string_lower_ascii", "string->string"),
    ("upperAscii", "string_upper_ascii", "string->string"),
    ("replace", "string_replace_string_string", "string,string,string->string"),
    ("replace", "string_replace_string_string_int", "string,string,string,int->string"),
    ("split", "string_split_string", "string,string->list(string)"),
    ("split", "string_split_string_int", "string,string,int->list(string)"),
    ("substring", "string_substring_int", "string,int->string"),
    ("substring", "string_substring_int_int", "string,int,int->string"),
    ("trim", "string_trim", "string->string"),
    ("format", "string_format", "string,list(dyn)->string"),
    ("join", "list_join", "list(string)->string"),
    ("join", "list_join_string", "list(string),string->string"),
    ("find", "string_find_string", "string,string->string"),
    ("findAll", "string_find_all_string", "string,string->list(string)"),
    ("findAll", "string_find_all_string_int", "string,string,int->list(string)"),
    ("getScheme", "url_get_scheme", "kubernetes.URL->string"),
    ("getHost", "url_get_host", "kubernetes.URL->string"),
    ("getHostname", "url_get_hostname", "kubernetes.URL->string"),
    ("getPort", "url_get_port", "kubernetes.URL->string"),
    ("getEscapedPath", "url_get_escaped_path", "kubernetes.URL->string"),
    ("getQuery", "url_get_query", "kubernetes.URL->map(string,list(string))"),
    ("isInteger", "quantity_is_integer", "kubernetes.Quantity->bool"),
    ("asInteger", "quantity_get_int", "kubernetes.Quantity->int"),
    ("asApproximateFloat", "quantity_get_float", "kubernetes.Quantity->double"),
    ("add", "quantity_add", "kubernetes.Quantity,kubernetes.Quantity->kubernetes.Quantity"),
    ("add", "quantity_add_int", "kubernetes.Quantity,int->kubernetes.Quantity"),
    ("sub", "quantity_sub", "kubernetes.Quantity,kubernetes.Quantity->kubernetes.Quantity"),
    ("sub", "quantity_sub_int", "kubernetes.Quantity,int->kubernetes.Quantity"),
    ("isLessThan", "quantity_is_less_than", "kubernetes.Quantity,kubernetes.Quantity->bool"),
    ("isGreaterThan", "quantity_is_greater_than", "kubernetes.Quantity,kubernetes.Quantity->bool"),
    ("compareTo", "quantity_compare_to", "kubernetes.Quantity,kubernetes.Quantity->int"),
    ("family", "ip_family", "net.IP->int"),
    ("isUnspecified", "ip_is_unspecified", "net.IP->bool"),
    ("isLoopback", "ip_is_loopback", "net.IP->bool"),
    ("isLinkLocalMulticast", "ip_is_link_local_multicast", "net.IP->bool"),
    ("isLinkLocalUnicast", "ip_is_link_local_unicast", "net.IP->bool"),
    ("isGlobalUnicast", "ip_is_global_unicast", "net.IP->bool"),
    ("containsIP", "cidr_contains_ip_string", "net.CIDR,string->bool"),
    ("containsIP", "cidr_contains_ip_ip", "net.CIDR,net.IP->bool"),
    ("containsCIDR", "cidr_contains_cidr_string", "net.CIDR,string->bool"),
    ("containsCIDR", "cidr_contains_cidr", "net.CIDR,net.CIDR->bool"),
    ("ip", "cidr_ip", "net.CIDR->net.IP"),
    ("prefixLength", "cidr_prefix_length", "net.CIDR->int"),
    ("masked", "cidr_masked", "net.CIDR->net.CIDR"),
    ("validate", "format-validate", "kubernetes.NamedFormat,string->optional(list(string))"),
):
    _library(_name, _oid, _signature)
for _name, _oid, _signature in (
    ("strings.quote", "strings_quote", "string->string"),
    ("url", "string_to_url", "string->kubernetes.URL"),
    ("isURL", "is_url_string", "string->bool"),
    ("quantity", "string_to_quantity", "string->kubernetes.Quantity"),
    ("isQuantity", "is_quantity_string", "string->bool"),
    ("sign", "quantity_sign", "kubernetes.Quantity->int"),  # global: sign(quantity(…)), not a member
    ("ip", "string_to_ip", "string->net.IP"),
    ("ip.isCanonical", "ip_is_canonical", "string->bool"),
    ("isIP", "is_ip", "string->bool"),
    ("string", "ip_to_string", "net.IP->string"),
    ("cidr", "string_to_cidr", "string->net.CIDR"),
    ("isCIDR", "is_cidr", "string->bool"),
    ("string", "cidr_to_string", "net.CIDR->string"),
    ("format.named", "format-named", "string->optional(kubernetes.NamedFormat)"),
    ("sets.contains", "list_sets_contains_list", "list(T),list(T)->bool"),
    ("sets.equivalent", "list_sets_equivalent_list", "list(T),list(T)->bool"),
    ("sets.intersects", "list_sets_intersects_list", "list(T),list(T)->bool"),
):
    _library(_name, _oid, _signature, member=False)
_NAMED_FORMAT = Type("kubernetes.NamedFormat")
for _format in FORMATS:
    _FUNCTIONS[f"format.{_format}"] = [Overload(f"format-{_format}", False, (), _NAMED_FORMAT)]

# Functions of the environment whose overloads are not modelled: a call is taken as correct and its
# result as ``unknown`` (optional values; the authorizer's, which take types no CRD rule has; the
# timestamp and duration accessors).
_NAMED = frozenset(
    """
    type getDate getDayOfMonth getDayOfWeek getDayOfYear getFullYear getHours getMilliseconds getMinutes
    getMonth getSeconds optional.of optional.ofNonZeroValue optional.none value hasValue orValue or
    check allowed reason errored error path group serviceAccount resource subresource namespace name
    fieldSelector labelSelector
    """.split()  # noqa: SIM905
)


# Type names are identifiers of type ``type(T)`` (``type(self.x) == int``).
_TYPE_NAMES = {
    name: Type("type", (t,))
    for name, t in (
        ("int", INT),
        ("uint", UINT),
        ("double", DOUBLE),
        ("bool", BOOL),
        ("string", STRING),
        ("bytes", BYTES),
        ("null_type", NULL),
        ("list", list_of(DYN)),
        ("map", map_of(DYN, DYN)),
        ("type", Type("type")),
    )
}


class _Errors:
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def add(self, node: Node, message: str) -> None:
        self.found.append((node.offset, message))


@dataclass
class Checked:
    """A checked rule: its type, each node's type and (for schema values) the schema ``Decl`` it
    reads, with the errors found (offset, message); ``overloads``: each call's matching overload ids;
    ``namespaced``: the calls of namespaced functions (``sets.contains(…)``), which have no target."""

    type: Type
    errors: list[tuple[int, str]]
    types: dict[int, Type] = field(default_factory=dict)
    overloads: dict[int, list[str]] = field(default_factory=dict)
    namespaced: set[int] = field(default_factory=set)


class _Checker:
    def __init__(self, decls: dict[str, Decl]) -> None:
        self.objects: dict[str, Decl] = {}
        self.scopes: list[dict[str, Type]] = [dict(_TYPE_NAMES)]
        for name, decl in decls.items():
            self.scopes[0][name] = decl.type
            self._index(decl)
        self.errors = _Errors()
        self.mapping: dict[str, Type] = {}
        self.fresh = itertools.count()
        self.types: dict[int, Type] = {}
        self.overloads: dict[int, list[str]] = {}
        self.namespaced: set[int] = set()

    def _index(self, decl: Decl) -> None:
        if decl.type.kind == "object":
            self.objects[decl.type.name] = decl
        for child in decl.fields.values():
            self._index(child)
        if decl.elem is not None:
            self._index(decl.elem)

    def lookup(self, name: str) -> Type | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def check(self, node: Node) -> Type:
        found: Type = getattr(self, f"_{node.kind}")(node)
        self.types[id(node)] = found
        return found

    def _literal(self, node: Node) -> Type:
        value = node.value
        if value is None:
            return NULL
        if isinstance(value, bool):
            return BOOL
        if isinstance(value, int):
            return UINT if isinstance(value, Uint) else INT
        if isinstance(value, float):
            return DOUBLE
        return BYTES if isinstance(value, bytes) else STRING

    def _ident(self, node: Node) -> Type:
        found = self.lookup(str(node.value))
        if found is None:
            self.errors.add(node, f"undeclared reference to '{node.value}' (in container '')")
            return ERROR
        return found

    def _select(self, node: Node) -> Type:
        assert node.target is not None
        operand = self.substitute(self.check(node.target))
        if operand.kind == "optional":
            return UNKNOWN
        if operand.kind == "map":
            result = operand.params[1]
        elif operand.kind == "object":
            decl = self.objects[operand.name]
            child = decl.fields.get(str(node.value))
            if child is None:
                self.errors.add(node, f"undefined field '{node.value}'")
                result = ERROR
            else:
                result = child.type
        elif operand.kind == "param":
            self.assignable(DYN, operand)
            result = DYN
        elif operand.kind == "unknown":
            result = UNKNOWN
        else:
            if not operand.loose:
                self.errors.add(node, f"type '{operand}' does not support field selection")
            result = DYN
        return BOOL if node.test_only else self.substitute(result)

    def _list(self, node: Node) -> Type:
        elem: Type | None = None
        for item in node.args:
            found = self.check(item)
            elem = found if elem is None else self.join(elem, found)
        return list_of(elem if elem is not None else self.var())

    def _map(self, node: Node) -> Type:
        key: Type | None = None
        value: Type | None = None
        for n, item in enumerate(node.args):
            found = self.check(item)
            if n % 2 == 0:
                key = found if key is None else self.join(key, found)
            else:
                value = found if value is None else self.join(value, found)
        if key is None or value is None:
            return map_of(self.var(), self.var())
        return map_of(key, value)

    def join(self, previous: Type, current: Type) -> Type:
        if self.assignable(previous, current):
            return self.most_general(previous, current)
        return UNKNOWN  # cel-go reports a mismatch unless dyn aggregate literals are on: not modelled

    def _comprehension(self, node: Node) -> Type:
        over_node, init, cond, step, result_node = node.loop()
        self.check(over_node)
        accu = self.check(init)
        over = self.substitute(self.types[id(over_node)])
        self.scopes.append({node.accu: accu})
        if over.kind in ("list", "map"):
            var = over.params[0]
        elif over.kind in ("dyn", "error", "param"):
            self.assignable(DYN, over)
            var = DYN
        elif over.kind == "unknown":
            var = UNKNOWN
        else:
            self.errors.add(
                over_node,
                f"expression of type '{over}' cannot be range of a comprehension "
                "(must be list, map, or dynamic)",
            )
            var = ERROR
        self.scopes.append({node.var: var})
        self.check(cond)
        self.check(step)
        self.scopes.pop()
        result = self.check(result_node)
        self.scopes.pop()
        return self.substitute(result)

    def _call(self, node: Node) -> Type:
        name = str(node.value)
        target = node.target
        if target is not None:
            qualified = _qualified(target)
            local = qualified is not None and self.lookup(qualified.split(".")[0]) is not None
            if qualified is not None and not local and f"{qualified}.{name}" in _FUNCTIONS.keys() | _NAMED:
                name, target = f"{qualified}.{name}", None  # a namespaced function, not a member call
                self.namespaced.add(id(node))
        args = [self.check(arg) for arg in node.args]
        if target is not None:
            args.insert(0, self.check(target))
        overloads = _FUNCTIONS.get(name)
        if overloads is None:
            if name in _NAMED:
                return UNKNOWN
            self.errors.add(node, f"undeclared reference to '{name}' (in container '')")
            return ERROR
        if name in ("_&&_", "_||_"):
            bad = False
            for operand, found in zip(node.args, args, strict=True):
                if not self.assignable(found, BOOL):
                    self.errors.add(operand, f"expected type 'bool' but found '{self.substitute(found)}'")
                    bad = True
            self.overloads[id(node)] = ["logical_and" if name == "_&&_" else "logical_or"]
            return ERROR if bad else BOOL
        if any(a.kind == "unknown" for a in args):
            return UNKNOWN
        result: Type | None = None
        matched: list[str] = []
        member = target is not None
        for overload in overloads:
            if overload.member != member or len(overload.args) != len(args):
                continue
            renamed = {p: self.var() for p in _params(overload)}
            wanted = [_rename(t, renamed) for t in overload.args]
            saved = dict(self.mapping)
            if self._assignable_list(args, wanted):
                matched.append(overload.id)
                produced = self.substitute(_rename(overload.result, renamed))
                if result is None:
                    result = produced
                elif result.kind != "dyn" and produced != result:
                    result = DYN
            else:
                self.mapping = saved
        if result is None:
            shown = ", ".join(str(self.substitute(a, to_dyn=True)) for a in args[1:] if member)
            if member:
                signature = f"{self.substitute(args[0], to_dyn=True)}.({shown})"
            else:
                signature = "(" + ", ".join(str(self.substitute(a, to_dyn=True)) for a in args) + ")"
            self.errors.add(node, f"found no matching overload for '{name}' applied to '{signature}'")
            return ERROR
        self.overloads[id(node)] = matched
        return result

    # Assignability and substitution, as cel-go's checker/types.go.
    def var(self) -> Type:
        return Type("param", name=f"_var{next(self.fresh)}")

    def assignable(self, t1: Type, t2: Type) -> bool:
        saved = dict(self.mapping)
        if self._assignable(t1, t2):
            return True
        self.mapping = saved
        return False

    def _assignable_list(self, l1: list[Type], l2: list[Type]) -> bool:
        return len(l1) == len(l2) and all(self._assignable(a, b) for a, b in zip(l1, l2, strict=True))

    def _assignable(self, t1: Type, t2: Type) -> bool:
        if t2.kind == "param":
            valid, has_sub = self._substitution(t1, t2)
            if valid:
                return True
            if has_sub:
                return False
        if t1.kind == "param":
            return self._substitution(t2, t1)[0]
        if t1.loose or t2.loose:
            return True
        if t1.kind == "null" or t2.kind == "null":
            other = t2 if t1.kind == "null" else t1
            return other.kind in ("null", "object", "duration", "timestamp", "optional")
        if t1.kind in ("list", "map", "optional", "type"):
            return t1.kind == t2.kind and self._assignable_list(list(t1.params), list(t2.params))
        return t1 == t2

    def _substitution(self, t1: Type, t2: Type) -> tuple[bool, bool]:
        if t1 == t2:
            return True, True
        bound = self.mapping.get(t2.name)
        if bound is not None:
            if t1 == bound:
                return True, True
            if self._assignable(t1, bound):
                general = self.most_general(t1, bound)
                if self._not_in(t2, general):
                    self.mapping[t2.name] = general
                return True, True
            return False, True
        if self._not_in(t2, t1):
            self.mapping[t2.name] = t1
            return True, False
        return False, False

    def _not_in(self, t: Type, within: Type) -> bool:
        if t == within:
            return False
        if within.kind == "param":
            bound = self.mapping.get(within.name)
            return True if bound is None else self._not_in(t, bound)
        return all(self._not_in(t, p) for p in within.params)

    def most_general(self, t1: Type, t2: Type) -> Type:
        return t1 if _less_specific(t1, t2) else t2

    def substitute(self, t: Type, to_dyn: bool = False) -> Type:
        if t.kind == "param":
            bound = self.mapping.get(t.name)
            if bound is not None:
                return self.substitute(bound, to_dyn)
            return DYN if to_dyn else t
        if t.params:
            return Type(t.kind, tuple(self.substitute(p, to_dyn) for p in t.params), t.name)
        return t


def _less_specific(t1: Type, t2: Type) -> bool:
    if t1.kind in ("dyn", "param"):
        return True
    if t2.kind in ("dyn", "param") or t1.kind != t2.kind:
        return False
    if t1.params:
        return len(t1.params) == len(t2.params) and all(
            _less_specific(a, b) for a, b in zip(t1.params, t2.params, strict=True)
        )
    return t1 == t2


def _params(overload: Overload) -> set[str]:
    found: set[str] = set()

    def walk(t: Type) -> None:
        if t.kind == "param":
            found.add(t.name)
        for p in t.params:
            walk(p)

    for t in (*overload.args, overload.result):
        walk(t)
    return found


def _rename(t: Type, renamed: dict[str, Type]) -> Type:
    if t.kind == "param":
        return renamed.get(t.name, t)
    if t.params:
        return Type(t.kind, tuple(_rename(p, renamed) for p in t.params), t.name)
    return t


def _qualified(node: Node) -> str | None:
    if node.kind == "ident":
        return str(node.value)
    if node.kind == "select" and node.target is not None and not node.test_only:
        inner = _qualified(node.target)
        return None if inner is None else f"{inner}.{node.value}"
    return None


def check(tree: Node, decls: dict[str, Decl]) -> Checked:
    """Type-check ``tree`` with ``decls`` as its variables (``self``, ``oldSelf``)."""
    checker = _Checker(decls)
    found = checker.substitute(checker.check(tree), to_dyn=True)
    types = {key: checker.substitute(t, to_dyn=True) for key, t in checker.types.items()}
    errors = sorted(checker.errors.found, key=lambda e: e[0])
    return Checked(found, errors, types, checker.overloads, checker.namespaced)
