"""The live checks: a real gateway, channels of the plugin's types, and real clients.

The gateway (:class:`~.gateway.KitGateway`) runs every installed plugin, as a deployment would;
each of the plugin's channel types gets a channel pointed at the mock upstream, serving the model
``kit-t<type id>`` at a known price, so every call can be matched with the log row it leaves.
Clients are raw HTTP in each of the type's own formats, then the ``openai``, ``anthropic`` and
``google-genai`` SDKs where they are installed.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from typing import Any

import httpx

from newapi_host.plugins.registry import Registry
from newapi_host.sdk import ChannelType, Dialect, SSEEvent

from . import samples
from .checking import what
from .findings import Finding, Findings
from .gateway import KitGateway
from .samples import KIT_PIECES, KIT_TEXT, DialectSample, kit_model
from .subject import PluginUnderTest
from .upstream import MockUpstream

KIT_RATIO = 1.5
KIT_COMPLETION_RATIO = 2.0
LOG_CONSUME = 2  # New API's log type of a charged call


def expected_quota(prompt: int, completion: int) -> int:
    """What the kit's prices charge for a call (group ratio 1), rounded as the host rounds."""
    return math.floor((prompt + completion * KIT_COMPLETION_RATIO) * KIT_RATIO + 0.5)


def parse_sse(text: str) -> list[SSEEvent]:
    """Server-sent events of a whole response body."""
    events, name, data = [], None, []
    for line in [*text.splitlines(), ""]:
        if not line:
            if data:
                events.append(SSEEvent(data="\n".join(data), event=name))
            name, data = None, []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    return events


class Live:
    """The running gateway and upstream, with the channels and the key the checks share."""

    def __init__(self, gateway: KitGateway, upstream: MockUpstream) -> None:
        self.gateway, self.upstream = gateway, upstream
        self.key = gateway.key()
        self.http = httpx.Client(base_url=gateway.url, timeout=30)
        self.channels: dict[int, int | str] = {}  # type id -> channel id, or why there is none
        self.clients: dict[str, Any] = {}  # SDK clients, one each, made on first use (each loads CAs)
        self._last_log = 0

    @property
    def registry(self) -> Registry:
        """What the gateway serves: its plugins' formats and converters, enabled ones only."""
        return self.gateway.registry

    def client(self, name: str, make: Any) -> Any:
        """The SDK client ``name``, made by ``make()`` the first time."""
        if name not in self.clients:
            self.clients[name] = make()
        return self.clients[name]

    def close(self) -> None:
        self.http.close()
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                getattr(client, "close", lambda: None)()
        self.clients.clear()

    def prepare(self, s: PluginUnderTest) -> list[Finding]:
        """Channels for the plugin's types, their prices, and the set-up's plugin settings."""
        found = Findings("live-http")
        if s.setup.settings:
            try:
                self.gateway.plugin_settings(s.name, **s.setup.settings)
            except AssertionError as exc:
                found.fail("plugin settings", f"the gateway refuses the set-up's plugin settings: {exc}")
        models = []
        for ct in s.channel_types:
            if ct.id in self.channels:
                continue
            model = kit_model(ct.id)
            fields = {"name": f"kit {ct.name}"[:50], **s.setup.channel_fields.get(ct.id, {})}
            try:
                self.channels[ct.id] = self.gateway.channel(
                    ct.id, base_url=self.upstream.url, models=[model], key=f"sk-kit-{ct.id}", **fields
                )
            except AssertionError as exc:
                self.channels[ct.id] = str(exc)
            models.append(model)
            self.upstream.models.append(model)
        if models:
            self.gateway.price(models, KIT_RATIO, KIT_COMPLETION_RATIO)
        return found.items

    def channel_problem(self, ct: ChannelType) -> str | None:
        channel = self.channels.get(ct.id)
        if isinstance(channel, int):
            return None
        return f"the kit could not add a channel of type {ct.id} through the management API: {channel}"

    # -- calls and their log rows ----------------------------------------------------------------

    def call(self, dialect: Dialect, sample: DialectSample, path: str, model: str, stream: bool) -> httpx.Response:
        headers, params = {}, {}
        if dialect.api_key_headers:
            name = dialect.api_key_headers[0]
            headers[name] = f"Bearer {self.key}" if name.lower() == "authorization" else self.key
        elif dialect.api_key_query:
            params[dialect.api_key_query] = self.key
        return self.http.post(path, json=sample.request(model, stream), headers=headers, params=params)

    def log_problem(self, model: str, usage: tuple[int, int] | None) -> str | None:
        """Why the newest log row of ``model`` is not the one call just made, charged right; None if it is."""
        deadline = time.monotonic() + 3
        while True:
            rows = [r for r in self.gateway.logs(model_name=model) if r["id"] > self._last_log]
            consumed = [r for r in rows if r["type"] == LOG_CONSUME]
            if consumed or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self._last_log = max([self._last_log, *(r["id"] for r in rows)])
        if len(consumed) != 1:
            kinds = [r["type"] for r in rows]
            return f"expected one consume log row (type 2) for the call, found {len(consumed)} (rows of types {kinds})"
        row = consumed[0]
        if usage is None:
            return None
        tokens = (row["prompt_tokens"], row["completion_tokens"])
        if tokens != usage:
            return (
                f"the log row bills {tokens} tokens (prompt, completion); the upstream reported {usage}: the usage "
                "was not read from the answer (the gateway estimated it, or a converter lost it)"
            )
        if row["quota"] != expected_quota(*usage):
            return (
                f"the log row charges quota {row['quota']}; at the kit's prices {usage} costs {expected_quota(*usage)}"
            )
        return None


