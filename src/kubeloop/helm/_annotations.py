"""The ``helm.sdk.operatorframework.io/*`` annotations of a custom resource that operator-sdk's
helm-operator reads, read as it reads them: booleans as Go's ``strconv.ParseBool`` (anything else is
the default), the reconcile period as a Go duration (anything else is an error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeloop.ansible import parse_duration

__all__ = [
    "RECONCILE_PERIOD",
    "ROLLBACK_FORCE",
    "UNINSTALL_WAIT",
    "UPGRADE_FORCE",
    "annotation_bool",
    "reconcile_period",
]

_DOMAIN = "helm.sdk.operatorframework.io"
UPGRADE_FORCE = f"{_DOMAIN}/upgrade-force"
"""``"true"``: upgrades run as ``helm upgrade --force``."""
ROLLBACK_FORCE = f"{_DOMAIN}/rollback-force"
"""``"false"``: the rollback after a failed upgrade runs without ``--force`` (the default is with it)."""
UNINSTALL_WAIT = f"{_DOMAIN}/uninstall-wait"
"""``"true"``: the object's deletion waits until every object of the release is gone."""
RECONCILE_PERIOD = f"{_DOMAIN}/reconcile-period"
"""A Go duration (``30s``, ``1m``): reconciled again after it, over the watch's ``reconcilePeriod``."""

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def annotation_bool(obj: Mapping[str, Any], annotation: str, default: bool) -> bool:
    """The annotation as ``strconv.ParseBool`` reads it; ``default`` when absent or not a boolean."""
    value = str(_annotations(obj).get(annotation, ""))
    return True if value in _TRUE else False if value in _FALSE else default


def reconcile_period(obj: Mapping[str, Any], default: float) -> float:
    """Seconds of the reconcile-period annotation, else ``default``; ValueError when it is not a duration."""
    value = _annotations(obj).get(RECONCILE_PERIOD)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    return parse_duration(value)
