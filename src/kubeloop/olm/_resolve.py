"""Which bundles to install or upgrade to: channel heads, upgrade edges, and dependency resolution.

Bundles are picked as OLM v1 picks them (channel, version range, replaces/skips/skipRange edges) and
OLM v0's olm.package.required / olm.gvk.required dependencies are met by a small backtracking search.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from kubeloop.gvk import GroupVersionKind
from kubeloop.olm._model import Bundle, Catalog, Channel, ChannelEntry, OLMError, PackageRequirement
from kubeloop.olm._semver import VersionRange

__all__ = ["Want", "channel_head", "resolve_install", "resolve_upgrade", "successors"]

_NOTHING: Mapping[str, Bundle] = MappingProxyType({})


@dataclass(frozen=True)
class Want:
    """A package asked for, in one channel (None: any of its channels) within a version range (None: any)."""

    package: str
    channel: str | None = None
    version_range: str | None = None


def channel_head(catalog: Catalog, package: str, channel: str) -> Bundle:
    """The channel's newest bundle: the one entry no other entry replaces or skips.

    OLMError when the channel is missing or empty, or when no entry or several are heads (naming them).
    """
    found = _channel(catalog, package, channel)
    where = f"channel {channel!r} of package {package!r}"
    if not found.entries:
        raise OLMError(f"{where} has no entries")
    heads = [e.name for e in found.entries if not any(_points_at(o, e.name) for o in found.entries)]
    if not heads:
        raise OLMError(f"{where} has no head: every entry is replaced or skipped by another")
    if len(heads) > 1:
        raise OLMError(f"{where} has several heads: {', '.join(heads)}")
    return _bundle(catalog, found, heads[0])


def successors(catalog: Catalog, installed: Bundle, channels: Sequence[str] | None = None) -> list[Bundle]:
    """Bundles that upgrade directly from ``installed``, highest version first, each once.

    A bundle upgrades from it when its entry in one of ``channels`` (None: every channel of the
    package) replaces it, lists it in ``skips``, or has a ``skipRange`` containing its version.
    """
    package = installed.package
    searched = (
        catalog.channels_of(package)
        if channels is None
        else [_channel(catalog, package, name) for name in channels]
    )
    found = {
        entry.name: _bundle(catalog, channel, entry.name)
        for channel in searched
        for entry in channel.entries
        if entry.name != installed.name and _upgrades(channel, entry, installed)
    }
    return _highest_first(found.values())


def resolve_install(catalog: Catalog, want: Want, installed: Mapping[str, Bundle] = _NOTHING) -> list[Bundle]:
    """The bundles to install for ``want``, dependencies before dependents; none already installed.

    The wanted bundle is the highest version in ``want.channel`` (None: any channel of the package)
    within ``want.version_range``; a dependency is met by a bundle in ``installed`` (package → bundle)
    or by the highest matching one in a default channel, and a candidate whose dependencies cannot be
    met gives way to the next lower one. One version per package. OLMError (one line) when nothing
    fits, giving the reason for the highest candidate; when ``want.package`` is installed, [] if its
    version is in the range and OLMError otherwise.
    """
    wanted = _range(want.version_range)
    have = installed.get(want.package)
    if have is None:
        return _Search(catalog, installed).run(_wanted_bundles(catalog, want, wanted))
    if wanted is None or wanted.contains(have.version):
        return []
    raise OLMError(
        f"package {want.package!r} is installed at {have.version}, which is not in {want.version_range!r}"
    )


def resolve_upgrade(
    catalog: Catalog, want: Want, installed: Bundle, others: Mapping[str, Bundle] = _NOTHING
) -> list[Bundle]:
    """The bundles to upgrade ``installed`` to, as OLM v1's CatalogProvided policy picks them.

    The new bundle is the highest direct successor of ``installed`` (see ``successors``; in
    ``want.channel`` or every channel) within ``want.version_range``, after the dependencies it newly
    needs beyond ``others`` (the other installed packages); a successor whose dependencies cannot be
    met gives way to the next lower one, never to staying (OLMError then, as in ``resolve_install``).
    [] when ``installed`` may stay: no higher successor fits and its own version is in the range (or no
    range was asked). OLMError when it may not stay and no successor fits, naming its version and
    its successors.
    """
    if want.package != installed.package:
        raise OLMError(f"cannot upgrade {installed.name} (package {installed.package!r}) to {want.package!r}")
    wanted = _range(want.version_range)
    found = successors(catalog, installed, None if want.channel is None else [want.channel])
    stays = wanted is None or wanted.contains(installed.version)
    candidates = [
        b
        for b in found
        if (wanted is None or wanted.contains(b.version)) and not (stays and b.version <= installed.version)
    ]
    if candidates:
        rest = {name: b for name, b in others.items() if name != installed.package}
        return _Search(catalog, rest).run(candidates)
    if stays:
        return []
    raise OLMError(
        f"installed {installed.package} {installed.version} is not in {want.version_range!r} and none of"
        f" its successors is (they are: {_versions(found)})"
    )


def _channel(catalog: Catalog, package: str, name: str) -> Channel:
    found = catalog.channels.get((package, name))
    if found is not None:
        return found
    catalog.package(package)  # raises, naming the catalog's packages, when the package itself is missing
    known = ", ".join(c.name for c in catalog.channels_of(package)) or "none"
    raise OLMError(f"package {package!r} has no channel {name!r} (it has: {known})")


def _bundle(catalog: Catalog, channel: Channel, name: str) -> Bundle:
    try:
        return catalog.bundles[name]
    except KeyError:
        raise OLMError(
            f"channel {channel.name!r} of package {channel.package!r} lists bundle {name!r},"
            " which the catalog does not have"
        ) from None


def _channel_bundles(catalog: Catalog, channel: Channel) -> list[Bundle]:
    return [_bundle(catalog, channel, entry.name) for entry in channel.entries]


def _points_at(entry: ChannelEntry, name: str) -> bool:
    """Whether ``entry`` is another entry that replaces or skips ``name``."""
    return entry.name != name and (entry.replaces == name or name in entry.skips)


def _upgrades(channel: Channel, entry: ChannelEntry, installed: Bundle) -> bool:
    if entry.replaces == installed.name or installed.name in entry.skips:
        return True
    if not entry.skip_range:
        return False
    try:
        return VersionRange.parse(entry.skip_range).contains(installed.version)
    except OLMError as exc:
        raise OLMError(f"skipRange of {entry.name} in channel {channel.name!r}: {exc}") from None


def _range(text: str | None) -> VersionRange | None:
    """The range ``text``; None (any version) when it is None or empty."""
    return VersionRange.parse(text) if text else None


def _highest_first(bundles: Iterable[Bundle]) -> list[Bundle]:
    return sorted(bundles, key=lambda b: (b.version, b.name), reverse=True)


def _versions(bundles: Iterable[Bundle]) -> str:
    return ", ".join(str(v) for v in sorted({b.version for b in bundles})) or "none"


def _who(bundle: Bundle) -> str:
    return f"{bundle.package} {bundle.version}"


def _wanted_bundles(catalog: Catalog, want: Want, wanted: VersionRange | None) -> list[Bundle]:
    """The bundles that may be installed for ``want``, highest first (OLMError when there are none)."""
    catalog.package(want.package)
    if want.channel is None:
        searched, where = catalog.channels_of(want.package), ""
    else:
        searched, where = [_channel(catalog, want.package, want.channel)], f" in channel {want.channel!r}"
    bundles = {b.name: b for channel in searched for b in _channel_bundles(catalog, channel)}.values()
    if not bundles:
        raise OLMError(f"package {want.package!r} has no bundles{where}")
    found = [b for b in bundles if wanted is None or wanted.contains(b.version)]
    if not found:
        raise OLMError(
            f"no bundle of package {want.package!r}{where} matches {want.version_range!r}"
            f" (it has {_versions(bundles)})"
        )
    return _highest_first(found)


def _default_bundles(catalog: Catalog, package: str) -> list[Bundle]:
    return _channel_bundles(catalog, _channel(catalog, package, catalog.packages[package].default_channel))


@dataclass(frozen=True)
class _PackageNeed:
    """``by`` requires another package at a version in a range (``olm.package.required``)."""

    by: Bundle
    requirement: PackageRequirement

    def __str__(self) -> str:
        package, text = self.requirement.package, self.requirement.version_range or "*"
        return f"package {self.by.package!r} {self.by.version} requires package {package!r} ({text})"

    def met_in(self, chosen: Mapping[str, Bundle], installed: Mapping[str, Bundle]) -> Bundle | None:
        """The chosen bundle meeting the need; None when there is none; OLMError when one conflicts."""
        have = chosen.get(self.requirement.package)
        wanted = _range(self.requirement.version_range)
        if have is None or wanted is None or wanted.contains(have.version):
            return have
        state = "installed" if installed.get(have.package) is have else "already chosen"
        raise OLMError(f"{self}, but {_who(have)} is {state}")

    def candidates(self, catalog: Catalog, chosen: Mapping[str, Bundle]) -> list[Bundle]:
        """Bundles that would meet it, highest first (OLMError when there are none)."""
        package = self.requirement.package
        if package not in catalog.packages:
            raise OLMError(f"{self}, which the catalog does not have")
        bundles = _default_bundles(catalog, package)
        wanted = _range(self.requirement.version_range)
        found = [b for b in bundles if wanted is None or wanted.contains(b.version)]
        if not found:
            default = catalog.packages[package].default_channel
            raise OLMError(
                f"{self}, but no bundle in its default channel {default!r} matches"
                f" (it has {_versions(bundles)})"
            )
        return _highest_first(found)


@dataclass(frozen=True)
class _GVKNeed:
    """``by`` requires an API that some bundle provides (``olm.gvk.required``)."""

    by: Bundle
    gvk: GroupVersionKind

    def met_in(self, chosen: Mapping[str, Bundle], installed: Mapping[str, Bundle]) -> Bundle | None:
        return next((b for b in chosen.values() if self.gvk in b.provided_gvks), None)

    def candidates(self, catalog: Catalog, chosen: Mapping[str, Bundle]) -> list[Bundle]:
        """Default-channel bundles providing the API of packages not chosen yet, highest first."""
        providers = [b for b in catalog.bundles.values() if self.gvk in b.provided_gvks]
        where = f"{self.gvk} (required by {_who(self.by)})"
        if not providers:
            raise OLMError(f"no package in the catalog provides {where}")
        packages = sorted(({b.package for b in providers} - chosen.keys()) & catalog.packages.keys())
        found = [b for p in packages for b in _default_bundles(catalog, p) if self.gvk in b.provided_gvks]
        if not found:
            raise OLMError(
                f"no bundle can provide {where}: its providers"
                f" ({', '.join(sorted(_who(b) for b in providers))}) are outside their packages' default"
                " channels or of packages chosen at another version"
            )
        return _highest_first(found)


_Need = _PackageNeed | _GVKNeed


def _needs(bundle: Bundle) -> tuple[_Need, ...]:
    packages = tuple(_PackageNeed(bundle, r) for r in bundle.required_packages)
    return packages + tuple(_GVKNeed(bundle, g) for g in sorted(bundle.required_gvks))


@dataclass(frozen=True)
class _Search:
    """A depth-first search for one bundle per package meeting every need, beside ``installed``.

    Bundles that cannot be installed whatever else is chosen are found before the search tries them
    (``_dead``), so that it backtracks only over version conflicts, not over unrelated choices.
    """

    catalog: Catalog
    installed: Mapping[str, Bundle]
    verdicts: dict[str, OLMError | None] = field(default_factory=dict)

    def run(self, candidates: list[Bundle]) -> list[Bundle]:
        """The first of ``candidates`` (all of one package) that can be installed, after its new needs."""
        chosen = self._first(candidates, (), dict(self.installed))
        root = chosen[candidates[0].package]
        order: list[Bundle] = []
        self._visit(root, chosen, order, set())
        return order

    def _first(
        self, candidates: list[Bundle], needs: tuple[_Need, ...], chosen: dict[str, Bundle]
    ) -> dict[str, Bundle]:
        """``chosen`` plus the first candidate with which ``needs`` and its own can all be met."""
        reasons: list[OLMError] = []
        for candidate in candidates:
            reason = self._dead(candidate)
            if reason is None:
                try:
                    return self._solve(needs + _needs(candidate), {**chosen, candidate.package: candidate})
                except OLMError as exc:
                    reason = exc
            reasons.append(reason)
        raise reasons[0]

    def _solve(self, needs: tuple[_Need, ...], chosen: dict[str, Bundle]) -> dict[str, Bundle]:
        while needs and needs[0].met_in(chosen, self.installed) is not None:
            needs = needs[1:]
        if not needs:
            return chosen
        return self._first(needs[0].candidates(self.catalog, chosen), needs[1:], chosen)

    def _dead(self, bundle: Bundle) -> OLMError | None:
        """Why ``bundle`` cannot be installed whatever else is chosen; None when it may be (memoized)."""
        if bundle.name not in self.verdicts:
            self.verdicts[bundle.name] = None  # a cycle back to it counts as met; the search checks it
            self.verdicts[bundle.name] = self._judge(bundle)
        return self.verdicts[bundle.name]

    def _judge(self, bundle: Bundle) -> OLMError | None:
        if any(p.get("type") == "olm.constraint" for p in bundle.properties):
            return OLMError(
                f"{_who(bundle)} declares an olm.constraint dependency, which kubeloop cannot resolve"
            )
        beside = {**self.installed, bundle.package: bundle}
        try:
            self._check_installed_dependents(bundle)
            for need in _needs(bundle):
                if need.met_in(beside, self.installed) is None:
                    reasons = [self._dead(c) for c in need.candidates(self.catalog, {})]
                    if all(reasons):
                        return reasons[0]
        except OLMError as exc:
            return exc
        return None

    def _check_installed_dependents(self, candidate: Bundle) -> None:
        """OLMError when an installed bundle requires ``candidate``'s package at another version."""
        for other in self.installed.values():
            for requirement in other.required_packages:
                if requirement.package != candidate.package:
                    continue
                wanted = _range(requirement.version_range)
                if wanted is not None and not wanted.contains(candidate.version):
                    need = _PackageNeed(other, requirement)
                    raise OLMError(f"{_who(candidate)} does not fit what is installed: {need}")

    def _visit(
        self, bundle: Bundle, chosen: Mapping[str, Bundle], order: list[Bundle], seen: set[str]
    ) -> None:
        """Appends ``bundle`` to ``order`` after its new dependencies (depth first; cycles cut)."""
        if bundle.package in seen or self.installed.get(bundle.package) is bundle:
            return
        seen.add(bundle.package)
        for need in _needs(bundle):
            met = need.met_in(chosen, self.installed)
            if met is not None:
                self._visit(met, chosen, order, seen)
        order.append(bundle)
