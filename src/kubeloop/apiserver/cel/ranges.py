"""cel-go's size and cost estimates: ``(min, max)`` ranges of unsigned 64-bit integers whose arithmetic
saturates at 2**64 - 1 (``checker.SizeEstimate``/``CostEstimate``), shared by the standard and the
Kubernetes libraries' estimators."""

from __future__ import annotations

import math

__all__ = ["MAX", "Range", "add", "factor", "mul", "union"]

MAX = 2**64 - 1

Range = tuple[int, int]


def add(a: Range, b: Range) -> Range:
    return min(a[0] + b[0], MAX), min(a[1] + b[1], MAX)


def mul(a: Range, b: Range) -> Range:
    return min(a[0] * b[0], MAX), min(a[1] * b[1], MAX)


def factor(a: Range, by: float) -> Range:
    """``MultiplyByCostFactor``: each bound times ``by``, rounded up."""

    def one(x: int) -> int:
        if x > 0 and by > 0 and x > MAX / by:
            return MAX
        product = math.ceil(float(x) * by)
        return MAX if product >= 2.0**64 else int(product)

    return one(a[0]), one(a[1])


def union(a: Range, b: Range) -> Range:
    return min(a[0], b[0]), max(a[1], b[1])