def _client_path(dialect: Dialect, sample: DialectSample, model: str, stream: bool) -> str | None:
    """Where a client sends this format's request, or None when clients cannot (an upstream-only format)."""
    if sample.path:
        return sample.path_for(model, stream)
    plain = [r.path for r in dialect.routes if "{" not in r.path]
    return plain[0] if plain else None


def _answer_problem(dialect: Dialect, sample: DialectSample, response: httpx.Response, stream: bool) -> str | None:
    if response.status_code != 200:
        return f"the gateway answered {response.status_code}: {response.text[:400]}"
    if stream:
        events = parse_sse(response.text)
        counter = dialect.stream_usage()
        for item in events:
            counter.feed(item)
        data = "".join(e.data for e in events)
        if lost := [p for p in KIT_PIECES if p.strip() not in data]:
            return f"the streamed text {lost} did not reach the client: {response.text[:400]}"
        if not counter.finished:
            return f"the stream the client got never says it is complete: {response.text[-400:]}"
        return None
    if samples.KIT_TEXT in json.dumps(sample.response("m")) and KIT_TEXT not in response.text:
        return f"the answer does not say {KIT_TEXT!r}: {response.text[:400]}"
    return None


def check_live_http(live: Live, s: PluginUnderTest) -> list[Finding]:
    found = Findings("live-http")
    for ct in s.channel_types:
        if problem := live.channel_problem(ct):
            found.fail(f"channel type {ct.id}", problem)
            continue
        model = kit_model(ct.id)
        for name in ct.dialects:
            dialect, sample = s.dialect(name), s.sample(name)
            subject = f"channel type {ct.id}, {name}"
            if dialect is None or sample is None:
                found.skip(subject, f"no dialect or no canonical traffic for {name} (see the offline checks)")
                continue
            if _client_path(dialect, sample, model, False) is None:
                found.skip(
                    subject, f"clients do not speak {name} (no route); the SDK checks reach it through converters"
                )
                continue
            for stream in (False, True) if sample.stream is not None else (False,):
                where = subject + (" stream" if stream else "")
                path = _client_path(dialect, sample, model, stream)
                assert path is not None
                try:
                    response = live.call(dialect, sample, path, model, stream)
                    problem = _answer_problem(dialect, sample, response, stream)
                except Exception as exc:
                    problem = f"the call failed: {what(exc)}"
                problem = problem or live.log_problem(model, sample.usage)
                if problem:
                    found.fail(where, problem)
                else:
                    found.ok(where, f"POST {path.split('?')[0]}")
    if not s.channel_types:
        found.none("the plugin registers no channel types")
    return found.items


# -- channel tools and switching -----------------------------------------------------------------


