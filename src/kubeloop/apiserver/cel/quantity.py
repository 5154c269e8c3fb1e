"""Kubernetes resource quantities (``1Gi``, ``500m``, ``1e3``) as apimachinery's ``ParseQuantity``
reads them, for CEL's ``quantity()`` library: the exact value (rounded up to nano precision, as the
real parser does) and the parser's error messages."""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["FORMAT_WRONG", "QuantityError", "as_int64", "parse"]

FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_NUMERIC = "unable to parse numeric part of quantity"
_SUFFIX = "unable to parse quantity's suffix"
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class QuantityError(ValueError):
    """A string that is no quantity, with apimachinery's message."""


def _split(text: str) -> tuple[str, str]:
    """``parseQuantityString``: the numeric part and the suffix."""
    pos, end = 0, len(text)
    if pos < end and text[0] in "+-":
        pos += 1
    while pos < end and text[pos].isdigit() and text[pos].isascii():
        pos += 1
    if pos < end and text[pos] == ".":
        pos += 1
        while pos < end and text[pos].isdigit() and text[pos].isascii():
            pos += 1
    value = text[:pos]
    start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos].isdigit() and text[pos].isascii():
        pos += 1
    if pos < end:
        raise QuantityError(FORMAT_WRONG)
    return value, text[start:]


def _scale(suffix: str) -> Fraction:
    if suffix in _DECIMAL:
        return Fraction(10) ** _DECIMAL[suffix]
    if suffix in _BINARY:
        return Fraction(2) ** _BINARY[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = suffix[1:]
        digits = exponent.lstrip("+-")
        if digits.isdigit() and digits.isascii() and len(exponent) - len(digits) <= 1:
            return Fraction(10) ** int(exponent)
    raise QuantityError(_SUFFIX)


def parse(text: str) -> Fraction:
    """The exact value of the quantity ``text`` (QuantityError when it is none)."""
    if not text:
        raise QuantityError(FORMAT_WRONG)
    number, suffix = _split(text)
    scale = _scale(suffix)
    digits = number.lstrip("+-")
    if digits in ("", ".") or digits.count(".") > 1:
        raise QuantityError(_NUMERIC)
    value = Fraction(number if not number.endswith(".") else number[:-1] or "0") * scale
    nanos = value * 10**9
    if nanos.denominator != 1:  # below nano precision: rounded away from zero, as inf.Dec's RoundUp
        value = Fraction(math.ceil(abs(nanos)) * (1 if value > 0 else -1), 10**9)
    return value


def as_int64(value: Fraction) -> int | None:
    """``Quantity.AsInt64``: the value as an int64 when it is a whole number that fits, else None."""
    if value.denominator != 1 or not -(2**63) <= value.numerator < 2**63:
        return None
    return value.numerator
