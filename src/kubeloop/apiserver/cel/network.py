"""URLs and IP addresses as Go reads them, for CEL's ``url()``, ``ip()`` and ``cidr()`` libraries:
``net/url``'s ``ParseRequestURI`` (what it accepts, its parts, its query) and ``net/netip``'s
address and prefix rules (no zones, no IPv4-mapped IPv6, Go's address classes)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = [
    "NetworkError",
    "Url",
    "contains_cidr",
    "contains_ip",
    "family",
    "ip_class",
    "parse_cidr",
    "parse_ip",
    "parse_url",
]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})(.{0,2})")
_PORT = re.compile(r":[0-9]*")

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Prefix = tuple[IP, int]


class NetworkError(ValueError):
    """A string that is no URL, address or prefix, with Go's message."""


@dataclass(frozen=True)
class Url:
    """The parts of a URL ``getScheme()``…``getQuery()`` return."""

    scheme: str
    host: str
    path: str
    query: str

    @property
    def hostname(self) -> str:
        host = self.host
        colon = host.rfind(":")
        if colon != -1 and _PORT.fullmatch(host[colon:]):
            host = host[:colon]
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host

    @property
    def port(self) -> str:
        colon = self.host.rfind(":")
        if colon != -1 and _PORT.fullmatch(self.host[colon:]) and "]" not in self.host[colon:]:
            return self.host[colon + 1 :]
        return ""

    def query_values(self) -> dict[str, list[str]]:
        """``url.Values`` of the raw query, as ``URL.Query`` (pairs that do not decode are dropped)."""
        values: dict[str, list[str]] = {}
        for pair in self.query.split("&"):
            if not pair or ";" in pair:
                continue
            key, _, value = pair.partition("=")
            if _ESCAPE.search(key) or _ESCAPE.search(value):
                continue
            values.setdefault(unquote(key.replace("+", " ")), []).append(unquote(value.replace("+", " ")))
        return values


def _failed(raw: str, why: str) -> NetworkError:
    quoted = raw.replace("\\", "\\\\").replace('"', '\\"')
    return NetworkError(f'parse "{quoted}": {why}')


def parse_url(raw: str) -> Url:
    """``url.ParseRequestURI`` (an absolute URI or an absolute path), then the parts ``url.Parse``
    gives the same string (its fragment cut)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise _failed(raw, "net/url: invalid control character in URL")
    if raw == "":
        raise _failed(raw, "empty url")
    _parse(raw, raw, via_request=True)
    return _parse(raw.partition("#")[0], raw, via_request=False)


def _parse(text: str, raw: str, *, via_request: bool) -> Url:
    if text == "*":
        return Url("", "", "*", "")
    scheme, rest = "", text
    found = _SCHEME.match(text)
    if found and text[found.end() : found.end() + 1] == ":":
        scheme, rest = found.group().lower(), text[found.end() + 1 :]
    elif text.startswith(":"):
        raise _failed(raw, "missing protocol scheme")
    query = ""
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    elif "?" in rest:
        rest, _, query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            return Url(scheme, "", "", query)  # opaque: ``mailto:x``
        if via_request:
            raise _failed(raw, "invalid URI for request")
        if ":" in rest.partition("/")[0]:
            raise _failed(raw, "first path segment in URL cannot contain colon")
    host = ""
    if (scheme or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        host = authority.rpartition("@")[2]
        if host.startswith("["):
            close = host.find("]")
            if close < 0:
                raise _failed(raw, "missing ']' in host")
            if not _PORT.fullmatch(host[close + 1 :]) and host[close + 1 :]:
                raise _failed(raw, f'invalid port "{host[close + 1 :]}" after host')
        elif ":" in host and not _PORT.fullmatch(host[host.rfind(":") :]):
            raise _failed(raw, f'invalid port "{host[host.rfind(":") :]}" after host')
        bad = _ESCAPE.search(host)
        if bad:
            raise _failed(raw, f'invalid URL escape "%{bad.group(1)}"')
    bad = _ESCAPE.search(rest)
    if bad:
        raise _failed(raw, f'invalid URL escape "%{bad.group(1)}"')
    return Url(scheme, host, rest, query)


def parse_ip(raw: str) -> IP:
    """``netip.ParseAddr`` as Kubernetes' ``ip()`` takes it (no zone, no IPv4-mapped IPv6)."""
    if "%" in raw:
        try:
            ipaddress.IPv6Address(raw.partition("%")[0])
        except ValueError:
            pass
        else:
            raise NetworkError(f'IP address "{raw}" with zone value is not allowed')
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        raise NetworkError(
            f'IP Address "{raw}" parse error during conversion from string: '
            f'ParseAddr("{raw}"): unable to parse IP'
        ) from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise NetworkError(f'IPv4-mapped IPv6 address "{raw}" is not allowed')
    return addr


def parse_cidr(raw: str) -> Prefix:
    """``netip.ParsePrefix`` as Kubernetes' ``cidr()`` takes it: the address as written (not
    masked) and the prefix length."""
    prefix = "network address parse error during conversion from string: "
    address, slash, bits = raw.partition("/")
    why = None
    if not slash:
        why = "no '/'"
    elif not (bits.isdigit() and bits.isascii()) or (len(bits) > 1 and bits[0] == "0"):
        why = f'bad bits after slash: "{bits}"'
    try:
        addr = ipaddress.ip_address(address) if why is None else None
    except ValueError:
        why = f'ParseAddr("{address}"): unable to parse IP'
        addr = None
    if why is None and addr is not None and int(bits) > addr.max_prefixlen:
        why = "prefix length out of range"
    if why is not None or addr is None:
        raise NetworkError(f'{prefix}{prefix}netip.ParsePrefix("{raw}"): {why}')
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise NetworkError(f'{prefix}IPv4-mapped IPv6 address "{raw}" is not allowed')
    return addr, int(bits)


def family(addr: IP) -> int:
    return addr.version


def _network(prefix: Prefix) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{prefix[0]}/{prefix[1]}", strict=False)


def contains_ip(prefix: Prefix, addr: IP) -> bool:
    return addr.version == prefix[0].version and addr in _network(prefix)


def contains_cidr(prefix: Prefix, other: Prefix) -> bool:
    """``Overlaps`` and no longer a prefix than ``other``'s, as Kubernetes' ``containsCIDR``."""
    if prefix[0].version != other[0].version:
        return False
    return _network(prefix).overlaps(_network(other)) and prefix[1] <= other[1]


def ip_class(addr: IP, name: str) -> bool:
    """Go's ``netip.Addr`` classes: ``isUnspecified``, ``isLoopback``, ``isLinkLocalMulticast``,
    ``isLinkLocalUnicast``, ``isGlobalUnicast`` (private ranges are global unicast in Go)."""
    if name == "isUnspecified":
        return addr.is_unspecified
    if name == "isLoopback":
        return addr.is_loopback
    if name == "isLinkLocalUnicast":
        return addr.is_link_local
    if name == "isLinkLocalMulticast":
        if addr.version == 4:
            return addr in ipaddress.ip_network("224.0.0.0/24")
        return int(addr) >> 112 & 0xFF0F == 0xFF02
    return not (
        addr.is_unspecified
        or addr.is_loopback
        or addr.is_multicast
        or addr.is_link_local
        or (addr.version == 4 and str(addr) == "255.255.255.255")
    )
