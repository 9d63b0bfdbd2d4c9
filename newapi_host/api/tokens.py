"""API keys (tokens) of the signed-in user: New API's ``/api/token/*`` routes.

Every route acts only on the caller's own, not deleted tokens; another user's id answers "token
not found", exactly as a missing one does. Lists show the key masked as New API does (first 4 +
ten ``*`` + last 4, without ``sk-``); the full key leaves the server only in the create answer
and through ``POST /api/token/{id}/key`` (New API answers it without the ``sk-`` prefix, which
its console adds). Any change that alters what the relay allows is announced on the ``tokens``
topic so every worker drops its cached copy of the key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from typing import Any, Literal

from litestar import Request, delete, get, post, put
from litestar.params import FromPath
from piccolo.query import WhereRaw
from pydantic import BaseModel, Field, field_validator

from newapi_host.auth.guards import user_auth
from newapi_host.auth.users import random_key
from newapi_host.db.tables import TOKEN_ENABLED, Token
from newapi_host.host import host_of

from .common import announce, page_of, paging, parse_body, wallets
from .envelope import fail, ok
from .groups import usable_groups

MAX_INT = 2**53  # JSON-safe; far above any real quota
NOT_FOUND = "token not found"


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


class TokenIn(BaseModel):
    """The writable fields; anything else a client sends (id, key, used_quota, ...) is ignored."""

    name: str = Field("", max_length=50)
    remain_quota: int = Field(0, ge=0, le=MAX_INT)
    expired_time: int = Field(-1, ge=-1, le=MAX_INT)
    unlimited_quota: bool = False
    model_limits_enabled: bool = False
    model_limits: str = Field("", max_length=100_000)
    allow_ips: str = Field("", max_length=10_000)
    group: str = Field("", max_length=64)
    cross_group_retry: bool = False

    @field_validator("name", "group", "allow_ips", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return _none_to_empty(value)

    @field_validator("model_limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(v.strip() for v in value if v.strip())
        return _none_to_empty(value)

    @field_validator("allow_ips")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.replace("\n", ",").split(","):
            part = part.strip()
            if part:
                try:
                    ipaddress.ip_network(part, strict=False)
                except ValueError:
                    raise ValueError(f"{part[:64]!r} is not an IP address or CIDR range") from None
        return value


class TokenUpdate(TokenIn):
    id: int = Field(ge=1, le=MAX_INT)


class TokenStatus(BaseModel):
    id: int = Field(ge=1, le=MAX_INT)
    status: Literal[1, 2]


class TokenIds(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=1000)


def mask_key(key: str) -> str:
    """New API's display form of a key: short ones mostly starred, long ones 4 + 10 stars + 4."""
    if not key:
        return ""
    if len(key) <= 4:
        return "*" * len(key)
    if len(key) <= 8:
        return key[:2] + "****" + key[-2:]
    return key[:4] + "**********" + key[-4:]


def token_json(row: dict[str, Any]) -> dict[str, Any]:
    """A token as New API's JSON has it, with the key masked."""
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "key": mask_key(row["key"]),
        "status": row["status"],
        "name": row["name"],
        "created_time": row["created_time"],
        "accessed_time": row["accessed_time"],
        "expired_time": row["expired_time"],
        "remain_quota": row["remain_quota"],
        "unlimited_quota": bool(row["unlimited_quota"]),
        "model_limits_enabled": bool(row["model_limits_enabled"]),
        "model_limits": row["model_limits"] or "",
        "allow_ips": row["allow_ips"] or "",
        "used_quota": row["used_quota"],
        "group": row["group"] or "",
        "cross_group_retry": bool(row["cross_group_retry"]),
        "DeletedAt": None,
    }


def _mine(user_id: int) -> Any:
    return (Token.user_id == user_id) & Token.deleted_at.is_null()


async def _own_token(user_id: int, token_id: int) -> dict[str, Any] | None:
    return await Token.select().where(_mine(user_id) & (Token.id == token_id)).first()


def _check_quota(request: Request[Any, Any, Any], remain_quota: int, unlimited: bool) -> str | None:
    if unlimited:
        return None
    maximum = int(1_000_000_000 * host_of(request.app.state).options.get_float("QuotaPerUnit", 500000.0))
    if remain_quota > maximum:
        return f"remain_quota exceeds the valid range; the maximum is {maximum}"
    return None


