"""The task framework for plugins whose work finishes later (drawings, songs, videos).

A task plugin's routes and jobs use these, and the host keeps the money exact (see
docs/plugins.md, "Task plugins", and docs/billing.md, "Task billing"):

- :func:`task_price` and :func:`task_channel`: the per-call price of a model for a caller, and the
  channel to send to (the caller's group, the plugin's channel types, or the channel of an
  earlier task for a follow-up);
- :func:`submit_task`: hold the price, call the upstream (the plugin's ``send``), then record the
  task row and its charge in one transaction; a ``send`` that raises charges nothing;
- :func:`find_tasks`: read task rows (always pass ``user_id`` for a client's request: a user sees
  only their own tasks);
- :func:`update_task`: apply an upstream report; ``SUCCESS`` settles and ``FAILURE`` refunds,
  each exactly once, whatever the number of pollers;
- :func:`task_poll_job`: the once-per-cluster polling job (``UPDATE_TASK=false`` switches it
  off on a node), with the ``TASK_TIMEOUT_MINUTES`` refund of tasks that never finish;
- :func:`call_upstream` and :func:`option`: an HTTP call to a channel (through its proxy, with
  the gateway's client) and a New API option value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from newapi_host import tasks as _tasks
from newapi_host.plugins.contracts import BackgroundJob, ChannelView, JobContext, UpstreamFailed, UpstreamRequest
from newapi_host.relay import fetch_guard
from newapi_host.relay.client import UpstreamBlocked, UpstreamError
from newapi_host.relay.errors import RelayError

from .services import Caller, ClientError, _host

TASK_STATUSES = _tasks.STATUSES
"""New API's task statuses: NOT_START, SUBMITTED, QUEUED, IN_PROGRESS, SUCCESS, FAILURE, UNKNOWN."""
FINAL_STATUSES = _tasks.FINAL
TASK_TABLES = tuple(_tasks.TABLES)
"""``tasks`` (New API's generic table) and ``midjourneys`` (its Midjourney table)."""


def _refused(exc: _tasks.TaskRefused) -> ClientError:
    return ClientError(exc.status, exc.message, type="new_api_error", code=exc.code or None)


def option(source: Any, key: str, default: str = "") -> str:
    """The current value of a New API option (``ServerAddress``, ``MjNotifyEnabled`` ...), as text."""
    return _host(source).options.get(key, default)


def task_price(source: Any, caller: Caller, model: str) -> tuple[int, dict[str, Any]]:
    """The quota one call of ``model`` costs ``caller`` (New API's per-call price with the group
    ratio), and the price details for the log's ``other``. :class:`ClientError` if unpriced."""
    try:
        return _tasks.price_of(_host(source), model, caller.user_group, caller.group)
    except _tasks.TaskRefused as exc:
        raise _refused(exc) from None


def _view(entry: Any, registry: Any) -> ChannelView:
    channel_type = registry.channel_type(entry.type)
    default = channel_type.default_base_url if channel_type is not None else ""
    try:
        _, key = entry.pick_key()
    except RelayError:
        key = ""
    return ChannelView(
        id=entry.id,
        type=entry.type,
        name=entry.name,
        base_url=(entry.base_url or default).rstrip("/"),
        key=key,
        other=entry.other,
        settings=entry.typed_settings,
        openai_organization=entry.openai_organization,
    )


def task_channel(
    source: Any, caller: Caller, model: str, *, types: Sequence[int] = (), channel_id: int | None = None
) -> ChannelView:
    """The channel for ``caller``'s task of ``model``: ``channel_id``'s when given (a follow-up
    goes to its original task's channel, which must be enabled), else one of ``types`` serving
    ``model`` to the caller's group, by priority and weight. :class:`ClientError` (403 when the
    key may not use the model, 503 when no channel serves it)."""
    if not caller.may_use(model):
        raise ClientError(403, f"this API key is not allowed to use model {model}", code="model_not_allowed")
    host = _host(source)
    try:
        entry = _tasks.channel_entry(host, caller.group, model, types, channel_id)
    except _tasks.TaskRefused as exc:
        raise _refused(exc) from None
    return _view(entry, host.registry)


