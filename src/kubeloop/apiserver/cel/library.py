"""The Kubernetes CEL libraries CRD rules may call in v1.33, as functions of ``common-expression-language``
(which calls ``x.f(a)`` as ``f(x, a)``): Kubernetes' lists, regex, URLs, quantity, IP and CIDR and
format libraries, and cel-go's strings (version 2) and sets extensions, with their results and error
messages as kube-apiserver gives them.

Values of the libraries' own types (a quantity, a URL, an IP, a CIDR, a format) travel through our
CEL library as one-key maps it never shows: equal values are equal maps (a quantity keeps its exact
value, so ``quantity('1Gi') == quantity('1024Mi')`` as in Go).
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from kubeloop.apiserver.cel import formatting, network, quantity
from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.regex import go_regex

__all__ = ["FUNCTIONS", "NO_SUCH_OVERLOAD", "LibraryError", "last_error", "needed"]

NO_SUCH_OVERLOAD = "no such overload"
_MARK = "\x00kubeloop/"
_INT64 = (-(2**63), 2**63 - 1)
_state = threading.local()


class LibraryError(Exception):
    """A library function failed as cel-go's would, with its message."""


def _not_ours(record: logging.LogRecord) -> bool:
    """Our CEL library logs every failing Python function; a library function failing is a rule's
    outcome, reported as the real server reports it, not a fault to log."""
    return "LibraryError" not in record.getMessage()


logging.getLogger("cel").addFilter(_not_ours)


def last_error() -> str | None:
    """The message of the library function that failed in this thread's last evaluation, if one did
    (our CEL library wraps the exception in a message of its own)."""
    found: str | None = getattr(_state, "error", None)
    _state.error = None
    return found


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except LibraryError as exc:
            _state.error = str(exc)
            raise
        except (TypeError, KeyError, AttributeError) as exc:
            _state.error = NO_SUCH_OVERLOAD
            raise LibraryError(NO_SUCH_OVERLOAD) from exc

    return call


def _opaque(kind: str, value: Any) -> dict[str, Any]:
    return {_MARK + kind: value}


def _of(value: Any, kind: str) -> Any:
    """The payload of an opaque ``kind`` value (TypeError, a no-such-overload, when it is not one)."""
    if isinstance(value, dict) and len(value) == 1 and _MARK + kind in value:
        return value[_MARK + kind]
    raise TypeError(kind)


def _is(value: Any, kind: str) -> bool:
    return isinstance(value, dict) and _MARK + kind in value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("int")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("list")
    return value


