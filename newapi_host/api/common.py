"""Helpers shared by the management API modules: paging, body validation, audit, change bumps."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypeVar

from litestar import Request
from pydantic import BaseModel, ValidationError

from newapi_host.auth.users import Caller
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import LOG_MANAGE, Log
from newapi_host.host import host_of
from newapi_host.sync import bump

from .envelope import json_object

M = TypeVar("M", bound=BaseModel)


def wallets(request: Request[Any, Any, Any]) -> Any:
    """The live balances (:class:`newapi_host.billing.wallets.Wallets`): quota moves go through
    ``wallets(request).change()`` so every worker's view moves with the database."""
    return host_of(request.app.state).wallets


DEFAULT_PAGE_SIZE = 10  # New API's ItemsPerPage
MAX_PAGE_SIZE = 100


def paging(request: Request[Any, Any, Any]) -> tuple[int, int]:
    """New API's ``p`` (1-based; 0 is read as 1) and ``page_size`` (or ``ps``), clamped."""
    query = request.query_params

    def number(*names: str, default: int) -> int:
        for name in names:
            value = query.get(name)
            if value is not None:
                try:
                    return int(value)
                except ValueError:
                    return default
        return default

    page = max(1, number("p", default=1))
    size = min(MAX_PAGE_SIZE, max(1, number("page_size", "ps", default=DEFAULT_PAGE_SIZE)))
    return page, size


def page_of(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    return {"page": page, "page_size": size, "total": total, "items": items}


def validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())


async def parse_body(model: type[M], request: Request[Any, Any, Any]) -> M | str:
    """The JSON body validated by ``model``, or a message saying what is wrong with it."""
    body = await json_object(request)
    if body is None:
        return "request body must be a JSON object"
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        return validation_message(exc)


async def manage_log(actor: Caller, user_id: int, content: str) -> None:
    """An audit row (log type 3, "manage") for an admin action on a user."""
    await Log.insert(
        Log(
            user_id=user_id,
            created_at=int(time.time()),
            type=LOG_MANAGE,
            content=f"{content} (by {actor.username}, id {actor.id})",
            username="",
        )
    )


async def announce(request: Request[Any, Any, Any], *topics: str, ids: Iterable[int] | None = None) -> None:
    """Tell every worker (this one at once) that cached ``topics`` changed: the rows ``ids`` of
    them when given (workers then reload only those), else anything in them."""
    async with write_transaction():
        for topic in topics:
            await bump(topic, ids)
    await host_of(request.app.state).watcher.changed(topics[0] if topics else "options")
