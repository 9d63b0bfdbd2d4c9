"""Groups, what each user may use, and the public price list.

New API's routes: ``GET /api/group/`` (admin: the group names of the ``GroupRatio`` table),
``GET /api/user/self/groups`` and ``GET /api/user/groups`` (the groups a user may put on a key,
with their effective ratio), ``GET /api/user/models`` (models served to those groups),
``GET /api/pricing`` (per-model prices with New API's own top-level keys, not the usual
envelope) and ``GET /api/models`` (channel type id -> default models, for the channel form).

A user's usable groups are option ``UserUsableGroups`` (name -> description), adjusted for
their group by ``group_ratio_setting.group_special_usable_group`` (``"+:g"``/``"g"`` adds,
``"-:g"`` removes), plus their own group. Only groups present in ``GroupRatio`` are billable
(the relay refuses the others), so the group lists leave the rest out, as New API does.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.auth.users import AuthError, Caller, caller_of
from newapi_host.billing.pricing import SELF_USE_RATIO
from newapi_host.db.tables import CHANNEL_ENABLED
from newapi_host.host import Host, host_of
from newapi_host.options import DEFAULT_USABLE_GROUPS

from .envelope import ok

OWN_GROUP_DESCRIPTION = "User group"
AUTO = "auto"
PRICING_VERSION = "newapi-host-1"

# Relay dialect -> New API endpoint type (the pricing page's "supported endpoint" badges).
_DIALECT_ENDPOINT = {
    "openai.chat": "openai",
    "openai.completions": "openai",
    "openai.responses": "openai-response",
    "openai.embeddings": "embeddings",
    "openai.images": "image-generation",
    "openai.rerank": "jina-rerank",
    "anthropic.messages": "anthropic",
    "gemini.generate": "gemini",
}
ENDPOINT_INFO = {
    "openai": {"path": "/v1/chat/completions", "method": "POST"},
    "openai-response": {"path": "/v1/responses", "method": "POST"},
    "anthropic": {"path": "/v1/messages", "method": "POST"},
    "gemini": {"path": "/v1beta/models/{model}:generateContent", "method": "POST"},
    "jina-rerank": {"path": "/v1/rerank", "method": "POST"},
    "image-generation": {"path": "/v1/images/generations", "method": "POST"},
    "embeddings": {"path": "/v1/embeddings", "method": "POST"},
}


def _endpoint_of(dialect: str) -> str | None:
    if dialect in _DIALECT_ENDPOINT:
        return _DIALECT_ENDPOINT[dialect]
    family = dialect.split(".", 1)[0]
    return family if family in ("anthropic", "gemini") else None


def usable_groups(host: Host, user_group: str) -> dict[str, str]:
    """Group name -> description for groups a user of ``user_group`` may use ("" = anonymous)."""
    configured = host.options.get_json("UserUsableGroups", DEFAULT_USABLE_GROUPS)
    if not isinstance(configured, dict):
        configured = DEFAULT_USABLE_GROUPS
    groups = {str(k): str(v) for k, v in configured.items()}
    if not user_group:
        return groups
    special = host.options.get_json("group_ratio_setting.group_special_usable_group", {})
    rules = special.get(user_group) if isinstance(special, dict) else None
    if isinstance(rules, dict):
        for name, desc in rules.items():
            name = str(name)
            if name.startswith("-:"):
                groups.pop(name[2:], None)
            else:
                groups[name.removeprefix("+:")] = str(desc)
    groups.setdefault(user_group, OWN_GROUP_DESCRIPTION)
    return groups


def auto_groups(host: Host, user_group: str) -> list[str]:
    """Option ``AutoGroups`` in order, keeping the groups this user may use."""
    usable = usable_groups(host, user_group)
    configured = host.options.get_json("AutoGroups", ["default"])
    if not isinstance(configured, list):
        configured = ["default"]
    return [g for g in configured if isinstance(g, str) and g in usable]


def group_table(host: Host, user_group: str) -> dict[str, dict[str, Any]]:
    """New API's ``{group: {"ratio", "desc"}}`` for the usable groups that have a ratio."""
    prices = host.relay.prices
    usable = usable_groups(host, user_group)
    table: dict[str, dict[str, Any]] = {
        name: {"ratio": prices.group_ratio_for(user_group, name), "desc": usable[name]}
        for name in prices.group_ratio
        if name in usable
    }
    if AUTO in usable:
        table[AUTO] = {"ratio": AUTO, "desc": usable[AUTO]}
    return table


def models_for_groups(host: Host, groups: list[str]) -> list[str]:
    """Models served to any of ``groups``, in group order, without repeats."""
    seen: dict[str, None] = {}
    for group in groups:
        for model in host.relay.index.models_for(group):
            seen.setdefault(model, None)
    return list(seen)


