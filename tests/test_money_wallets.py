"""Live balances stay in step with the database through every change an admin or a failure makes.

The relay reserves and charges against the live balances in the shared store
(:mod:`newapi_host.billing.wallets`), not against the rows; so an admin's edit of a wallet or of a
key's remaining quota must move both, by the same amount, and a write that does not commit must
move neither. These tests seed the live balance first, as the relay does on a key's first use.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from newapi_host.auth.users import create_user
from newapi_host.billing import wallets as wallets_module
from newapi_host.billing.wallets import cluster_id
from newapi_host.config import Config
from newapi_host.db.tables import Token, User
from newapi_host.store import NO_TRUST

from .conftest import as_root, login, running


async def quota_of(user_id: int) -> int:
    return (await User.select(User.quota).where(User.id == user_id).first())["quota"]


async def test_admin_quota_edits_move_the_live_wallet_by_the_difference(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        uid = (await create_user("gus", "gus-pass-123", quota=1000))["id"]
        host = client.app.state.host
        await host.wallets.seed(uid, None)
        # a request of this user is in flight: its hold is taken from the live wallet only
        _, hold = await host.relay.ledger.reserve(uid, None, 100, NO_TRUST)

        async def live() -> int:
            return await host.wallets.store.get(f"u{uid}")

        async def manage(mode: str, value: int) -> None:
            body = {"id": uid, "action": "add_quota", "mode": mode, "value": value}
            r = await client.post("/api/user/manage", json=body)
            assert r.json()["success"], r.text

        assert (await client.put("/api/user/", json={"id": uid, "quota": 5000})).json()["success"]
        assert (await quota_of(uid), await live()) == (5000, 4900)  # the hold stays taken
        await manage("add", 500)
        assert (await quota_of(uid), await live()) == (5500, 5400)
        await manage("subtract", 300)
        assert (await quota_of(uid), await live()) == (5200, 5100)
        await manage("override", 42)
        assert (await quota_of(uid), await live()) == (42, -58)
        host.relay.ledger.release(hold)
        assert await live() == 42 == await quota_of(uid)
        r = await client.put("/api/user/", json={"id": 99_999, "quota": 1})
        assert r.json()["success"] is False and await live() == 42


async def test_a_key_edit_moves_the_live_key_balance(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        uid = (await create_user("hal", "hal-pass-123", quota=10**6))["id"]
        other = (await create_user("ida", "ida-pass-123"))["id"]
        theirs = Token(user_id=other, key="o" * 48, name="o", remain_quota=7, unlimited_quota=False)
        await theirs.save()
        await login(client, "hal", "hal-pass-123")
        made = (await client.post("/api/token/", json={"name": "k", "remain_quota": 1000})).json()["data"]
        host = client.app.state.host
        await host.wallets.seed(uid, made["id"])
        await host.wallets.seed(other, theirs.id)
        _, hold = await host.relay.ledger.reserve(uid, made["id"], 300, NO_TRUST)
        assert (await client.put("/api/token/", json={"id": made["id"], "remain_quota": 800})).json()["success"]
        assert await host.wallets.store.get(f"t{made['id']}") == 800 - 300
        assert await host.wallets.store.get(f"u{uid}") == 10**6 - 300  # the wallet is not the key
        assert await host.wallets.store.get(f"t{theirs.id}") == 7  # nor another key
        host.relay.ledger.release(hold)
        row = await Token.select(Token.remain_quota).where(Token.id == made["id"]).first()
        assert row["remain_quota"] == 800 == await host.wallets.store.get(f"t{made['id']}")


async def test_a_change_that_does_not_commit_moves_no_live_balance(sqlite_config: Config, monkeypatch) -> None:
    async with running(sqlite_config) as client:
        uid = (await create_user("jo", "jo-pass-123", quota=1000))["id"]
        wallets = client.app.state.host.wallets
        await wallets.seed(uid, None)

        async def credit(amount: int) -> None:
            async with wallets.change() as change:
                await User.update({User.quota: User.quota + amount}).where(User.id == uid)
                change.wallet(uid, amount)

        # the work inside fails: nothing was moved, nothing is moved back
        with pytest.raises(ZeroDivisionError):
            async with wallets.change() as change:
                await User.update({User.quota: User.quota + 500}).where(User.id == uid)
                change.wallet(uid, 500)
                1 / 0  # noqa: B018
        assert (await quota_of(uid), await wallets.store.get(f"u{uid}")) == (1000, 1000)

        # the commit fails after the live balance moved: it is moved back
        real = wallets_module.write_transaction

        @asynccontextmanager
        async def commit_refused():  # type: ignore[no-untyped-def]
            async with real():
                yield
                raise OSError("disk I/O error")  # raised before the commit: the transaction rolls back

        monkeypatch.setattr(wallets_module, "write_transaction", commit_refused)
        with pytest.raises(OSError):
            await credit(500)
        assert (await quota_of(uid), await wallets.store.get(f"u{uid}")) == (1000, 1000)
        monkeypatch.undo()
        await credit(500)
        assert (await quota_of(uid), await wallets.store.get(f"u{uid}")) == (1500, 1500)


async def test_each_database_names_its_own_redis_keys(tmp_path) -> None:
    """Gateways on different databases may share one Redis: their balances must never mix."""
    ids = []
    for name in ("one", "two", "one"):
        config = Config(data_dir=tmp_path / name, session_secret="test-secret")
        async with running(config):
            ids.append(await cluster_id())
            assert await cluster_id() == ids[-1]
    assert ids[0] == ids[2] != ids[1]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
