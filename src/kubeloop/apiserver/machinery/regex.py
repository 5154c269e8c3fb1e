"""Go's regular expressions (RE2) read by Python's ``re``: the syntax is alike where schemas and CEL
rules use it, but ``$`` is not. In Go, outside multi-line mode, ``$`` matches at the end of the text
only; in Python it also matches before a final newline, so ``^[a-z]+$`` accepted ``"abc\\n"``, which
kube-apiserver refuses. ``\\z`` (Go's end of text) is ``\\Z`` in Python."""

from __future__ import annotations

import functools
import re

__all__ = ["go_pattern", "go_regex"]

_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")
"""A flag group turning multi-line mode on: there ``$`` is the end of a line in both."""


def go_pattern(pattern: str) -> str:
    """``pattern`` as Python must read it to match what Go's would: each ``$`` outside a character
    class, and ``\\z``, become ``\\Z`` (unless the pattern turns multi-line mode on)."""
    multiline = _MULTILINE.search(pattern) is not None
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            escape = pattern[i : i + 2]
            out.append(r"\Z" if escape == r"\z" else escape)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            for literal in ("^", "]"):  # `[^]...]` and `[]...]`: the first ] is a member
                if pattern[i : i + 1] == literal:
                    out.append(literal)
                    i += 1
            continue
        elif c == "$" and not multiline:
            out.append(r"\Z")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def go_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` (Go's syntax) compiled to match as Go's would (``re.error`` if it does not parse)."""
    return re.compile(go_pattern(pattern))
