"""The ledger writes every settled charge exactly once: through failed and cancelled writes, and
through a crash, by replaying the worker's journal; holds of a dead worker go back to the wallet."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest

from newapi_host.auth.users import create_user
from newapi_host.billing import journal as journals
from newapi_host.billing import ledger as ledgers
from newapi_host.billing.journal import Journal, recover, recover_all
from newapi_host.billing.ledger import Charge, Ledger
from newapi_host.billing.wallets import Wallets
from newapi_host.config import Config
from newapi_host.db.tables import LOG_CONSUME, LOG_ERROR, LedgerJournal, Log, QuotaData, Token, User
from newapi_host.store import NO_TRUST, Outcome
from newapi_host.store.memory import MemoryStore

from .conftest import running


def charge(user: dict, quota: int, n: int, token_id: int = 0, unlimited: bool = True) -> Charge:
    log = {name: "" for name in ledgers.LOG_COLUMNS}
    log.update(
        user_id=user["id"], created_at=1_700_000_000 + n, type=LOG_CONSUME, username=user["username"],
        model_name="m", quota=quota, prompt_tokens=1, completion_tokens=1, use_time=0, is_stream=False,
        channel_id=0, token_id=token_id, request_id=f"req-{n}", other="{}",
    )  # fmt: skip
    return Charge(user_id=user["id"], token_id=token_id, channel_id=0, quota=quota, token_unlimited=unlimited, log=log)


async def wallet_and_logs(user_id: int) -> tuple[int, int, int]:
    row = await User.select(User.quota).where(User.id == user_id).first()
    logs = await Log.select(Log.quota).where((Log.user_id == user_id) & (Log.type == LOG_CONSUME))
    return row["quota"], len(logs), sum(r["quota"] for r in logs)


def crash(journal: Journal) -> None:
    """What the kernel does to a killed worker's journal: unmaps and closes it as it is (zeros
    mapped ahead of the writes included) and so frees its claim."""
    journal._map.close()
    os.close(journal._fd)
    os.close(journal._lock_fd)


async def test_a_failed_write_is_retried_and_written_once(sqlite_config: Config, monkeypatch):
    async with running(sqlite_config) as client:
        ledger: Ledger = client.app.state.host.relay.ledger
        user = await create_user("alice", "alice-pass-1", quota=1000)
        real = ledgers.write_charges
        calls = []

        async def flaky(batch, journal, export):  # type: ignore[no-untyped-def]
            calls.append(len(batch))
            if len(calls) == 1:
                raise OSError("disk I/O error")
            await real(batch, journal, export)

        monkeypatch.setattr(ledgers, "write_charges", flaky)
        for n in range(3):
            ledger.settle(charge(user, 10, n))
        assert await ledger.flush() == 0  # failed: kept
        assert await wallet_and_logs(user["id"]) == (1000, 0, 0)
        assert await ledger.flush() == 3
        assert await ledger.flush() == 0  # nothing left, nothing twice
        assert calls == [3, 3]
        assert await wallet_and_logs(user["id"]) == (970, 3, 30)


async def test_a_write_cancelled_midway_keeps_its_batch(sqlite_config: Config, monkeypatch):
    async with running(sqlite_config) as client:
        ledger: Ledger = client.app.state.host.relay.ledger
        user = await create_user("alice", "alice-pass-1", quota=1000)
        real = ledgers.write_charges
        started = asyncio.Event()

        async def slow_once(batch, journal, export):  # type: ignore[no-untyped-def]
            if not started.is_set():
                started.set()
                await asyncio.sleep(30)
            await real(batch, journal, export)

        monkeypatch.setattr(ledgers, "write_charges", slow_once)
        for n in range(4):
            ledger.settle(charge(user, 5, n))
        flushing = asyncio.ensure_future(ledger.flush())
        await started.wait()
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        assert await ledger.flush() == 4
        assert await wallet_and_logs(user["id"]) == (980, 4, 20)


async def test_a_crashed_workers_journal_is_replayed_exactly_once(sqlite_config: Config):
    async with running(sqlite_config) as client:
        host = client.app.state.host
        user = await create_user("alice", "alice-pass-1", quota=100_000)
        token = Token(user_id=user["id"], key="k" * 48, name="k", remain_quota=50_000, unlimited_quota=False)
        await token.save()
        store = host.wallets.store
        wallets = Wallets(store)

        # a second worker: flushes some charges, settles more, holds one, and is killed
        journal = await Journal.open(sqlite_config.data_dir, store)
        assert journal.name.endswith("/1")  # slot 0 is the app's own
        worker = Ledger(wallets, journal)
        for n in range(3):
            worker.settle(charge(user, 100, n, token.id, unlimited=False))
        assert await worker.flush() == 3
        result, hold = await worker.reserve(user["id"], token.id, 700, NO_TRUST)
        assert result.outcome is Outcome.RESERVED and (result.wallet, result.key) == (
            100_000 - 300 - 700,
            50_000 - 1000,
        )
        for n in range(3, 5):
            worker.settle(charge(user, 100, n, token.id, unlimited=False))
        crash(journal)
        assert await store.get(f"u{user['id']}") == 100_000 - 500 - 700  # the dead hold is still taken

        assert await recover_all(sqlite_config.data_dir, store) == (2, 1)  # two charges, one hold
        assert await wallet_and_logs(user["id"]) == (99_500, 5, 500)
        assert (await Token.select(Token.remain_quota).where(Token.id == token.id).first())["remain_quota"] == 49_500
        assert await store.get(f"u{user['id']}") == 99_500 and await store.get(f"t{token.id}") == 49_500
        assert await recover_all(sqlite_config.data_dir, store) == (0, 0)
        assert await wallet_and_logs(user["id"]) == (99_500, 5, 500)

        # the next owner of that journal numbers on from the database, so its charges count too
        again = await Journal.open(sqlite_config.data_dir, store)
        assert again.name == journal.name and again.next_seq == 6
        Ledger(wallets, again).settle(charge(user, 1, 9))
        crash(again)
        assert await recover_all(sqlite_config.data_dir, store) == (1, 0)
        assert await wallet_and_logs(user["id"]) == (99_499, 6, 501)
        seq = await LedgerJournal.select(LedgerJournal.seq).where(LedgerJournal.name == journal.name).first()
        assert seq["seq"] == 6


class LaterStore(MemoryStore):
    """A store whose moves land later (as Redis's do): a replay must finish the ones that did not."""

    immediate = False


async def test_replay_finishes_balance_moves_an_asynchronous_store_never_got(sqlite_config: Config, tmp_path: Path):
    async with running(sqlite_config):
        user = await create_user("bob", "bob-pass-1", quota=10_000)
        store = LaterStore()
        await store.seed(f"u{user['id']}", 10_000 - 300)  # a hold of 300 was taken, then the worker died
        path = tmp_path / "7.jnl"
        c = charge(user, 120, 1)
        c.seq, c.hold_id, c.held, c.applied = 1, 4, 300, False
        landed = charge(user, 30, 2)
        landed.seq = 2
        path.write_bytes(
            b"".join(
                msgspec.json.encode(record) + b"\n"
                for record in (("H", 4, user["id"], None, 300), ("C", c), ("C", landed), ("A", 2))
            )
            + b'["C", {"user_id": 1, "tok'  # a line cut short by the crash is skipped
        )
        assert await recover(path, "dead/7", store) == (2, 0)
        # the settlement gives the 300 back and takes 120; the second move had landed already
        assert await store.get(f"u{user['id']}") == 10_000 - 120
        assert await wallet_and_logs(user["id"]) == (9_850, 2, 150)
        assert not path.exists()


async def test_a_journal_is_compacted_to_what_is_still_open(sqlite_config: Config, monkeypatch):
    monkeypatch.setattr(journals, "COMPACT_BYTES", 2_000)
    async with running(sqlite_config) as client:
        ledger: Ledger = client.app.state.host.relay.ledger
        user = await create_user("carol", "carol-pass-1", quota=10**6)
        await client.app.state.host.wallets.seed(user["id"], None)
        for n in range(40):
            ledger.settle(charge(user, 1, n))
        _, hold = await ledger.reserve(user["id"], None, 50, NO_TRUST)
        assert ledger.journal.too_long()
        await ledger.flush()
        contents = journals.read(ledger.journal.path)
        assert list(contents.holds) == [hold.id] and contents.charges == []
        ledger.release(hold)


async def test_a_released_hold_is_not_given_back_again_by_a_replay(sqlite_config: Config):
    async with running(sqlite_config) as client:
        store = client.app.state.host.wallets.store
        user = await create_user("dan", "dan-pass-123", quota=10_000)
        journal = await Journal.open(sqlite_config.data_dir, store)
        worker = Ledger(Wallets(store), journal)
        _, kept = await worker.reserve(user["id"], None, 700, NO_TRUST)
        _, given_back = await worker.reserve(user["id"], None, 2_000, NO_TRUST)
        worker.release(given_back)  # the request ended without a charge
        worker.release(given_back)  # a hold goes back once, however often it is let go
        worker.settle(charge(user, 0, 1), given_back)
        crash(journal)
        assert await store.get(f"u{user['id']}") == 10_000 - 700
        assert await recover_all(sqlite_config.data_dir, store) == (1, 1)  # the charge of 0 and the open hold
        assert await store.get(f"u{user['id']}") == 10_000
        assert kept is not None and await recover_all(sqlite_config.data_dir, store) == (0, 0)


async def test_nothing_to_replay(tmp_path: Path):
    assert await recover_all(tmp_path / "never-served", MemoryStore()) == (0, 0)


class AsyncStore(MemoryStore):
    """A store whose moves land a moment later, as Redis's do, and say so when they have."""

    immediate = False

    def add_soon(self, deltas):  # type: ignore[no-untyped-def]
        landed = asyncio.get_running_loop().create_future()

        def land() -> None:
            self._add(deltas)
            landed.set_result(None)

        asyncio.get_running_loop().call_soon(land)
        return landed


async def test_a_replay_does_not_repeat_balance_moves_that_landed(sqlite_config: Config):
    async with running(sqlite_config):
        user = await create_user("eve", "eve-pass-123", quota=10_000)
        store = AsyncStore()
        journal = await Journal.open(sqlite_config.data_dir, store)
        worker = Ledger(Wallets(store), journal)
        _, hold = await worker.reserve(user["id"], None, 500, NO_TRUST)
        pending = worker.settle(charge(user, 120, 1), hold)
        assert pending is not None
        await pending  # the hold went back and the charge was taken: 10_000 - 120
        await asyncio.sleep(0)  # the journal notes that the move landed
        crash(journal)
        assert await recover_all(sqlite_config.data_dir, store) == (1, 0)
        assert await store.get(f"u{user['id']}") == 10_000 - 120  # not moved a second time
        assert await wallet_and_logs(user["id"]) == (10_000 - 120, 1, 120)


async def test_a_replay_adds_to_the_dashboard_unless_data_export_is_off(sqlite_config: Config, tmp_path: Path):
    async with running(sqlite_config) as client:
        user = await create_user("fay", "fay-pass-123", quota=10_000)

        async def replay(n: int) -> int:
            c = charge(user, 10, n)
            c.seq = n
            path = tmp_path / f"{n}.jnl"
            path.write_bytes(msgspec.json.encode(("C", c)) + b"\n")
            assert await recover(path, f"dead/{n}", None) == (1, 0)
            return sum(row["quota"] for row in await QuotaData.select(QuotaData.quota))  # the dashboard's total

        assert await replay(1) == 10  # no DataExportEnabled row: on, as New API's default
        await client.app.state.host.options.set_many({"Notice": "maintenance at noon"})  # other options are no switch
        assert await replay(4) == 20
        await client.app.state.host.options.set_many({"DataExportEnabled": "false"})
        assert await replay(2) == 20
        await client.app.state.host.options.set_many({"DataExportEnabled": "true"})
        assert await replay(3) == 30
        assert await wallet_and_logs(user["id"]) == (10_000 - 40, 4, 40)


class LostStore(MemoryStore):
    """A store whose moves never land: the worker dies before Redis answers."""

    immediate = False

    def add_soon(self, deltas):  # type: ignore[no-untyped-def]
        return asyncio.get_running_loop().create_future()


async def test_a_compacted_journal_keeps_moves_that_had_not_landed(sqlite_config: Config):
    async with running(sqlite_config):
        user = await create_user("gia", "gia-pass-123", quota=10_000)
        store = LostStore()
        await store.seed(f"u{user['id']}", 10_000)
        journal = await Journal.open(sqlite_config.data_dir, store)
        worker = Ledger(Wallets(store), journal)
        _, hold = await worker.reserve(user["id"], None, 500, NO_TRUST)
        assert worker.settle(charge(user, 120, 1), hold) is not None  # the move is on its way
        journal.rewrite(worker.open_holds(), [charge for charge in worker._queue])  # compacted meanwhile
        crash(journal)
        assert await store.get(f"u{user['id']}") == 10_000 - 500  # the hold, taken; the settlement never landed
        assert await recover_all(sqlite_config.data_dir, store) == (1, 0)
        assert await store.get(f"u{user['id']}") == 10_000 - 120


async def test_a_refused_or_trusted_reservation_leaves_no_hold(sqlite_config: Config):
    async with running(sqlite_config) as client:
        ledger: Ledger = client.app.state.host.relay.ledger
        user = await create_user("hana", "hana-pass-123", quota=1_000)
        result, hold = await ledger.reserve(user["id"], None, 5_000, NO_TRUST)
        assert result.outcome is Outcome.WALLET_SHORT and hold is None
        result, hold = await ledger.reserve(user["id"], None, 100, 500)  # above the trust line
        assert result.outcome is Outcome.TRUSTED and hold is None
        assert ledger.open_holds() == []
        assert await client.app.state.host.wallets.store.get(f"u{user['id']}") == 1_000


def test_error_rows_between_consume_rows_leave_the_dashboard_sums_whole():
    rows = []
    for n, kind in enumerate((LOG_CONSUME, LOG_ERROR, LOG_CONSUME)):  # an error row costs nothing
        row = charge({"id": 1, "username": "u"}, 10, n).log
        row.update(type=kind, group="default", quota=10 if kind == LOG_CONSUME else 0)
        rows.append(row)
    (bucket,) = ledgers.quota_buckets(rows)
    assert bucket[-3:] == (4, 2, 20)  # tokens, requests, quota of the two consume rows


async def test_what_each_charge_writes_to_users_keys_and_channels(sqlite_config: Config):
    """Error rows count no request; unlimited keys keep their remaining quota; free calls still count."""
    async with running(sqlite_config) as client:
        ledger: Ledger = client.app.state.host.relay.ledger
        user = await create_user("ines", "ines-pass-123", quota=1_000)
        limited = Token(user_id=user["id"], key="l" * 48, name="l", remain_quota=500, unlimited_quota=False)
        unlimited = Token(user_id=user["id"], key="u" * 48, name="u", remain_quota=77, unlimited_quota=True)
        for token in (limited, unlimited):
            await token.save()
        error_row = charge(user, 0, 1, limited.id, unlimited=False)
        error_row.count_request = False  # a failed request's error log: free, and no request
        ledger.settle(error_row)
        assert await ledger.flush() == 1
        row = await User.select(User.quota, User.used_quota, User.request_count).where(User.id == user["id"]).first()
        assert (row["quota"], row["used_quota"], row["request_count"]) == (1_000, 0, 0)
        ledger.settle(charge(user, 0, 2, unlimited.id))  # a free call still counts as a request
        assert await ledger.flush() == 1
        row = await User.select(User.request_count).where(User.id == user["id"]).first()
        assert row["request_count"] == 1
        ledger.settle(charge(user, 30, 3, unlimited.id))
        ledger.settle(charge(user, 20, 4, limited.id, unlimited=False))
        assert await ledger.flush() == 2
        row = await User.select(User.quota, User.used_quota, User.request_count).where(User.id == user["id"]).first()
        assert (row["quota"], row["used_quota"], row["request_count"]) == (950, 50, 3)
        tokens = {t["id"]: t for t in await Token.select(Token.id, Token.remain_quota, Token.used_quota)}
        assert (tokens[unlimited.id]["remain_quota"], tokens[unlimited.id]["used_quota"]) == (77, 30)
        assert (tokens[limited.id]["remain_quota"], tokens[limited.id]["used_quota"]) == (480, 20)


async def test_a_journal_line_is_on_file_as_soon_as_it_is_appended(sqlite_config: Config, monkeypatch):
    """No flush, no close: what a reader (the next owner, after a kill) sees is already there,
    also past the space mapped at first, and a clean close leaves only the lines."""
    monkeypatch.setattr(journals, "MAP_BYTES", 4096)
    async with running(sqlite_config) as client:
        store = client.app.state.host.wallets.store
        user = await create_user("erin", "erin-pass-12", quota=10**6)
        journal = await Journal.open(sqlite_config.data_dir, store)
        worker = Ledger(Wallets(store), journal)
        worker.settle(charge(user, 5, 1))
        assert [c.quota for c in journals.read(journal.path).charges] == [5]
        for n in range(200):  # about 40 KB: the mapping grows as it goes
            worker.settle(charge(user, 1, n))
        assert len(journals.read(journal.path).charges) == 201
        assert journal.path.stat().st_size >= 40_000
        written = journals.read_written(journal.path)
        journal.close()
        assert journal.path.stat().st_size == written
        assert len(journals.read(journal.path).charges) == 201
