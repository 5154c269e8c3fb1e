"""The extra variables of a run, as operator-sdk builds them: the spec's keys snake_cased (nested
ones too), ``ansible_operator_meta`` (name, namespace), the object and its spec as they are under
``_<group>_<kind>`` and ``_<group>_<kind>_spec``, then the watch's ``vars`` (and the finalizer's)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["extra_vars", "to_snake"]

_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD = re.compile(r"([a-z\d])([A-Z])")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def to_snake(name: str) -> str:
    """``nodePort`` → ``node_port``, ``HTTPServer`` → ``http_server``, ``replicas2`` unchanged."""
    return _WORD.sub(r"\1_\2", _ACRONYM.sub(r"\1_\2", name)).lower()


def _snake_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {to_snake(str(k)): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def object_key(group: str, kind: str) -> str:
    """``_app_example_com_appservice``: where the whole object is, as ansible can name it."""
    return _UNSAFE.sub("_", f"_{group}_{kind.lower()}")


def extra_vars(
    obj: Mapping[str, Any],
    *,
    snake_case: bool = True,
    variables: Mapping[str, Any] = {},
) -> dict[str, Any]:
    """The extra vars of a run over ``obj`` (see the module docstring)."""
    spec = obj.get("spec")
    spec = dict(spec) if isinstance(spec, Mapping) else {}
    meta = obj.get("metadata") or {}
    params: dict[str, Any] = _snake_keys(spec) if snake_case else dict(spec)
    params["ansible_operator_meta"] = {"name": meta.get("name", ""), "namespace": meta.get("namespace", "")}
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    key = object_key(group, str(obj.get("kind", "")))
    params[key] = dict(obj)
    params[f"{key}_spec"] = spec
    params.update(variables)
    return params
