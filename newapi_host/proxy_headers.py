"""The client's own address behind a reverse proxy (``TRUSTED_PROXIES``).

Behind nginx or a load balancer every connection comes from the proxy, so per-address limits
(sign-in rate limits) would lump all users together and API keys' IP allow-lists would see the
proxy. When the connecting address is a trusted proxy, this middleware replaces ``scope["client"]``
with the address the proxies recorded: walking ``X-Forwarded-For`` from the right, the first
address that is not itself a trusted proxy (``X-Real-IP`` when there is no ``X-Forwarded-For``).
Headers from anyone else are ignored, so a client cannot claim another address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1``, ``::1``...; a bad entry raises ValueError naming it."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def real_client(peer: str, headers: Iterable[tuple[bytes, bytes]], networks: tuple[Network, ...]) -> str:
    """The client's address for a request that arrived from ``peer``."""
    if not _trusted(peer, networks):
        return peer
    forwarded: list[str] = []
    real_ip = ""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
        elif lowered == b"x-real-ip":
            real_ip = value.decode("latin-1").strip()
    hops = [hop for hop in forwarded if hop]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop if _is_ip(hop) else peer
    if hops:
        return hops[0] if _is_ip(hops[0]) else peer  # every hop is a proxy: the first one is the client
    return real_ip if _is_ip(real_ip) else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class ProxyHeadersMiddleware:
    """Pure ASGI; installed only when ``TRUSTED_PROXIES`` is set."""

    def __init__(self, app: ASGIApp, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client:
            address = real_client(client[0], scope["headers"], self.networks)
            if address != client[0]:
                scope["client"] = (address, client[1])  # type: ignore[typeddict-item]
        await self.app(scope, receive, send)