def check_channel_tools(live: Live, s: PluginUnderTest) -> list[Finding]:
    found = Findings("channel-tools")
    for ct in s.channel_types:
        if getattr(ct.adapter, "list_models", None) is None or live.channel_problem(ct):
            continue
        subject = f"fetch models of channel type {ct.id}"
        answer = live.gateway.admin.get(f"/api/channel/fetch_models/{live.channels[ct.id]}").json()
        if not answer.get("success"):
            found.fail(subject, f"list_models failed against the mock upstream: {answer.get('message')}")
        elif kit_model(ct.id) not in (answer.get("data") or []):
            found.fail(subject, f"the upstream lists {live.upstream.models}; list_models returned {answer.get('data')}")
        else:
            found.ok(subject, f"{len(answer['data'])} models")
    if not found.items:
        found.none("no adapter of the plugin offers list_models")
    return found.items


def _probe(live: Live, s: PluginUnderTest, ct: ChannelType) -> int | None:
    """The status of one plain call through the channel of ``ct``; None when no format can be called."""
    for name in ct.dialects:
        dialect, sample = s.dialect(name), s.sample(name)
        if dialect is None or sample is None:
            continue
        path = _client_path(dialect, sample, kit_model(ct.id), False)
        if path is not None:
            return live.call(dialect, sample, path, kit_model(ct.id), False).status_code
    return None


def _route_status(live: Live, key: str) -> int:
    method, _, path = key.partition(" ")
    headers = {"authorization": f"Bearer {live.key}"}
    return live.http.request(method, path.replace("{}", "kit"), json={}, headers=headers).status_code


def _method_state(live: Live, s: PluginUnderTest) -> dict[str, str]:
    """How each payment and redirect login method of the plugin answers right now."""
    states = {}
    admin = live.gateway.admin
    for method in s.contributions.payment_methods:
        answer = admin.post("/api/user/pay", json={"amount": 10, "payment_method": method.id}).json()
        states[f"payment method {method.id}"] = "serves" if answer.get("success") else str(answer.get("message"))
    for method in s.contributions.login_methods:
        if method.kind == "redirect":
            location = admin.get(f"/api/oauth/{method.id}").headers.get("location", "")
            states[f"login method {method.id}"] = location if location.startswith("/login") else "serves"
    return states


def check_switch(live: Live, s: PluginUnderTest) -> list[Finding]:
    found = Findings("switch")
    contributions = s.host.registry.contributions(s.name)
    routes = [k for k in (contributions.provides()["routes"] if contributions else []) if not k.startswith("WS ")]
    types = [ct for ct in s.channel_types if not live.channel_problem(ct)]
    before_routes = {key: _route_status(live, key) for key in routes}
    before_types = {ct.id: _probe(live, s, ct) for ct in types}
    before_methods = _method_state(live, s)
    if not routes and not types and not before_methods:
        found.none("the plugin has no routes, channel types or methods to switch")
        return found.items
    live.gateway.switch(s.name, False)
    try:
        for key in routes:
            if (status := _route_status(live, key)) != 404:
                found.fail(f"route {key}", f"answers {status} while the plugin is off; it must answer 404")
        for ct in types:
            asked = len(live.upstream.requests_for(kit_model(ct.id)))
            status = _probe(live, s, ct)
            if status == 200 or len(live.upstream.requests_for(kit_model(ct.id))) != asked:
                found.fail(f"channel type {ct.id}", "still serves while the plugin is off")
        for subject, state in _method_state(live, s).items():
            if state == "serves":
                found.fail(subject, "still works while the plugin is off")
    finally:
        live.gateway.switch(s.name, True)
    for key in routes:
        if (status := _route_status(live, key)) != before_routes[key]:
            found.fail(f"route {key}", f"answered {before_routes[key]} before, {status} after switching back on")
        elif not found.failed_for(f"route {key}"):
            found.ok(f"route {key}", "404 while off, back when on")
    for ct in types:
        status = _probe(live, s, ct)
        if before_types[ct.id] == 200 and status != 200:
            found.fail(f"channel type {ct.id}", f"answered {status} after switching back on; before, 200")
        elif not found.failed_for(f"channel type {ct.id}"):
            found.ok(f"channel type {ct.id}", "stops while off, serves when on")
    for subject, state in _method_state(live, s).items():
        if state != before_methods.get(subject):
            found.fail(subject, f"was {before_methods.get(subject)!r} before switching off, {state!r} after")
        elif before_methods[subject] != "serves":
            found.skip(
                subject,
                f"it did not work with the plugin on ({state}); give the kit working settings with "
                "kit.plugin_settings(...) to check it",
            )
        elif not found.failed_for(subject):
            found.ok(subject, "gone while off, back when on")
    return found.items