def _check_expiry(expired_time: int) -> str | None:
    if expired_time != -1 and expired_time <= time.time():
        return "expired_time must be -1 (never) or a time in the future"
    return None


def _check_group(request: Request[Any, Any, Any], group: str) -> str | None:
    if group and group not in usable_groups(host_of(request.app.state), request.state.caller.group or "default"):
        return f"group {group!r} is not available to you"
    return None


def _like_pattern(text: str) -> str | None:
    """New API's search rule: exact unless ``%`` is used; at most two, not doubled, >= 2 other chars."""
    if "%%" in text:
        return None
    if text.count("%") > 2:
        return None
    if "%" in text and len(text.replace("%", "")) < 2:
        return None
    return text.replace("!", "!!").replace("_", "!_")


@get("/api/token/", guards=[user_auth])
async def list_tokens(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The caller's tokens, newest first, paged with ``p`` and ``page_size``."""
    page, size = paging(request)
    user_id = request.state.caller.id
    rows = (
        await Token.select()
        .where(_mine(user_id))
        .order_by(Token.id, ascending=False)
        .limit(size)
        .offset((page - 1) * size)
    )
    total = await Token.count().where(_mine(user_id))
    return ok(page_of([token_json(r) for r in rows], total, page, size))


@get("/api/token/search", guards=[user_auth])
async def search_tokens(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``keyword`` matches the name and ``token`` the key (``sk-`` optional); ``%`` makes it fuzzy."""
    page, size = paging(request)
    where = _mine(request.state.caller.id)
    keyword = (request.query_params.get("keyword") or "")[:255]
    key = (request.query_params.get("token") or "")[:128].removeprefix("sk-")
    for column, text in (("name", keyword), ("key", key)):
        if not text:
            continue
        pattern = _like_pattern(text)
        if pattern is None:
            return fail("invalid search pattern: use at most two single '%' wildcards and 2+ other characters")
        where &= WhereRaw(f"\"{column}\" LIKE {{}} ESCAPE '!'", pattern)
    rows = await Token.select().where(where).order_by(Token.id, ascending=False).limit(size).offset((page - 1) * size)
    total = await Token.count().where(where)
    return ok(page_of([token_json(r) for r in rows], total, page, size))


@get("/api/token/{token_id:int}", guards=[user_auth])
async def get_token(request: Request[Any, Any, Any], token_id: FromPath[int]) -> dict[str, Any]:
    row = await _own_token(request.state.caller.id, token_id)
    return ok(token_json(row)) if row else fail(NOT_FOUND)


@post("/api/token/{token_id:int}/key", guards=[user_auth], status_code=200)
async def reveal_token_key(request: Request[Any, Any, Any], token_id: FromPath[int]) -> dict[str, Any]:
    """The full key of one of the caller's tokens (without ``sk-``, as New API answers)."""
    row = await _own_token(request.state.caller.id, token_id)
    return ok({"key": row["key"]}) if row else fail(NOT_FOUND)


@post("/api/token/batch/keys", guards=[user_auth], status_code=200)
async def reveal_token_keys(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Full keys of up to 100 of the caller's tokens: ``{"keys": {id: key}}``; others' ids are skipped."""
    data = await parse_body(TokenIds, request)
    if isinstance(data, str):
        return fail(data)
    if len(data.ids) > 100:
        return fail("at most 100 tokens at a time")
    rows = await Token.select(Token.id, Token.key).where(_mine(request.state.caller.id) & Token.id.is_in(data.ids))
    return ok({"keys": {str(r["id"]): r["key"] for r in rows}})


@post("/api/token/", guards=[user_auth], status_code=200)
async def add_token(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Create an API key for the caller; the answer carries the key (``sk-`` + 48 characters)."""
    data = await parse_body(TokenIn, request)
    if isinstance(data, str):
        return fail(data)
    problem = (
        _check_expiry(data.expired_time)
        or _check_quota(request, data.remain_quota, data.unlimited_quota)
        or _check_group(request, data.group)
    )
    if problem:
        return fail(problem)
    user_id = request.state.caller.id
    maximum = host_of(request.app.state).options.get_int("token_setting.max_user_tokens", 1000)
    if await Token.count().where(_mine(user_id)) >= maximum:
        return fail(f"you have reached the maximum number of tokens ({maximum})")
    key = random_key(48)
    now = int(time.time())
    token = Token(
        **data.model_dump(), user_id=user_id, key=key, status=TOKEN_ENABLED, created_time=now, accessed_time=now
    )
    await token.save()
    return ok({"id": token.id, "name": token.name, "key": f"sk-{key}"})


def _status_only(request: Request[Any, Any, Any]) -> bool:
    return (request.query_params.get("status_only") or "").lower() not in ("", "false", "0")


def _enable_problem(row: dict[str, Any]) -> str | None:
    """Why a token may not be switched on (New API refuses expired and exhausted ones)."""
    if row["expired_time"] != -1 and row["expired_time"] <= time.time():
        return "the token has expired and cannot be enabled; change its expiry time or set it to never expire"
    if not row["unlimited_quota"] and row["remain_quota"] <= 0:
        return "the token's quota is used up and it cannot be enabled; raise its remaining quota or make it unlimited"
    return None


@put("/api/token/", guards=[user_auth], status_code=200)
async def update_token(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Update one of the caller's tokens by ``id``; fields left out keep their value.

    With ``?status_only=true`` only ``status`` changes (1 enabled, 2 disabled).
    """
    user_id = request.state.caller.id
    if _status_only(request):
        change = await parse_body(TokenStatus, request)
        if isinstance(change, str):
            return fail(change)
        row = await _own_token(user_id, change.id)
        if row is None:
            return fail(NOT_FOUND)
        if change.status == TOKEN_ENABLED and (problem := _enable_problem(row)):
            return fail(problem)
        values: dict[str, Any] = {"status": change.status}
        token_id = change.id
    else:
        data = await parse_body(TokenUpdate, request)
        if isinstance(data, str):
            return fail(data)
        row = await _own_token(user_id, data.id)
        if row is None:
            return fail(NOT_FOUND)
        values = {name: getattr(data, name) for name in data.model_fields_set - {"id"}}
        merged = {**row, **values}
        problem = _check_quota(request, merged["remain_quota"], merged["unlimited_quota"])
        if not problem and values.get("expired_time", row["expired_time"]) != row["expired_time"]:
            problem = _check_expiry(values["expired_time"])
        if not problem and values.get("group", row["group"]) != row["group"]:
            problem = _check_group(request, values["group"])
        if problem:
            return fail(problem)
        token_id = data.id
    if values:
        async with wallets(request).change() as change:
            if "remain_quota" in values:  # the key's live balance moves by the difference
                await change.set_key(token_id, values.pop("remain_quota"))
            if values:
                await Token.update({getattr(Token, k): v for k, v in values.items()}).where(
                    _mine(user_id) & (Token.id == token_id)
                )
        await announce(request, "tokens", ids=[token_id])
    row = await _own_token(user_id, token_id)
    return ok(token_json(row)) if row else fail(NOT_FOUND)


async def _soft_delete(user_id: int, ids: list[int]) -> list[int]:
    """Delete those of ``user_id``'s tokens; the ids deleted."""
    deleted = (
        await Token.update({Token.deleted_at: dt.datetime.now(dt.UTC)})
        .where(_mine(user_id) & Token.id.is_in(ids))
        .returning(Token.id)
    )
    return [row["id"] for row in deleted]


@delete("/api/token/{token_id:int}", guards=[user_auth], status_code=200)
async def delete_token(request: Request[Any, Any, Any], token_id: FromPath[int]) -> dict[str, Any]:
    if not await _soft_delete(request.state.caller.id, [token_id]):
        return fail(NOT_FOUND)
    await announce(request, "tokens", ids=[token_id])
    return ok()


@post("/api/token/batch", guards=[user_auth], status_code=200)
async def delete_tokens(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"ids": [...]}``: delete those of the caller's tokens; ``data`` is how many were deleted."""
    data = await parse_body(TokenIds, request)
    if isinstance(data, str):
        return fail(data)
    deleted = await _soft_delete(request.state.caller.id, data.ids)
    if deleted:
        await announce(request, "tokens", ids=deleted)
    return ok(len(deleted))


ROUTES = [
    list_tokens,
    search_tokens,
    get_token,
    reveal_token_key,
    reveal_token_keys,
    add_token,
    update_token,
    delete_token,
    delete_tokens,
]
