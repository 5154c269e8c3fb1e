"""Decoding ``application/vnd.kubernetes.protobuf`` request bodies into the JSON objects they stand for.

Role: kubectl's typed commands (``create namespace``, ``create configmap``, ``create deployment``…)
send built-in objects as Kubernetes protobuf; the server decodes them here and goes on as for JSON.
The message table (``data/protobuf.json.gz``, from ``hack/dump-protobuf-schema.py``) comes from the Go
types of k8s.io/api: field numbers, JSON names, pointers, ``omitempty`` and inlined structs, so the
result is what Go's JSON encoding of the decoded struct gives (zero values of ``omitempty`` fields
left out). Responses are always JSON, which every client accepts.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import struct
from importlib import resources
from typing import Any

import orjson

from kubeloop.apiserver.machinery.errors import bad_request
from kubeloop.gvk import split_api_version

__all__ = ["MEDIA_TYPE", "decode"]

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"
Obj = dict[str, Any]
_INTS = {"int", "int32", "int64", "uint32", "uint64"}


@functools.cache
def _table() -> dict[str, Any]:
    raw = resources.files("kubeloop.apiserver").joinpath("data/protobuf.json.gz").read_bytes()
    data: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return data


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) of every field of one message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def _resolve(go_type: str) -> str:
    aliases = _table()["aliases"]
    seen = 0
    while go_type in aliases and seen < 10:
        go_type = aliases[go_type]
        seen += 1
    return go_type


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(go_type: str, wire: int, raw: Any) -> Any:
    t = _resolve(go_type)
    if t in _INTS:
        return _signed(raw) if wire == 0 else int.from_bytes(raw, "little", signed=True)
    if t == "bool":
        return bool(raw)
    if t in ("float64", "float32"):
        return struct.unpack("<d" if wire == 1 else "<f", raw)[0]
    if t == "[]byte":
        return base64.b64encode(raw).decode()
    if t in ("string", "types.UID") or (
        wire == 2 and t not in _table()["messages"] and not t.startswith(("map[", "[]"))
    ):
        if t in _SPECIAL:
            return _SPECIAL[t](raw)
        return raw.decode() if isinstance(raw, bytes) else raw
    return _message(t, raw)


def _time(raw: bytes) -> str | None:
    seconds = 0
    for number, _, value in _fields(raw):
        if number == 1:
            seconds = _signed(value)
    if seconds == 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(raw: bytes) -> str:
    for number, _, value in _fields(raw):
        if number == 1:
            return bytes(value).decode()
    return "0"


def _int_or_string(raw: bytes) -> int | str:
    kind, int_val, str_val = 0, 0, ""
    for number, _, value in _fields(raw):
        if number == 1:
            kind = value
        elif number == 2:
            int_val = _signed(value)
        elif number == 3:
            str_val = bytes(value).decode()
    return str_val if kind == 1 else int_val


def _raw_json(raw: bytes) -> Any:
    for number, _, value in _fields(raw):
        if number == 1 and value:
            return orjson.loads(value)
    return None


def _duration(raw: bytes) -> str:
    for number, _, value in _fields(raw):
        if number == 1:
            return f"{_signed(value) / 1e9:g}s"
    return "0s"


_SPECIAL = {
    "meta/v1.Time": _time,
    "meta/v1.MicroTime": _time,
    "resource.Quantity": _quantity,
    "intstr.IntOrString": _int_or_string,
    "runtime.RawExtension": _raw_json,
    "meta/v1.FieldsV1": _raw_json,
    "meta/v1.Duration": _duration,
}


def _message(name: str, raw: bytes) -> Any:
    if name in _SPECIAL:
        return _SPECIAL[name](raw)
    spec = _table()["messages"].get(name)
    if spec is None:
        raise bad_request(f"cannot decode protobuf message {name}")
    out: Obj = {}
    seen: dict[str, Any] = {}
    for number, wire, value in _fields(raw):
        field = spec.get(str(number))
        if field is None:
            continue
        go_type: str = field["type"]
        pointer = go_type.startswith("*")
        base = _resolve(go_type.lstrip("*"))
        key = field["json"]
        if base.startswith("map["):
            key_type, _, value_type = base[4:].partition("]")
            entry_key: Any = None
            entry_value: Any = None
            for n, w, v in _fields(value):
                if n == 1:
                    entry_key = _scalar(key_type, w, v)
                elif n == 2:
                    entry_value = _scalar(value_type, w, v)
            if entry_value is None:
                entry_value = "" if _resolve(value_type) in ("string", "[]byte") else {}
            seen.setdefault(key, {})[str(entry_key)] = entry_value
        elif base.startswith("[]") and base != "[]byte":
            item_type = base[2:]
            if wire == 2 and _resolve(item_type) in _INTS | {"bool"}:
                pos, items = 0, []
                while pos < len(value):
                    v, pos = _varint(value, pos)
                    items.append(_scalar(item_type, 0, v))
                seen.setdefault(key, []).extend(items)
            else:
                seen.setdefault(key, []).append(_scalar(item_type, wire, value))
        else:
            decoded = _scalar(base, wire, value)
            if field["inline"] and isinstance(decoded, dict):
                out.update(decoded)
                continue
            if decoded is None:
                continue
            if (
                not pointer
                and field["omitempty"]
                and decoded in ("", 0, False)
                and not isinstance(decoded, dict)
            ):
                continue
            seen[key] = decoded
    for key, value in seen.items():
        if key:
            out[key] = value
    return out


def _package(api_version: str) -> str:
    group, version = split_api_version(api_version)
    return f"{group.split('.')[0] if group else 'core'}/{version}"


def _message_name(api_version: str, kind: str) -> str:
    """The table's name of ``kind`` in ``api_version``; the options and Status of meta/v1, which every
    group version registers (client-go sends a Secret's DeleteOptions as ``v1``), by their own."""
    name = f"{_package(api_version)}.{kind}"
    if name not in _table()["messages"] and f"meta/v1.{kind}" in _table()["messages"]:
        return f"meta/v1.{kind}"
    return name


def decode(body: bytes) -> Obj:
    """The JSON object of a Kubernetes protobuf body (``k8s\\0`` + ``runtime.Unknown`` envelope)."""
    if not body.startswith(_MAGIC):
        raise bad_request("protobuf body without the k8s magic prefix")
    api_version = kind = ""
    raw = b""
    try:
        for number, _, value in _fields(body[len(_MAGIC) :]):
            if number == 1:
                for n, _, v in _fields(value):
                    if n == 1:
                        api_version = bytes(v).decode()
                    elif n == 2:
                        kind = bytes(v).decode()
            elif number == 2:
                raw = value
        obj = _message(_message_name(api_version, kind), raw)
    except (IndexError, UnicodeDecodeError, struct.error) as exc:
        raise bad_request(f"error decoding protobuf body: {exc}") from exc
    if not isinstance(obj, dict):
        raise bad_request("protobuf body is not an object")
    return {"apiVersion": api_version, "kind": kind, **obj}