def equal(a: Any, b: Any) -> bool:
    """CEL's equality: numbers across int and double, never a bool with a number, lists and maps
    element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


# Kubernetes' lists library.
def _comparable(items: list[Any]) -> list[Any]:
    kinds = {bool if isinstance(i, bool) else float if isinstance(i, int) else type(i) for i in items}
    if len(kinds) > 1 or kinds & {list, dict, type(None)}:
        raise TypeError("not comparable")
    return items


def is_sorted(items: Any) -> bool:
    values = _comparable(_list(items))
    return all(not a > b for a, b in itertools.pairwise(values))


def _extreme(name: str, items: Any) -> Any:
    values = _comparable(_list(items))
    if not values:
        raise LibraryError(f"{name} called on empty list")
    found = values[0]
    for value in values[1:]:
        if (value < found) if name == "min" else (value > found):
            found = value
    return found


def list_sum(items: Any) -> Any:
    values = _list(items)
    if not values:
        return 0
    if all(isinstance(v, timedelta) for v in values):
        return sum(values, timedelta())
    if all(isinstance(v, float) for v in values):
        return float(sum(values))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        total = 0
        for value in values:
            total += value
            if not _INT64[0] <= total <= _INT64[1]:
                raise LibraryError("integer overflow")
        return total
    raise TypeError("sum")


# cel-go's strings extension (version 2) and Kubernetes' list indexOf/lastIndexOf.
def index_of(target: Any, item: Any, *offset: Any) -> int:
    if isinstance(target, list) and not offset:
        return next((n for n, v in enumerate(target) if equal(v, item)), -1)
    text, sub = _string(target), _string(item)
    start = _int(offset[0]) if offset else 0
    if sub == "":
        return start
    if start < 0:
        raise LibraryError(f"index out of range: {start}")
    if start >= len(text):
        return -1
    return text.find(sub, start)


def last_index_of(target: Any, item: Any, *offset: Any) -> int:
    if isinstance(target, list) and not offset:
        return next((n for n in range(len(target) - 1, -1, -1) if equal(target[n], item)), -1)
    text, sub = _string(target), _string(item)
    if not offset:
        if sub == "":
            return len(text)
        start = len(text) - 1
    else:
        start = _int(offset[0])
        if sub == "":
            return start
    if start < 0:
        raise LibraryError(f"index out of range: {start}")
    if start >= len(text):
        return -1
    return text.rfind(sub, 0, min(start, len(text) - len(sub)) + len(sub))


def char_at(text: Any, index: Any) -> str:
    text, index = _string(text), _int(index)
    if index < 0 or index > len(text):
        raise LibraryError(f"index out of range: {index}")
    return text[index] if index < len(text) else ""


def substring(text: Any, start: Any, *end: Any) -> str:
    chars, first = _string(text), _int(start)
    if not end:
        if first < 0 or first > len(chars):
            raise LibraryError(f"index out of range: {first}")
        return chars[first:]
    stop = _int(end[0])
    if first > stop:
        raise LibraryError(f"invalid substring range. start: {first}, end: {stop}")
    for bound in (first, stop):
        if bound < 0 or bound > len(chars):
            raise LibraryError(f"index out of range: {bound}")
    return chars[first:stop]


def _ascii(text: Any, upper: bool) -> str:
    table = str.upper if upper else str.lower
    return "".join(table(c) if c.isascii() else c for c in _string(text))


def replace(text: Any, old: Any, new: Any, *limit: Any) -> str:
    count = _int(limit[0]) if limit else -1
    return _string(text).replace(_string(old), _string(new), count if count >= 0 else -1)


def split(text: Any, sep: Any, *limit: Any) -> list[str]:
    chars, separator = _string(text), _string(sep)
    count = _int(limit[0]) if limit else -1
    if count == 0:
        return []
    if separator == "":
        runes = list(chars)
        if count < 0 or count >= len(runes):
            return runes
        return [*runes[: count - 1], "".join(runes[count - 1 :])]
    return chars.split(separator, count - 1 if count > 0 else -1)


# Go's unicode.IsSpace, which strings.TrimSpace trims (Python's isspace also takes \x1c-\x1f).
_GO_SPACE = "".join(map(chr, (*range(9, 14), 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)))) + (
    "\u2028\u2029\u202f\u205f\u3000"
)


def trim(text: Any) -> str:
    return _string(text).strip(_GO_SPACE)


def join(items: Any, *sep: Any) -> str:
    separator = _string(sep[0]) if sep else ""
    for item in _list(items):
        if not isinstance(item, str):
            raise LibraryError(f"join: invalid input: {_go_print(item)}")
    return separator.join(items)


def _go_print(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_QUOTES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def quote(text: Any) -> str:
    escaped = "".join(_QUOTES.get(c, "\\" + c if c in '\\"' else c) for c in _string(text))
    return f'"{escaped}"'


def string_format(text: Any, args: Any) -> str:
    try:
        return formatting.format_string(_string(text), _list(args))
    except formatting.FormatError as exc:
        raise LibraryError(str(exc)) from None


# Kubernetes' regex library (Go's RE2 syntax; Python's re reads the common subset alike, ``$`` aside).
def _regex(pattern: Any) -> re.Pattern[str]:
    try:
        return go_regex(_string(pattern))
    except re.error as exc:
        raise LibraryError(f"Illegal regex: error parsing regexp: {exc}") from None


def find(text: Any, pattern: Any) -> str:
    found = _regex(pattern).search(_string(text))
    return found.group() if found else ""


def find_all(text: Any, pattern: Any, *limit: Any) -> list[str]:
    count = _int(limit[0]) if limit else -1
    chars = _string(text)
    if count == 0:
        return []
    found = [m.group() for m in _regex(pattern).finditer(chars)]
    return found if count < 0 else found[:count]


# Kubernetes' URL library.
def url(text: Any) -> dict[str, Any]:
    raw = _string(text)
    try:
        network.parse_url(raw)
    except network.NetworkError as exc:
        raise LibraryError(f"URL parse error during conversion from string: {exc}") from None
    return _opaque("url", raw)


def is_url(text: Any) -> bool:
    try:
        network.parse_url(_string(text))
    except network.NetworkError:
        return False
    return True


def _url(value: Any) -> network.Url:
    return network.parse_url(_of(value, "url"))


# Kubernetes' quantity library.
def _quantity(value: Any) -> Fraction:
    numerator, _, denominator = str(_of(value, "quantity")).partition("/")
    return Fraction(int(numerator), int(denominator))


def _quantity_value(value: Fraction) -> dict[str, Any]:
    return _opaque("quantity", f"{value.numerator}/{value.denominator}")


def to_quantity(text: Any) -> dict[str, Any]:
    try:
        return _quantity_value(quantity.parse(_string(text)))
    except quantity.QuantityError as exc:
        raise LibraryError(str(exc)) from None


def is_quantity(text: Any) -> bool:
    try:
        quantity.parse(_string(text))
    except quantity.QuantityError:
        return False
    return True


def as_integer(value: Any) -> int:
    found = quantity.as_int64(_quantity(value))
    if found is None:
        raise LibraryError("cannot convert value to integer")
    return found


def _operand(value: Any) -> Fraction:
    return Fraction(_int(value)) if isinstance(value, int) else _quantity(value)


def _compare(a: Any, b: Any) -> int:
    left, right = _quantity(a), _quantity(b)
    return (left > right) - (left < right)


# Kubernetes' IP and CIDR libraries.
def _ip(value: Any) -> network.IP:
    return ipaddress.ip_address(_of(value, "ip"))


def _cidr(value: Any) -> network.Prefix:
    address, _, bits = str(_of(value, "cidr")).partition("/")
    return ipaddress.ip_address(address), int(bits)


def _network(call: Callable[[str], Any], text: str) -> Any:
    try:
        return call(text)
    except network.NetworkError as exc:
        raise LibraryError(str(exc)) from None


def to_ip(value: Any) -> dict[str, Any]:
    if _is(value, "cidr"):
        return _opaque("ip", str(_cidr(value)[0]))
    return _opaque("ip", str(_network(network.parse_ip, _string(value))))


def to_cidr(text: Any) -> dict[str, Any]:
    addr, bits = _network(network.parse_cidr, _string(text))
    return _opaque("cidr", f"{addr}/{bits}")


def _valid(call: Callable[[str], Any], text: Any) -> bool:
    try:
        call(_string(text))
    except network.NetworkError:
        return False
    return True


def is_canonical(text: Any) -> bool:
    raw = _string(text)
    return str(_network(network.parse_ip, raw)) == raw


def contains_ip(prefix: Any, other: Any) -> bool:
    if _is(other, "ip"):
        return network.contains_ip(_cidr(prefix), _ip(other))
    try:
        addr = network.parse_ip(_string(other))
    except network.NetworkError:
        # Kubernetes' cidrContainsIP answers the parse error with the CIDR: a no-such-overload.
        raise TypeError("containsIP") from None
    return network.contains_ip(_cidr(prefix), addr)


def contains_cidr(prefix: Any, other: Any) -> bool:
    inner = _cidr(other) if _is(other, "cidr") else _cidr(to_cidr(other))
    return network.contains_cidr(_cidr(prefix), inner)


def masked(prefix: Any) -> dict[str, Any]:
    addr, bits = _cidr(prefix)
    return _opaque("cidr", f"{ipaddress.ip_network(f'{addr}/{bits}', strict=False).network_address}/{bits}")


# Kubernetes' format library.
def _prefix_masked(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """apimachinery's ``NameIs…(s, prefix=true)``: a trailing dash is allowed (masked to ``a``)."""
    return lambda s: check(s[:-1] + "a" if s.endswith("-") else s)


