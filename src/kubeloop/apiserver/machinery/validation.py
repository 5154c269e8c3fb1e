"""The string rules of k8s.io/apimachinery's ``util/validation``, with the real messages: DNS names,
qualified names (label and annotation keys), label values, config keys. Each ``is_*`` returns the
messages for ``value`` (empty when valid), as the Go functions do; ``invalid`` etc. make causes."""

from __future__ import annotations

import re
from typing import Any

import orjson

from kubeloop.apiserver.machinery.errors import Cause

__all__ = [
    "forbidden",
    "go_value",
    "invalid",
    "invalid_raw",
    "is_config_key",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_label_value",
    "is_qualified_name",
    "label_causes",
    "not_supported",
    "required",
    "too_long",
]

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_QUALIFIED_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{message} (e.g. {shown}, regex used for validation is '{fmt}')"


def _matches(fmt: str, value: str) -> bool:
    return re.fullmatch(fmt, value) is not None


def _max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _checked(value: str, limit: int, fmt: str, message: str, *examples: str) -> list[str]:
    """Go's errors for ``value`` against one of the DNS name formats: too long, not matching."""
    errs = [_max_len(limit)] if len(value) > limit else []
    if not _matches(fmt, value):
        errs.append(_regex_error(message, fmt, *examples))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    if not _matches(_DNS1123_LABEL, value) and _matches(_DNS1123_SUBDOMAIN, value):
        # a valid subdomain, so the dots are what is wrong
        return [*([_max_len(63)] if len(value) > 63 else []), "must not contain dots"]
    return _checked(
        value,
        63,
        _DNS1123_LABEL,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
        "must start and end with an alphanumeric character",
        "my-name",
        "123-abc",
    )


def is_dns1123_subdomain(value: str) -> list[str]:
    return _checked(
        value,
        253,
        _DNS1123_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
        "'.', and must start and end with an alphanumeric character",
        "example.com",
    )


def is_path_segment_name(value: str) -> list[str]:
    """Errors for a name that must only be usable as one path segment (RBAC objects' names)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in value]


def is_dns1035_label(value: str) -> list[str]:
    return _checked(
        value,
        63,
        _DNS1035_LABEL,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
        "alphabetic character, and end with an alphanumeric character",
        "my-name",
        "abc-123",
    )


def is_qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix and '/', then a name part."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += [f"prefix part {m}" for m in is_dns1123_subdomain(prefix)]
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append(f"name part {_max_len(63)}")
    if not _matches(_QUALIFIED_NAME, name):
        errs.append(
            "name part " + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
        )
    return errs


def is_label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _matches(_LABEL_VALUE, value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                "'.', and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def is_config_key(value: str) -> list[str]:
    """A key of a ConfigMap's or Secret's data."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _matches(_CONFIG_KEY, value):
        errs.append(
            _regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_KEY,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


# -- causes, as k8s.io/apimachinery's field.Error renders them -------------------------------------


def label_causes(labels: dict[str, Any], field: str) -> list[Cause]:
    """Causes for the invalid keys and values of ``labels`` at ``field`` (ValidateLabels)."""
    causes: list[Cause] = []
    for key, value in labels.items():
        causes += [invalid(field, key, m) for m in is_qualified_name(key)]
        causes += [invalid(field, value, m) for m in is_label_value(value)]
    return causes


def go_value(value: Any) -> str:
    """``value`` as Go's ``%v``/``%q`` shows a scalar in a field error (strings quoted)."""
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}", field)


def invalid_raw(field: str, shown: str, detail: str) -> Cause:
    """``invalid`` with the value already shown as Go shows it (maps, structs)."""
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", field)


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", f"Required value: {detail}" if detail else "Required value", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {go_value(value)}", field)


def too_long(field: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    listed = ", ".join(go_value(s) for s in supported)
    return Cause(
        "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {listed}", field
    )
