"""IP restrictions of secret-key JWTs: parsing what an administrator types, and matching a
caller's address against it. Pure functions, plus a small caching resolver for hostnames.

An entry is one of
- ``ip``: an IPv4 or IPv6 address (``203.0.113.7``, ``2001:db8::1``);
- ``range``: two addresses of the same family, low first (``192.168.1.10-192.168.1.20``);
- ``cidr``: a network (``10.0.0.0/8``, ``2001:db8::/32``; host bits are cleared);
- ``hostname``: an RFC 1123 name, forward-resolved (A/AAAA) when a token is used, through an
  injectable resolver with a short cache. A lookup that fails matches nothing.
An IPv4-mapped IPv6 address (``::ffff:203.0.113.7``) is its IPv4 address. An empty list
restricts nothing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Entry = dict[str, str]
Resolve = Callable[[str], Iterable[str]]

MAX_ENTRIES = 200
MAX_ENTRY_LENGTH = 253
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidRestrictions(ValidationFailed):
    """One or more entries cannot be understood; each is named in ``errors``."""

    error = "invalid_ip_restrictions"


def _address(value: str) -> IPAddress:
    """An address, IPv4-mapped IPv6 as its IPv4 form; ValueError otherwise."""
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_hostname(value: str) -> bool:
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    # The last label is never all digits (RFC 1123 §2.1; 300.1.1.1 is a bad address, not a name).
    return all(_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def parse_entry(item: str) -> Entry:
    """One entry, or ValueError with the reason (the caller names the entry)."""
    if len(item) > MAX_ENTRY_LENGTH:
        raise ValueError("too long")
    if "/" in item:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError("not a CIDR block") from None
        return {"type": "cidr", "value": str(network)}
    if "-" in item:
        low_text, high_text = (part.strip() for part in item.split("-", 1))
        try:
            low = _address(low_text)
        except ValueError:
            low = None
        if low is not None:  # an address before the dash: a range (names never start so)
            try:
                high = _address(high_text)
            except ValueError:
                raise ValueError("the end of the range is not an IP address") from None
            if low.version != high.version:
                raise ValueError("a range cannot mix IPv4 and IPv6")
            if low > high:  # type: ignore[operator]
                raise ValueError("the range's first address is after its last")
            return {"type": "range", "value": f"{low}-{high}"}
    try:
        return {"type": "ip", "value": str(_address(item))}
    except ValueError:
        pass
    name = item.lower()
    if _is_hostname(name):
        return {"type": "hostname", "value": name.rstrip(".")}
    raise ValueError("not an IP address, range, CIDR block or hostname")


def parse(restrictions: str | Sequence[str] | None) -> list[Entry]:
    """A comma-separated string (or a list of entries) as validated entries, duplicates
    dropped, order kept. InvalidRestrictions names every bad entry."""
    if restrictions is None:
        return []
    if isinstance(restrictions, str):
        items = restrictions.split(",")
    else:
        items = []
        for element in restrictions:
            if not isinstance(element, str):
                raise InvalidRestrictions(
                    "Every IP restriction must be a string",
                    extra={"errors": [f"{element!r} is not a string"]},
                )
            items.extend(element.split(","))
    entries: list[Entry] = []
    problems: list[str] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        try:
            entry = parse_entry(item)
        except ValueError as reason:
            problems.append(f"{item!r}: {reason}")
            continue
        if entry not in entries:
            entries.append(entry)
    if problems:
        raise InvalidRestrictions(
            "Invalid IP restriction entry " + "; ".join(problems), extra={"errors": problems}
        )
    if len(entries) > MAX_ENTRIES:
        message = f"At most {MAX_ENTRIES} IP restriction entries"
        raise InvalidRestrictions(message, extra={"errors": [message]})
    return entries


def as_text(entries: Iterable[Entry]) -> str:
    """The entries as the comma-separated list an administrator would type."""
    return ", ".join(entry["value"] for entry in entries)


# --- matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    addresses: frozenset[IPAddress]
    ranges: tuple[tuple[IPAddress, IPAddress], ...]
    networks: tuple[IPNetwork, ...]
    hostnames: tuple[str, ...]


@lru_cache(maxsize=1024)
def _compile(entries: tuple[tuple[str, str], ...]) -> _Compiled:
    addresses: set[IPAddress] = set()
    ranges: list[tuple[IPAddress, IPAddress]] = []
    networks: list[IPNetwork] = []
    hostnames: list[str] = []
    for kind, value in entries:
        if kind == "ip":
            addresses.add(_address(value))
        elif kind == "range":
            low, high = value.split("-", 1)
            ranges.append((_address(low), _address(high)))
        elif kind == "cidr":
            networks.append(ipaddress.ip_network(value, strict=False))
        elif kind == "hostname":
            hostnames.append(value)
    return _Compiled(frozenset(addresses), tuple(ranges), tuple(networks), tuple(hostnames))


def _in_range(address: IPAddress, low: IPAddress, high: IPAddress) -> bool:
    return address.version == low.version and low <= address <= high  # type: ignore[operator]


def allows(ip: str | None, entries: Sequence[Entry] | None, resolve: Resolve) -> bool:
    """Whether a caller at ``ip`` may use a token under ``entries`` (None or [] = anyone).
    Addresses, ranges and networks are tried before any hostname is resolved."""
    if not entries:
        return True
    if not ip:
        return False
    try:
        address = _address(ip)
    except ValueError:
        return False
    compiled = _compile(tuple((entry["type"], entry["value"]) for entry in entries))
    if address in compiled.addresses:
        return True
    if any(_in_range(address, low, high) for low, high in compiled.ranges):
        return True
    if any(address in network for network in compiled.networks):
        return True
    for hostname in compiled.hostnames:
        for resolved in resolve(hostname):
            try:
                if _address(resolved) == address:
                    return True
            except ValueError:
                continue
    return False


# --- resolving hostnames ----------------------------------------------------------------------


def system_lookup(hostname: str) -> list[str]:
    """Forward resolution (A and AAAA) with the system resolver."""
    infos = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


@dataclass
class CachingResolver:
    """Resolves a hostname at most once per ``ttl`` seconds (failures too: a name that does
    not resolve is not asked again on every request). Any lookup error means no address."""

    lookup: Callable[[str], Iterable[str]] = system_lookup
    ttl: float = 60.0
    clock: Callable[[], float] = time.monotonic
    max_entries: int = 1024
    _cache: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, hostname: str) -> tuple[str, ...]:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(hostname)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            addresses = tuple(self.lookup(hostname))
        except (OSError, UnicodeError, ValueError):
            addresses = ()
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[hostname] = (now + self.ttl, addresses)
        return addresses


def describe(entries: Sequence[dict[str, Any]]) -> list[Entry]:
    """Entries as stored, for a response (copies: callers may not alter the stored list)."""
    return [{"type": str(e["type"]), "value": str(e["value"])} for e in entries]