def _uri(text: str) -> list[str]:
    try:
        network.parse_url(text)
    except network.NetworkError as exc:
        return [str(exc)]
    return []


_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def _pattern(regex: re.Pattern[str], message: str) -> Callable[[str], list[str]]:
    return lambda s: [] if regex.match(s) else [message]


FORMATS: dict[str, Callable[[str], list[str]]] = {
    "dns1123Label": validation.is_dns1123_label,
    "dns1123Subdomain": validation.is_dns1123_subdomain,
    "dns1035Label": validation.is_dns1035_label,
    "qualifiedName": validation.is_qualified_name,
    "dns1123LabelPrefix": _prefix_masked(validation.is_dns1123_label),
    "dns1123SubdomainPrefix": _prefix_masked(validation.is_dns1123_subdomain),
    "dns1035LabelPrefix": _prefix_masked(validation.is_dns1035_label),
    "labelValue": validation.is_label_value,
    "uri": _uri,
    "uuid": _pattern(_UUID, "does not match the UUID format"),
    "byte": _pattern(_BASE64, "invalid base64"),
    "date": _pattern(_DATE, "invalid date"),
    "datetime": _pattern(_DATETIME, "invalid datetime"),
}


def format_named(name: Any) -> Any:
    import cel

    found = _string(name)
    return cel.OptionalValue.of(_opaque("format", found)) if found in FORMATS else cel.OptionalValue.none()