async def _optional_caller(request: Request[Any, Any, Any]) -> Caller | None:
    try:
        return await caller_of(request)
    except AuthError:
        return None


@get("/api/group/", guards=[admin_auth])
async def list_groups(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The group names of the ``GroupRatio`` table."""
    return ok(list(host_of(request.app.state).relay.prices.group_ratio))


@get("/api/user/self/groups", guards=[user_auth])
async def self_groups(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return ok(group_table(host_of(request.app.state), request.state.caller.group))


@get("/api/user/groups")
async def public_groups(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API serves this without sign-in; a signed-in caller sees their own view."""
    caller = await _optional_caller(request)
    return ok(group_table(host_of(request.app.state), caller.group if caller else ""))


@get("/api/user/models", guards=[user_auth])
async def user_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Models the caller can reach: all usable groups, or only ``?group=`` (``auto``: AutoGroups)."""
    host = host_of(request.app.state)
    user_group = request.state.caller.group
    usable = usable_groups(host, user_group)
    wanted = request.query_params.get("group", "")
    if not wanted:
        groups = list(usable)
    elif wanted not in usable:
        groups = []
    elif wanted == AUTO:
        groups = auto_groups(host, user_group)
    else:
        groups = [wanted]
    return ok(models_for_groups(host, groups))


@get("/api/models", guards=[user_auth])
async def channel_type_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API's dashboard list: channel type id -> the models such a channel offers by default."""
    registry = host_of(request.app.state).registry
    return ok({str(t.id): list(t.default_models) for t in registry.channel_types()})


def _pricing_items(host: Host) -> list[dict[str, Any]]:
    """One entry per model an enabled channel serves, priced from the effective tables."""
    registry = host.registry
    groups: dict[str, dict[str, None]] = {}
    endpoints: dict[str, dict[str, None]] = {}
    for entry in host.relay.index.by_id.values():
        channel_type = registry.channel_type(entry.type)
        if entry.status != CHANNEL_ENABLED or channel_type is None:
            continue
        kinds = [e for e in map(_endpoint_of, channel_type.dialects) if e]
        for model in entry.models:
            for group in entry.groups:
                groups.setdefault(model, {}).setdefault(group, None)
            for kind in kinds:
                endpoints.setdefault(model, {}).setdefault(kind, None)
    tables = host.relay.prices.tables
    items = []
    for model in sorted(groups):
        item: dict[str, Any] = {"model_name": model, "owner_by": ""}
        price = tables.get("ModelPrice", {}).get(model)
        if price is not None:
            item.update(quota_type=1, model_price=price, model_ratio=0, completion_ratio=0)
        else:
            ratio = tables.get("ModelRatio", {}).get(model, SELF_USE_RATIO)
            completion = tables.get("CompletionRatio", {}).get(model, 1.0)
            item.update(quota_type=0, model_price=0, model_ratio=ratio, completion_ratio=completion)
        for key, table in (("cache_ratio", "CacheRatio"), ("create_cache_ratio", "CreateCacheRatio")):
            if model in tables.get(table, {}):
                item[key] = tables[table][model]
        item["enable_groups"] = list(groups[model])
        item["supported_endpoint_types"] = list(endpoints.get(model, {}))
        items.append(item)
    return items


@get("/api/pricing")
async def pricing(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API's pricing page data; public, and personalised (group ratios) for a signed-in caller.

    The answer has New API's own top-level keys (``data``, ``group_ratio``, ``usable_group``,
    ``auto_groups``, ``supported_endpoint``, ``vendors``, ``pricing_version``), not ``message``.
    """
    host = host_of(request.app.state)
    caller = await _optional_caller(request)
    user_group = caller.group if caller else ""
    usable = usable_groups(host, user_group)
    prices = host.relay.prices
    items = [
        item
        for item in _pricing_items(host)
        if "all" in item["enable_groups"] or any(g in usable for g in item["enable_groups"])
    ]
    used = {kind for item in items for kind in item["supported_endpoint_types"]}
    return {
        "success": True,
        "data": items,
        "vendors": [],
        "group_ratio": {g: prices.group_ratio_for(user_group, g) for g in prices.group_ratio if g in usable},
        "usable_group": usable,
        "supported_endpoint": {k: v for k, v in ENDPOINT_INFO.items() if k in used},
        "auto_groups": auto_groups(host, user_group),
        "pricing_version": PRICING_VERSION,
    }


ROUTES = [list_groups, self_groups, public_groups, user_models, channel_type_models, pricing]
