"""Versions and version ranges as OLM writes them: skipRange, olm.package.required and ClusterExtension.

Ranges accept both of OLM's syntaxes (blang/semver in v0, Masterminds/semver in v1) so one parser reads
every catalog; ``semver.Version`` does the version parsing and ordering.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from semver import Version

from kubeloop.olm._model import OLMError

__all__ = ["VersionRange", "parse_version"]


def parse_version(value: object, where: str) -> Version:
    """``value`` as a semantic version, as a CSV's ``spec.version`` must be (``v1.0.0`` is not one);
    OLMError ``<where>: ...`` otherwise."""
    text = str(value)
    if text.startswith("v"):
        raise OLMError(f"{where}: version {text!r} is not semver: drop the leading 'v'")
    try:
        return Version.parse(text)
    except ValueError:
        raise OLMError(f"{where}: version {text!r} is not semver (MAJOR.MINOR.PATCH[-pre][+build])") from None


_ZERO = Version(0, 0, 0)
_WILDCARDS = frozenset({"x", "X", "*"})
_PART = r"(0|[1-9]\d*|[xX*])"
_SPAN = re.compile(rf"v?{_PART}(?:\.{_PART})?(?:\.{_PART})?([-+].*)?")
_OPERATORS = r"==|!=|>=|<=|=|>|<|!|~|\^"
_OPERATOR = re.compile(rf"({_OPERATORS})?(.*)", re.DOTALL)
_LONE_OPERATOR = re.compile(_OPERATORS)
_ALIASES = {"": "=", "==": "=", "!": "!="}
_BY_ORDER: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class _Span:
    """A version as written in a range: ``given`` leading parts are numbers (3: one version, 0: ``*``)."""

    low: Version
    given: int

    @property
    def until(self) -> Version | None:
        """The first version past a partial one (``1.2`` → ``1.3.0-0``); None when ``given`` is 0 or 3."""
        if self.given == 1:
            return _floor(self.low.bump_major())
        if self.given == 2:
            return _floor(self.low.bump_minor())
        return None


def _floor(version: Version) -> Version:
    """The lowest version with ``version``'s numbers: prereleases of it are below the release."""
    return version.replace(prerelease="0", build=None)


def _span(word: str) -> _Span:
    match = _SPAN.fullmatch(word)
    if match is None:
        raise ValueError(f"{word!r} is not a version")
    parts = [match[1], match[2], match[3]]
    given = next((i for i, part in enumerate(parts) if part is None or part in _WILDCARDS), 3)
    if any(part is not None and part not in _WILDCARDS for part in parts[given:]):
        raise ValueError(f"{word!r} has a number after a wildcard")
    if given == 3:
        return _Span(Version.parse(word.removeprefix("v")), 3)
    if match[4]:
        raise ValueError(f"{word!r} has a prerelease or build without major.minor.patch")
    numbers = [int(part) for part in parts[:given]] + [0] * (3 - given)
    return _Span(Version(*numbers), given)


@dataclass(frozen=True)
class _Comparator:
    """``op`` against what a range names: one version (``until`` None) or all of [version, until)."""

    op: str
    version: Version
    until: Version | None = None

    def admits(self, v: Version) -> bool:
        if self.until is None:
            return _BY_ORDER[self.op](v.compare(self.version), 0)
        inside = self.version <= v < self.until
        return {
            "=": inside,
            "!=": not inside,
            ">": v >= self.until,
            ">=": v >= self.version,
            "<": v < self.version,
            "<=": v < self.until,
        }[self.op]


_ANY = _Comparator(">=", _ZERO)


def _compare(op: str, span: _Span) -> list[_Comparator]:
    if span.given > 0:
        return [_Comparator(op, span.low, span.until)]
    if op in ("=", ">=", "<="):
        return [_ANY]
    raise ValueError(f"'{op}*' matches no version")


def _tilde(span: _Span) -> list[_Comparator]:
    """``~1.2.3``: the same minor (``>=1.2.3 <1.3.0``); ``~1``: the same major."""
    if span.given == 0:
        return [_ANY]
    upper = span.low.bump_minor() if span.given >= 2 else span.low.bump_major()
    return [_Comparator(">=", span.low), _Comparator("<", _floor(upper))]


