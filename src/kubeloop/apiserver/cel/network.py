"""URLs and IP addresses as Go reads them, for CEL's ``url()``, ``ip()`` and ``cidr()`` libraries:
``net/url``'s ``ParseRequestURI`` (what it accepts, its parts, its query) and ``net/netip``'s
address and prefix rules (no zones, no IPv4-mapped IPv6, Go's address classes)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote

from kubeloop.apiserver.cel.formatting import go_quote

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
    return NetworkError(f"parse {go_quote(raw)}: {why}")


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


def _ipv4(raw: str) -> ipaddress.IPv4Address:
    """Go's ``parseIPv4``, for its messages."""
    fields: list[int] = []
    value, digits = 0, 0
    for n, char in enumerate(raw):
        if "0" <= char <= "9":
            if digits == 1 and value == 0:
                raise ValueError("IPv4 field has octet with leading zero")
            value, digits = value * 10 + int(char), digits + 1
            if value > 255:
                raise ValueError("IPv4 field has value >255")
        elif char == ".":
            if n == 0 or n == len(raw) - 1 or raw[n - 1] == ".":
                raise ValueError(f"IPv4 field must have at least one digit (at {go_quote(raw[n:])})")
            if len(fields) == 3:
                raise ValueError("IPv4 address too long")
            fields.append(value)
            value, digits = 0, 0
        else:
            raise ValueError(f"unexpected character (at {go_quote(raw[n:])})")
    if len(fields) < 3:
        raise ValueError("IPv4 address too short")
    return ipaddress.IPv4Address(".".join(map(str, [*fields, value])))


def _parse_addr(raw: str) -> IP:
    """``netip.ParseAddr``: an IPv4 address read as Go reads it (and worded so when it is none); an
    IPv6 one by Python (a failure said ``unable to parse IP``)."""
    try:
        for char in raw:
            if char == ".":
                return _ipv4(raw)
            if char == ":":
                return ipaddress.IPv6Address(raw)
            if char == "%":
                raise ValueError("missing IPv6 address")
        raise ValueError("unable to parse IP")
    except ValueError as exc:
        why = str(exc) if raw and not isinstance(exc, ipaddress.AddressValueError) else "unable to parse IP"
        raise NetworkError(f"ParseAddr({go_quote(raw)}): {why}") from None


def parse_ip(raw: str) -> IP:
    """``netip.ParseAddr`` as Kubernetes' ``ip()`` takes it (no zone, no IPv4-mapped IPv6)."""
    try:
        addr = _parse_addr(raw)
    except NetworkError as exc:
        raise NetworkError(
            f"IP Address {go_quote(raw)} parse error during conversion from string: {exc}"
        ) from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        raise NetworkError(f"IP address {go_quote(raw)} with zone value is not allowed")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise NetworkError(f"IPv4-mapped IPv6 address {go_quote(raw)} is not allowed")
    return addr


def parse_cidr(raw: str) -> Prefix:
    """``netip.ParsePrefix`` as Kubernetes' ``cidr()`` takes it: the address as written (not
    masked) and the prefix length."""
    prefix = "network address parse error during conversion from string: "
    address, slash, bits = raw.rpartition("/")

    def refused(why: str) -> NetworkError:
        return NetworkError(f"{prefix}{prefix}netip.ParsePrefix({go_quote(raw)}): {why}")

    if not slash:
        raise refused("no '/'")
    try:
        addr = _parse_addr(address)
    except NetworkError as exc:
        raise refused(str(exc)) from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        raise refused("IPv6 zones cannot be present in a prefix")
    if not (bits.isdigit() and bits.isascii()) or (len(bits) > 1 and bits[0] == "0"):
        raise refused(f"bad bits after slash: {go_quote(bits)}")
    if int(bits) > addr.max_prefixlen:
        raise refused("prefix length out of range")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise NetworkError(f"{prefix}IPv4-mapped IPv6 address {go_quote(raw)} is not allowed")
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
