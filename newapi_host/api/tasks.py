"""New API's task lists for the console: ``/api/mj/`` and ``/api/task/`` (admins, everyone's),
``/api/mj/self`` and ``/api/task/self`` (the caller's own), with New API's filters and paging.

Users never see another user's rows, a task's ``private_data`` (upstream id, key id), or, on
``/self``, the channel. Drawings' ``image_url`` points at the gateway's ``/mj/image/{id}`` proxy
when ``MjForwardUrlEnabled`` is on, as New API does.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.db.tables import Midjourney, Task, User

from .common import page_of, paging
from .envelope import ok

MJ_HIDDEN = ("token_id", "billing_channel_id")


def _text(request: Request[Any, Any, Any], name: str) -> str:
    return (request.query_params.get(name) or "").strip()


def _number(request: Request[Any, Any, Any], name: str) -> int:
    try:
        return int(request.query_params.get(name) or 0)
    except ValueError:
        return 0


def _mj_view(request: Request[Any, Any, Any], row: dict[str, Any], admin: bool) -> dict[str, Any]:
    item = {k: v for k, v in row.items() if k not in MJ_HIDDEN}
    host = request.app.state.host
    if item["image_url"] and host.options.get_bool("MjForwardUrlEnabled"):
        base = (host.options.get("ServerAddress") or str(request.base_url)).rstrip("/")
        item["image_url"] = f"{base}/mj/image/{item['mj_id']}"
    if not admin:
        item["channel_id"] = 0
    return item


async def _mj_page(request: Request[Any, Any, Any], user_id: int | None) -> dict[str, Any]:
    page, size = paging(request)
    conds = []
    if user_id is not None:
        conds.append(Midjourney.user_id == user_id)
    elif channel := _number(request, "channel_id"):
        conds.append(Midjourney.channel_id == channel)
    if mj_id := _text(request, "mj_id"):
        conds.append(Midjourney.mj_id == mj_id)
    if start := _number(request, "start_timestamp"):
        conds.append(Midjourney.submit_time >= start)
    if end := _number(request, "end_timestamp"):
        conds.append(Midjourney.submit_time <= end)
    query, count = Midjourney.select(), Midjourney.count()
    for cond in conds:
        query, count = query.where(cond), count.where(cond)
    rows = await query.order_by(Midjourney.id, ascending=False).limit(size).offset((page - 1) * size)
    items = [_mj_view(request, r, admin=user_id is None) for r in rows]
    return ok(page_of(items, await count, page, size))


@get("/api/mj/", guards=[admin_auth])
async def all_drawings(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return await _mj_page(request, None)


@get("/api/mj/self", guards=[user_auth])
async def own_drawings(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return await _mj_page(request, request.state.caller.id)


async def _task_page(request: Request[Any, Any, Any], user_id: int | None) -> dict[str, Any]:
    page, size = paging(request)
    conds = []
    if user_id is not None:
        conds.append(Task.user_id == user_id)
    else:
        if channel := _number(request, "channel_id"):
            conds.append(Task.channel_id == channel)
        if owner := _number(request, "user_id"):
            conds.append(Task.user_id == owner)
    for name, column in (("platform", Task.platform), ("task_id", Task.task_id), ("action", Task.action)):
        if value := _text(request, name):
            conds.append(column == value)
    if status := _text(request, "status"):
        conds.append(Task.status == status)
    if start := _number(request, "start_timestamp"):
        conds.append(Task.submit_time >= start)
    if end := _number(request, "end_timestamp"):
        conds.append(Task.submit_time <= end)
    columns = [c for c in Task._meta.columns if c._meta.name != "private_data"]
    query, count = Task.select(*columns), Task.count()
    for cond in conds:
        query, count = query.where(cond), count.where(cond)
    rows = await query.order_by(Task.id, ascending=False).limit(size).offset((page - 1) * size)
    if user_id is not None:
        for row in rows:
            row["channel_id"] = 0
    else:
        ids = sorted({r["user_id"] for r in rows})
        found = await User.select(User.id, User.username).where(User.id.is_in(ids)) if ids else []
        names = {u["id"]: u["username"] for u in found}
        for row in rows:
            row["username"] = names.get(row["user_id"], "")
    return ok(page_of(rows, await count, page, size))


@get("/api/task/", guards=[admin_auth])
async def all_tasks(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return await _task_page(request, None)


@get("/api/task/self", guards=[user_auth])
async def own_tasks(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return await _task_page(request, request.state.caller.id)


ROUTES = [all_drawings, own_drawings, all_tasks, own_tasks]