def _caret(span: _Span) -> list[_Comparator]:
    """``^1.2.3``: up to the next major; below 1.0.0, the first non-zero part given may not change."""
    low = span.low
    if span.given == 0:
        return [_ANY]
    if low.major or span.given == 1:
        upper = low.bump_major()
    elif low.minor or span.given == 2:
        upper = low.bump_minor()
    else:
        upper = low.bump_patch()
    return [_Comparator(">=", low), _Comparator("<", _floor(upper))]


def _comparators(word: str) -> tuple[list[_Comparator], _Span]:
    """One comparator as written (``>=1.2``, ``~1.2.3``, ``1.x``) and the version span it names."""
    match = _OPERATOR.fullmatch(word)
    assert match is not None  # the pattern matches every string
    op, span = match[1] or "", _span(match[2])
    if op == "~":
        return _tilde(span), span
    if op == "^":
        return _caret(span), span
    return _compare(_ALIASES.get(op, op), span), span


def _words(text: str) -> list[str]:
    """``text`` split at spaces and commas, an operator written apart (``>= 1.2``) joined to its version."""
    words: list[str] = []
    pending = ""
    for token in text.replace(",", " ").split():
        if _LONE_OPERATOR.fullmatch(token):
            pending += token
            continue
        words.append(pending + token)
        pending = ""
    if pending:
        raise ValueError(f"{pending!r} has no version after it")
    return words


@dataclass(frozen=True)
class _Alternative:
    """Comparators that must all hold; prerelease versions pass only when one was written among them."""

    comparators: tuple[_Comparator, ...]
    allows_prerelease: bool

    def admits(self, v: Version) -> bool:
        if v.prerelease and not self.allows_prerelease:
            return False
        return all(c.admits(v) for c in self.comparators)


def _alternative(text: str) -> _Alternative:
    words = _words(text)
    if not words:
        raise ValueError("an alternative around '||' is empty")
    comparators: list[_Comparator] = []
    spans: list[_Span] = []
    i = 0
    while i < len(words):
        if words[i + 1 : i + 2] == ["-"]:  # a hyphen range: low - high
            if i + 2 >= len(words):
                raise ValueError(f"'{words[i]} -' has no upper version")
            low, high = _span(words[i]), _span(words[i + 2])
            comparators += _compare(">=", low) + _compare("<=", high)
            spans += [low, high]
            i += 3
            continue
        more, span = _comparators(words[i])
        comparators += more
        spans.append(span)
        i += 1
    return _Alternative(tuple(comparators), any(s.low.prerelease for s in spans))


@dataclass(frozen=True)
class VersionRange:
    """A set of versions written as OLM writes it; ``str()`` is the text it was parsed from.

    Comparators ``=`` (or none, or ``==``), ``!=`` (or ``!``), ``>``, ``>=``, ``<``, ``<=`` separated by
    spaces or commas must all hold; ``||`` separates alternatives. Versions may be partial or have
    wildcards (``1.2``, ``1.2.x``, ``1.*``, ``*``, meaning every version they cover: ``>1.2`` is
    ``>=1.3.0``, ``<=1.2`` is ``<1.3.0``), take ``~`` (same minor; same major when only a major is given)
    or ``^`` (same major; below 1.0.0, same first non-zero part), and form hyphen ranges
    (``1.2 - 1.4.5`` is ``>=1.2.0 <=1.4.5``).

    Caveat: a prerelease version is in the range only when the alternative it is tested against
    mentions a prerelease (``>=1.0.0-alpha <2.0.0`` has ``1.5.0-rc.1``; ``>=1.0.0 <2.0.0`` does not).
    That is Masterminds' rule, simplified from per comparator to per alternative; blang (OLM v0's
    skipRange) has no such rule.
    """

    text: str
    _alternatives: tuple[_Alternative, ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """The range ``text`` (OLMError naming it and its bad part when it is not one)."""
        try:
            if not text.strip():
                raise ValueError("it is empty")
            return cls(text, tuple(_alternative(part) for part in text.split("||")))
        except ValueError as exc:
            raise OLMError(f"invalid version range {text!r}: {exc}") from None

    def contains(self, version: Version) -> bool:
        return any(alternative.admits(version) for alternative in self._alternatives)

    def __str__(self) -> str:
        return self.text
