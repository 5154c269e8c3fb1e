"""Resource names derived from a kind: the plural (``AppService`` → ``appservices``) and singular."""

from __future__ import annotations

__all__ = ["plural_of", "singular_of"]

_VOWELS = frozenset("aeiou")
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")


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
