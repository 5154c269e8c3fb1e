"""Object metadata rules shared by every kind: names, generateName, uid, timestamps, generation.

Role: pure functions used by ``rest`` when an object is created or updated; no storage, no HTTP.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from typing import Any

from kubeloop.apiserver.machinery.errors import Cause

__all__ = [
    "generate_name",
    "now",
    "spec_changed",
    "validate_name",
]

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
# Kinds whose names are DNS labels (1035 for services) rather than subdomains.
_NAME_RULES = {
    "Namespace": (_LABEL, _LABEL_MSG, 63),
    "Service": (_DNS1035, _DNS1035_MSG, 63),
}
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """The current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``generateName`` plus five random characters, as the real server does."""
    return prefix[:58] + "".join(random.choices(_ALPHABET, k=5))


def validate_name(kind: str, name: str) -> list[Cause]:
    """Causes for an invalid ``metadata.name`` of ``kind`` (empty when valid)."""
    pattern, message, limit = _NAME_RULES.get(kind, (_SUBDOMAIN, _SUBDOMAIN_MSG, 253))
    causes: list[Cause] = []
    if len(name) > limit:
        causes.append(
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be no more than {limit} characters',
                "metadata.name",
            )
        )
    if not pattern.match(name):
        causes.append(Cause("FieldValueInvalid", f'Invalid value: "{name}": {message}', "metadata.name"))
    return causes


def validate_labels(obj: Obj) -> list[Cause]:
    """Causes for label values that are not valid label values."""
    causes: list[Cause] = []
    value_re = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
    for key, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not value_re.match(value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": a valid label must be an empty string or consist of '
                    "alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                    "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                    f"metadata.labels.{key}" if False else "metadata.labels",
                )
            )
    return causes


def spec_changed(old: Obj, new: Obj) -> bool:
    """Whether anything but metadata and status differs (what bumps ``metadata.generation``)."""
    skip = {"metadata", "status", "apiVersion", "kind"}
    keys = (set(old) | set(new)) - skip
    return any(old.get(k) != new.get(k) for k in keys)


def strip_volatile(obj: Obj) -> Obj:
    """``obj`` without resourceVersion and managedFields times: compared to detect no-op updates."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    fields = meta.get("managedFields")
    if fields:
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in fields]
    return dict(obj, metadata=meta)
