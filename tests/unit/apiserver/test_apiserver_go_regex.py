"""Go's regular expressions read by Python's re (machinery/regex.py): ``$`` and ``\\z`` end the text."""

from __future__ import annotations

import pytest

from kubeloop.apiserver.machinery.regex import go_pattern, go_regex


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"^[a-z]([-a-z0-9]*[a-z0-9])?$", "a\n", False),  # Python's own $ matches before the newline
        (r"^[a-z]([-a-z0-9]*[a-z0-9])?$", "a", True),
        (r"^a\z", "a\n", False),
        (r"^a\z", "a", True),
        (r"^[$a]+$", "$a", True),  # a $ in a class is a $
        (r"^[]$]+$", "]$", True),  # so after a class's first ]
        (r"^a\$$", "a$", True),  # an escaped $ is a $
        (r"(?m)^a$", "a\nb", True),  # multi-line mode: the end of a line, in both
    ],
)
def test_a_pattern_matches_as_go_s_would(pattern: str, text: str, matches: bool) -> None:
    assert (go_regex(pattern).search(text) is not None) is matches


def test_only_the_ends_of_the_text_are_rewritten() -> None:
    assert go_pattern(r"^[$]\$a$") == r"^[$]\$a\Z"
