"""The names of the API's types: ``GroupVersionKind``, ``GroupVersionResource`` (apimachinery's ``schema``).

Role: the bottom layer beside ``kubeloop.errors`` (standard library only), so that the client, the
built-in kinds, CRD models, the operator facade, webhooks, the lifecycle manager and the embedded API
server all name a kind with one type. Their richer descriptions are built on it:
``resources.Kind``, ``client.ApiResource``, ``crd.ResourceInfo``, ``operator.KindSpec`` and
``webhook.Target`` are ``GroupVersionKind``s with what each needs on top (plural, scope, model...).
``kubeloop.client`` and ``kubeloop`` re-export both types.

::

    >>> gvk = GroupVersionKind.from_api_version("apps/v1", "Deployment")
    >>> gvk.api_version, gvk.ref, str(gvk)
    ('apps/v1', 'apps/v1/Deployment', 'apps/v1, Kind=Deployment')
    >>> gvk.resource()
    GroupVersionResource(group='apps', version='v1', resource='deployments')

Guarantees: both types are frozen, hashable and ordered by (group, version, name); a subclass keeps
those three fields first, so ``x.gvk`` is the plain name of any of them. ``group`` is
``""`` for the core group, whose ``apiVersion`` is the bare version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GroupVersionKind",
    "GroupVersionResource",
    "join_api_version",
    "plural_of",
    "singular_of",
    "split_api_version",
]

_VOWELS = frozenset("aeiou")
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` → ``("apps", "v1")``; ``"v1"`` → ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def join_api_version(group: str, version: str) -> str:
    """``("apps", "v1")`` → ``"apps/v1"``; the core group's is the bare version."""
    return f"{group}/{version}" if group else version


def singular_of(kind: str) -> str:
    """The singular resource name: the kind in lower case."""
    return kind.lower()


def plural_of(kind: str) -> str:
    """The plural resource name: the lower-cased kind with the usual English plural ending.

    A consonant followed by ``y`` becomes ``ies`` (``Policy`` → ``policies``, but ``Gateway`` →
    ``gateways``); a word ending in ``s``, ``x``, ``z``, ``ch`` or ``sh`` takes ``es``
    (``Status`` → ``statuses``, ``Box`` → ``boxes``); anything else takes ``s``. Irregular words are
    not guessed: pass ``plural=`` to ``crd.resource`` for those.
    """
    word = kind.lower()
    if not word:
        raise ValueError("an empty kind has no plural")
    if word.endswith("y") and len(word) > 1 and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    if word.endswith(_SIBILANT_ENDINGS):
        return word + "es"
    return word + "s"


@dataclass(frozen=True, slots=True, order=True)
class GroupVersionKind:
    """A kind at one group/version: ``("apps", "v1", "Deployment")``."""

    group: str
    version: str
    kind: str

    @staticmethod
    def from_api_version(api_version: str, kind: str) -> GroupVersionKind:
        """From an object's ``apiVersion`` and ``kind``."""
        group, version = split_api_version(api_version)
        return GroupVersionKind(group, version, kind)

    @staticmethod
    def from_object(obj: Mapping[str, Any]) -> GroupVersionKind:
        """The kind of an object dict (its ``apiVersion`` and ``kind``)."""
        return GroupVersionKind.from_api_version(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    @staticmethod
    def from_ref(ref: str) -> GroupVersionKind:
        """From the client's reference form ``apiVersion/Kind`` (``"apps/v1/Deployment"``,
        ``"v1/ConfigMap"``); ValueError for anything else."""
        api_version, _, kind = ref.rpartition("/")
        if not api_version or not kind:
            raise ValueError(f"kind reference {ref!r} must be apiVersion/Kind, e.g. 'apps/v1/Deployment'")
        return GroupVersionKind.from_api_version(api_version, kind)

    @property
    def gvk(self) -> GroupVersionKind:
        """Just the name (a subclass's extra fields dropped): what to compare and key by."""
        return GroupVersionKind(self.group, self.version, self.kind)

    @property
    def api_version(self) -> str:
        """``group/version``, or ``version`` for the core group."""
        return join_api_version(self.group, self.version)

    @property
    def ref(self) -> str:
        """The client's reference form, ``apiVersion/Kind``."""
        return f"{self.api_version}/{self.kind}"

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        """The resource serving this kind: ``plural`` or, by default, the guessed ``plural_of(kind)``
        (right for every built-in kind and for CRDs that declare no irregular plural)."""
        return GroupVersionResource(self.group, self.version, plural or plural_of(self.kind))

    def __str__(self) -> str:
        return f"{self.api_version}, Kind={self.kind}"


@dataclass(frozen=True, slots=True, order=True)
class GroupVersionResource:
    """A resource (the plural in URLs and RBAC rules) at a group/version: ``("apps", "v1", "pods")``."""

    group: str
    version: str
    resource: str

    @property
    def api_version(self) -> str:
        """``group/version``, or ``version`` for the core group."""
        return join_api_version(self.group, self.version)

    @property
    def group_resource(self) -> str:
        """kubectl's ``resource.group`` (``deployments.apps``; ``pods`` for the core group)."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def __str__(self) -> str:
        return f"{self.api_version}, Resource={self.resource}"
