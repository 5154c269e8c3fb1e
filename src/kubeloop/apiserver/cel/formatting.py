"""cel-go's ``<string>.format(<list>)`` (the strings extension's ``formatting.go``, locale en_US): the
clauses ``%s %d %f %e %b %x %X %o`` with an optional precision, Go's renderings of values (``%f`` and
``%e`` through golang.org/x/text's printer: ``1,234.50``, a superscript exponent), and its error
messages."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["VERBS", "FormatError", "format_string", "go_quote", "walk"]

_PRECISION = 6
_SUPERSCRIPTS = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


class FormatError(ValueError):
    """A format string or argument cel-go refuses, with its message (and, found at compilation, the
    position of the argument at fault)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if value is None:
        return "null_type"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, datetime):
        return "google.protobuf.Timestamp"
    if isinstance(value, timedelta):
        return "google.protobuf.Duration"
    return type(value).__name__


def go_float(x: float) -> str:
    """Go's ``%g`` of a float64 (the shortest digits; an exponent below -4 or from 6 up)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    _, digit_tuple, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)
    sign = "-" if x < 0 else ""
    shown = point - 1
    if shown < -4 or shown >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if shown < 0 else '+'}{abs(shown):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``)."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _timestamp(value: datetime) -> str:
    text = value.isoformat().replace("+00:00", "Z")
    return text if text.endswith("Z") or "+" in text[10:] or "-" in text[10:] else text + "Z"


def _duration(value: timedelta) -> str:
    """Go's ``strconv.FormatFloat(seconds, 'f', -1, 64) + "s"``."""
    return format(Decimal(repr(value.total_seconds())).normalize(), "f") + "s"


def _as_string(value: Any) -> str:
    """``FormatString``: the ``%s`` of one value."""
    if isinstance(value, list):
        return "[" + ", ".join(_member(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise FormatError(f"no formatting function for map key of type {_type_name(key)}")
            shown = go_quote(key) if isinstance(key, str) else _as_string(key)
            pairs.append((shown, _member(item)))
        return "{" + ", ".join(f"{k}:{v}" for k, v in sorted(pairs, key=lambda p: p[0])) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, timedelta):
        return _duration(value)
    raise FormatError(
        "string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, "
        f"durations, and timestamps, was given {_type_name(value)}"
    )


def _member(value: Any) -> str:
    """A list's or map's member (``clauseForType`` then ``quoteForCEL``)."""
    if isinstance(value, float):
        shown = f"{value:.{_PRECISION}f}" if math.isfinite(value) else go_float(value)
        return shown if math.isfinite(value) else f'"{shown}"'
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bytes):
        return "b" + go_quote(value.decode("utf-8", "replace"))
    if isinstance(value, datetime):
        return f"timestamp({go_quote(_timestamp(value))})"
    if isinstance(value, timedelta):
        return f"duration({go_quote(_duration(value))})"
    return _as_string(value)


def _decimal(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FormatError(f"decimal clause can only be used on integers, was given {_type_name(value)}")


def _floating(value: Any, precision: int | None, verb: str) -> str:
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        value = float(value.replace("Infinity", "inf"))
    if not isinstance(value, float):
        name = "fixed-point" if verb == "f" else "scientific"
        raise FormatError(f"{name} clause can only be used on doubles, was given {_type_name(value)}")
    if not math.isfinite(value):
        return go_float(value)
    places = _PRECISION if precision is None else precision
    if verb == "f":
        return f"{value:,.{places}f}"
    mantissa, _, exponent = f"{value:.{places}e}".partition("e")
    sign = (
        "\u207b" if exponent.startswith("-") else ""
    )  # x/text's printer: a multiplication sign, 10, superscripts
    return f"{mantissa}\u00d710{sign}{exponent[1:].translate(_SUPERSCRIPTS)}"


def _binary(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return format(value, "b")
    raise FormatError(f"only integers and bools can be formatted as binary, was given {_type_name(value)}")


def _hex(value: Any, upper: bool) -> str:
    if isinstance(value, str | bytes):
        data = value.encode() if isinstance(value, str) else value
        shown = data.hex()
    elif isinstance(value, int) and not isinstance(value, bool):
        shown = format(value, "x")
    else:
        raise FormatError(
            "only integers, byte buffers, and strings can be formatted as hex, was given " + _type_name(value)
        )
    return shown.upper() if upper else shown


def _octal(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return format(value, "o")
    raise FormatError(f"octal clause can only be used on integers, was given {_type_name(value)}")


def _parse_clause(text: str) -> tuple[int, str, int | None]:
    """One clause after its ``%``: how many characters it takes, its verb and its precision."""
    at, precision = 0, None
    if text[0] == ".":
        at = 1
        while True:
            if at >= len(text):
                raise FormatError(
                    "could not parse formatting clause: error while parsing precision: could not find "
                    "end of precision specifier"
                )
            if not ("0" <= text[at] <= "9"):
                break
            at += 1
        digits = text[1:at]
        if not digits:
            raise FormatError(
                "could not parse formatting clause: error while parsing precision: error while "
                'converting precision to integer: strconv.Atoi: parsing "": invalid syntax'
            )
        precision = int(digits)
    verb = text[at]
    if verb not in VERBS:
        raise FormatError(f'could not parse formatting clause: unrecognized formatting clause "{verb}"')
    return at + 1, verb, precision


VERBS = "sdfebxXo"


def walk(
    text: str, size: int, arg: Callable[[int], None], clause: Callable[[int, str, int | None], str]
) -> str:
    """``parseFormatString``: ``text`` with each clause replaced by what ``clause`` renders of its
    argument (``arg`` is told of each argument asked for first, as cel-go's argument lists are)."""
    out: list[str] = []
    at, index = 0, 0
    while at < len(text):
        if text[at] != "%":
            out.append(text[at])
            at += 1
            continue
        if text[at + 1 : at + 2] == "%":
            out.append("%")
            at += 2
            continue
        arg(index)
        if at + 1 >= len(text):
            raise FormatError("unexpected end of string")
        if index >= size:
            raise FormatError(f"index {index} out of range")
        taken, verb, precision = _parse_clause(text[at + 1 :])
        try:
            out.append(clause(index, verb, precision))
        except FormatError as exc:
            raise FormatError(f"error during formatting: {exc}", exc.offset) from None
        at += 1 + taken
        index += 1
    return "".join(out)


def format_string(text: str, args: list[Any]) -> str:
    """``<text>.format(<args>)``."""

    def arg(index: int) -> None:
        if index >= len(args):
            raise FormatError(f"index {index} out of range")

    def clause(index: int, verb: str, precision: int | None) -> str:
        value = args[index]
        if verb in "fe":
            return _floating(value, precision, verb)
        if verb in "xX":
            return _hex(value, upper=verb == "X")
        return {"s": _as_string, "d": _decimal, "b": _binary, "o": _octal}[verb](value)

    return walk(text, len(args), arg, clause)