def validate(fmt: Any, text: Any) -> Any:
    import cel

    errors = FORMATS[_of(fmt, "format")](_string(text))
    return cel.OptionalValue.of(errors) if errors else cel.OptionalValue.none()


# cel-go's sets extension.
def _contains(items: list[Any], sub: list[Any]) -> bool:
    return all(any(equal(x, y) for x in items) for y in sub)


_IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "isSorted": is_sorted,
    "sum": list_sum,
    "min": lambda items: _extreme("min", items),
    "max": lambda items: _extreme("max", items),
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "charAt": char_at,
    "lowerAscii": lambda s: _ascii(s, upper=False),
    "upperAscii": lambda s: _ascii(s, upper=True),
    "replace": replace,
    "split": split,
    "substring": substring,
    "trim": trim,
    "join": join,
    "strings.quote": quote,
    "format": string_format,
    "find": find,
    "findAll": find_all,
    "url": url,
    "isURL": is_url,
    "getScheme": lambda u: _url(u).scheme,
    "getHost": lambda u: _url(u).host,
    "getHostname": lambda u: _url(u).hostname,
    "getPort": lambda u: _url(u).port,
    "getEscapedPath": lambda u: _url(u).path,
    "getQuery": lambda u: _url(u).query_values(),
    "quantity": to_quantity,
    "isQuantity": is_quantity,
    "sign": lambda q: (_quantity(q) > 0) - (_quantity(q) < 0),
    "isInteger": lambda q: quantity.as_int64(_quantity(q)) is not None,
    "asInteger": as_integer,
    "asApproximateFloat": lambda q: float(_quantity(q)),
    "add": lambda q, other: _quantity_value(_quantity(q) + _operand(other)),
    "sub": lambda q, other: _quantity_value(_quantity(q) - _operand(other)),
    "isGreaterThan": lambda a, b: _compare(a, b) == 1,
    "isLessThan": lambda a, b: _compare(a, b) == -1,
    "compareTo": _compare,
    "ip": to_ip,
    "isIP": lambda s: _valid(network.parse_ip, s),
    "ip.isCanonical": is_canonical,
    "family": lambda ip: network.family(_ip(ip)),
    **{
        name: functools.partial(lambda name, ip: network.ip_class(_ip(ip), name), name)
        for name in (
            "isUnspecified",
            "isLoopback",
            "isLinkLocalMulticast",
            "isLinkLocalUnicast",
            "isGlobalUnicast",
        )
    },
    "cidr": to_cidr,
    "isCIDR": lambda s: _valid(network.parse_cidr, s),
    "containsIP": contains_ip,
    "containsCIDR": contains_cidr,
    "prefixLength": lambda c: _cidr(c)[1],
    "masked": masked,
    **{f"format.{name}": functools.partial(_opaque, "format", name) for name in FORMATS},
    "format.named": format_named,
    "validate": validate,
    "sets.contains": lambda a, b: _contains(_list(a), _list(b)),
    "sets.equivalent": lambda a, b: _contains(_list(a), _list(b)) and _contains(_list(b), _list(a)),
    "sets.intersects": lambda a, b: any(any(equal(x, y) for y in _list(b)) for x in _list(a)),
}
FUNCTIONS = {name: _guarded(fn) for name, fn in _IMPLEMENTATIONS.items()}

_BY_LAST_PART: dict[str, list[str]] = {}
for _name in FUNCTIONS:
    _BY_LAST_PART.setdefault(_name.rpartition(".")[2], []).append(_name)


def to_string(value: Any) -> str:
    """CEL's ``string()`` with the IP and CIDR libraries' overloads, given to a rule that converts
    one of their values (our CEL library's own ``string()`` knows no such value; this one takes its
    place in that rule)."""
    if _is(value, "ip"):
        return str(_of(value, "ip"))
    if _is(value, "cidr"):
        return str(_of(value, "cidr"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return formatting.go_float(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise LibraryError("invalid UTF-8 in bytes, cannot convert to string") from None
    if isinstance(value, datetime | timedelta):
        return formatting.format_string("%s", [value])
    raise TypeError("string")


def needed(functions: list[str]) -> dict[str, Callable[..., Any]]:
    """The library functions a program calls, given the names it references (our CEL library
    names ``sets.contains`` as ``contains``)."""
    found = {name: FUNCTIONS[name] for called in functions for name in _BY_LAST_PART.get(called, ())}
    if "string" in functions and {"ip", "cidr", "masked"} & set(functions):
        found["string"] = _guarded(to_string)
    return found
