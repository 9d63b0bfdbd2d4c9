"""API-key authentication for relay requests, served from memory.

A key's token and owner are read from the database once, then kept until that token or its
owner changes (the writer names them in its bump of the ``tokens`` or ``users`` topic; every
worker drops those copies within the sync interval, and all of them when a change did not say
what it touched) or for at most ``TTL`` seconds. Balances are not served from here: the live
ones are in the shared store (:mod:`newapi_host.billing.wallets`); the balances loaded with the
key only guess whether a request will pass the trust bypass before the store answers.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from newapi_host.db.tables import (
    ROLE_ADMIN,
    TOKEN_DISABLED,
    TOKEN_ENABLED,
    TOKEN_EXHAUSTED,
    TOKEN_EXPIRED,
    USER_ENABLED,
    Token,
    User,
)

from .errors import RelayError

TTL = 30.0
MAX_ENTRIES = 100_000


@dataclass(slots=True)
class TokenEntry:
    """A token and what the relay needs of its owner."""

    id: int
    key: str
    name: str
    status: int
    expired_time: int
    remain_quota: int
    unlimited_quota: bool
    model_limits: frozenset[str] | None
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    ip_restricted: bool  # an allow-list is set (even if none of its entries parsed: then nobody passes)
    group: str
    user_id: int
    username: str
    user_status: int
    role: int
    user_group: str
    user_quota: int
    loaded_at: float = field(default_factory=time.monotonic)
    trusted: bool = False  # the last reservation passed the trust bypass (a guess for the next one)

    @property
    def using_group(self) -> str:
        return self.group or self.user_group


def parse_key(raw: str) -> tuple[str, int | None]:
    """``Bearer sk-<key>[-<channel id>]`` -> (key, forced channel id or None)."""
    value = raw.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if value.startswith("sk-"):
        value = value[3:]
    key, _, channel = value.partition("-")
    if channel:
        try:
            return key, int(channel)
        except ValueError:
            raise RelayError(401, "invalid API key format", type_="new_api_error", code="invalid_api_key") from None
    return key, None


def _networks(allow_ips: str) -> tuple[Any, ...]:
    nets = []
    for part in allow_ips.replace("\n", ",").split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                continue  # a bad entry allows nobody; it must not open the token to everyone
    return tuple(nets)


class KeyCache:
    """Keys recently used, least recently used first: past ``MAX_ENTRIES`` the oldest one goes.

    (Clearing everything at the bound, as before, made every key in rotation miss at once.)
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, TokenEntry] = OrderedDict()
        self._by_token: dict[int, str] = {}  # token id -> key, for the entries held
        self._by_user: dict[int, set[str]] = {}  # owner id -> keys, for the entries held
        self.loads = 0  # database loads so far: misses, expiries and reloads after a change
        self._changes = 0  # changes heard so far: a load that overlaps one is not kept

    @property
    def size(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._changes += 1
        self._entries.clear()
        self._by_token.clear()
        self._by_user.clear()

    async def tokens_changed(self, ids: frozenset[int] | None) -> None:  # revision listener (tokens)
        """Drop the keys of the tokens ``ids`` (all keys when None)."""
        if ids is None:
            self.clear()
            return
        self._changes += 1
        for token_id in ids:
            if (key := self._by_token.get(token_id)) is not None:
                self._drop(key)

    async def users_changed(self, ids: frozenset[int] | None) -> None:  # revision listener (users)
        """Drop the keys owned by the users ``ids`` (all keys when None)."""
        if ids is None:
            self.clear()
            return
        self._changes += 1
        for user_id in ids:
            for key in list(self._by_user.get(user_id, ())):
                self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._by_token.pop(entry.id, None)
        keys = self._by_user.get(entry.user_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_user[entry.user_id]

    async def lookup(self, key: str) -> TokenEntry | None:
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.loaded_at < TTL:
            self._entries.move_to_end(key)
            return entry
        self.loads += 1
        changes = self._changes
        entry = await self._load(key)
        self._drop(key)
        if entry is None or changes != self._changes:
            return entry  # a change heard while loading may postdate what was read: not kept
        self._entries[key] = entry
        self._by_token[entry.id] = key
        self._by_user.setdefault(entry.user_id, set()).add(key)
        while len(self._entries) > MAX_ENTRIES:
            self._drop(next(iter(self._entries)))
        return entry

    async def _load(self, key: str) -> TokenEntry | None:
        if not key or len(key) > 128:
            return None
        token = await Token.select().where((Token.key == key) & Token.deleted_at.is_null()).first()
        if token is None:
            return None
        user = (
            await User.select(User.id, User.username, User.status, User.role, User.group, User.quota)
            .where((User.id == token["user_id"]) & User.deleted_at.is_null())
            .first()
        )
        if user is None:
            return None
        limits = {m.strip() for m in (token["model_limits"] or "").split(",") if m.strip()}
        return TokenEntry(
            id=token["id"],
            key=key,
            name=token["name"],
            status=token["status"],
            expired_time=token["expired_time"],
            remain_quota=token["remain_quota"],
            unlimited_quota=token["unlimited_quota"],
            model_limits=frozenset(limits) if token["model_limits_enabled"] else None,
            networks=_networks(token["allow_ips"] or ""),
            ip_restricted=bool((token["allow_ips"] or "").strip()),
            group=token["group"] or "",
            user_id=user["id"],
            username=user["username"],
            user_status=user["status"],
            role=user["role"],
            user_group=user["group"] or "default",
            user_quota=user["quota"],
        )


async def authenticate(cache: KeyCache, raw_key: str, client_ip: str) -> tuple[TokenEntry, int | None]:
    """Resolve and check an API key; raise :class:`RelayError` in New API's cases."""
    if not raw_key:
        raise RelayError(401, "no API key provided (Authorization: Bearer sk-...)", code="invalid_api_key")
    key, forced_channel = parse_key(raw_key)
    entry = await cache.lookup(key)
    if entry is None:
        raise RelayError(401, "invalid API key", code="invalid_api_key")
    if entry.status == TOKEN_DISABLED or entry.status not in (TOKEN_ENABLED, TOKEN_EXPIRED, TOKEN_EXHAUSTED):
        raise RelayError(401, "this API key has been disabled", code="token_disabled")
    if entry.status == TOKEN_EXPIRED or (entry.expired_time != -1 and entry.expired_time < time.time()):
        raise RelayError(401, "this API key has expired", code="token_expired")
    if entry.status == TOKEN_EXHAUSTED or (not entry.unlimited_quota and entry.remain_quota <= 0):
        raise RelayError(401, "this API key has no quota left", code="token_quota_exhausted")
    if entry.user_status != USER_ENABLED:
        raise RelayError(403, "the owner of this API key is disabled", code="user_disabled")
    if entry.ip_restricted:
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            raise RelayError(
                403, f"your IP {client_ip} is not allowed for this API key", code="ip_not_allowed"
            ) from None
        if not any(ip in net for net in entry.networks):
            raise RelayError(403, f"your IP {client_ip} is not allowed for this API key", code="ip_not_allowed")
    if forced_channel is not None and entry.role < ROLE_ADMIN:
        raise RelayError(403, "only administrators may pick a channel with the key suffix", code="forbidden_channel")
    return entry, forced_channel
