"""Which API keys may spend, and from which wallet: New API's key rules, checked without a server.

The relay tests drive the same rules over HTTP (tests/test_relay_input_and_keys.py); these pin
each rule on its own, with a key cache that answers from memory, and the cache itself on a
database.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from dataclasses import replace

import pytest

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import (
    ROLE_ADMIN,
    ROLE_COMMON,
    TOKEN_DISABLED,
    TOKEN_ENABLED,
    TOKEN_EXHAUSTED,
    TOKEN_EXPIRED,
    USER_DISABLED,
    USER_ENABLED,
    Token,
    User,
)
from newapi_host.relay import keys
from newapi_host.relay.errors import RelayError
from newapi_host.relay.keys import KeyCache, TokenEntry, authenticate, parse_key

from .conftest import running

KEY = "k" * 48
BASE = TokenEntry(
    id=3, key=KEY, name="t", status=TOKEN_ENABLED, expired_time=-1, remain_quota=0, unlimited_quota=True,
    model_limits=None, networks=(), ip_restricted=False, group="", user_id=7, username="u",
    user_status=USER_ENABLED, role=ROLE_COMMON, user_group="default", user_quota=100,
)  # fmt: skip


class Remembered(KeyCache):
    """A key cache that knows one key, without a database."""

    def __init__(self, entry: TokenEntry) -> None:
        super().__init__()
        self.entry = entry

    async def lookup(self, key: str) -> TokenEntry | None:
        return self.entry if key == self.entry.key else None


async def refusal(entry: TokenEntry, raw: str = f"Bearer sk-{KEY}", ip: str = "127.0.0.1") -> tuple[int, str | None]:
    with pytest.raises(RelayError) as err:
        await authenticate(Remembered(entry), raw, ip)
    return err.value.status, err.value.code


async def passes(entry: TokenEntry, raw: str = f"Bearer sk-{KEY}", ip: str = "127.0.0.1") -> int | None:
    found, channel = await authenticate(Remembered(entry), raw, ip)
    assert found is entry
    return channel


def test_key_formats():
    assert parse_key(f"Bearer sk-{KEY}") == (KEY, None)
    assert parse_key(f"  bearer   sk-{KEY}-12 ") == (KEY, 12)  # an admin's forced channel
    assert parse_key(f"BEARER {KEY}") == (KEY, None)  # "sk-" is optional
    assert parse_key(KEY) == (KEY, None)
    with pytest.raises(RelayError) as err:
        parse_key(f"sk-{KEY}-twelve")
    assert (err.value.status, err.value.code) == (401, "invalid_api_key")


async def test_missing_and_unknown_keys():
    assert await refusal(BASE, raw="") == (401, "invalid_api_key")
    assert await refusal(BASE, raw="Bearer sk-" + "x" * 48) == (401, "invalid_api_key")
    assert await passes(BASE) is None


async def test_a_key_spends_only_while_enabled_unexpired_and_funded():
    past, future = int(time.time()) - 10, int(time.time()) + 3600
    assert await refusal(replace(BASE, status=TOKEN_DISABLED)) == (401, "token_disabled")
    assert await refusal(replace(BASE, status=9)) == (401, "token_disabled")  # no status New API knows
    assert await refusal(replace(BASE, status=TOKEN_EXPIRED)) == (401, "token_expired")
    assert await refusal(replace(BASE, expired_time=past)) == (401, "token_expired")
    assert await passes(replace(BASE, expired_time=future)) is None
    assert await refusal(replace(BASE, status=TOKEN_EXHAUSTED)) == (401, "token_quota_exhausted")
    assert await refusal(replace(BASE, unlimited_quota=False, remain_quota=0)) == (401, "token_quota_exhausted")
    assert await refusal(replace(BASE, unlimited_quota=False, remain_quota=-5)) == (401, "token_quota_exhausted")
    assert await passes(replace(BASE, unlimited_quota=False, remain_quota=1)) is None
    assert await passes(replace(BASE, unlimited_quota=True, remain_quota=0)) is None
    assert await refusal(replace(BASE, user_status=USER_DISABLED)) == (403, "user_disabled")


async def test_ip_allow_lists():
    allowed = replace(BASE, ip_restricted=True, networks=keys._networks("10.0.0.0/8,\n 192.168.1.7 , bad-entry"))
    assert allowed.networks == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.7/32"))
    assert await passes(allowed, ip="10.1.2.3") is None and await passes(allowed, ip="192.168.1.7") is None
    assert await refusal(allowed, ip="192.168.1.8") == (403, "ip_not_allowed")
    assert await refusal(allowed, ip="unknown") == (403, "ip_not_allowed")
    typo = replace(BASE, ip_restricted=True, networks=keys._networks("10.0.0.300"))
    assert typo.networks == () and await refusal(typo, ip="10.0.0.1") == (403, "ip_not_allowed")
    assert await passes(BASE, ip="unknown") is None  # no allow-list: any address


async def test_only_admins_pick_a_channel():
    assert await refusal(BASE, raw=f"sk-{KEY}-5") == (403, "forbidden_channel")
    assert await passes(replace(BASE, role=ROLE_ADMIN), raw=f"sk-{KEY}-5") == 5


def test_the_using_group_is_the_keys_else_the_users():
    assert BASE.using_group == "default"
    assert replace(BASE, group="vip").using_group == "vip"


async def test_the_key_cache_on_a_database(sqlite_config: Config, monkeypatch):
    async with running(sqlite_config):
        user = await create_user("kim", "kim-pass-123", quota=900, group="vip")
        other = await create_user("lee", "lee-pass-123")
        mine = Token(
            user_id=user["id"], key="m" * 48, name="mine", remain_quota=50, unlimited_quota=False,
            model_limits_enabled=True, model_limits="gpt-4o, o3,,", allow_ips="10.0.0.0/8", group="svip",
        )  # fmt: skip
        open_ = Token(user_id=user["id"], key="o" * 48, name="open", model_limits="gpt-4o", allow_ips="  ")
        theirs = Token(user_id=other["id"], key="t" * 48, name="theirs")
        spare = Token(user_id=user["id"], key="s" * 48, name="spare")
        for token in (mine, open_, theirs, spare):
            await token.save()
        cache = KeyCache()
        entry = await cache.lookup("m" * 48)
        assert entry is not None
        assert (entry.id, entry.name, entry.user_id, entry.username, entry.role) == (
            mine.id,
            "mine",
            user["id"],
            "kim",
            ROLE_COMMON,
        )
        assert (entry.remain_quota, entry.unlimited_quota, entry.user_quota) == (50, False, 900)
        assert (entry.group, entry.user_group, entry.using_group) == ("svip", "vip", "svip")
        assert entry.model_limits == frozenset({"gpt-4o", "o3"})
        assert entry.ip_restricted and entry.networks == (ipaddress.ip_network("10.0.0.0/8"),)
        assert (entry.status, entry.expired_time, entry.user_status) == (TOKEN_ENABLED, -1, USER_ENABLED)
        plain = await cache.lookup("o" * 48)
        assert plain is not None and plain.model_limits is None and not plain.ip_restricted  # limits not enabled
        assert (await cache.lookup("t" * 48)).username == "lee"

        # served from memory until the TTL, then read again
        await Token.update({Token.name: "renamed"}).where(Token.id == mine.id)
        assert (await cache.lookup("m" * 48)).name == "mine"
        monkeypatch.setattr(keys, "TTL", 0.0)
        assert (await cache.lookup("m" * 48)).name == "renamed"
        monkeypatch.undo()

        # deleted keys and deleted owners are unknown as soon as their change is heard
        now = dt.datetime.now(dt.UTC)
        await Token.update({Token.deleted_at: now}).where(Token.id == open_.id)
        await User.update({User.deleted_at: now}).where(User.id == other["id"])
        await cache.tokens_changed(frozenset({open_.id}))
        await cache.users_changed(frozenset({other["id"]}))
        assert await cache.lookup("o" * 48) is None and await cache.lookup("t" * 48) is None
        assert await cache.lookup("") is None and await cache.lookup("m" * 129) is None
        assert await cache.lookup("m" * 48) is not None

        # a full cache starts over rather than growing without end: what it held is read again
        await Token.update({Token.name: "again"}).where(Token.id == mine.id)
        monkeypatch.setattr(keys, "MAX_ENTRIES", 1)
        assert (await cache.lookup("s" * 48)).name == "spare"
        assert (await cache.lookup("m" * 48)).name == "again"


async def test_a_full_key_cache_evicts_the_least_recently_used_key_only(sqlite_config: Config, monkeypatch):
    """Keys in rotation stay cached when one more key arrives; the coldest one is read again."""
    async with running(sqlite_config):
        user = await create_user("rota", "rota-pass-1", quota=900)
        for name in "abcd":
            await Token(user_id=user["id"], key=name * 48, name=name).save()
        monkeypatch.setattr(keys, "MAX_ENTRIES", 3)
        cache = KeyCache()
        for name in "abc":
            await cache.lookup(name * 48)
        await cache.lookup("a" * 48)  # a is now the most recently used; b the least
        assert cache.loads == 3
        await cache.lookup("d" * 48)  # one over the bound: b goes, a and c stay
        assert cache.size == 3 and cache.loads == 4
        for name in "acd":
            await cache.lookup(name * 48)
        assert cache.loads == 4  # no miss for the keys still in rotation
        await cache.lookup("b" * 48)
        assert cache.loads == 5 and cache.size == 3