async def submit_task(
    source: Any,
    caller: Caller,
    *,
    table: str,
    channel: ChannelView,
    quota: int,
    model: str,
    send: Callable[[], Awaitable[Mapping[str, Any]]],
    content: str = "",
    other: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hold ``quota``, call ``send()`` (the plugin's upstream submit), then record the task.

    ``send`` returns the columns of the new row (for ``midjourneys``: ``mj_id``, ``action``,
    ``prompt`` ...; for ``tasks``: ``task_id``, ``platform``, ``action``, ``properties``, ``data``,
    ``private_data`` ...). The host fills the owner (user, key), the channel, the quota and the
    times. If ``send`` raises, the hold goes back and nothing is charged. If the wallet or key
    cannot pay, :class:`ClientError` (403) is raised before ``send`` runs. Returns the row.
    """
    host = _host(source)
    try:
        return await _tasks.submit(
            host,
            table=table,
            owner=caller,
            channel_id=channel.id,
            quota=quota,
            model=model,
            send=send,
            content=content,
            other=other,
        )
    except _tasks.TaskRefused as exc:
        raise _refused(exc) from None


async def find_tasks(source: Any, table: str, *, user_id: int | None = None, **match: Any) -> list[dict[str, Any]]:
    """Task rows whose columns equal ``match`` (a list means "one of"), newest first. Pass the
    caller's ``user_id`` for anything a client asked: other users' tasks then do not exist."""
    _host(source)
    return await _tasks.find(table, user_id=user_id, **match)


async def update_task(source: Any, table: str, row_id: int, changes: Mapping[str, Any]) -> str:
    """Apply an upstream report to an unfinished task (``"updated"``); a final ``status`` settles
    (``"settled"``) or refunds (``"refunded"``), once; a task already final answers ``"final"``."""
    outcome = await _tasks.update(_host(source), table, row_id, changes)
    if outcome == "settled" and changes.get("status") == _tasks.FAILURE:
        return "refunded"
    return outcome


PollFetch = Callable[[JobContext, ChannelView, list[dict[str, Any]]], Awaitable[Mapping[int, Mapping[str, Any]]]]


def task_poll_job(
    name: str, table: str, fetch: PollFetch, *, platform: str | None = None, types: Sequence[int] = ()
) -> BackgroundJob:
    """The polling job of a task plugin (return it from ``newapi_jobs``).

    Every ``NEWAPI_TASK_POLL_INTERVAL`` seconds (15), on one worker of the cluster, unless
    ``UPDATE_TASK`` is false: tasks older than ``TASK_TIMEOUT_MINUTES`` fail and are refunded;
    the others are grouped by channel and ``fetch(ctx, channel, rows)`` returns, for the rows it
    has news of, ``{row id: changes}`` applied as :func:`update_task` does.
    """
    _tasks.table_of(table)

    async def run(ctx: JobContext) -> None:
        host = _host(ctx)

        async def fetch_one(channel: ChannelView, rows: list[dict[str, Any]]) -> Mapping[int, Mapping[str, Any]]:
            return await fetch(ctx, channel, rows)

        await _tasks.poll(
            host, table, fetch_one, platform=platform, types=types, view=lambda e: _view(e, host.registry)
        )

    return BackgroundJob(
        name=name, interval=_tasks.poll_interval(), run=run, once_per_cluster=True, active=_tasks.polling_enabled
    )


async def report_unusable(source: Any, channel: ChannelView, reason: str) -> None:
    """The upstream says ``channel``'s account cannot work at all (Midjourney-Proxy's code 3, "no
    available account instance"): disable the channel (its key, on a multi-key channel) at once,
    as an adapter's ``ErrorVerdict(disable_channel=True)`` does, when automatic disabling is on
    (``AutomaticDisableChannelEnabled`` and the channel's ``auto_ban``)."""
    host = _host(source)
    entry = host.relay.index.by_id.get(channel.id)
    if entry is None:
        return
    index = entry.keys.index(channel.key) if channel.key in entry.keys else 0
    await host.relay._maybe_disable(entry, index, 200, reason, True)


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    status: int
    headers: Mapping[str, str]
    body: bytes


async def call_upstream(
    source: Any,
    channel: ChannelView | None,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    wait: float = 60.0,
    guarded: bool = False,
    limit: int = 64 * 1024 * 1024,
) -> UpstreamReply:
    """Send one HTTP request with the gateway's upstream client, through ``channel``'s proxy.

    ``wait`` is how long the upstream may take to answer. ``guarded`` applies the SSRF settings
    (``fetch_setting``), for URLs that came from an upstream's answer (image URLs).
    Raises :class:`UpstreamFailed` with a message safe for clients.
    """
    host = _host(source)
    entry = host.relay.index.by_id.get(channel.id) if channel is not None else None
    proxy = entry.proxy if entry is not None else None
    guard = fetch_guard.policy(host.options) if guarded else None
    request = UpstreamRequest(method=method.upper(), url=url, headers=dict(headers or {}), body=body)
    try:
        response = await host.relay.client.send(request, proxy=proxy, response_timeout=wait, guard=guard)
        try:
            data = await response.read(limit)
        finally:
            await response.close()
    except UpstreamBlocked as exc:
        raise UpstreamFailed(exc.message, "the address is blocked by the gateway's fetch settings") from None
    except UpstreamError as exc:
        raise UpstreamFailed(exc.message, exc.message) from None
    return UpstreamReply(response.status, dict(response.headers), data)
