"""The offline checks of a plugin's registrations: load, SDK range, channel types, adapters,
error classification, pricing and settings.

Each ``check_*`` function takes the :class:`~.subject.PluginUnderTest` and returns its findings.
Adapters are called with the canonical traffic of :mod:`.samples`, the way the relay would call
them, under a guard that fails any network use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from newapi_host.plugins.compat import SDK_VERSION, sdk_mismatch
from newapi_host.plugins.registry import MAX_TYPE_ID
from newapi_host.plugins.state import dump_settings
from newapi_host.sdk import ChannelType, ChannelView, ErrorVerdict, PricingDefaults, UpstreamCall, UpstreamRequest

from .checking import GUIDE, KIT_BASE_URL, KIT_KEY, METHODS, is_async, own, web_url, what
from .findings import Finding, Findings
from .no_network import NetworkUsed, no_network
from .samples import kit_model
from .subject import PluginUnderTest

ERROR_STATUSES = (400, 401, 403, 404, 408, 429, 500, 502, 503, 529)
ODD_ERROR_BODIES = (b"", b"<html><body>502 Bad Gateway</body></html>", b"{not json", b'{"error": "kit"}', b"[]")


# -- load and SDK range ------------------------------------------------------------------------


def check_load(s: PluginUnderTest) -> list[Finding]:
    found = Findings("load")
    module = s.entry_points[0].value if s.entry_points else s.name
    if s.import_error:
        found.fail(
            f"module {module}",
            f"the module does not import: {s.import_error}\n"
            "Fix the import; nothing else can be checked until it loads.",
        )
    elif s.info is not None and s.info.load_error:
        found.fail(
            f"plugin {s.name}",
            f"the host rejects the plugin: {s.info.load_error}\n"
            "A rejected plugin contributes nothing; the checks below say more about each part.",
        )
    elif s.hook_error:
        found.fail(f"plugin {s.name}", f"a hook raised {s.hook_error}; hooks must only build and register objects")
    else:
        found.ok(f"plugin {s.name}", f"module {module}")
    if s.setup_error:
        found.fail(
            "NEWAPI_CONFORMANCE",
            f"the conformance set-up failed: {s.setup_error}\n"
            f"NEWAPI_CONFORMANCE names a function taking a ConformanceSetup (see {GUIDE}).",
        )
    return found.items


def check_sdk_range(s: PluginUnderTest) -> list[Finding]:
    found = Findings("sdk-range")
    stated = getattr(s.plugin, "NEWAPI_SDK", None)
    subject = f"NEWAPI_SDK of {s.entry_points[0].value if s.entry_points else s.name}"
    if stated is None:
        found.warn(
            subject,
            f"the plugin does not state the SDK versions it supports; the host loads it but cannot refuse it "
            f'on an SDK it was not written for. Add NEWAPI_SDK = ">={SDK_VERSION.rsplit(".", 1)[0]},<'
            f'{int(SDK_VERSION.split(".")[0]) + 1}" to the module the entry point names.',
        )
    elif problem := sdk_mismatch(s.plugin):
        found.fail(subject, problem)
    else:
        found.ok(subject, f"{stated} includes SDK {SDK_VERSION}")
    return found.items


# -- channel types, adapters, errors -----------------------------------------------------------


def check_channel_types(s: PluginUnderTest) -> list[Finding]:
    found = Findings("channel-types")
    types = own(s.contributions.channel_types, ChannelType, "channel type", found)
    for ct in types:
        subject = f"channel type {ct.id!r} ({ct.name!r})"
        if isinstance(ct.id, bool) or not isinstance(ct.id, int) or not 1 <= ct.id <= MAX_TYPE_ID:
            found.fail(
                subject,
                f"the id must be a whole number from 1 to {MAX_TYPE_ID}: use New API's id for a provider it knows "
                "(1 OpenAI, 14 Anthropic, 24 Gemini, ...) or pick one above 10000",
            )
        if not isinstance(ct.name, str) or not ct.name.strip():
            found.fail(subject, "give the channel type a name: admins pick it by name in the channel form")
        dialects = ct.dialects if isinstance(ct.dialects, (tuple, list)) else ()
        if not dialects and not getattr(ct, "task_platform", ""):
            found.fail(
                subject,
                "dialects is empty: name the wire formats the upstream speaks, e.g. ('openai.chat',), "
                "or set task_platform for a type that serves a task plugin's own routes",
            )
        for name in dialects:
            if s.dialect(name) is None:
                found.fail(
                    subject,
                    f"it speaks {name!r}, which no installed plugin defines: register that Dialect "
                    "(registry.dialect(...)) or depend on the plugin that does",
                )
        if ct.default_base_url and not web_url(ct.default_base_url):
            found.fail(subject, f"default_base_url {ct.default_base_url!r} is not an http(s) URL")
        models = ct.default_models if isinstance(ct.default_models, (tuple, list)) else None
        if models is None or not all(isinstance(m, str) and m.strip() for m in models):
            found.fail(subject, "default_models must be a tuple of model names")
        if ct.settings_model is not None and not (
            isinstance(ct.settings_model, type) and issubclass(ct.settings_model, BaseModel)
        ):
            found.fail(subject, "settings_model must be a pydantic model class (or None)")
        if not found.failed_for(subject):
            found.ok(subject, f"speaks {', '.join(dialects)}")
    if not found.items:
        found.none("the plugin registers no channel types")
    return found.items


def _channel_settings(ct: ChannelType) -> BaseModel | None:
    try:
        return ct.settings_model() if ct.settings_model is not None else None
    except Exception:
        return None  # the settings check reports it


def _canned_calls(s: PluginUnderTest, ct: ChannelType) -> Iterable[tuple[str, UpstreamCall]]:
    """One call per dialect of the type (and one more for a stream where the format streams)."""
    model = kit_model(ct.id)
    view = ChannelView(id=1, type=ct.id, name="kit", base_url=KIT_BASE_URL, key=KIT_KEY, settings=_channel_settings(ct))
    for name in ct.dialects:
        sample = s.sample(name)
        for stream in (False, True) if sample is None or sample.stream is not None else (False,):
            body = sample.request(model, stream) if sample else {"model": model}
            call = UpstreamCall(
                channel=view,
                dialect=name,
                model=model,
                body=json.dumps(body).encode(),
                stream=stream,
                body_model=model if "model" in body else "",
                wants_usage=True,
                path=sample.path_for(model, stream) if sample else "",
                settings=s.settings(),
            )
            yield f"{name}{' stream' if stream else ''}", call


def _request_problem(request: Any) -> str | None:
    if not isinstance(request, UpstreamRequest):
        return f"it returned {type(request).__name__}; return UpstreamRequest(method, url, headers, body)"
    if not isinstance(request.method, str) or request.method.upper() not in METHODS:
        return f"method {request.method!r} is not an HTTP method"
    if not web_url(request.url):
        return f"url {request.url!r} is not an absolute http(s) URL"
    if not request.url.startswith(KIT_BASE_URL):
        return (
            f"url {request.url!r} does not start with the channel's base URL ({KIT_BASE_URL}): build it from "
            "call.channel.base_url, so admins can point a channel at a proxy or a mirror"
        )
    if not isinstance(request.headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in request.headers.items()
    ):
        return "headers must be a dict of str to str"
    if request.body is not None and not isinstance(request.body, bytes):
        return f"body is {type(request.body).__name__}; it must be bytes (or None)"
    if not any(KIT_KEY in v for v in request.headers.values()) and KIT_KEY not in request.url:
        return "the request carries the channel's key nowhere: put call.channel.key in a header or the URL"
    return None


def check_adapters(s: PluginUnderTest) -> list[Finding]:
    found = Findings("adapters")
    for ct in s.channel_types:
        adapter = ct.adapter
        subject = f"adapter of channel type {ct.id}"
        missing = [m for m in ("build_request", "classify_error") if not callable(getattr(adapter, m, None))]
        if missing:
            found.fail(subject, f"{type(adapter).__name__} has no {' or '.join(missing)}; see {GUIDE}")
            continue
        for label, call in _canned_calls(s, ct):
            where = f"{subject}, {label}"
            try:
                with no_network():
                    request = adapter.build_request(call)
            except NetworkUsed as exc:
                found.fail(where, f"build_request used the network ({exc}); adapters do no I/O, the host sends")
                continue
            except Exception as exc:
                found.fail(where, f"build_request raised {what(exc)} for a canned {label} call")
                continue
            if problem := _request_problem(request):
                found.fail(where, problem)
            else:
                found.ok(where, f"{request.method} {request.url}")
        for name in ("list_models", "read_balance"):
            method = getattr(adapter, name, None)
            if method is not None and not is_async(method):
                found.fail(subject, f"{name} must be a coroutine function: async def {name}(self, channel, fetch)")
    if not found.items:
        found.none("the plugin registers no channel types")
    return found.items


def _error_bodies(s: PluginUnderTest, ct: ChannelType) -> list[bytes]:
    bodies = list(ODD_ERROR_BODIES)
    for name in ct.dialects:
        dialect = s.dialect(name)
        if dialect is not None:
            try:
                bodies.append(dialect.error_body(429, "kit error", "rate_limit_error", "kit"))
            except Exception:
                pass  # the dialect check reports it
    return bodies


def _verdict_problem(verdict: Any) -> str | None:
    if verdict is None:
        return None
    if not isinstance(verdict, ErrorVerdict):
        return f"returned {type(verdict).__name__}; return an ErrorVerdict or None (None keeps the host's rules)"
    if not isinstance(verdict.retry, bool) or not isinstance(verdict.disable_channel, bool):
        return "ErrorVerdict.retry and disable_channel must be True or False"
    if verdict.status is not None and (not isinstance(verdict.status, int) or not 100 <= verdict.status <= 599):
        return f"ErrorVerdict.status {verdict.status!r} is not an HTTP status"
    return None


def check_errors(s: PluginUnderTest) -> list[Finding]:
    found = Findings("errors")
    for ct in s.channel_types:
        classify = getattr(ct.adapter, "classify_error", None)
        subject = f"classify_error of channel type {ct.id}"
        if not callable(classify):
            found.fail(subject, "the adapter has no classify_error(status, body); return None to keep the host's rules")
            continue
        problem = None
        for status in ERROR_STATUSES:
            for body in _error_bodies(s, ct):
                try:
                    with no_network():
                        verdict = classify(status, body)
                except Exception as exc:
                    problem = f"raised {what(exc)} for status {status} and body {body[:60]!r}"
                else:
                    problem = _verdict_problem(verdict)
                    if problem:
                        problem += f" (status {status}, body {body[:60]!r})"
                if problem:
                    break
            if problem:
                break
        if problem:
            found.fail(subject, problem)
        else:
            found.ok(subject, f"{len(ERROR_STATUSES)} statuses with JSON, HTML, empty and broken bodies")
    if not found.items:
        found.none("the plugin registers no channel types")
    return found.items


# -- pricing and settings ----------------------------------------------------------------------


def check_pricing(s: PluginUnderTest) -> list[Finding]:
    found = Findings("pricing")
    for pricing in own(s.contributions.pricing, PricingDefaults, "pricing defaults", found):
        count = 0
        for table, values in pricing.tables().items():
            if not hasattr(values, "items"):
                found.fail(f"pricing {table}", f"{table} must map model names to numbers")
                continue
            for model, value in values.items():
                count += 1
                if not isinstance(model, str) or not model.strip():
                    found.fail(f"pricing {table}", f"{model!r} is not a model name")
                elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    found.fail(f"pricing {table}[{model!r}]", f"{value!r} is not a number")
                elif value < 0:
                    found.fail(f"pricing {table}[{model!r}]", f"{value} is negative; prices are >= 0 (0 is free)")
        if not any(f.failed for f in found.items):
            found.ok("pricing defaults", f"{count} prices")
    if not found.items:
        found.none("the plugin registers no pricing defaults")
    return found.items


def _settings_problem(model: Any) -> str | None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return f"{model!r} is not a pydantic model class"
    try:
        defaults = model()
    except Exception as exc:
        missing = [name for name, f in model.model_fields.items() if f.is_required()]
        return (
            f"{model.__name__}() fails ({type(exc).__name__}): give every field a default "
            f"(missing: {', '.join(missing) or 'see the error'}), so the plugin works before an admin saves settings"
        )
    try:
        schema = model.model_json_schema()
        json.dumps(schema)
    except Exception as exc:
        return f"{model.__name__} has no JSON schema ({what(exc)}); the console draws its form from it"
    try:
        stored = json.loads(json.dumps(dump_settings(defaults)))
        if model.model_validate(stored) != defaults:
            return f"{model.__name__}'s defaults change when stored and read back: {stored}"
    except Exception as exc:
        return f"{model.__name__}'s defaults cannot be stored and read back: {what(exc)}"
    return None


def check_settings(s: PluginUnderTest) -> list[Finding]:
    found = Findings("settings")
    models = []
    if s.settings_model is not None:
        models.append(("plugin settings", s.settings_model))
    models += [(f"settings of channel type {ct.id}", ct.settings_model) for ct in s.channel_types if ct.settings_model]
    for subject, model in models:
        if problem := _settings_problem(model):
            found.fail(subject, problem)
        else:
            found.ok(subject, model.__name__)
    if s.setup.settings and s.settings() is None and s.settings_model is not None:
        found.fail("NEWAPI_CONFORMANCE settings", f"kit.plugin_settings({s.setup.settings}) do not validate")
    if not found.items:
        found.none("the plugin has no settings models")
    return found.items
