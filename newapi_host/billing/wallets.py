"""Live balances of wallets and limited keys, shared by every worker and node.

The database holds the record of each balance; the shared store (:mod:`newapi_host.store`) holds
what may be spent right now: the record minus the charges not yet written and the holds in
flight. The two stay exactly in step because every change reaches both:

- **seeding**: a balance enters the store from the database the first time it is needed, read
  under the row's write lock, so no credit can commit between the read and the seed;
- **holds and settlements** move only the store; the ledger writes the settled charge to the
  database about a second later (it never touches the store);
- **credits and admin edits** change the database row and the store in one step, inside the
  row's transaction (:meth:`Wallets.change`), the store just before the commit.

All store moves are additions, which commute: the order in which workers apply them never
matters, so the store equals "record - unwritten charges - holds" whatever interleaving happens.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.postgres import PostgresEngine
from piccolo.query import Select

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import HostMeta, Token, User
from newapi_host.store import Outcome, Reservation, SharedStore, StoreUnavailable, token_key, user_key

log = logging.getLogger(__name__)


def _locked(query: Select) -> Select:
    """Lock the rows read (PostgreSQL); SQLite's write transaction already excludes other writers."""
    return query.lock_rows() if isinstance(query.table._meta.db, PostgresEngine) else query


class QuotaChange:
    """The balance moves made inside one :meth:`Wallets.change` transaction."""

    def __init__(self) -> None:
        self.deltas: list[tuple[str, int]] = []

    def wallet(self, user_id: int, delta: int) -> None:
        """Record that the transaction adds ``delta`` to the user's ``quota``."""
        if delta:
            self.deltas.append((user_key(user_id), delta))

    def key(self, token_id: int, delta: int) -> None:
        """Record that the transaction adds ``delta`` to the key's ``remain_quota``."""
        if delta:
            self.deltas.append((token_key(token_id), delta))

    async def set_wallet(self, user_id: int, value: int) -> bool:
        """Set a user's quota to ``value`` (an admin override); False when there is no such user."""
        row = await _locked(User.select(User.quota).where(User.id == user_id)).first()
        if row is None:
            return False
        await User.update({User.quota: value}).where(User.id == user_id)
        self.wallet(user_id, value - row["quota"])
        return True

    async def set_key(self, token_id: int, value: int) -> bool:
        """Set a key's remaining quota to ``value``; False when there is no such key."""
        row = await _locked(Token.select(Token.remain_quota).where(Token.id == token_id)).first()
        if row is None:
            return False
        await Token.update({Token.remain_quota: value}).where(Token.id == token_id)
        self.key(token_id, value - row["remain_quota"])
        return True


class Wallets:
    def __init__(self, store: SharedStore) -> None:
        self.store = store

    async def reserve(self, user_id: int, token_id: int | None, amount: int, trust: int) -> Reservation:
        """:meth:`SharedStore.reserve` for a user and (when limited) a key, seeding them on first use."""
        wallet = user_key(user_id)
        key = token_key(token_id) if token_id is not None else None
        result = await self.store.reserve(wallet, key, amount, trust)
        if result.outcome is Outcome.UNKNOWN:
            await self.seed(user_id, token_id)
            result = await self.store.reserve(wallet, key, amount, trust)
            if result.outcome is Outcome.UNKNOWN:
                raise StoreUnavailable(f"the balance of user {user_id} (key {token_id}) could not be loaded")
        return result

    async def seed(self, user_id: int, token_id: int | None) -> None:
        """Copy the balances from the database into the store, unless they are there already."""
        async with write_transaction():
            user = await _locked(User.select(User.quota).where(User.id == user_id)).first()
            if user is not None:
                await self.store.seed(user_key(user_id), int(user["quota"]))
            if token_id is not None:
                token = await _locked(Token.select(Token.remain_quota).where(Token.id == token_id)).first()
                if token is not None:
                    await self.store.seed(token_key(token_id), int(token["remain_quota"]))

    def apply_soon(self, deltas: list[tuple[str, int]]) -> Any:
        """Move balances from synchronous code (a settlement); an awaitable when not done yet."""
        return self.store.add_soon(deltas)

    @asynccontextmanager
    async def change(self) -> AsyncIterator[QuotaChange]:
        """A write transaction whose quota moves reach the live balances as it commits.

        Record every change of ``users.quota`` or ``tokens.remain_quota`` made inside it on the
        yielded :class:`QuotaChange`. The store is moved while the rows are still locked, just
        before the commit, and moved back if the commit fails.
        """
        change = QuotaChange()
        applied = False
        try:
            async with write_transaction():
                yield change
                if change.deltas:
                    await self.store.add(change.deltas)
                    applied = True
        except BaseException:
            if applied:
                await self.store.add([(k, -d) for k, d in change.deltas])
            raise


async def cluster_id() -> str:
    """This database's own random id: names its Redis keys, so databases never share balances."""
    await HostMeta.insert(HostMeta(key="cluster_id", value=secrets.token_hex(8))).on_conflict(action="DO NOTHING")
    row = await HostMeta.select(HostMeta.value).where(HostMeta.key == "cluster_id").first()
    return row["value"]
