"""Every path that moves quota moves the live balance with it, even with charges not yet written;
and when the live balances cannot be reached, nothing moves at all."""

from __future__ import annotations

from newapi_host.auth.users import create_user
from newapi_host.billing.ledger import Charge
from newapi_host.db.tables import Redemption, Token, User
from newapi_host.store import StoreUnavailable
from newapi_host.store.memory import MemoryStore

from .conftest import as_root, login, running


async def balances(client, user_id: int, token_id: int) -> tuple[int | None, int | None]:  # type: ignore[no-untyped-def]
    store = client.app.state.host.wallets.store
    return await store.get(f"u{user_id}"), await store.get(f"t{token_id}")


async def records(user_id: int, token_id: int) -> tuple[int, int]:
    user = await User.select(User.quota).where(User.id == user_id).first()
    token = await Token.select(Token.remain_quota).where(Token.id == token_id).first()
    return user["quota"], token["remain_quota"]


async def test_credits_and_admin_edits_move_the_live_balance(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        ledger = host.relay.ledger
        alice = await create_user("alice", "alice-pass-1", quota=10_000)
        await User.update({User.aff_quota: 2_000_000}).where(User.id == alice["id"])  # invitation rewards
        token = Token(user_id=alice["id"], key="a" * 48, name="a", remain_quota=5_000, unlimited_quota=False)
        await token.save()
        await host.wallets.seed(alice["id"], token.id)
        assert await balances(client, alice["id"], token.id) == (10_000, 5_000)

        async def spend(quota: int) -> None:  # a settled charge the ledger has not written yet
            ledger.settle(
                Charge(user_id=alice["id"], token_id=token.id, channel_id=0, quota=quota, token_unlimited=False)
            )

        async def manage(**body) -> None:  # type: ignore[no-untyped-def]
            r = await client.post("/api/user/manage", json={"id": alice["id"], "action": "add_quota", **body})
            assert r.json()["success"], r.text

        async def in_step() -> tuple[int, int]:
            await ledger.flush()
            live = await balances(client, alice["id"], token.id)
            assert live == await records(alice["id"], token.id)
            return live  # type: ignore[return-value]

        await spend(100)
        await manage(mode="add", value=500)
        assert await in_step() == (10_400, 4_900)
        await spend(50)
        await manage(mode="subtract", value=300)
        assert await in_step() == (10_050, 4_850)
        await spend(25)
        await manage(mode="override", value=7_000)  # set while a charge is still unwritten
        assert await in_step() == (7_000 - 25, 4_825)
        await spend(5)
        r = await client.put("/api/user/", json={"id": alice["id"], "quota": 9_000, "display_name": "Al"})
        assert r.json()["success"], r.text
        assert await in_step() == (9_000 - 5, 4_820)

        code = Redemption(key="c" * 32, name="gift", quota=1_234, status=1)
        await code.save()
        await login(client, "alice", "alice-pass-1")
        await spend(1)
        assert (await client.post("/api/user/topup", json={"key": "c" * 32})).json()["success"]
        assert await in_step() == (10_228, 4_819)
        r = await client.post("/api/user/aff_transfer", json={"quota": 1_000_000})
        assert r.json()["success"], r.text
        assert await in_step() == (1_010_228, 4_819)
        r = await client.put("/api/token/", json={"id": token.id, "remain_quota": 20_000})
        assert r.json()["success"], r.text
        assert await in_step() == (1_010_228, 20_000)


class DownStore(MemoryStore):
    """A shared store that cannot be reached, as Redis during an outage."""

    def _down(self, *_: object, **__: object) -> None:
        raise StoreUnavailable("Redis failed: connection refused")

    async def add(self, deltas) -> None:  # type: ignore[no-untyped-def]
        self._down()

    async def reserve(self, *args):  # type: ignore[no-untyped-def]
        self._down()

    async def seed(self, *args):  # type: ignore[no-untyped-def]
        self._down()


async def test_an_unreachable_store_moves_nothing(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        bob = await create_user("bob", "bob-pass-1", quota=1_000)
        code = Redemption(key="d" * 32, name="gift", quota=500, status=1)
        await code.save()
        host.wallets.store = DownStore()

        r = await client.post(
            "/api/user/manage", json={"id": bob["id"], "action": "add_quota", "mode": "add", "value": 5}
        )
        assert r.status_code == 503 and r.json()["success"] is False and "nothing was changed" in r.json()["message"]
        assert (await User.select(User.quota).where(User.id == bob["id"]).first())["quota"] == 1_000
        await login(client, "bob", "bob-pass-1")
        r = await client.post("/api/user/topup", json={"key": "d" * 32})
        assert r.status_code == 503
        assert (await Redemption.select(Redemption.status).where(Redemption.id == code.id).first())["status"] == 1
        assert (await User.select(User.quota).where(User.id == bob["id"]).first())["quota"] == 1_000
