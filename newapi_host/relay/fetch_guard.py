"""Which addresses admin-initiated fetches may reach: New API's SSRF protection (``fetch_setting``).

The channel test, the upstream model lists, balance queries and relays an admin forces onto one
channel (``sk-...-<id>``) send requests to a URL an admin typed; without a guard they read internal
services and probe ports. Normal relay traffic is not guarded: it goes to channels root set up
(self-hosted models on 127.0.0.1 included) and must not pay for a DNS lookup per request.

The options are New API's, stored as ``fetch_setting.<field>`` rows with its defaults: protection
on, private addresses refused, any domain and any public IP allowed (deny-list modes with empty
lists), ports 80, 443, 8080 and 8443, and resolved domains checked like IP addresses. One
difference: in IP allow-list mode an address root listed passes even when it is private, so a
self-hoster can open exactly one local service without allowing every private address.

This module decides; :mod:`newapi_host.relay.client` enforces, checking the URL before sending and
every address a host name resolves to at connection time (so a DNS answer that changes between
the check and the connection cannot slip through).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newapi_host.options import Options

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PREFIX = "fetch_setting."
BOOL_FIELDS = (
    "enable_ssrf_protection",
    "allow_private_ip",
    "domain_filter_mode",  # true: domain_list is an allow-list; false: a deny-list
    "ip_filter_mode",  # true: ip_list is an allow-list; false: a deny-list
    "apply_ip_filter_for_domain",
)
LIST_FIELDS = ("domain_list", "ip_list", "allowed_ports")
DEFAULTS = {
    f"{PREFIX}enable_ssrf_protection": "true",
    f"{PREFIX}allow_private_ip": "false",
    f"{PREFIX}domain_filter_mode": "false",
    f"{PREFIX}ip_filter_mode": "false",
    f"{PREFIX}domain_list": "[]",
    f"{PREFIX}ip_list": "[]",
    f"{PREFIX}allowed_ports": '["80","443","8080","8443"]',
    f"{PREFIX}apply_ip_filter_for_domain": "true",
}

# Not routable on the public internet, beyond what ``ipaddress`` calls private: shared address
# space (carrier-grade NAT, also Alibaba Cloud's metadata service at 100.100.100.200).
_ALSO_PRIVATE = (ipaddress.ip_network("100.64.0.0/10"),)


class Blocked(Exception):
    """A fetch the settings refuse; ``reason`` names the address and the rule (for root's eyes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_private(ip: IPAddress) -> bool:
    """Loopback, private, link-local, multicast, reserved or unspecified (0.0.0.0 reaches localhost)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in net for net in _ALSO_PRIVATE if ip.version == net.version)
    )


def ip_of(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (brackets and an IPv6 zone allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    allow_private_ip: bool
    domain_allow_list: bool
    ip_allow_list: bool
    domains: tuple[str, ...]
    networks: tuple[Network, ...]
    ports: tuple[tuple[int, int], ...]  # empty: every port
    check_resolved: bool  # apply the IP rules to the addresses a domain resolves to

    def check_target(self, scheme: str, host: str, port: int | None) -> None:
        """Scheme, port, then the IP rules for an IP literal or the domain rules for a name."""
        if scheme not in ("http", "https"):
            raise Blocked(f"the scheme {scheme or '(none)'}:// is not allowed (only http and https)")
        if not host:
            raise Blocked("the URL has no host")
        port = port or (443 if scheme == "https" else 80)
        if self.ports and not any(lo <= port <= hi for lo, hi in self.ports):
            raise Blocked(f"port {port} is not allowed (fetch_setting.allowed_ports)")
        ip = ip_of(host)
        if ip is not None:
            self.check_ip(ip)
            return
        listed = _domain_listed(host.lower().rstrip("."), self.domains)
        if self.domain_allow_list and not listed:
            raise Blocked(f"the domain {host} is not in the allow-list (fetch_setting.domain_list)")
        if not self.domain_allow_list and listed:
            raise Blocked(f"the domain {host} is in the deny-list (fetch_setting.domain_list)")

    def check_ip(self, ip: IPAddress, host: str | None = None) -> None:
        """The IP rules; ``host`` is the name that resolved to ``ip``, for the message."""
        where = f"{host} resolves to {ip}" if host else str(ip)
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        listed = any(mapped in net for net in self.networks if net.version == mapped.version)
        if self.ip_allow_list and listed:
            return  # root listed this address on purpose, private or not
        if is_private(mapped) and not self.allow_private_ip:
            raise Blocked(
                f"{where}, a private address (allow it with fetch_setting.allow_private_ip or an ip_list allow-list)"
            )
        if self.ip_allow_list:
            raise Blocked(f"{where}, which is not in the allow-list (fetch_setting.ip_list)")
        if listed:
            raise Blocked(f"{where}, which is in the deny-list (fetch_setting.ip_list)")


def _domain_listed(domain: str, patterns: tuple[str, ...]) -> bool:
    """Exact names, and ``*.example.com`` for example.com and every name under it (as New API)."""
    for pattern in patterns:
        if domain == pattern:
            return True
        if pattern.startswith("*.") and (domain == pattern[2:] or domain.endswith(pattern[1:])):
            return True
    return False


# -- option values ------------------------------------------------------------------------------


def _strings(field: str, text: str) -> list[str]:
    try:
        items = json.loads(text)
    except ValueError:
        raise ValueError(f'fetch_setting.{field} must be a JSON list, such as ["example.com"]') from None
    if not isinstance(items, list) or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in items):
        raise ValueError(f"fetch_setting.{field} must be a JSON list of strings")
    if field != "allowed_ports" and not all(isinstance(i, str) for i in items):
        raise ValueError(f"fetch_setting.{field} must be a JSON list of strings")
    return [str(i).strip() for i in items if str(i).strip()]


def parse_ports(items: list[str]) -> tuple[tuple[int, int], ...]:
    """``["80", "8000-9000"]`` -> ((80, 80), (8000, 9000)); ValueError naming a bad entry."""
    ranges = []
    for item in items:
        lo, dash, hi = item.replace(" ", "").partition("-")
        if not (lo.isascii() and lo.isdigit() and (not dash or (hi.isascii() and hi.isdigit()))):
            raise ValueError(f"fetch_setting.allowed_ports: {item!r} is not a port or a range such as 8000-9000")
        start, end = int(lo), int(hi or lo)
        if not 1 <= start <= end <= 65535:
            raise ValueError(f"fetch_setting.allowed_ports: {item!r} is not within 1-65535 (low end first)")
        ranges.append((start, end))
    return tuple(ranges)


def parse_networks(items: list[str]) -> tuple[Network, ...]:
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"fetch_setting.ip_list: {item!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def parse_domains(items: list[str]) -> tuple[str, ...]:
    domains = []
    for item in items:
        name = item.lower().rstrip(".")
        bare = name[2:] if name.startswith("*.") else name
        if not bare or any(c in bare for c in "/:@?#* \t") or bare.startswith("."):
            raise ValueError(
                f"fetch_setting.domain_list: {item!r} is not a domain such as example.com or *.example.com"
            )
        domains.append(name)
    return tuple(domains)


def validate(key: str, text: str) -> str:
    """The value to store for an admin's write of a ``fetch_setting.*`` option; ValueError if bad."""
    field = key[len(PREFIX) :]
    if field in BOOL_FIELDS:
        if text not in ("true", "false"):
            raise ValueError(f"{key} must be true or false")
        return text
    if field not in LIST_FIELDS:
        known = ", ".join(BOOL_FIELDS + LIST_FIELDS)
        raise ValueError(f"{key}: fetch_setting has no field {field!r} (fields: {known})")
    items = _strings(field, text)
    {"domain_list": parse_domains, "ip_list": parse_networks, "allowed_ports": parse_ports}[field](items)
    return json.dumps(items, separators=(",", ":"))


def policy(options: Options) -> FetchPolicy | None:
    """The policy in force, or None when root switched the protection off."""
    values = tuple(options.get(k, DEFAULTS[k]) for k in DEFAULTS)
    return _policy(values)


@lru_cache(maxsize=8)
def _policy(values: tuple[str, ...]) -> FetchPolicy | None:
    raw = dict(zip((k[len(PREFIX) :] for k in DEFAULTS), values, strict=True))
    if raw["enable_ssrf_protection"] != "true":
        return None

    def items(field: str, parse: Any) -> Any:
        try:
            return parse(_strings(field, raw[field]))
        except ValueError:  # written past validation (by hand, or by New API): fall back to the default
            return parse(_strings(field, DEFAULTS[PREFIX + field]))

    return FetchPolicy(
        allow_private_ip=raw["allow_private_ip"] == "true",
        domain_allow_list=raw["domain_filter_mode"] == "true",
        ip_allow_list=raw["ip_filter_mode"] == "true",
        domains=items("domain_list", parse_domains),
        networks=items("ip_list", parse_networks),
        ports=items("allowed_ports", parse_ports),
        check_resolved=raw["apply_ip_filter_for_domain"] != "false",
    )
