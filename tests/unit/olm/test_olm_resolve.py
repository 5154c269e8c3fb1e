"""Channel heads, upgrade edges and dependency resolution over small catalogs built here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from semver import Version

from kubeloop.gvk import GroupVersionKind as GVK
from kubeloop.olm._model import Bundle, Catalog, Channel, ChannelEntry, OLMError, Package
from kubeloop.olm._resolve import Want, channel_head, resolve_install, resolve_upgrade, successors

FOO = GVK("apps.example.com", "v1", "Foo")
BAR = GVK("", "v1", "Bar")


def gvk_value(gvk: GVK) -> dict[str, str]:
    return {"group": gvk.group, "version": gvk.version, "kind": gvk.kind}


def bundle(
    package: str,
    version: str,
    *,
    requires: Mapping[str, str] | None = None,
    provides: Sequence[GVK] = (),
    requires_gvks: Sequence[GVK] = (),
) -> Bundle:
    """A bundle named ``<package>.v<version>`` with FBC properties for what it provides and requires."""
    properties: list[dict[str, object]] = [
        {"type": "olm.package", "value": {"packageName": package, "version": version}}
    ]
    properties += [
        {"type": "olm.package.required", "value": {"packageName": p, "versionRange": r}}
        for p, r in (requires or {}).items()
    ]
    properties += [{"type": "olm.gvk", "value": gvk_value(g)} for g in provides]
    properties += [{"type": "olm.gvk.required", "value": gvk_value(g)} for g in requires_gvks]
    return Bundle(
        name=f"{package}.v{version}",
        package=package,
        version=Version.parse(version),
        properties=tuple(properties),
    )


def chain(*bundles: Bundle) -> list[ChannelEntry]:
    """Entries where each bundle replaces the one before it."""
    return [ChannelEntry(b.name, replaces=bundles[i - 1].name if i else None) for i, b in enumerate(bundles)]


def catalog(
    *bundles: Bundle,
    channels: Mapping[tuple[str, str], Sequence[ChannelEntry]] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> Catalog:
    """A catalog of ``bundles``; without ``channels``, each package has one 'stable' channel chaining
    its bundles in the order given."""
    packages = sorted({b.package for b in bundles})
    if channels is None:
        channels = {(p, "stable"): chain(*(b for b in bundles if b.package == p)) for p in packages}
    return Catalog(
        packages={p: Package(p, (defaults or {}).get(p, "stable")) for p in packages},
        channels={key: Channel(key[0], key[1], tuple(entries)) for key, entries in channels.items()},
        bundles={b.name: b for b in bundles},
    )


def names(bundles: Sequence[Bundle]) -> list[str]:
    return [b.name for b in bundles]


def error_of(call: object, *args: object, **kwargs: object) -> str:
    """The message of the OLMError that ``call(*args, **kwargs)`` raises."""
    assert callable(call)
    with pytest.raises(OLMError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


A1, A2, A3 = bundle("a", "1.0.0"), bundle("a", "1.1.0"), bundle("a", "2.0.0")


# channel_head


def test_head_of_a_replaces_chain_is_its_last_entry() -> None:
    assert channel_head(catalog(A1, A2, A3), "a", "stable") is A3


def test_head_follows_the_edges_not_the_versions() -> None:
    found = catalog(A2, A1)  # a.v1.0.0 replaces a.v1.1.0
    assert channel_head(found, "a", "stable") is A1


def test_an_entry_only_skipped_is_no_head() -> None:
    entries = [ChannelEntry(A1.name), ChannelEntry(A2.name), ChannelEntry(A3.name, A1.name, skips=(A2.name,))]
    assert channel_head(catalog(A1, A2, A3, channels={("a", "stable"): entries}), "a", "stable") is A3


def test_skip_range_makes_no_edge_for_the_head() -> None:
    entries = [ChannelEntry(A1.name), ChannelEntry(A3.name, skip_range="<2.0.0")]
    found = catalog(A1, A3, channels={("a", "stable"): entries})
    message = error_of(channel_head, found, "a", "stable")
    assert message == "channel 'stable' of package 'a' has several heads: a.v1.0.0, a.v2.0.0"


def test_a_channel_whose_entries_replace_each_other_has_no_head() -> None:
    entries = [ChannelEntry(A1.name, replaces=A2.name), ChannelEntry(A2.name, replaces=A1.name)]
    found = catalog(A1, A2, channels={("a", "stable"): entries})
    message = error_of(channel_head, found, "a", "stable")
    assert (
        message
        == "channel 'stable' of package 'a' has no head: every entry is replaced or skipped by another"
    )


def test_an_entry_replacing_itself_is_still_a_head() -> None:
    found = catalog(A1, channels={("a", "stable"): [ChannelEntry(A1.name, replaces=A1.name)]})
    assert channel_head(found, "a", "stable") is A1


def test_head_of_an_empty_channel() -> None:
    found = catalog(A1, channels={("a", "stable"): []})
    assert error_of(channel_head, found, "a", "stable") == "channel 'stable' of package 'a' has no entries"


def test_head_of_a_missing_channel_names_the_channels_there_are() -> None:
    found = catalog(A1, channels={("a", "stable"): chain(A1), ("a", "fast"): chain(A1)})
    message = error_of(channel_head, found, "a", "beta")
    assert message == "package 'a' has no channel 'beta' (it has: fast, stable)"


def test_head_of_a_missing_package_names_the_packages_there_are() -> None:
    found = catalog(A1, bundle("b", "1.0.0"))
    assert error_of(channel_head, found, "c", "stable") == "package 'c' is not in the catalog (it has: a, b)"


def test_head_that_the_catalog_has_no_bundle_for() -> None:
    found = Catalog(
        packages={"a": Package("a", "stable")},
        channels={("a", "stable"): Channel("a", "stable", (ChannelEntry("a.v9"),))},
    )
    message = error_of(channel_head, found, "a", "stable")
    assert message == "channel 'stable' of package 'a' lists bundle 'a.v9', which the catalog does not have"


# successors


def test_successors_by_replaces_skips_and_skip_range_highest_first() -> None:
    a4, a5 = bundle("a", "2.1.0"), bundle("a", "3.0.0")
    entries = [
        ChannelEntry(A1.name),
        ChannelEntry(A2.name, replaces=A1.name),
        ChannelEntry(A3.name, skips=(A1.name,)),
        ChannelEntry(a4.name, skip_range=">=1.0.0 <1.1.0"),
        ChannelEntry(a5.name, replaces=A2.name, skip_range="<1.0.0"),
    ]
    found = catalog(A1, A2, A3, a4, a5, channels={("a", "stable"): entries})
    assert names(successors(found, A1)) == ["a.v2.1.0", "a.v2.0.0", "a.v1.1.0"]


def test_successors_in_several_channels_are_listed_once() -> None:
    found = catalog(A1, A2, A3, channels={("a", "stable"): chain(A1, A2), ("a", "fast"): chain(A1, A2, A3)})
    assert names(successors(found, A1)) == ["a.v1.1.0"]


def test_successors_only_in_the_channels_asked() -> None:
    channels = {("a", "stable"): chain(A1, A2), ("a", "fast"): chain(A1, A3)}
    found = catalog(A1, A2, A3, channels=channels)
    assert names(successors(found, A1, ["fast"])) == ["a.v2.0.0"]
    assert names(successors(found, A1, ["stable", "fast"])) == ["a.v2.0.0", "a.v1.1.0"]
    assert successors(found, A1, []) == []


def test_a_bundle_does_not_succeed_itself() -> None:
    found = catalog(A1, channels={("a", "stable"): [ChannelEntry(A1.name, replaces=A1.name, skip_range="*")]})
    assert successors(found, A1) == []


def test_the_newest_bundle_has_no_successors() -> None:
    assert successors(catalog(A1, A2, A3), A3) == []


def test_successors_in_a_missing_channel() -> None:
    message = error_of(successors, catalog(A1, A2), A1, ["fast"])
    assert message == "package 'a' has no channel 'fast' (it has: stable)"


def test_a_bad_skip_range_is_named_with_its_entry() -> None:
    found = catalog(
        A1, A2, channels={("a", "stable"): [ChannelEntry(A1.name), ChannelEntry(A2.name, skip_range=">=y")]}
    )
    message = error_of(successors, found, A1)
    assert (
        message
        == "skipRange of a.v1.1.0 in channel 'stable': invalid version range '>=y': 'y' is not a version"
    )


# resolve_install: the wanted bundle


def test_install_picks_the_highest_version_in_the_channel() -> None:
    found = catalog(A1, A3, A2, channels={("a", "stable"): chain(A1, A3, A2)})
    assert resolve_install(found, Want("a", "stable")) == [A3]


def test_install_without_a_channel_looks_in_every_channel() -> None:
    found = catalog(A1, A2, A3, channels={("a", "stable"): chain(A1, A2), ("a", "fast"): chain(A2, A3)})
    assert resolve_install(found, Want("a")) == [A3]
    assert resolve_install(found, Want("a", "stable")) == [A2]


def test_install_within_a_range() -> None:
    found = catalog(A1, A2, A3)
    assert resolve_install(found, Want("a", version_range="<2.0.0")) == [A2]
    assert resolve_install(found, Want("a", "stable", "~1.0")) == [A1]


def test_install_with_no_bundle_in_range_names_the_versions_there_are() -> None:
    found = catalog(A1, A2)
    message = error_of(resolve_install, found, Want("a", "stable", ">=2.0.0"))
    assert message == "no bundle of package 'a' in channel 'stable' matches '>=2.0.0' (it has 1.0.0, 1.1.0)"
    message = error_of(resolve_install, found, Want("a", version_range=">=2.0.0"))
    assert message == "no bundle of package 'a' matches '>=2.0.0' (it has 1.0.0, 1.1.0)"


def test_install_from_a_channel_with_no_entries() -> None:
    found = catalog(A1, channels={("a", "stable"): []})
    assert (
        error_of(resolve_install, found, Want("a", "stable"))
        == "package 'a' has no bundles in channel 'stable'"
    )
    assert error_of(resolve_install, found, Want("a")) == "package 'a' has no bundles"


def test_install_of_a_missing_package_or_channel() -> None:
    found = catalog(A1)
    assert error_of(resolve_install, found, Want("b")) == "package 'b' is not in the catalog (it has: a)"
    assert (
        error_of(resolve_install, found, Want("a", "fast"))
        == "package 'a' has no channel 'fast' (it has: stable)"
    )


def test_install_with_a_bad_range() -> None:
    message = error_of(resolve_install, catalog(A1), Want("a", version_range=">=1.0.0 <"))
    assert message == "invalid version range '>=1.0.0 <': '<' has no version after it"


def test_install_of_an_installed_package() -> None:
    found = catalog(A1, A2, A3)
    assert resolve_install(found, Want("a"), {"a": A1}) == []
    assert resolve_install(found, Want("a", version_range="1.x"), {"a": A1}) == []
    message = error_of(resolve_install, found, Want("a", version_range=">=2.0.0"), {"a": A1})
    assert message == "package 'a' is installed at 1.0.0, which is not in '>=2.0.0'"


# resolve_install: package dependencies


def test_a_required_package_comes_from_its_default_channel_before_its_dependent() -> None:
    a = bundle("a", "1.0.0", requires={"b": ">=1.0.0"})
    b1, b2, b3 = bundle("b", "1.0.0"), bundle("b", "1.5.0"), bundle("b", "2.0.0")
    channels = {("a", "stable"): chain(a), ("b", "stable"): chain(b1, b2), ("b", "fast"): chain(b1, b2, b3)}
    assert resolve_install(catalog(a, b1, b2, b3, channels=channels), Want("a")) == [b2, a]
    defaults = {"b": "fast"}
    assert resolve_install(catalog(a, b1, b2, b3, channels=channels, defaults=defaults), Want("a")) == [b3, a]


def test_a_required_package_within_its_range() -> None:
    a = bundle("a", "1.0.0", requires={"b": "<1.5.0"})
    b1, b2 = bundle("b", "1.0.0"), bundle("b", "1.5.0")
    assert resolve_install(catalog(a, b1, b2), Want("a")) == [b1, a]


def test_a_requirement_without_a_range_takes_any_version() -> None:
    a = bundle("a", "1.0.0", requires={"b": ""})
    b1, b2 = bundle("b", "1.0.0"), bundle("b", "2.0.0")
    assert resolve_install(catalog(a, b1, b2), Want("a")) == [b2, a]


def test_a_required_package_already_installed_is_not_installed_again() -> None:
    a = bundle("a", "1.0.0", requires={"b": ">=1.0.0"})
    b1, b2 = bundle("b", "1.0.0"), bundle("b", "2.0.0")
    assert resolve_install(catalog(a, b1, b2), Want("a"), {"b": b1}) == [a]


def test_an_installed_package_outside_the_required_range_is_a_conflict() -> None:
    a = bundle("a", "1.0.0", requires={"b": ">=2.0.0"})
    b1, b2 = bundle("b", "1.0.0"), bundle("b", "2.0.0")
    message = error_of(resolve_install, catalog(a, b1, b2), Want("a"), {"b": b1})
    assert message == "package 'a' 1.0.0 requires package 'b' (>=2.0.0), but b 1.0.0 is installed"


def test_a_required_package_the_catalog_does_not_have() -> None:
    a = bundle("a", "1.0.0", requires={"b": ">=1.0.0"})
    message = error_of(resolve_install, catalog(a), Want("a"))
    assert message == "package 'a' 1.0.0 requires package 'b' (>=1.0.0), which the catalog does not have"


def test_a_required_package_with_no_version_in_range() -> None:
    a = bundle("a", "1.0.0", requires={"b": ">=2.0.0"})
    message = error_of(resolve_install, catalog(a, bundle("b", "1.0.0"), bundle("b", "1.1.0")), Want("a"))
    assert message == (
        "package 'a' 1.0.0 requires package 'b' (>=2.0.0),"
        " but no bundle in its default channel 'stable' matches (it has 1.0.0, 1.1.0)"
    )


def test_requirements_are_followed_transitively() -> None:
    a = bundle("a", "1.0.0", requires={"b": "1.x"})
    b = bundle("b", "1.0.0", requires={"c": "1.x"})
    c = bundle("c", "1.0.0")
    assert resolve_install(catalog(a, b, c), Want("a")) == [c, b, a]


# resolve_install: API (GVK) dependencies


def test_a_required_api_comes_from_the_highest_default_channel_provider() -> None:
    a = bundle("a", "1.0.0", requires_gvks=[FOO])
    c1, c2 = bundle("c", "1.0.0", provides=[FOO]), bundle("c", "3.0.0", provides=[FOO])
    d = bundle("d", "2.0.0", provides=[FOO])
    other = bundle("e", "9.0.0", provides=[BAR])
    channels = {("a", "stable"): chain(a), ("c", "stable"): chain(c1), ("c", "fast"): chain(c1, c2)}
    channels |= {("d", "stable"): chain(d), ("e", "stable"): chain(other)}
    assert resolve_install(catalog(a, c1, c2, d, other, channels=channels), Want("a")) == [d, a]


def test_a_required_api_already_provided_by_an_installed_bundle() -> None:
    a = bundle("a", "1.0.0", requires_gvks=[FOO])
    c = bundle("c", "1.0.0", provides=[FOO])
    d = bundle("d", "2.0.0", provides=[FOO])
    assert resolve_install(catalog(a, c, d), Want("a"), {"c": c}) == [a]


def test_a_bundle_may_provide_the_api_it_requires() -> None:
    a = bundle("a", "1.0.0", provides=[FOO], requires_gvks=[FOO])
    assert resolve_install(catalog(a, bundle("c", "1.0.0", provides=[FOO])), Want("a")) == [a]
    a2 = bundle("a", "2.0.0", provides=[FOO], requires_gvks=[FOO])
    found = catalog(A1, a2, channels={("a", "stable"): chain(A1), ("a", "fast"): chain(A1, a2)})
    assert resolve_install(found, Want("a", "fast")) == [a2]  # though no default-channel bundle provides it


def test_a_required_api_nobody_provides() -> None:
    a = bundle("a", "1.0.0", requires_gvks=[FOO])
    message = error_of(resolve_install, catalog(a, bundle("c", "1.0.0", provides=[BAR])), Want("a"))
    assert message == "no package in the catalog provides apps.example.com/v1, Kind=Foo (required by a 1.0.0)"


def test_a_required_api_provided_only_outside_default_channels_or_by_another_installed_version() -> None:
    a = bundle("a", "1.0.0", requires_gvks=[BAR])
    c1, c2 = bundle("c", "1.0.0"), bundle("c", "2.0.0", provides=[BAR])
    d1, d2 = bundle("d", "1.0.0"), bundle("d", "2.0.0", provides=[BAR])
    channels = {
        ("a", "stable"): chain(a),
        ("c", "stable"): chain(c1, c2),
        ("d", "stable"): chain(d1),
        ("d", "fast"): chain(d1, d2),
    }
    message = error_of(resolve_install, catalog(a, c1, c2, d1, d2, channels=channels), Want("a"), {"c": c1})
    assert message == (
        "no bundle can provide v1, Kind=Bar (required by a 1.0.0): its providers (c 2.0.0, d 2.0.0)"
        " are outside their packages' default channels or of packages chosen at another version"
    )


# resolve_install: search


def test_a_candidate_whose_dependencies_fail_gives_way_to_the_next_lower() -> None:
    a1 = bundle("a", "1.0.0", requires={"b": ">=1.0.0"})
    a2 = bundle("a", "2.0.0", requires={"b": ">=2.0.0"})
    a3 = bundle("a", "3.0.0", requires_gvks=[FOO])
    b = bundle("b", "1.0.0")
    assert resolve_install(catalog(a1, a2, a3, b), Want("a")) == [b, a1]


def test_when_no_candidate_fits_the_highest_ones_reason_is_given() -> None:
    a1 = bundle("a", "1.0.0", requires={"b": ">=1.0.0"})
    a2 = bundle("a", "2.0.0", requires={"b": ">=2.0.0"})
    message = error_of(resolve_install, catalog(a1, a2, bundle("b", "0.5.0")), Want("a"))
    assert message == (
        "package 'a' 2.0.0 requires package 'b' (>=2.0.0),"
        " but no bundle in its default channel 'stable' matches (it has 0.5.0)"
    )


def test_diamond_dependencies_share_one_version_that_fits_both() -> None:
    root = bundle("r", "1.0.0", requires={"a": "*", "b": "*"})
    a = bundle("a", "1.0.0", requires={"c": ">=1.0.0"})
    b = bundle("b", "1.0.0", requires={"c": "<1.2.0"})
    c1, c2, c3 = bundle("c", "1.0.0"), bundle("c", "1.1.0"), bundle("c", "1.2.0")
    assert resolve_install(catalog(root, a, b, c1, c2, c3), Want("r")) == [c2, a, b, root]


def test_a_dependency_choice_is_revisited_when_a_later_sibling_cannot_live_with_it() -> None:
    root = bundle("r", "1.0.0", requires={"x": "*", "y": "*"})
    x1, x2 = bundle("x", "1.0.0", requires={"z": "<2.0.0"}), bundle("x", "2.0.0", requires={"z": ">=2.0.0"})
    y = bundle("y", "1.0.0", requires={"z": "<2.0.0"})
    z1, z2 = bundle("z", "1.0.0"), bundle("z", "2.0.0")
    assert resolve_install(catalog(root, x1, x2, y, z1, z2), Want("r")) == [z1, x1, y, root]


def test_a_conflict_with_a_choice_already_made_is_reported_as_such() -> None:
    root = bundle("r", "1.0.0", requires={"a": "*", "b": "*"})
    a = bundle("a", "1.0.0", requires={"c": ">=2.0.0"})
    b = bundle("b", "1.0.0", requires={"c": "<2.0.0"})
    c1, c2 = bundle("c", "1.0.0"), bundle("c", "2.0.0")
    message = error_of(resolve_install, catalog(root, a, b, c1, c2), Want("r"))
    assert message == "package 'b' 1.0.0 requires package 'c' (<2.0.0), but c 2.0.0 is already chosen"


def test_a_dependency_cycle_terminates_with_each_package_once() -> None:
    a = bundle("a", "1.0.0", requires={"b": "*"})
    b = bundle("b", "1.0.0", requires={"a": ">=1.0.0"}, requires_gvks=[FOO])
    c = bundle("c", "1.0.0", provides=[FOO], requires={"b": "*"})
    assert resolve_install(catalog(a, b, c), Want("a")) == [c, b, a]


def test_a_cycle_back_to_a_too_new_candidate_makes_it_give_way() -> None:
    a1 = bundle("a", "1.0.0", requires={"b": "*"})
    a2 = bundle("a", "2.0.0", requires={"b": "*"})
    b = bundle("b", "1.0.0", requires={"a": "<2.0.0"})
    assert resolve_install(catalog(a1, a2, b), Want("a")) == [b, a1]
    message = error_of(resolve_install, catalog(a2, b), Want("a"))
    assert message == (
        "package 'b' 1.0.0 requires package 'a' (<2.0.0),"
        " but no bundle in its default channel 'stable' matches (it has 2.0.0)"
    )


@pytest.mark.timeout(10)
@pytest.mark.parametrize("depth", [1, 2], ids=["own-need", "need-of-a-need"])
def test_a_dead_end_is_found_without_trying_every_unrelated_choice(depth: int) -> None:
    many = [bundle(f"p{i:02}", f"1.{j}.0") for i in range(14) for j in range(4)]  # 4**14 combinations
    q = bundle("q", "1.0.0", requires={"missing": "*"})
    last = {"missing": "*"} if depth == 1 else {"q": "*"}
    root = bundle("r", "1.0.0", requires={**{f"p{i:02}": "*" for i in range(14)}, **last})
    message = error_of(resolve_install, catalog(root, q, *many), Want("r"))
    who = "'r' 1.0.0" if depth == 1 else "'q' 1.0.0"
    assert message == f"package {who} requires package 'missing' (*), which the catalog does not have"


def test_a_new_bundle_must_fit_what_installed_bundles_require_of_it() -> None:
    x = bundle("x", "1.0.0", requires={"b": "<2.0.0"})
    b1, b2 = bundle("b", "1.0.0"), bundle("b", "2.0.0")
    assert resolve_install(catalog(x, b1, b2), Want("b"), {"x": x}) == [b1]
    message = error_of(resolve_install, catalog(x, b2), Want("b"), {"x": x})
    assert (
        message == "b 2.0.0 does not fit what is installed: package 'x' 1.0.0 requires package 'b' (<2.0.0)"
    )


# resolve_upgrade


def upgrade_catalog() -> Catalog:
    """a: 1.0.0 <- 1.1.0 <- 2.0.0 in 'stable' (2.0.0 also skips 1.0.0); 3.0.0 replaces 1.0.0 in 'fast'."""
    a4 = bundle("a", "3.0.0")
    stable = [*chain(A1, A2), ChannelEntry(A3.name, replaces=A2.name, skips=(A1.name,))]
    fast = [ChannelEntry(A1.name), ChannelEntry(a4.name, replaces=A1.name)]
    return catalog(A1, A2, A3, a4, channels={("a", "stable"): stable, ("a", "fast"): fast})


def test_upgrade_to_the_highest_direct_successor() -> None:
    found = upgrade_catalog()
    assert names(resolve_upgrade(found, Want("a", "stable"), A1)) == ["a.v2.0.0"]
    assert names(resolve_upgrade(found, Want("a"), A1)) == ["a.v3.0.0"]
    assert names(resolve_upgrade(found, Want("a"), A2)) == ["a.v2.0.0"]


def test_upgrade_within_a_range() -> None:
    found = upgrade_catalog()
    assert names(resolve_upgrade(found, Want("a", version_range="<2.0.0"), A1)) == ["a.v1.1.0"]
    assert names(resolve_upgrade(found, Want("a", version_range="2.x"), A1)) == ["a.v2.0.0"]


def test_no_upgrade_from_the_newest() -> None:
    assert resolve_upgrade(catalog(A1, A2), Want("a"), A2) == []
    assert resolve_upgrade(upgrade_catalog(), Want("a", "stable"), A3) == []


def test_no_upgrade_when_the_range_keeps_the_installed_version() -> None:
    assert resolve_upgrade(upgrade_catalog(), Want("a", version_range="~1.0.0"), A1) == []


def test_no_downgrade_along_an_edge_to_a_lower_version() -> None:
    found = catalog(
        A1, A3, channels={("a", "stable"): [ChannelEntry(A3.name), ChannelEntry(A1.name, A3.name)]}
    )
    assert successors(found, A3) == [A1]
    assert resolve_upgrade(found, Want("a"), A3) == []
    assert resolve_upgrade(found, Want("a", version_range="<2.0.0"), A3) == [A1]


def test_upgrade_when_neither_the_installed_version_nor_a_successor_is_in_range() -> None:
    message = error_of(resolve_upgrade, upgrade_catalog(), Want("a", "stable", ">=2.5.0"), A1)
    assert (
        message
        == "installed a 1.0.0 is not in '>=2.5.0' and none of its successors is (they are: 1.1.0, 2.0.0)"
    )
    message = error_of(resolve_upgrade, catalog(A1, A2), Want("a", version_range=">=2.0.0"), A2)
    assert message == "installed a 1.1.0 is not in '>=2.0.0' and none of its successors is (they are: none)"


def test_upgrade_of_another_package() -> None:
    message = error_of(resolve_upgrade, upgrade_catalog(), Want("b"), A1)
    assert message == "cannot upgrade a.v1.0.0 (package 'a') to 'b'"


def test_upgrade_brings_new_dependencies_first_and_keeps_installed_ones() -> None:
    a2 = bundle("a", "2.0.0", requires={"b": ">=1.0.0"}, requires_gvks=[FOO])
    b = bundle("b", "1.0.0")
    c = bundle("c", "1.0.0", provides=[FOO])
    found = catalog(A1, a2, b, c)
    assert resolve_upgrade(found, Want("a"), A1) == [b, c, a2]
    assert resolve_upgrade(found, Want("a"), A1, {"b": b, "a": A1}) == [c, a2]


def test_upgrade_skips_a_successor_whose_dependencies_cannot_be_met() -> None:
    a3 = bundle("a", "2.0.0", requires={"missing": "*"})
    stable = [ChannelEntry(A1.name), ChannelEntry(A2.name, A1.name), ChannelEntry(a3.name, skips=(A1.name,))]
    found = catalog(A1, A2, a3, channels={("a", "stable"): stable})
    assert resolve_upgrade(found, Want("a"), A1) == [A2]
    found = catalog(A1, a3, channels={("a", "stable"): chain(A1, a3)})
    message = error_of(resolve_upgrade, found, Want("a"), A1)
    assert message == "package 'a' 2.0.0 requires package 'missing' (*), which the catalog does not have"


def test_upgrade_keeps_to_what_other_installed_bundles_require() -> None:
    x = bundle("x", "1.0.0", requires={"a": "<2.0.0"})
    found = upgrade_catalog()
    assert names(resolve_upgrade(found, Want("a", "stable"), A1, {"x": x})) == ["a.v1.1.0"]


def test_a_bundle_with_an_olm_constraint_gives_way_and_is_named_when_nothing_else_fits() -> None:
    constrained = bundle("a", "2.0.0")
    constrained = Bundle(
        name=constrained.name,
        package="a",
        version=constrained.version,
        properties=(*constrained.properties, {"type": "olm.constraint", "value": {"cel": {"rule": "true"}}}),
    )
    older = bundle("a", "1.0.0")
    assert names(resolve_install(catalog(older, constrained), Want("a"))) == ["a.v1.0.0"]
    message = error_of(resolve_install, catalog(older, constrained), Want("a", version_range=">=2.0.0"))
    assert message == "a 2.0.0 declares an olm.constraint dependency, which kubeloop cannot resolve"
