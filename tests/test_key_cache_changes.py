"""A change to one user or one key reloads only that one's cached keys, on every worker.

Before, any edit of a user or a key (a top-up, a redemption, a key switched off) emptied every
worker's key cache, so every key in rotation was read from the database again.
"""

from __future__ import annotations

import asyncio

from newapi_host.auth.users import create_user
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import Revision, RevisionChange, Token
from newapi_host.relay.keys import KeyCache, TokenEntry
from newapi_host.sync import KEEP_CHANGES, bump, changed_subjects

from .conftest import as_root, running


async def _key(user_id: int, key: str) -> int:
    rows = await Token.insert(Token(user_id=user_id, key=key, name=key, unlimited_quota=True)).returning(Token.id)
    return rows[0]["id"]


async def test_an_edit_reloads_the_keys_of_that_user_or_that_key_only(db_config):
    async with running(db_config) as client:
        await as_root(client)
        host = client.app.state.host
        keys = host.relay.keys
        anna = (await create_user("anna", "anna-password-1", quota=100))["id"]
        bert = (await create_user("bert", "bert-password-1", quota=100))["id"]
        await _key(anna, "anna-key")
        bert_first, _ = await _key(bert, "bert-key-1"), await _key(bert, "bert-key-2")
        held = {k: await keys.lookup(k) for k in ("anna-key", "bert-key-1", "bert-key-2")}
        loads = keys.loads

        # An admin sets anna's quota: her key is read again, bert's stay as they were.
        r = await client.put("/api/user/", json={"id": anna, "quota": 777})
        assert r.json()["success"], r.text
        for k in ("bert-key-1", "bert-key-2"):
            assert await keys.lookup(k) is held[k]
        assert keys.loads == loads
        fresh = await keys.lookup("anna-key")
        assert fresh is not held["anna-key"] and fresh.user_quota == 777 and keys.loads == loads + 1

        # One of bert's keys changes: only that key is read again.
        await Token.update({Token.status: 2}).where(Token.id == bert_first)
        async with write_transaction():
            await bump("tokens", [bert_first])
        await host.watcher.check()
        assert await keys.lookup("bert-key-2") is held["bert-key-2"]
        assert (await keys.lookup("bert-key-1")).status == 2 and keys.loads == loads + 2

        # A change that does not say what it touched empties the cache.
        async with write_transaction():
            await bump("users")
        await host.watcher.check()
        assert keys.size == 0


async def test_a_worker_that_missed_an_unnamed_change_reloads_everything(db_config):
    async with running(db_config) as client:
        await as_root(client)
        async with write_transaction():
            start = await bump("users", [1])
            await bump("users", [2, 3])
        assert await changed_subjects("users", start - 1, start + 1) == {1, 2, 3}
        assert await changed_subjects("users", start, start + 1) == {2, 3}
        async with write_transaction():
            await bump("users")  # names nothing
            await bump("users", [4])
        assert await changed_subjects("users", start + 1, start + 3) is None
        assert await changed_subjects("users", start + 2, start + 3) == {4}
        assert await changed_subjects("users", start - KEEP_CHANGES - 5, start + 3) is None  # too far behind
        assert await changed_subjects("users", start + 3, start + 3) is None  # nothing moved: nothing to go by


async def test_named_changes_are_forgotten_once_no_worker_can_need_them(db_config):
    async with running(db_config) as client:
        await as_root(client)

        async def bump_at(version: int, subject: int) -> None:
            await Revision.update({Revision.version: version - 1}).where(Revision.topic == "tokens")
            async with write_transaction():
                assert await bump("tokens", [subject]) == version

        await bump_at(100, 1)
        await bump_at(150, 2)
        await bump_at(100 + KEEP_CHANGES, 3)  # a hundredth version: what is KEEP_CHANGES behind goes
        left = await RevisionChange.select(RevisionChange.version).where(RevisionChange.topic == "tokens")
        assert {row["version"] for row in left} == {150, 100 + KEEP_CHANGES}


class SlowCache(KeyCache):
    """Loads take until ``release`` is set, so a change can arrive in between."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def _load(self, key: str) -> TokenEntry | None:
        await self.release.wait()
        return TokenEntry(
            id=1, key=key, name="k", status=1, expired_time=-1, remain_quota=0, unlimited_quota=True,
            model_limits=None, networks=(), ip_restricted=False, group="", user_id=7, username="u",
            user_status=1, role=1, user_group="default", user_quota=100,
        )  # fmt: skip


async def test_a_key_read_while_a_change_arrives_is_not_kept():
    cache = SlowCache()
    looking = asyncio.ensure_future(cache.lookup("k"))
    await asyncio.sleep(0)
    await cache.users_changed(frozenset({99}))  # another user: still, what was read may predate it
    cache.release.set()
    assert (await looking).user_id == 7
    assert cache.size == 0
    assert (await cache.lookup("k")) is not None and cache.size == 1
    await cache.users_changed(frozenset({7}))
    assert cache.size == 0


def test_every_table_of_the_host_is_in_its_piccolo_app():
    """A table left out is never pointed at the app's database (``db.configure``): it would read
    and write whichever database Piccolo found first, another app's in a test process."""
    import inspect

    from piccolo.table import Table

    from newapi_host.db import tables

    defined = {
        cls
        for _, cls in inspect.getmembers(tables, inspect.isclass)
        if issubclass(cls, Table) and cls is not Table and cls.__module__ == tables.__name__
    }
    assert defined - set(tables.CORE_TABLES) == set()
