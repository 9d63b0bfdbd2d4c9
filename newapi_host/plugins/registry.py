"""The registry of everything plugins contribute, and the conflict rules.

Registration is transactional per plugin: a plugin's hooks add to a :class:`Registrar` (staging),
and :meth:`Registry.add` commits the whole lot or nothing. A conflict leaves the plugins already
registered untouched and reports an error that names both claimants; the host then lists the
rejected plugin with that error instead of failing to start.

Queries answer for *enabled* plugins only, so switching a plugin off at run time removes its
channel types, dialects, converters, prices and methods at once, in every lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .contracts import (
    BackgroundJob,
    ChannelAdapter,
    ChannelType,
    Converter,
    Dialect,
    LoginMethod,
    PaymentMethod,
    PricingDefaults,
)

MAX_TYPE_ID = 2**31 - 1
HOST = "host"
"""Owner name used for routes the host itself serves."""


class ConflictError(Exception):
    """Two plugins claimed the same thing."""

    def __init__(self, what: str, existing: str, newcomer: str) -> None:
        self.what, self.existing, self.newcomer = what, existing, newcomer
        owner = "the host" if existing == HOST else f"plugin '{existing}'"
        super().__init__(f"{what} is claimed by both {owner} and plugin '{newcomer}'")


class ContributionError(Exception):
    """A plugin handed the registry something malformed."""


_PARAM = re.compile(r"\{[^}]*\}")


def route_key(method: str, path: str) -> str:
    """Normalise ``GET /v1/models/{model:str}/`` to ``GET /v1/models/{}`` for conflict checks."""
    norm = _PARAM.sub("{}", path).rstrip("/") or "/"
    return f"{method.upper()} {norm}"


def routes_of(handlers: Iterable[Any]) -> list[str]:
    """Route keys served by Litestar handlers, controllers or routers."""
    from litestar import Router
    from litestar.routes import HTTPRoute

    keys: list[str] = []
    for route in Router(path="/", route_handlers=list(handlers)).routes:
        methods = route.methods - {"OPTIONS", "HEAD"} if isinstance(route, HTTPRoute) else {"WS"}
        keys.extend(route_key(m, route.path) for m in sorted(methods))
    return keys


@dataclass
class Contributions:
    """Everything one plugin provides."""

    plugin: str
    channel_types: list[ChannelType] = field(default_factory=list)
    dialects: list[Dialect] = field(default_factory=list)
    converters: list[Converter] = field(default_factory=list)
    pricing: list[PricingDefaults] = field(default_factory=list)
    payment_methods: list[PaymentMethod] = field(default_factory=list)
    login_methods: list[LoginMethod] = field(default_factory=list)
    settings_model: type[BaseModel] | None = None
    route_handlers: list[Any] = field(default_factory=list)
    jobs: list[BackgroundJob] = field(default_factory=list)
    piccolo_apps: list[str] = field(default_factory=list)

    def claims(self) -> Iterator[tuple[str, str]]:
        """(kind, key) pairs this plugin claims exclusively."""
        for ct in self.channel_types:
            yield "channel type", str(ct.id)
        for d in self.dialects:
            yield "dialect", d.name
            for r in d.routes:
                yield "route", route_key(r.method, r.path)
        for c in self.converters:
            yield "converter", f"{c.source} -> {c.target}"
        for key in routes_of(self.route_handlers) if self.route_handlers else ():
            yield "route", key
        for p in self.payment_methods:
            yield "payment method", p.id
        for lm in self.login_methods:
            yield "login method", lm.id

    def provides(self) -> dict[str, list[Any]]:
        """A JSON-ready summary for the plugin list (API, CLI, console)."""
        routes = [k for kind, k in self.claims() if kind == "route"]
        priced = sorted({m for p in self.pricing for table in p.tables().values() for m in table})
        return {
            "channel_types": [{"id": ct.id, "name": ct.name} for ct in self.channel_types],
            "dialects": [d.name for d in self.dialects],
            "converters": [f"{c.source} -> {c.target}" for c in self.converters],
            "routes": routes,
            "priced_models": priced,
            "payment_methods": [p.id for p in self.payment_methods],
            "login_methods": [lm.id for lm in self.login_methods],
            "jobs": [j.name for j in self.jobs],
            "tables": list(self.piccolo_apps),
        }

    def is_empty(self) -> bool:
        return not any(self.provides().values()) and self.settings_model is None


class Registrar:
    """What a plugin's register hooks receive: collects its contributions, checking their types."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.contributions = Contributions(plugin)

    def _check(self, obj: Any, cls: type, what: str) -> None:
        if not isinstance(obj, cls):
            raise ContributionError(
                f"plugin '{self.plugin}' passed {type(obj).__name__} as a {what}; expected {cls.__name__}"
            )

    def channel_type(self, channel_type: ChannelType) -> None:
        self._check(channel_type, ChannelType, "channel type")
        if not isinstance(channel_type.id, int) or not 1 <= channel_type.id <= MAX_TYPE_ID:
            raise ContributionError(
                f"plugin '{self.plugin}': channel type id {channel_type.id!r} must be a whole number "
                f"from 1 to {MAX_TYPE_ID} (channels.type is a 32-bit column)"
            )
        if not isinstance(channel_type.adapter, ChannelAdapter):
            raise ContributionError(
                f"plugin '{self.plugin}': channel type {channel_type.id} has an adapter "
                "without build_request/classify_error"
            )
        if channel_type.settings_model is not None and not (
            isinstance(channel_type.settings_model, type) and issubclass(channel_type.settings_model, BaseModel)
        ):
            raise ContributionError(
                f"plugin '{self.plugin}': channel type {channel_type.id} settings_model must be a pydantic model"
            )
        self.contributions.channel_types.append(channel_type)

    def dialect(self, dialect: Dialect) -> None:
        self._check(dialect, Dialect, "dialect")
        self.contributions.dialects.append(dialect)

    def converter(self, converter: Converter) -> None:
        self._check(converter, Converter, "converter")
        if converter.source == converter.target:
            raise ContributionError(
                f"plugin '{self.plugin}': a converter from {converter.source} to itself is not needed"
            )
        self.contributions.converters.append(converter)

    def pricing(self, pricing: PricingDefaults) -> None:
        self._check(pricing, PricingDefaults, "pricing defaults")
        for table, values in pricing.tables().items():
            for model, value in values.items():
                if not isinstance(value, (int, float)) or value < 0:
                    raise ContributionError(f"plugin '{self.plugin}': {table}[{model!r}] must be a number >= 0")
        self.contributions.pricing.append(pricing)

    def payment_method(self, method: PaymentMethod) -> None:
        self._check(method, PaymentMethod, "payment method")
        self.contributions.payment_methods.append(method)

    def login_method(self, method: LoginMethod) -> None:
        self._check(method, LoginMethod, "login method")
        if method.kind == "redirect" and method.start is None:
            raise ContributionError(
                f"plugin '{self.plugin}': redirect login method '{method.id}' needs a start callable"
            )
        self.contributions.login_methods.append(method)


