"""The helm.sdk.operatorframework.io annotations read as operator-sdk's helm-operator reads them."""

from __future__ import annotations

import pytest

from kubeloop.helm import RECONCILE_PERIOD, ROLLBACK_FORCE, UPGRADE_FORCE, annotation_bool, reconcile_period


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        ("true", False, True),
        ("True", False, True),
        ("1", False, True),
        ("t", False, True),
        ("false", True, False),
        ("F", True, False),
        ("0", True, False),
        ("yes", False, False),  # not a Go boolean: the default
        ("yes", True, True),
        ("", True, True),
    ],
)
def test_booleans_are_gos_parse_bool_else_the_default(value: str, default: bool, expected: bool) -> None:
    obj = {"metadata": {"annotations": {UPGRADE_FORCE: value}}}
    assert annotation_bool(obj, UPGRADE_FORCE, default) is expected


def test_an_absent_annotation_is_the_default() -> None:
    assert annotation_bool({"metadata": {}}, ROLLBACK_FORCE, True) is True
    assert annotation_bool({}, UPGRADE_FORCE, False) is False


def test_the_reconcile_period_is_a_go_duration_over_the_watches_one() -> None:
    assert reconcile_period({"metadata": {"annotations": {RECONCILE_PERIOD: "1h2m4s"}}}, 30.0) == 3724.0
    assert reconcile_period({"metadata": {}}, 30.0) == 30.0
    with pytest.raises(ValueError, match="not a duration"):
        reconcile_period({"metadata": {"annotations": {RECONCILE_PERIOD: "1x3m9s"}}}, 30.0)
