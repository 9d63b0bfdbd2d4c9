"""Channel administration (admin): New API's ``/api/channel/*`` routes.

Lists, search, create (single / batch / multi_to_single), partial update, delete, copy, tag
operations, multi-key management, status changes, tests, balances, upstream model lists and the
``abilities`` table. Keys never leave the server except through ``POST /api/channel/{id}/key``
(root only); every other answer carries ``"key": ""`` as New API's lists do, and only root may
send a stored key to a new address (:mod:`.channel_custody`). Tests, model lists and balances
obey the SSRF settings; their failures are told in full to root only.

``abilities`` (one row per group x model of each channel) is rewritten in the same transaction as
every channel write, for New API compatibility and model queries; the relay routes from the
``channels`` table, and every write that changes routing announces the ``channels`` topic.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from litestar import Request, delete, get, post, put
from litestar.params import PathParameter
from piccolo.columns.combination import WhereRaw
from piccolo.query.functions.aggregate import Count
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newapi_host.auth.guards import admin_auth, root_auth
from newapi_host.auth.users import Caller
from newapi_host.db.engine import insert_many, write_transaction
from newapi_host.db.tables import (
    CHANNEL_AUTO_DISABLED,
    CHANNEL_ENABLED,
    CHANNEL_MANUALLY_DISABLED,
    Ability,
    Channel,
)
from newapi_host.host import Host, host_of
from newapi_host.options import DEFAULT_DISABLE_CODES, DEFAULT_DISABLE_KEYWORDS
from newapi_host.plugins.contracts import Balance, ChannelView, Fetch, UpstreamFailed, UpstreamRequest
from newapi_host.relay import fetch_guard
from newapi_host.relay.channels import ChannelEntry, entry_from_row
from newapi_host.relay.client import UpstreamError
from newapi_host.relay.health import probe_channel
from newapi_host.relay.redaction import UNREACHABLE, status_error
from newapi_host.status_ranges import in_ranges, parse_ranges

from .channel_custody import is_root, keyless_copy, update_refusal
from .common import announce, manage_log, page_of, paging
from .common import validation_message as _errors
from .envelope import fail, json_object, ok
from .twofa import step_up_missing

Req = Request[Any, Any, Any]
M = TypeVar("M", bound=BaseModel)

MAX_ID = 2**31 - 1  # channels.id is a 32-bit serial
ChannelIdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
ChannelId = Annotated[int, Field(ge=1, le=MAX_ID)]

INT64 = 2**63 - 1
MAX_KEY_TEXT = 1_000_000  # all keys of one request together (batch / multi-key)
MAX_ONE_KEY = 16_384  # a single key (Vertex service-account JSON is ~2.5 kB)
MAX_GROUP = 64  # abilities.group is varchar(64)
MAX_MODEL = 255  # abilities.model is varchar(255)
MAX_IDS = 10_000
TEST_CONCURRENCY = 4
UPSTREAM_TIMEOUT = 30.0

JSON_FIELDS = ("model_mapping", "status_code_mapping", "param_override", "header_override", "setting", "settings")
VISIBLE = [c for c in Channel._meta.columns if c._meta.name != "key"]


# -- input models --------------------------------------------------------------------------


class ChannelSetting(BaseModel):
    """The ``setting`` JSON (New API's ChannelSettings); unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    force_format: bool = False
    thinking_to_content: bool = False
    proxy: str = Field("", max_length=1024)
    pass_through_body_enabled: bool = False
    system_prompt: str = Field("", max_length=100_000)
    system_prompt_override: bool = False

    @field_validator("proxy")
    @classmethod
    def proxy_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^(https?|socks5h?)://[^\s/]+", value, re.IGNORECASE):
            raise ValueError("proxy must be an http://, https:// or socks5:// URL")
        return value


def _json_object_text(value: Any) -> Any:
    """A JSON-object column given as an object or as JSON text; stored as text."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object")
    return value


def _check_json_fields(model: BaseModel) -> None:
    """Deeper checks of JSON columns once they are known to be objects."""
    mapping = getattr(model, "model_mapping", None)
    if mapping and mapping.strip() and not all(isinstance(v, str) for v in json.loads(mapping).values()):
        raise ValueError("model_mapping: every value must be a model name (string)")
    codes = getattr(model, "status_code_mapping", None)
    if codes and codes.strip():
        for k, v in json.loads(codes).items():
            if not (str(k).isdigit() and str(v).isdigit() and len(str(k)) == 3 and len(str(v)) == 3):
                raise ValueError('status_code_mapping: keys and values must be HTTP status codes such as "400"')
    setting = getattr(model, "setting", None)
    if setting and setting.strip():
        try:
            ChannelSetting.model_validate_json(setting)
        except ValidationError as exc:
            raise ValueError(f"setting: {_errors(exc)}") from None


class _JsonColumns(BaseModel):
    @field_validator(*JSON_FIELDS, mode="before", check_fields=False)
    @classmethod
    def json_text(cls, value: Any) -> Any:
        return _json_object_text(value)


Name = Annotated[str, Field(max_length=255)]
Url = Annotated[str, Field(max_length=1024)]
Models = Annotated[str, Field(min_length=1, max_length=100_000)]
Groups = Annotated[str, Field(min_length=1, max_length=255)]
Priority = Annotated[int, Field(ge=-INT64, le=INT64)]
Weight = Annotated[int, Field(ge=0, le=10_000)]
Short = Annotated[str, Field(max_length=255)]
Long = Annotated[str, Field(max_length=100_000)]


class ChannelIn(_JsonColumns):
    """A new channel. Fields New API's clients send but the server manages are ignored."""

    type: int = Field(1, ge=1, le=MAX_ID)
    key: str = Field(min_length=1, max_length=MAX_KEY_TEXT)
    name: Name = ""
    base_url: Url = ""
    models: Models
    group: Groups = "default"
    priority: Priority = 0
    weight: Weight = 0
    other: str = Field("", max_length=10_000)
    test_model: Short | None = None
    tag: Short | None = None
    remark: Short | None = None
    auto_ban: int = Field(1, ge=0, le=1)
    status: Literal[1, 2] = CHANNEL_ENABLED
    openai_organization: Short | None = None
    model_mapping: Long | None = None
    status_code_mapping: str | None = Field(None, max_length=1024)
    param_override: Long | None = None
    header_override: Long | None = None
    setting: Long | None = None
    settings: Long | None = None


class ChannelPatch(_JsonColumns):
    """``PUT /api/channel/``: ``id`` plus any fields to change (absent or null: unchanged)."""

    id: ChannelId
    type: int | None = Field(None, ge=1, le=MAX_ID)
    key: str | None = Field(None, max_length=MAX_KEY_TEXT)
    name: Name | None = None
    base_url: Url | None = None
    models: Annotated[str, Field(max_length=100_000)] | None = None
    group: Annotated[str, Field(max_length=255)] | None = None
    priority: Priority | None = None
    weight: Weight | None = None
    other: str | None = Field(None, max_length=10_000)
    test_model: Short | None = None
    tag: Short | None = None
    remark: Short | None = None
    auto_ban: int | None = Field(None, ge=0, le=1)
    status: Literal[1, 2, 3] | None = None  # New API's classic console sends the whole channel back
    openai_organization: Short | None = None
    model_mapping: Long | None = None
    status_code_mapping: str | None = Field(None, max_length=1024)
    param_override: Long | None = None
    header_override: Long | None = None
    setting: Long | None = None
    settings: Long | None = None
    key_mode: Literal["append", "replace"] | None = None
    multi_key_mode: Literal["random", "polling", ""] | None = None


class AddRequest(BaseModel):
    mode: str = "single"
    multi_key_mode: Literal["random", "polling", ""] = "random"
    batch_add_set_key_prefix_2_name: bool = False


class IdList(BaseModel):
    ids: list[ChannelId] = Field(min_length=1, max_length=MAX_IDS)


class BatchTag(IdList):
    tag: Short | None = None


class StatusIn(BaseModel):
    status: Literal[1, 2]


class BatchStatus(IdList, StatusIn):
    pass


class TagIn(BaseModel):
    tag: str = Field(min_length=1, max_length=255)


class TagEdit(TagIn, _JsonColumns):
    new_tag: Short | None = None
    priority: Priority | None = None
    weight: Weight | None = None
    model_mapping: Long | None = None
    models: Annotated[str, Field(max_length=100_000)] | None = None
    groups: Annotated[str, Field(max_length=255)] | None = None
    param_override: Long | None = None
    header_override: Long | None = None


class KeyManage(BaseModel):
    channel_id: ChannelId
    action: Literal[
        "get_key_status",
        "disable_key",
        "enable_key",
        "enable_all_keys",
        "disable_all_keys",
        "delete_key",
        "delete_disabled_keys",
    ]
    key_index: int | None = None
    page: int = Field(1, ge=0, le=1_000_000)
    page_size: int = Field(50, ge=0, le=1000)
    status: Literal[1, 2, 3] | None = None


class FetchIn(BaseModel):
    channel_id: int = Field(0, ge=0, le=MAX_ID)
    type: int = Field(1, ge=1, le=MAX_ID)
    base_url: Url | None = None
    key: str = Field("", max_length=MAX_KEY_TEXT)


def _parse(model: type[M], body: dict[str, Any] | None) -> M | str:
    if body is None:
        return "request body must be a JSON object"
    try:
        data = model.model_validate(body)
        _check_json_fields(data)
    except ValidationError as exc:
        return _errors(exc)
    except ValueError as exc:
        return str(exc)
    return data


# -- shared helpers ------------------------------------------------------------------------


def _split(text: str | None, sep: str = ",") -> list[str]:
    """Trimmed, non-empty, de-duplicated items in their first order."""
    return list(dict.fromkeys(p.strip() for p in (text or "").split(sep) if p.strip()))


def _list_text(text: str, what: str, limit: int) -> str:
    """A normalised comma list, or ValueError naming the first item that is too long."""
    items = _split(text)
    if not items:
        raise ValueError(f"{what} must list at least one name")
    for item in items:
        if len(item) > limit:
            raise ValueError(f"{what}: '{item[:40]}...' is longer than {limit} characters")
    return ",".join(items)


def _key_lines(text: str) -> list[str]:
    keys = [k.strip() for k in text.split("\n") if k.strip()]
    for k in keys:
        if len(k) > MAX_ONE_KEY:
            raise ValueError(f"key: a key is longer than {MAX_ONE_KEY} characters")
    return keys


def _single_key(text: str) -> str:
    key = text.strip()
    if len(key) > MAX_ONE_KEY:
        raise ValueError(f"key: a key is longer than {MAX_ONE_KEY} characters")
    return key


def _info(text: str | None) -> dict[str, Any]:
    try:
        info = json.loads(text or "{}")
    except ValueError:
        info = {}
    return info if isinstance(info, dict) else {}


def _statuses(info: dict[str, Any]) -> dict[int, int]:
    raw = info.get("multi_key_status_list") or {}
    if not isinstance(raw, dict):
        return {}
    out: dict[int, int] = {}
    for k, v in raw.items():
        try:
            out[int(k)] = int(v)
        except (TypeError, ValueError):
            continue
    return out


def _index_map(raw: Any) -> dict[int, Any]:
    if not isinstance(raw, dict):
        return {}
    out: dict[int, Any] = {}
    for k, v in raw.items():
        try:
            out[int(k)] = v
        except (TypeError, ValueError):
            continue
    return out


def _set_key_state(
    info: dict[str, Any], statuses: dict[int, int], reasons: dict[int, Any], times: dict[int, Any], size: int
) -> dict[str, Any]:
    """Write key states back into channel_info (JSON object keys are strings, as in New API)."""
    info["multi_key_size"] = size
    info["multi_key_status_list"] = {str(i): s for i, s in sorted(statuses.items()) if i < size and s != 1}
    info["multi_key_disabled_reason"] = {str(i): r for i, r in sorted(reasons.items()) if i < size}
    info["multi_key_disabled_time"] = {str(i): t for i, t in sorted(times.items()) if i < size}
    return info


def channel_json(row: dict[str, Any]) -> dict[str, Any]:
    """A channel as New API returns it from lists: no key, multi-key reasons and times left out."""
    out = {k: v for k, v in row.items() if k != "key"}
    out["key"] = ""
    info = _info(row.get("channel_info"))
    info.setdefault("is_multi_key", False)
    info.setdefault("multi_key_size", 0)
    info.setdefault("multi_key_status_list", None)
    info.setdefault("multi_key_polling_index", 0)
    info.setdefault("multi_key_mode", "")
    if info.get("is_multi_key"):
        info.pop("multi_key_disabled_reason", None)
        info.pop("multi_key_disabled_time", None)
    out["channel_info"] = info
    return out


def _is_postgres() -> bool:
    return Channel._meta.db.engine_type == "postgres"


async def _row_for_update(channel_id: int) -> dict[str, Any] | None:
    """The full row, locked until the transaction ends where the database can lock rows."""
    query = Channel.select().where(Channel.id == channel_id)
    if _is_postgres():
        query = query.lock_rows()
    return await query.first()


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _audit(request: Req, content: str) -> None:
    caller = request.state.caller
    await manage_log(caller, caller.id, content)


def _validate_type(host: Host, type_id: int, settings: str | None) -> str | None:
    """An error message when the type is unavailable or its settings do not fit its model."""
    channel_type = host.registry.channel_type(type_id)
    if channel_type is None:
        return f"channel type {type_id} is not available (no enabled plugin provides it)"
    if channel_type.settings_model is not None and settings and settings.strip():
        try:
            channel_type.settings_model.model_validate_json(settings)
        except ValidationError as exc:
            return f"settings: {_errors(exc)}"
    return None


# -- abilities -----------------------------------------------------------------------------

ABILITY_COLUMNS = ("group", "model", "channel_id", "enabled", "priority", "weight", "tag")


def ability_rows(row: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per (group, model) of the channel, as New API's abilities."""
    enabled = row["status"] == CHANNEL_ENABLED
    priority = int(row.get("priority") or 0)
    weight = max(0, int(row.get("weight") or 0))
    return [
        (group, model, row["id"], enabled, priority, weight, row.get("tag"))
        for model in _split(row.get("models"))
        for group in _split(row.get("group") or "default")
    ]


async def sync_abilities(channel_ids: Iterable[int] | None = None) -> int:
    """Rewrite the abilities of these channels (all channels when None) from their rows.

    Must run inside a write transaction. Returns the number of channels processed.
    """
    fields = (Channel.id, Channel.models, Channel.group, Channel.status, Channel.priority, Channel.weight, Channel.tag)
    if channel_ids is None:
        await Ability.delete(force=True)
        rows = await Channel.select(*fields)
    else:
        ids = list(dict.fromkeys(channel_ids))
        rows = []
        for part in _chunks(ids):
            await Ability.delete().where(Ability.channel_id.is_in(part))
            rows.extend(await Channel.select(*fields).where(Channel.id.is_in(part)))
    new = [a for row in rows for a in ability_rows(row)]
    for part in _chunks(new, 1000):
        await insert_many(Ability, ABILITY_COLUMNS, part)
    return len(rows)


async def sync_ability_status(channel_ids: Iterable[int]) -> None:
    """Set abilities.enabled from the channels' current status (after tests changed it)."""
    ids = list(dict.fromkeys(channel_ids))
    for part in _chunks(ids):
        rows = await Channel.select(Channel.id, Channel.status).where(Channel.id.is_in(part))
        on = [r["id"] for r in rows if r["status"] == CHANNEL_ENABLED]
        off = [r["id"] for r in rows if r["status"] != CHANNEL_ENABLED]
        if on:
            await Ability.update({Ability.enabled: True}).where(Ability.channel_id.is_in(on))
        if off:
            await Ability.update({Ability.enabled: False}).where(Ability.channel_id.is_in(off))


@post("/api/channel/fix", guards=[admin_auth], status_code=200)
async def fix_abilities(request: Req) -> dict[str, Any]:
    """Rebuild the whole abilities table; ``data: {success, fails}`` counts channels."""
    async with write_transaction():
        count = await sync_abilities(None)
    await announce(request, "channels")
    return ok({"success": count, "fails": 0})


# -- reading -------------------------------------------------------------------------------

SORT_COLUMNS = {
    "id": Channel.id,
    "name": Channel.name,
    "priority": Channel.priority,
    "balance": Channel.balance,
    "response_time": Channel.response_time,
    "test_time": Channel.test_time,
}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "t", "yes")


def _small_int(text: str | None) -> int | None:
    """A non-negative query-string number that fits a 32-bit column, else None (filter ignored)."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


def _filters(request: Req, *, with_type: bool = True) -> list[Any]:
    """Where-conditions from ``group``, ``status``, ``type`` and ``tag`` query parameters."""
    q = request.query_params
    conds: list[Any] = []
    group = (q.get("group") or "").strip()
    if group and group.lower() not in ("all", "null"):
        escaped = group.replace("!", "!!").replace("%", "!%").replace("_", "!_")
        conds.append(WhereRaw("(',' || \"group\" || ',') LIKE {} ESCAPE '!'", f"%,{escaped},%"))
    status = (q.get("status") or "").strip().lower()
    if status in ("enabled", "1"):
        conds.append(Channel.status == CHANNEL_ENABLED)
    elif status in ("disabled", "0"):
        conds.append(Channel.status != CHANNEL_ENABLED)
    elif status in ("2", "manual_disabled"):
        conds.append(Channel.status == CHANNEL_MANUALLY_DISABLED)
    elif status in ("3", "auto_disabled"):
        conds.append(Channel.status == CHANNEL_AUTO_DISABLED)
    type_id = _small_int(q.get("type"))
    if with_type and type_id is not None:
        conds.append(Channel.type == type_id)
    tag = q.get("tag")
    if tag:
        conds.append(Channel.tag == tag)
    return conds


def _ordered(query: Any, request: Req) -> Any:
    """New API's order: ``sort_by``/``sort_order``, else ``id_sort`` (id desc), else priority desc."""
    q = request.query_params
    column = SORT_COLUMNS.get((q.get("sort_by") or "").strip().lower())
    if column is not None:
        ascending = (q.get("sort_order") or "").strip().lower() == "asc"
        query = query.order_by(column, ascending=ascending)
    elif _truthy(q.get("id_sort")):
        return query.order_by(Channel.id, ascending=False)
    else:
        query = query.order_by(Channel.priority, ascending=False)
    return query.order_by(Channel.id, ascending=False)


async def _type_counts(conds: list[Any]) -> dict[str, int]:
    rows = await Channel.select(Channel.type, Count(Channel.id, alias="count")).where(*conds).group_by(Channel.type)
    return {str(r["type"]): r["count"] for r in rows}


@get("/api/channel/", guards=[admin_auth])
async def list_channels(request: Req) -> dict[str, Any]:
    """Paged list; filters type, status, group, tag; ``tag_mode`` pages over tags instead."""
    page, size = paging(request)
    conds = _filters(request)
    if _truthy(request.query_params.get("tag_mode")):
        tagged = [*conds, Channel.tag.is_not_null(), Channel.tag != ""]
        tags = [r["tag"] for r in await Channel.select(Channel.tag).where(*tagged).distinct().order_by(Channel.tag)]
        total = len(tags)
        page_tags = tags[(page - 1) * size : page * size]
        rows = (
            await _ordered(Channel.select(*VISIBLE).where(*conds, Channel.tag.is_in(page_tags)), request)
            if page_tags
            else []
        )
        rows.sort(key=lambda r: page_tags.index(r["tag"]))
    else:
        total = await Channel.count().where(*conds)
        rows = await _ordered(Channel.select(*VISIBLE).where(*conds), request).limit(size).offset((page - 1) * size)
    data = page_of([channel_json(r) for r in rows], total, page, size)
    data["type_counts"] = await _type_counts(_filters(request, with_type=False))
    return ok(data)


def _contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match (SQLite's LIKE already ignores ASCII case)."""
    return column.ilike(f"%{text}%") if _is_postgres() else column.like(f"%{text}%")


@get("/api/channel/search", guards=[admin_auth])
async def search_channels(request: Req) -> dict[str, Any]:
    """``keyword`` matches id, name, base URL (or the exact key); ``model`` part of the models."""
    q = request.query_params
    keyword = (q.get("keyword") or "")[:255]
    model = (q.get("model") or "")[:255]
    match = _contains(Channel.name, keyword) | _contains(Channel.base_url, keyword)
    if keyword:
        match = match | (Channel.key == keyword)
    if keyword.isdigit() and int(keyword) <= MAX_ID:
        match = match | (Channel.id == int(keyword))
    conds = [match, _contains(Channel.models, model), *_filters(request, with_type=False)]
    rows = await _ordered(Channel.select(*VISIBLE).where(*conds), request)
    if _truthy(q.get("tag_mode")):  # every channel sharing a tag with a match, tags in first-match order
        tags = list(dict.fromkeys(r["tag"] for r in rows if r["tag"]))
        rows = []
        for part in _chunks(tags):
            rows.extend(
                await _ordered(
                    Channel.select(*VISIBLE).where(*_filters(request, with_type=False), Channel.tag.is_in(part)),
                    request,
                )
            )
        rows.sort(key=lambda r: tags.index(r["tag"]))
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["type"])] = counts.get(str(r["type"]), 0) + 1
    type_id = _small_int(q.get("type"))
    if type_id is not None:
        rows = [r for r in rows if r["type"] == type_id]
    page, size = paging(request)
    if "page_size" not in q and "ps" not in q:
        size = 20  # New API's default for search
    items = [channel_json(r) for r in rows[(page - 1) * size : page * size]]
    data = page_of(items, len(rows), page, size)
    data["type_counts"] = counts
    return ok(data)