class Registry:
    """All accepted contributions, keyed by plugin, with lookups that honour enabled state."""

    def __init__(self) -> None:
        self._plugins: dict[str, Contributions] = {}
        self._owners: dict[tuple[str, str], str] = {}
        self._price_owners: dict[tuple[str, str], tuple[str, float]] = {}
        self._disabled: set[str] = set()
        self._by_name: dict[str, Dialect] | None = None  # enabled dialects by name, remade on change

    # -- registration ---------------------------------------------------------------------

    def reserve_routes(self, keys: Iterable[str], owner: str = HOST) -> None:
        """Claim routes for the host so plugins cannot shadow them."""
        for key in keys:
            self._owners.setdefault(("route", key), owner)

    def add(self, contributions: Contributions) -> None:
        """Accept one plugin's contributions whole, or raise and change nothing."""
        name = contributions.plugin
        if name in self._plugins:
            raise ConflictError("plugin name", name, name)
        seen: dict[tuple[str, str], str] = {}
        for claim in contributions.claims():
            kind, key = claim
            if claim in seen:
                raise ContributionError(f"plugin '{name}' registers {kind} {key} twice")
            seen[claim] = name
            if claim in self._owners:
                raise ConflictError(f"{kind} {key}", self._owners[claim], name)
        prices: dict[tuple[str, str], float] = {}
        for p in contributions.pricing:
            for table, values in p.tables().items():
                for model, value in values.items():
                    prev = self._price_owners.get((table, model))
                    if prev is not None and prev[1] != value:
                        raise ConflictError(f"{table} for model '{model}' ({prev[1]} vs {value})", prev[0], name)
                    prices[(table, model)] = float(value)
        self._plugins[name] = contributions
        self._by_name = None
        self._owners.update(seen)
        for k, v in prices.items():
            self._price_owners.setdefault(k, (name, v))

    # -- state ----------------------------------------------------------------------------

    def set_enabled(self, plugin: str, enabled: bool) -> None:
        (self._disabled.discard if enabled else self._disabled.add)(plugin)
        self._by_name = None

    def is_enabled(self, plugin: str) -> bool:
        return plugin in self._plugins and plugin not in self._disabled

    def plugins(self) -> list[Contributions]:
        return list(self._plugins.values())

    def contributions(self, plugin: str) -> Contributions | None:
        return self._plugins.get(plugin)

    def _active(self) -> Iterator[Contributions]:
        return (c for n, c in self._plugins.items() if n not in self._disabled)

    def owner_of(self, kind: str, key: str) -> str | None:
        return self._owners.get((kind, key))

    # -- lookups (enabled plugins only) -----------------------------------------------------

    def channel_types(self) -> list[ChannelType]:
        return sorted((ct for c in self._active() for ct in c.channel_types), key=lambda ct: ct.id)

    def channel_type(self, type_id: int) -> ChannelType | None:
        owner = self._owners.get(("channel type", str(type_id)))
        if owner is None or owner in self._disabled:
            return None
        return next(ct for ct in self._plugins[owner].channel_types if ct.id == type_id)

    def dialects(self) -> list[Dialect]:
        return [d for c in self._active() for d in c.dialects]

    def dialect(self, name: str) -> Dialect | None:
        """Looked up twice per relayed request: from a table kept until a plugin changes."""
        table = self._by_name
        if table is None:
            table = self._by_name = {}
            for d in self.dialects():
                table.setdefault(d.name, d)
        return table.get(name)

    def converters(self) -> list[Converter]:
        return [cv for c in self._active() for cv in c.converters]

    def login_methods(self) -> list[LoginMethod]:
        return [m for c in self._active() for m in c.login_methods]

    def login_method(self, method_id: str) -> LoginMethod | None:
        return next((m for m in self.login_methods() if m.id == method_id), None)

    def payment_methods(self) -> list[PaymentMethod]:
        return [m for c in self._active() for m in c.payment_methods]

    def pricing_defaults(self) -> dict[str, dict[str, float]]:
        """Merged default price tables of enabled plugins, keyed like New API's options."""
        merged: dict[str, dict[str, float]] = {}
        for c in self._active():
            for p in c.pricing:
                for table, values in p.tables().items():
                    merged.setdefault(table, {}).update(values)
        return merged

    def jobs(self) -> list[tuple[str, BackgroundJob]]:
        return [(c.plugin, j) for c in self._plugins.values() for j in c.jobs]
