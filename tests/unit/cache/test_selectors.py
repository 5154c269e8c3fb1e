"""Label selectors matched in the cache agree with the API server's grammar."""

from __future__ import annotations

import pytest

from kubeloop.cache import LabelSelector, SelectorError, selector_from_dict


def obj(**labels: str) -> dict[str, object]:
    return {"metadata": {"labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier in (a,b)", {"tier": "c"}, False),
        ("tier notin (a,b)", {"tier": "c"}, True),
        ("tier notin (a,b)", {}, True),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier in (a,b),!legacy", {"app": "web", "tier": "a"}, True),
        ("app=web,tier in (a,b),!legacy", {"app": "web", "tier": "a", "legacy": "1"}, False),
    ],
    ids=lambda v: repr(v),
)
def test_selector_matches_like_the_api_server(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(obj(**labels)) is expected


def test_unparsable_selector_names_the_bad_part() -> None:
    with pytest.raises(SelectorError, match=r"unable to parse requirement: found 'a b c'"):
        LabelSelector.parse("app=web,a b c")


def test_structured_selector_converts_match_labels_and_expressions() -> None:
    selector = selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches(obj(app="web", tier="a"))
    assert not selector.matches(obj(app="web", tier="b"))
    assert not selector.matches(obj(app="web", tier="a", legacy="y"))
