"""CEL ``x-kubernetes-validations`` rules of CRD schemas (placeholder until a CEL library is chosen).

``check`` returns the causes for failed rules; without a CEL library it checks nothing.
"""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.errors import Cause

__all__ = ["check"]


def check(obj: dict[str, Any], old: dict[str, Any] | None, schema: dict[str, Any]) -> list[Cause]:
    """Causes for every ``x-kubernetes-validations`` rule ``obj`` breaks (none yet: no evaluator)."""
    return []