@get("/api/channel/ops", guards=[admin_auth])
async def channel_ops(request: Req) -> dict[str, Any]:
    """Operational settings the channel page shows (New API: the retry count)."""
    return ok({"retry_times": host_of(request.app.state).options.get_int("RetryTimes", 0)})


@get("/api/channel/{channel_id:int}", guards=[admin_auth])
async def get_channel(channel_id: ChannelIdPath) -> dict[str, Any]:
    row = await Channel.select(*VISIBLE).where(Channel.id == channel_id).first()
    if row is None:
        return fail(f"channel #{channel_id} does not exist")
    return ok(channel_json(row))


@post("/api/channel/{channel_id:int}/key", guards=[root_auth], status_code=200)
async def get_channel_key(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    """Root only: the channel's key (all keys, newline-separated, for a multi-key channel).

    A root with two-factor on must have confirmed a code within five minutes (``POST /api/verify``).
    """
    if problem := await step_up_missing(request):
        return fail(problem)
    row = await Channel.select(Channel.key, Channel.name).where(Channel.id == channel_id).first()
    if row is None:
        return fail(f"channel #{channel_id} does not exist")
    await _audit(request, f"viewed the key of channel #{channel_id} ({row['name']})")
    return ok({"key": row["key"]})


@get("/api/channel/tag/models", guards=[admin_auth])
async def tag_models(request: Req) -> dict[str, Any]:
    """The longest model list among the channels with ``tag`` (used to prefill a tag edit)."""
    tag = request.query_params.get("tag") or ""
    if not tag:
        return fail("tag is required")
    rows = await Channel.select(Channel.models).where(Channel.tag == tag)
    best = max((r["models"] or "" for r in rows), key=lambda m: len(_split(m)), default="")
    return ok(best)


@get("/api/channel/models", guards=[admin_auth])
async def channel_models(request: Req) -> dict[str, Any]:
    """Every model known: plugin defaults (owned by their channel type) and configured models."""
    host = host_of(request.app.state)
    seen: dict[str, str] = {}
    for ct in host.registry.channel_types():
        for m in ct.default_models:
            seen.setdefault(m, ct.name)
    for row in await Channel.select(Channel.models).where(Channel.status == CHANNEL_ENABLED):
        for m in _split(row["models"]):
            seen.setdefault(m, "custom")
    data = [{"id": m, "object": "model", "created": 1626777600, "owned_by": o} for m, o in seen.items()]
    return ok(data)


@get("/api/channel/models_enabled", guards=[admin_auth])
async def enabled_models() -> dict[str, Any]:
    """Distinct models of enabled abilities whose channel is enabled now."""
    enabled = {r["id"] for r in await Channel.select(Channel.id).where(Channel.status == CHANNEL_ENABLED)}
    rows = await Ability.select(Ability.model, Ability.channel_id).where(Ability.enabled == True)  # noqa: E712
    return ok(sorted({r["model"] for r in rows if r["channel_id"] in enabled}))


@get("/api/channel/types", guards=[admin_auth])
async def channel_types(request: Req) -> dict[str, Any]:
    """Channel types of enabled plugins, with the JSON schema of their type-specific settings."""
    host = host_of(request.app.state)
    data = [
        {
            "id": ct.id,
            "name": ct.name,
            "default_base_url": ct.default_base_url,
            "default_models": list(ct.default_models),
            "description": ct.description,
            "dialects": list(ct.dialects),
            "settings_schema": ct.settings_model.model_json_schema() if ct.settings_model is not None else None,
        }
        for ct in host.registry.channel_types()
    ]
    return ok(data)


# -- creating ------------------------------------------------------------------------------


@post("/api/channel/", guards=[admin_auth], status_code=200)
async def add_channel(request: Req) -> dict[str, Any]:
    """New API's ``{"mode": "single"|"batch"|"multi_to_single", "channel": {...}}``.

    A bare channel object is read as mode single. Batch makes one channel per line of ``key``;
    multi_to_single one channel holding all the lines, with ``multi_key_mode`` random|polling.
    """
    host = host_of(request.app.state)
    body = await json_object(request)
    if body is None:
        return fail("request body must be a JSON object")
    raw = body.get("channel", body)
    if not isinstance(raw, dict):
        return fail("channel must be a JSON object")
    try:
        req = AddRequest.model_validate({k: body[k] for k in AddRequest.model_fields if k in body})
    except ValidationError as exc:
        return fail(_errors(exc))
    if req.mode not in ("single", "batch", "multi_to_single"):
        return fail(f"unsupported mode '{str(req.mode)[:40]}': use single, batch or multi_to_single")
    data = _parse(ChannelIn, raw)
    if isinstance(data, str):
        return fail(data)
    error = _validate_type(host, data.type, data.settings)
    if error:
        return fail(error)
    try:
        models = _list_text(data.models, "models", MAX_MODEL)
        groups = _list_text(data.group, "group", MAX_GROUP)
        keys = _key_lines(data.key) if req.mode != "single" else [_single_key(data.key)]
    except ValueError as exc:
        return fail(str(exc))
    if not keys or not keys[0]:
        return fail("key must not be empty")
    base = {
        **data.model_dump(exclude_none=True),
        "models": models,
        "group": groups,
        "created_time": int(time.time()),
    }
    if req.mode == "multi_to_single":
        info = {
            "is_multi_key": True,
            "multi_key_size": len(keys),
            "multi_key_status_list": {},
            "multi_key_polling_index": 0,
            "multi_key_mode": req.multi_key_mode or "random",
        }
        rows = [{**base, "key": "\n".join(keys), "channel_info": json.dumps(info)}]
    elif req.mode == "batch":
        prefix = req.batch_add_set_key_prefix_2_name and len(keys) > 1
        names = [(f"{data.name} {k[:8]}".strip() if prefix else data.name)[:255] for k in keys]
        rows = [{**base, "key": k, "name": n} for k, n in zip(keys, names, strict=True)]
    else:
        rows = [{**base, "key": keys[0]}]
    ids: list[int] = []
    async with write_transaction():
        for values in rows:
            channel = Channel(**values)
            await channel.save()
            ids.append(channel.id)
        await sync_abilities(ids)
    await announce(request, "channels")
    await _audit(request, f"created {len(ids)} channel(s) of type {data.type} ({data.name})")
    return ok({"id": ids[0], "ids": ids})


@post("/api/channel/copy/{channel_id:int}", guards=[admin_auth], status_code=200)
async def copy_channel(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    """Clone; name + ``suffix`` (default "_复制"); test results and (by default) stats reset.

    Root's copy keeps the key; anyone else's has none and starts disabled (see channel_custody).
    """
    suffix = request.query_params.get("suffix", "_复制")
    if len(suffix) > 64:
        return fail("suffix must be at most 64 characters")
    reset = request.query_params.get("reset_balance", "true").strip().lower() not in ("false", "0", "f", "no")
    async with write_transaction():
        row = await Channel.select().where(Channel.id == channel_id).first()
        if row is None:
            return fail(f"channel #{channel_id} does not exist")
        values = {k: v for k, v in row.items() if k != "id"}
        values.update(name=(row["name"] + suffix)[:255], created_time=int(time.time()), test_time=0, response_time=0)
        if reset:
            values.update(balance=0.0, used_quota=0, balance_updated_time=0)
        if not is_root(request.state.caller):
            values = keyless_copy(values)
        clone = Channel(**values)
        await clone.save()
        await sync_abilities([clone.id])
    await announce(request, "channels")
    await _audit(request, f"copied channel #{channel_id} to #{clone.id}")
    if not values["key"]:
        return ok({"id": clone.id}, "copied without the key (only root copies keys): set a key, then enable it")
    return ok({"id": clone.id})


# -- updating ------------------------------------------------------------------------------

# Go value fields: an empty string (or 0) in the request means "not sent", as GORM's Updates skips zeros.
VALUE_FIELDS = {"name", "key", "models", "group", "other", "settings"}
UPDATABLE = set(ChannelPatch.model_fields) - {"id", "key_mode", "multi_key_mode"}


def _merge_keys(row: dict[str, Any], new_text: str, append: bool) -> tuple[str, int]:
    """The key text after a multi-key update and the number of keys it holds."""
    new = _key_lines(new_text)
    if append:
        old = [k.strip() for k in (row["key"] or "").split("\n") if k.strip()]
        merged = list(dict.fromkeys(old + new))
    else:
        merged = new
    return "\n".join(merged), len(merged)


@put("/api/channel/", guards=[admin_auth], status_code=200)
async def update_channel(request: Req) -> dict[str, Any]:
    """Partial update by ``id``; for multi-key channels ``key_mode`` append|replace.

    A non-root admin re-pointing a channel (base URL, type, proxy) must replace its key as well.
    """
    host = host_of(request.app.state)
    data = _parse(ChannelPatch, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    sent = {
        f: getattr(data, f)
        for f in data.model_fields_set & UPDATABLE
        if getattr(data, f) is not None and not (f in VALUE_FIELDS and getattr(data, f) == "")
    }
    try:
        if "models" in sent:
            sent["models"] = _list_text(sent["models"], "models", MAX_MODEL)
        if "group" in sent:
            sent["group"] = _list_text(sent["group"], "group", MAX_GROUP)
    except ValueError as exc:
        return fail(str(exc))
    async with write_transaction():
        row = await _row_for_update(data.id)
        if row is None:
            return fail(f"channel #{data.id} does not exist")
        if not is_root(request.state.caller):
            refusal = update_refusal(row, sent, data.key_mode)
            if refusal:
                return fail(refusal)
        type_id = sent.get("type", row["type"])
        if "type" in sent or "settings" in sent:
            error = _validate_type(host, type_id, sent.get("settings", row["settings"]))
            if error:
                return fail(error)
        info = _info(row["channel_info"])
        if info.get("is_multi_key"):
            if "key" in sent:
                try:
                    sent["key"], size = _merge_keys(row, sent["key"], data.key_mode == "append")
                except ValueError as exc:
                    return fail(str(exc))
                if size == 0:
                    return fail("key must hold at least one key")
                statuses = _statuses(info)
                reasons = _index_map(info.get("multi_key_disabled_reason"))
                times = _index_map(info.get("multi_key_disabled_time"))
                info = _set_key_state(info, statuses, reasons, times, size)
            if data.multi_key_mode:
                info["multi_key_mode"] = data.multi_key_mode
            sent["channel_info"] = json.dumps(info)
        elif "key" in sent:
            try:
                sent["key"] = _single_key(sent["key"])
            except ValueError as exc:
                return fail(str(exc))
            if not sent["key"]:
                del sent["key"]
        if sent:
            await Channel.update({getattr(Channel, k): v for k, v in sent.items()}).where(Channel.id == data.id)
            await sync_abilities([data.id])
        updated = await Channel.select(*VISIBLE).where(Channel.id == data.id).first()
    await announce(request, "channels")
    changed = sorted(k for k in sent if k != "channel_info")
    await _audit(request, f"updated channel #{data.id}: {', '.join(changed) or 'nothing'}")
    return ok(channel_json(updated))


async def _set_status(ids: list[int], status: int, reason: str) -> int:
    """Change status where it differs; returns how many channels changed. Inside a transaction."""
    changed = 0
    now = int(time.time())
    for part in _chunks(ids):
        rows = (
            await Channel.update(
                {Channel.status: status, Channel.other_info: json.dumps({"status_reason": reason, "status_time": now})}
            )
            .where(Channel.id.is_in(part), Channel.status != status)
            .returning(Channel.id)
        )
        changed += len(rows)
        await Ability.update({Ability.enabled: status == CHANNEL_ENABLED}).where(Ability.channel_id.is_in(part))
    return changed


@post("/api/channel/{channel_id:int}/status", guards=[admin_auth], status_code=200)
async def update_status(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    """``{"status": 1|2}``; ``data`` says whether anything changed."""
    data = _parse(StatusIn, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    if not await Channel.exists().where(Channel.id == channel_id):
        return fail(f"channel #{channel_id} does not exist")
    async with write_transaction():
        changed = await _set_status([channel_id], data.status, "manual operation")
    await announce(request, "channels")
    await _audit(request, f"set channel #{channel_id} status to {data.status}")
    return ok(changed > 0)


@post("/api/channel/status/batch", guards=[admin_auth], status_code=200)
async def batch_status(request: Req) -> dict[str, Any]:
    """``{"ids": [...], "status": 1|2}``; ``data`` is the number of channels changed."""
    data = _parse(BatchStatus, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    async with write_transaction():
        changed = await _set_status(list(dict.fromkeys(data.ids)), data.status, "manual batch operation")
    await announce(request, "channels")
    await _audit(request, f"set {changed} channel(s) to status {data.status}")
    return ok(changed)


# -- deleting ------------------------------------------------------------------------------


async def _delete(ids: list[int]) -> int:
    deleted = 0
    for part in _chunks(ids):
        deleted += len(await Channel.delete().where(Channel.id.is_in(part)).returning(Channel.id))
        await Ability.delete().where(Ability.channel_id.is_in(part))
    return deleted


@delete("/api/channel/{channel_id:int}", guards=[admin_auth], status_code=200)
async def delete_channel(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    async with write_transaction():
        deleted = await _delete([channel_id])
    if not deleted:
        return fail(f"channel #{channel_id} does not exist")
    await announce(request, "channels")
    await _audit(request, f"deleted channel #{channel_id}")
    return ok()


@delete("/api/channel/disabled", guards=[admin_auth], status_code=200)
async def delete_disabled(request: Req) -> dict[str, Any]:
    """Delete every manually or automatically disabled channel; ``data`` is the count."""
    async with write_transaction():
        rows = await Channel.select(Channel.id).where(
            Channel.status.is_in([CHANNEL_MANUALLY_DISABLED, CHANNEL_AUTO_DISABLED])
        )
        deleted = await _delete([r["id"] for r in rows])
    await announce(request, "channels")
    await _audit(request, f"deleted {deleted} disabled channel(s)")
    return ok(deleted)


@post("/api/channel/batch", guards=[admin_auth], status_code=200)
async def delete_batch(request: Req) -> dict[str, Any]:
    """``{"ids": [...]}``; ``data`` is the number deleted."""
    data = _parse(IdList, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    async with write_transaction():
        deleted = await _delete(list(dict.fromkeys(data.ids)))
    await announce(request, "channels")
    await _audit(request, f"deleted {deleted} channel(s) by id")
    return ok(deleted)


# -- tags ----------------------------------------------------------------------------------


async def _tag_status(request: Req, status: int) -> dict[str, Any]:
    data = _parse(TagIn, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    async with write_transaction():
        ids = [r["id"] for r in await Channel.select(Channel.id).where(Channel.tag == data.tag)]
        await _set_status(ids, status, "manual operation by tag")
    await announce(request, "channels")
    await _audit(request, f"set channels tagged '{data.tag}' to status {status}")
    return ok()


@post("/api/channel/tag/disabled", guards=[admin_auth], status_code=200)
async def disable_tag(request: Req) -> dict[str, Any]:
    return await _tag_status(request, CHANNEL_MANUALLY_DISABLED)


@post("/api/channel/tag/enabled", guards=[admin_auth], status_code=200)
async def enable_tag(request: Req) -> dict[str, Any]:
    return await _tag_status(request, CHANNEL_ENABLED)


@put("/api/channel/tag", guards=[admin_auth], status_code=200)
async def edit_tag(request: Req) -> dict[str, Any]:
    """Edit every channel with ``tag``: new_tag, priority, weight, models, groups, mappings, overrides."""
    data = _parse(TagEdit, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    values: dict[Any, Any] = {}
    try:
        if data.new_tag is not None and data.new_tag != data.tag:
            values[Channel.tag] = data.new_tag
        if data.models:
            values[Channel.models] = _list_text(data.models, "models", MAX_MODEL)
        if data.groups:
            values[Channel.group] = _list_text(data.groups, "groups", MAX_GROUP)
    except ValueError as exc:
        return fail(str(exc))
    for field in ("priority", "weight", "model_mapping", "param_override", "header_override"):
        if getattr(data, field) is not None:
            values[getattr(Channel, field)] = getattr(data, field)
    async with write_transaction():
        ids = [r["id"] for r in await Channel.select(Channel.id).where(Channel.tag == data.tag)]
        if values and ids:
            for part in _chunks(ids):
                await Channel.update(values).where(Channel.id.is_in(part))
            await sync_abilities(ids)
    await announce(request, "channels")
    await _audit(request, f"edited {len(ids)} channel(s) tagged '{data.tag}'")
    return ok()


@post("/api/channel/batch/tag", guards=[admin_auth], status_code=200)
async def batch_tag(request: Req) -> dict[str, Any]:
    """``{"ids": [...], "tag": "t" | null}``; ``data`` is the number of ids given."""
    data = _parse(BatchTag, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    ids = list(dict.fromkeys(data.ids))
    async with write_transaction():
        for part in _chunks(ids):
            await Channel.update({Channel.tag: data.tag}).where(Channel.id.is_in(part))
        await sync_abilities(ids)
    await announce(request, "channels")
    await _audit(request, f"set tag '{data.tag}' on {len(ids)} channel(s)")
    return ok(len(data.ids))


# -- multi-key management ------------------------------------------------------------------


def _key_status_page(keys: list[str], info: dict[str, Any], req: KeyManage) -> dict[str, Any]:
    statuses = _statuses(info)
    reasons = _index_map(info.get("multi_key_disabled_reason"))
    times = _index_map(info.get("multi_key_disabled_time"))
    every = []
    for i, key in enumerate(keys):
        status = statuses.get(i, CHANNEL_ENABLED)
        item: dict[str, Any] = {
            "index": i,
            "status": status,
            "key_preview": key[:10] + ("..." if len(key) > 10 else ""),
        }
        if status != CHANNEL_ENABLED:
            if times.get(i):
                item["disabled_time"] = times[i]
            if reasons.get(i):
                item["reason"] = reasons[i]
        every.append(item)
    chosen = [k for k in every if req.status is None or k["status"] == req.status]
    size = req.page_size or 50
    pages = max(1, -(-len(chosen) // size))
    page = min(max(1, req.page), pages)
    return {
        "keys": chosen[(page - 1) * size : page * size],
        "total": len(chosen),
        "page": page,
        "page_size": size,
        "total_pages": pages,
        "enabled_count": sum(1 for k in every if k["status"] == CHANNEL_ENABLED),
        "manual_disabled_count": sum(1 for k in every if k["status"] == CHANNEL_MANUALLY_DISABLED),
        "auto_disabled_count": sum(1 for k in every if k["status"] == CHANNEL_AUTO_DISABLED),
    }


def _apply_key_action(keys: list[str], info: dict[str, Any], req: KeyManage) -> tuple[list[str], str, Any]:
    """(new keys, message, data) after the action, or ValueError with what is wrong."""
    statuses = _statuses(info)
    reasons = _index_map(info.get("multi_key_disabled_reason"))
    times = _index_map(info.get("multi_key_disabled_time"))
    action, index = req.action, req.key_index
    if action in ("disable_key", "enable_key", "delete_key"):
        if index is None:
            raise ValueError("key_index is required for this action")
        if not 0 <= index < len(keys):
            raise ValueError(f"key_index {index} is out of range (0..{len(keys) - 1})")
    message, data = "", None
    if action == "disable_key":
        statuses[index] = CHANNEL_MANUALLY_DISABLED
        times[index] = int(time.time())
        reasons[index] = "manually disabled"
        message = "key disabled"
    elif action == "enable_key":
        for m in (statuses, reasons, times):
            m.pop(index, None)
        message = "key enabled"
    elif action == "enable_all_keys":
        count = sum(1 for s in statuses.values() if s != CHANNEL_ENABLED)
        statuses, reasons, times = {}, {}, {}
        message = f"enabled {count} key(s)"
    elif action == "disable_all_keys":
        targets = [i for i in range(len(keys)) if statuses.get(i, CHANNEL_ENABLED) == CHANNEL_ENABLED]
        if not targets:
            raise ValueError("there is no enabled key to disable")
        now = int(time.time())
        for i in targets:
            statuses[i], times[i], reasons[i] = CHANNEL_MANUALLY_DISABLED, now, "manually disabled"
        message = f"disabled {len(targets)} key(s)"
    else:
        if action == "delete_key":
            drop = {index}
        else:  # delete_disabled_keys: only the automatically disabled ones, as New API
            drop = {i for i in range(len(keys)) if statuses.get(i) == CHANNEL_AUTO_DISABLED}
            if not drop:
                raise ValueError("there is no automatically disabled key to delete")
        if len(drop) >= len(keys):
            raise ValueError("the last key of a channel cannot be deleted")
        remap = {old: new for new, old in enumerate(i for i in range(len(keys)) if i not in drop)}
        keys = [k for i, k in enumerate(keys) if i not in drop]
        statuses = {remap[i]: s for i, s in statuses.items() if i in remap}
        reasons = {remap[i]: r for i, r in reasons.items() if i in remap}
        times = {remap[i]: t for i, t in times.items() if i in remap}
        message = "key deleted" if action == "delete_key" else f"deleted {len(drop)} automatically disabled key(s)"
        data = None if action == "delete_key" else len(drop)
    _set_key_state(info, statuses, reasons, times, len(keys))
    return keys, message, data


@post("/api/channel/multi_key/manage", guards=[admin_auth], status_code=200)
async def manage_keys(request: Req) -> dict[str, Any]:
    """New API's multi-key actions on one channel (see :class:`KeyManage`)."""
    req = _parse(KeyManage, await json_object(request))
    if isinstance(req, str):
        return fail(req)
    async with write_transaction():
        row = await _row_for_update(req.channel_id)
        if row is None:
            return fail(f"channel #{req.channel_id} does not exist")
        info = _info(row["channel_info"])
        if not info.get("is_multi_key"):
            return fail("this channel is not a multi-key channel")
        keys = [k.strip() for k in (row["key"] or "").split("\n") if k.strip()]
        if req.action == "get_key_status":
            return ok(_key_status_page(keys, info, req))
        try:
            keys, message, data = _apply_key_action(keys, info, req)
        except ValueError as exc:
            return fail(str(exc))
        await Channel.update({Channel.key: "\n".join(keys), Channel.channel_info: json.dumps(info)}).where(
            Channel.id == req.channel_id
        )
    await announce(request, "channels")
    await _audit(request, f"multi-key {req.action} on channel #{req.channel_id}")
    return ok(data, message)


# -- upstream calls: tests, model lists, balances -------------------------------------------


def _base_url(host: Host, type_id: int, base: str | None) -> str:
    base = (base or "").strip()
    if base:
        return base.rstrip("/")
    channel_type = host.registry.channel_type(type_id)
    return (channel_type.default_base_url if channel_type else "").rstrip("/")


def _first_key(entry: ChannelEntry) -> str:
    usable = entry.enabled_keys()
    return entry.keys[usable[0]].strip() if usable else ""


def _header_overrides(entry: ChannelEntry, key: str) -> dict[str, str]:
    """The channel's own header overrides that make sense outside a relayed request."""
    headers = {}
    for name, value in (entry.header_override or {}).items():
        if name == "*" or name.startswith("re:") or "{client_header:" in value:
            continue
        headers[name] = value.replace("{api_key}", key)
    return headers


def _shown(exc: UpstreamFailed, caller: Caller) -> str:
    """What a failed admin fetch says: the details to root, the safe message to other admins."""
    return exc.message if is_root(caller) else exc.public


async def _get_json(host: Host, url: str, headers: dict[str, str], proxy: str | None, key: str) -> Any:
    """GET ``url`` within the SSRF settings and decode JSON; UpstreamFailed on any failure."""
    try:
        response = await host.relay.client.send(
            UpstreamRequest("GET", url, headers),
            proxy=proxy,
            response_timeout=UPSTREAM_TIMEOUT,
            guard=fetch_guard.policy(host.options),
        )
        try:
            body = await response.read(8 * 1024 * 1024)
        finally:
            await response.close()
    except UpstreamError as exc:
        raise UpstreamFailed(exc.message, UNREACHABLE) from None
    if response.status != 200:
        text = body[:300].decode("utf-8", "replace").strip()
        detail = f"upstream answered status {response.status} for {url}: {text}"
        raise UpstreamFailed(detail, f"upstream answered {status_error(response.status, body, [key])}")
    try:
        return json.loads(body)
    except ValueError:
        detail = f"upstream answered something that is not JSON for {url}"
        raise UpstreamFailed(detail, "upstream answered something that is not JSON") from None


def _capability(host: Host, entry: ChannelEntry, name: str, what: str) -> Any:
    """The adapter's ``list_models`` or ``read_balance``, or UpstreamFailed saying it has none."""
    channel_type = host.registry.channel_type(entry.type)
    method = getattr(channel_type.adapter, name, None) if channel_type is not None else None
    if method is None:
        raise UpstreamFailed(f"{what} is not supported for channel type {entry.type}")
    return method


def _view(host: Host, entry: ChannelEntry) -> ChannelView:
    """The channel as an adapter sees it, with its first enabled key and its base URL."""
    base = _base_url(host, entry.type, entry.base_url)
    if not base:
        raise UpstreamFailed("the channel has no base URL")
    key = _first_key(entry)
    if not key:
        raise UpstreamFailed("the channel has no enabled key")
    return ChannelView(
        id=entry.id,
        type=entry.type,
        name=entry.name,
        base_url=base,
        key=key,
        other=entry.other,
        settings=entry.typed_settings,
        openai_organization=entry.openai_organization,
    )


def _fetcher(host: Host, entry: ChannelEntry, key: str) -> Fetch:
    """The adapter's way to the upstream: the channel's proxy and header overrides, the SSRF rules."""

    async def fetch(url: str, *, headers: Mapping[str, str] | None = None) -> Any:
        return await _get_json(host, url, {**(headers or {}), **_header_overrides(entry, key)}, entry.proxy, key)

    return fetch


async def _fetch_models(host: Host, entry: ChannelEntry) -> list[str]:
    list_models = _capability(host, entry, "list_models", "fetching the model list")
    view = _view(host, entry)
    names = await list_models(view, _fetcher(host, entry, view.key))
    return list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))


@get("/api/channel/fetch_models/{channel_id:int}", guards=[admin_auth])
async def fetch_channel_models(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    """The model ids the channel's upstream lists (``GET {api_root}/models``)."""
    return await _fetch_for_channel(request, channel_id)


async def _fetch_for_channel(request: Req, channel_id: int) -> dict[str, Any]:
    row = await Channel.select().where(Channel.id == channel_id).first()
    if row is None:
        return fail(f"channel #{channel_id} does not exist")
    return await _answer_models(request, entry_from_row(row, host_of(request.app.state).registry))


async def _answer_models(request: Req, entry: ChannelEntry) -> dict[str, Any]:
    try:
        return ok(await _fetch_models(host_of(request.app.state), entry))
    except UpstreamFailed as exc:
        return fail(f"failed to fetch the model list: {_shown(exc, request.state.caller)}")


@post("/api/channel/fetch_models", guards=[admin_auth], status_code=200)
async def fetch_models(request: Req) -> dict[str, Any]:
    """Model ids for a channel being created: ``{"type", "base_url", "key"}`` (first key line used).

    With ``channel_id``, the stored channel's own base URL and key are used; a ``base_url`` sent
    along is ignored, so a stored key never goes to an address given here.
    """
    data = _parse(FetchIn, await json_object(request))
    if isinstance(data, str):
        return fail(data)
    if data.channel_id > 0:
        return await _fetch_for_channel(request, data.channel_id)
    key = data.key.strip().split("\n")[0].strip()
    if not key:
        return fail("key is required")
    row = {"id": 0, "type": data.type, "key": key, "base_url": data.base_url or "", "status": CHANNEL_ENABLED}
    return await _answer_models(request, entry_from_row(row, host_of(request.app.state).registry))


_test_all_lock = asyncio.Lock()


def _should_disable(host: Host, message: str, elapsed: float) -> bool:
    """New API's rule for a failed scheduled test: a qualifying error, or too slow an answer."""
    if not host.options.get_bool("AutomaticDisableChannelEnabled"):
        return False
    threshold = host.options.get_float("ChannelDisableThreshold", 5.0)
    if message == "":
        return threshold > 0 and elapsed > threshold
    match = re.match(r"status (\d{3})", message)
    codes = parse_ranges(host.options.get("AutomaticDisableStatusCodes") or DEFAULT_DISABLE_CODES)
    if match and int(match.group(1)) != 429 and in_ranges(int(match.group(1)), codes):
        return True
    configured = host.options.get("AutomaticDisableKeywords")
    words = [w.strip().lower() for w in configured.split("\n") if w.strip()] if configured else DEFAULT_DISABLE_KEYWORDS
    return any(w in message.lower() for w in words)


@get("/api/channel/test", guards=[admin_auth])
async def test_all(request: Req) -> dict[str, Any]:
    """Test enabled and automatically disabled channels, a few at a time; answer a summary.

    A passing auto-disabled channel is enabled again when ``AutomaticEnableChannelEnabled`` is on
    (New API's ``ShouldEnableChannel``); a failing enabled one is disabled when
    automatic disabling is on and the error qualifies (or the answer took longer than
    ChannelDisableThreshold seconds), as New API's channel test task does.
    """
    host = host_of(request.app.state)
    if _test_all_lock.locked():
        return fail("a test of all channels is already running")
    async with _test_all_lock:
        rows = await Channel.select(Channel.id, Channel.name, Channel.status, Channel.auto_ban).where(
            Channel.status.is_in([CHANNEL_ENABLED, CHANNEL_AUTO_DISABLED])
        )
        gate = asyncio.Semaphore(TEST_CONCURRENCY)
        summary = {"tested": 0, "succeeded": 0, "failed": 0, "disabled": 0, "enabled": 0}
        results: list[dict[str, Any]] = []

        root = is_root(request.state.caller)
        revive = host.options.get_bool("AutomaticEnableChannelEnabled")  # the probe enables only then

        async def one(row: dict[str, Any]) -> None:
            async with gate:
                passed, message, seconds, detail = await probe_channel(host.relay, row["id"])
            summary["tested"] += 1
            summary["succeeded" if passed else "failed"] += 1
            if passed and row["status"] == CHANNEL_AUTO_DISABLED and revive:
                summary["enabled"] += 1
            if (
                row["status"] == CHANNEL_ENABLED
                and row["auto_ban"]
                and _should_disable(host, "" if passed else detail, seconds)
            ):
                reason = message or f"response time {seconds:.2f}s is over the threshold"
                async with write_transaction():
                    await Channel.update(
                        {
                            Channel.status: CHANNEL_AUTO_DISABLED,
                            Channel.other_info: json.dumps({"status_reason": reason, "status_time": int(time.time())}),
                        }
                    ).where(Channel.id == row["id"], Channel.status == CHANNEL_ENABLED)
                summary["disabled"] += 1
            shown = detail if root else message
            results.append(
                {"id": row["id"], "name": row["name"], "success": passed, "message": shown, "time": round(seconds, 3)}
            )

        await asyncio.gather(*(one(r) for r in rows))
        async with write_transaction():
            await sync_ability_status([r["id"] for r in rows])
    await announce(request, "channels")
    results.sort(key=lambda r: r["id"])
    return ok({**summary, "results": results})


@get("/api/channel/test/{channel_id:int}", guards=[admin_auth])
async def channel_test(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    """New API's answer: ``{success, message, time}`` with the round trip in seconds.

    Root reads the upstream's own words; other admins read them with keys masked, and only
    "upstream unreachable" when no answer came (or the SSRF settings refused the address).
    """
    host = host_of(request.app.state)
    model = request.query_params.get("model") or None
    result = await probe_channel(host.relay, channel_id, model)
    async with write_transaction():
        await sync_ability_status([channel_id])
    message = result.detail if is_root(request.state.caller) else result.message
    return {"success": result.passed, "message": message, "time": round(result.seconds, 3)}


async def _read_balance(host: Host, entry: ChannelEntry) -> float:
    """The channel's remaining balance in USD (CNY amounts converted with USDExchangeRate)."""
    read_balance = _capability(host, entry, "read_balance", "balance queries")
    view = _view(host, entry)
    balance = await read_balance(view, _fetcher(host, entry, view.key))
    if not isinstance(balance, Balance):
        raise UpstreamFailed(f"the balance reader of channel type {entry.type} answered {type(balance).__name__}")
    if balance.currency == "CNY":
        return balance.amount / (host.options.get_float("USDExchangeRate", 7.3) or 7.3)
    return balance.amount


def _balance_types(host: Host) -> list[int]:
    """Channel types whose adapter reads balances."""
    return [ct.id for ct in host.registry.channel_types() if getattr(ct.adapter, "read_balance", None) is not None]


async def _update_balance(host: Host, row: dict[str, Any]) -> float:
    entry = entry_from_row(row, host.registry)
    if _info(row.get("channel_info")).get("is_multi_key"):
        raise UpstreamFailed("balance queries are not supported for multi-key channels")
    balance = round(await _read_balance(host, entry), 6)
    await Channel.update({Channel.balance: balance, Channel.balance_updated_time: int(time.time())}).where(
        Channel.id == row["id"]
    )
    return balance


@get("/api/channel/update_balance/{channel_id:int}", guards=[admin_auth])
async def update_balance(request: Req, channel_id: ChannelIdPath) -> dict[str, Any]:
    """Query and store one channel's balance; New API answers it at the top level as ``balance``."""
    host = host_of(request.app.state)
    row = await Channel.select().where(Channel.id == channel_id).first()
    if row is None:
        return fail(f"channel #{channel_id} does not exist")
    try:
        balance = await _update_balance(host, row)
    except UpstreamFailed as exc:
        return fail(_shown(exc, request.state.caller))
    return {**ok({"balance": balance}), "balance": balance}


@get("/api/channel/update_balance", guards=[admin_auth])
async def update_all_balances(request: Req) -> dict[str, Any]:
    """Refresh every enabled single-key channel of a supported type; exhausted ones are disabled.

    A balance at or below zero disables the channel automatically when its ``auto_ban`` is on.
    """
    host = host_of(request.app.state)
    rows = [
        r
        for r in await Channel.select().where(
            Channel.status == CHANNEL_ENABLED, Channel.type.is_in(_balance_types(host) or [0])
        )
        if not _info(r["channel_info"]).get("is_multi_key")
    ]
    gate = asyncio.Semaphore(TEST_CONCURRENCY)
    summary = {"updated": 0, "failed": 0, "disabled": 0}
    exhausted: list[int] = []

    async def one(row: dict[str, Any]) -> None:
        async with gate:
            try:
                balance = await _update_balance(host, row)
            except UpstreamFailed:
                summary["failed"] += 1
                return
        summary["updated"] += 1
        if balance <= 0 and row["auto_ban"]:
            exhausted.append(row["id"])

    await asyncio.gather(*(one(r) for r in rows))
    if exhausted:
        async with write_transaction():
            summary["disabled"] = len(exhausted)
            now = int(time.time())
            await Channel.update(
                {
                    Channel.status: CHANNEL_AUTO_DISABLED,
                    Channel.other_info: json.dumps({"status_reason": "balance exhausted", "status_time": now}),
                }
            ).where(Channel.id.is_in(exhausted), Channel.status == CHANNEL_ENABLED)
            await sync_ability_status(exhausted)
        await announce(request, "channels")
    return ok(summary)


ROUTES = [
    list_channels,
    search_channels,
    channel_ops,
    get_channel,
    get_channel_key,
    tag_models,
    channel_models,
    enabled_models,
    channel_types,
    add_channel,
    copy_channel,
    update_channel,
    update_status,
    batch_status,
    delete_channel,
    delete_disabled,
    delete_batch,
    disable_tag,
    enable_tag,
    edit_tag,
    batch_tag,
    manage_keys,
    fix_abilities,
    fetch_channel_models,
    fetch_models,
    test_all,
    channel_test,
    update_balance,
    update_all_balances,
]
