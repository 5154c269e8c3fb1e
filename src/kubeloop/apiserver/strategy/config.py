"""Secrets and ConfigMaps: ``stringData`` merged into ``data``; keys, total size (1 MiB) and the
keys each Secret type requires checked; ``immutable`` ones refuse changes to their data; a Secret's type
never changes. Rules and messages as ``pkg/apis/core/validation`` has them."""

from __future__ import annotations

import base64

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy

__all__ = ["ConfigMapStrategy", "SecretStrategy"]

MAX_SIZE = 1024 * 1024
_IMMUTABLE = "field is immutable when `immutable` is set"
_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
}


def _type_causes(obj: Obj, data: Obj) -> list[Cause]:
    """What each Secret type requires of the Secret (``ValidateSecret``'s switch on the type)."""
    kind = obj.get("type", "")
    if kind == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [validation.required("metadata.annotations[kubernetes.io/service-account.name]")]
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        return [validation.required("data[username]"), validation.required("data[password]")]
    if kind == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        return [validation.required("data[ssh-privatekey]")]
    return [validation.required(f"data[{key}]") for key in _REQUIRED_KEYS.get(kind, ()) if key not in data]


def _drop_empty(obj: Obj, *fields: str) -> None:
    """Empty maps are not kept (the real server's storage drops them)."""
    for name in fields:
        if name in obj and not obj[name]:
            del obj[name]


def _key_causes(field: str, data: Obj) -> list[Cause]:
    return [
        validation.invalid(f"{field}[{key}]", key, message)
        for key in data
        for message in validation.is_config_key(key)
    ]


def _immutable_causes(obj: Obj, old: Obj, fields: tuple[str, ...]) -> list[Cause]:
    if not old.get("immutable"):
        return []
    causes = [] if obj.get("immutable") else [validation.forbidden("immutable", _IMMUTABLE)]
    return causes + [
        validation.forbidden(name, _IMMUTABLE) for name in fields if obj.get(name) != old.get(name)
    ]


class SecretStrategy(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        _merge_string_data(obj)
        obj.setdefault("type", "Opaque")

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        # An empty data sent to an immutable Secret is a change on the real server (Go keeps the empty
        # map[string][]byte, the stored Secret has none), as a ConfigMap's binaryData.
        sent_empty = obj.get("data") == {} and bool(old.get("immutable"))
        _merge_string_data(obj)
        if sent_empty and "data" not in obj:
            obj["data"] = {}
        obj.setdefault("type", old.get("type", "Opaque"))

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        causes: list[Cause] = []
        if old is not None:
            if obj.get("type") != old.get("type"):
                causes.append(validation.invalid("type", obj.get("type"), "field is immutable"))
            causes += _immutable_causes(obj, old, ("data",))
        data = obj.get("data") or {}
        causes += _key_causes("data", data)
        if sum(len(base64.b64decode(v or "")) for v in data.values()) > MAX_SIZE:
            causes.append(validation.too_long("data", MAX_SIZE))
        return causes + _type_causes(obj, data)


def _merge_string_data(obj: Obj) -> None:
    """``stringData`` into ``data`` (base64), winning over ``data``, as the real server converts it."""
    strings = obj.pop("stringData", None) or {}
    if strings:
        data = obj.setdefault("data", {})
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    _drop_empty(obj, "data")


class ConfigMapStrategy(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        _drop_empty(obj, "data", "binaryData")

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        # An empty binaryData sent to an immutable ConfigMap is a change on the real server (Go keeps
        # the empty map[string][]byte, the stored object has none), an empty data is not.
        _drop_empty(obj, "data", *(() if old.get("immutable") else ("binaryData",)))

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        causes = [] if old is None else _immutable_causes(obj, old, ("data", "binaryData"))
        data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
        causes += _key_causes("data", data)
        causes += [
            validation.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
            for key in data
            if key in binary
        ]
        causes += _key_causes("binaryData", binary)
        size = sum(len((v or "").encode()) for v in data.values())
        size += sum(len(base64.b64decode(v or "")) for v in binary.values())
        if size > MAX_SIZE:
            causes.append(validation.too_long("[]", MAX_SIZE))
        return causes
