"""Versions and ranges in both OLM syntaxes: blang (v0 skipRange, package.required), Masterminds (v1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from semver import Version

from kubeloop.olm._model import OLMError
from kubeloop.olm._semver import VersionRange, parse_version


def admitted(text: str, *versions: str) -> list[str]:
    """The ``versions`` that the range ``text`` contains, in the order given."""
    found = VersionRange.parse(text)
    return [v for v in versions if found.contains(Version.parse(v))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.2.3", Version(1, 2, 3)), ("1.2.3-rc.1+build.5", Version(1, 2, 3, "rc.1", "build.5"))],
    ids=["plain", "prerelease-and-build"],
)
def test_parse_version_reads_semver(text: str, expected: Version) -> None:
    parsed = parse_version(text, "csv.yaml")
    assert parsed == expected
    assert parsed.build == expected.build


@pytest.mark.parametrize("text", ["1.2", "x1.2.3", "01.2.3", "1.2.3-", ""])
def test_parse_version_rejects_what_is_not_a_full_semver(text: str) -> None:
    with pytest.raises(OLMError, match=rf"^csv\.yaml: version '{text}' is not semver \(MAJOR"):
        parse_version(text, "csv.yaml")


def test_parse_version_rejects_a_leading_v_saying_so() -> None:
    with pytest.raises(
        OLMError, match=r"^csv\.yaml: version 'v1\.2\.3' is not semver: drop the leading 'v'$"
    ):
        parse_version("v1.2.3", "csv.yaml")


VERSIONS = ("0.9.0", "1.0.0", "1.1.9", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6", "2.0.0", "3.1.0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # blang comparators, ANDed by spaces, ORed by ||
        ("1.2.3", ["1.2.3"]),
        ("=1.2.3", ["1.2.3"]),
        ("==1.2.3", ["1.2.3"]),
        ("!=1.2.3", [v for v in VERSIONS if v != "1.2.3"]),
        ("!1.2.3", [v for v in VERSIONS if v != "1.2.3"]),
        (">1.2.3", ["1.2.9", "1.3.0", "1.4.5", "1.4.6", "2.0.0", "3.1.0"]),
        (">=1.2.3", ["1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6", "2.0.0", "3.1.0"]),
        ("<1.2.3", ["0.9.0", "1.0.0", "1.1.9", "1.2.0"]),
        ("<=1.2.3", ["0.9.0", "1.0.0", "1.1.9", "1.2.0", "1.2.3"]),
        (">=1.2.0 <1.4.5", ["1.2.0", "1.2.3", "1.2.9", "1.3.0"]),
        ("<1.0.0 || >=3.0.0", ["0.9.0", "3.1.0"]),
        (">1.0.0 <1.2.0 || 2.0.0", ["1.1.9", "2.0.0"]),
        # Masterminds: commas, operators apart from versions, leading v
        (">=1.2.0, <1.3.0", ["1.2.0", "1.2.3", "1.2.9"]),
        (">= 1.2.0 , < 1.3.0", ["1.2.0", "1.2.3", "1.2.9"]),
        (">=v1.4.5", ["1.4.5", "1.4.6", "2.0.0", "3.1.0"]),
        # partial versions and wildcards stand for every version they cover
        (">=1.2", ["1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6", "2.0.0", "3.1.0"]),
        (">1.2", ["1.3.0", "1.4.5", "1.4.6", "2.0.0", "3.1.0"]),
        ("<1.2", ["0.9.0", "1.0.0", "1.1.9"]),
        ("<=1.2", ["0.9.0", "1.0.0", "1.1.9", "1.2.0", "1.2.3", "1.2.9"]),
        ("1.2", ["1.2.0", "1.2.3", "1.2.9"]),
        ("!=1.2", ["0.9.0", "1.0.0", "1.1.9", "1.3.0", "1.4.5", "1.4.6", "2.0.0", "3.1.0"]),
        ("1.2.x", ["1.2.0", "1.2.3", "1.2.9"]),
        ("1.2.*", ["1.2.0", "1.2.3", "1.2.9"]),
        ("1.2.X", ["1.2.0", "1.2.3", "1.2.9"]),
        ("1.x", ["1.0.0", "1.1.9", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6"]),
        ("1.x.x", ["1.0.0", "1.1.9", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6"]),
        (">1.x", ["2.0.0", "3.1.0"]),
        ("*", list(VERSIONS)),
        (">=*", list(VERSIONS)),
        ("x", list(VERSIONS)),
        # tilde: same minor (same major when only the major is given)
        ("~1.2.3", ["1.2.3", "1.2.9"]),
        ("~1.2", ["1.2.0", "1.2.3", "1.2.9"]),
        ("~1", ["1.0.0", "1.1.9", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6"]),
        ("~*", list(VERSIONS)),
        # caret: same major; below 1.0.0 the first non-zero part stays
        ("^1.2.3", ["1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6"]),
        ("^1", ["1.0.0", "1.1.9", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6"]),
        ("^0", ["0.9.0"]),
        ("^*", list(VERSIONS)),
        # hyphen ranges include both ends; a partial upper end covers all it names
        ("1.2 - 1.4.5", ["1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.4.5"]),
        ("1.2.3 - 1.4", ["1.2.3", "1.2.9", "1.3.0", "1.4.5", "1.4.6"]),
        ("1.0.0 - 1.1.9 || 3.x", ["1.0.0", "1.1.9", "3.1.0"]),
        (">=1.0.0 1.2 - 1.3 <1.2.5", ["1.2.0", "1.2.3"]),
    ],
)
def test_range_contains_exactly_what_it_names(text: str, expected: list[str]) -> None:
    assert admitted(text, *VERSIONS) == expected


@pytest.mark.parametrize(
    ("text", "versions", "expected"),
    [
        ("^0.2.3", ["0.2.2", "0.2.3", "0.2.9", "0.3.0"], ["0.2.3", "0.2.9"]),
        ("^0.0.3", ["0.0.2", "0.0.3", "0.0.4"], ["0.0.3"]),
        ("^0.0", ["0.0.0", "0.0.9", "0.1.0"], ["0.0.0", "0.0.9"]),
        ("^0.0.0", ["0.0.0", "0.0.1"], ["0.0.0"]),
        ("~0", ["0.0.0", "0.9.9", "1.0.0"], ["0.0.0", "0.9.9"]),
    ],
)
def test_caret_and_tilde_below_one(text: str, versions: list[str], expected: list[str]) -> None:
    assert admitted(text, *versions) == expected


def test_build_metadata_does_not_matter() -> None:
    assert admitted("1.2.3", "1.2.3+build.1") == ["1.2.3+build.1"]
    assert admitted("<=1.2.3+build.9", "1.2.3+build.1", "1.2.4") == ["1.2.3+build.1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (">=1.0.0 <2.0.0", []),
        ("*", []),
        ("~1.5.0", []),
        (">=1.0.0-alpha <2.0.0", ["1.5.0-rc.1", "2.0.0-rc.1"]),
        (">=1.0.0-alpha, <2.0.0-0", ["1.5.0-rc.1"]),
        ("~1.5.0-alpha", ["1.5.0-rc.1"]),
        # the end of a partial version or of ^ lies below the next version's prereleases
        (">=1.0.0-alpha <=1", ["1.5.0-rc.1"]),
        ("^1.0.0-alpha", ["1.5.0-rc.1"]),
        ("1.5.0-rc.1", ["1.5.0-rc.1"]),
        (">=1.0.0 <2.0.0 || 1.5.0-rc.1", ["1.5.0-rc.1"]),
        ("<1.0.0 || >=1.4.0-0 <3.0.0", ["1.5.0-rc.1", "2.0.0-rc.1"]),
    ],
)
def test_prereleases_are_in_only_when_their_alternative_mentions_one(text: str, expected: list[str]) -> None:
    assert admitted(text, "1.5.0-rc.1", "2.0.0-rc.1") == expected


def test_a_prerelease_alternative_does_not_open_the_others_to_prereleases() -> None:
    assert admitted("1.0.0-rc.1 || >=2.0.0", "1.0.0-rc.1", "2.5.0-rc.1", "2.5.0") == ["1.0.0-rc.1", "2.5.0"]


def test_range_keeps_its_text() -> None:
    found = VersionRange.parse(">= 1.2, <2 || ~3.1")
    assert str(found) == ">= 1.2, <2 || ~3.1"
    assert found.text == ">= 1.2, <2 || ~3.1"
    assert found == VersionRange.parse(">= 1.2, <2 || ~3.1")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        (">=", "'>=' has no version after it"),
        (">=1.0.0 <", "'<' has no version after it"),
        ("1.2.z", "'1.2.z' is not a version"),
        (">=1.0.0 <two", "'two' is not a version"),
        ("01.2", "'01.2' is not a version"),
        ("1.2.3.4", "'1.2.3.4' is not a version"),
        ("=>1.0.0", "'>1.0.0' is not a version"),
        ("1.0.0 | 2.0.0", "'|' is not a version"),
        ("x.1", "'x.1' has a number after a wildcard"),
        ("1.x.3", "'1.x.3' has a number after a wildcard"),
        ("1.2-beta", "'1.2-beta' has a prerelease or build without major.minor.patch"),
        ("1.2.3-", "1.2.3- is not valid SemVer string"),
        (">*", "'>*' matches no version"),
        ("!=*", "'!=*' matches no version"),
        ("1.2 -", "'1.2 -' has no upper version"),
        ("- 1.2", "'-' is not a version"),
        (">=1.0 - 2.0", "'>=1.0' is not a version"),
        (">=1.0.0 ||", "an alternative around '||' is empty"),
        ("|| 1.0.0", "an alternative around '||' is empty"),
    ],
)
def test_bad_ranges_are_named_with_their_bad_part(text: str, reason: str) -> None:
    with pytest.raises(OLMError) as caught:
        VersionRange.parse(text)
    assert str(caught.value) == f"invalid version range {text!r}: {reason}"


releases = st.builds(Version, *(st.integers(0, 12) for _ in range(3)))


@given(releases, releases, releases)
def test_half_open_range_contains_exactly_what_is_between(low: Version, high: Version, v: Version) -> None:
    assert VersionRange.parse(f">={low} <{high}").contains(v) == (low <= v < high)


@given(releases, releases, releases)
def test_hyphen_range_is_the_closed_interval(low: Version, high: Version, v: Version) -> None:
    assert VersionRange.parse(f"{low} - {high}").contains(v) == (low <= v <= high)


@given(releases, releases, releases)
def test_or_is_the_union_and_comma_the_intersection(a: Version, b: Version, v: Version) -> None:
    either = VersionRange.parse(f"<{a} || >{b}").contains(v)
    both = VersionRange.parse(f"<{a}, >{b}").contains(v)
    assert either == (v < a or v > b)
    assert both == (v < a and v > b)


@given(releases, releases)
def test_caret_is_the_next_major_bound_from_one_on(low: Version, v: Version) -> None:
    low = low.replace(major=low.major + 1)
    assert VersionRange.parse(f"^{low}").contains(v) == (low <= v < low.bump_major())


@given(releases, releases)
def test_tilde_is_the_next_minor_bound(low: Version, v: Version) -> None:
    assert VersionRange.parse(f"~{low}").contains(v) == (low <= v < low.bump_minor())


@given(releases, st.integers(0, 12), st.integers(0, 12))
def test_wildcard_minor_is_the_whole_major(v: Version, major: int, minor: int) -> None:
    assert VersionRange.parse(f"{major}.x").contains(v) == (v.major == major)
    assert VersionRange.parse(f"{major}.{minor}.*").contains(v) == ((v.major, v.minor) == (major, minor))
