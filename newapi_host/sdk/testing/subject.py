"""The plugin under test: loaded as the host loads it, and its contributions collected as given.

The host's own :class:`~newapi_host.plugins.registry.Registrar` stops at a plugin's first
malformed contribution and the host then rejects the whole plugin. The suite wants every problem
at once, each under its own check, so it calls the plugin's register hooks a second time with a
registrar that keeps whatever it is handed. Every installed plugin is loaded as well, as a gateway
would load them: a plugin's channel types may speak, and its converters translate, formats that
other plugins define.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from newapi_host.plugins.manager import PluginHost, PluginInfo, installed_entry_points
from newapi_host.sdk import ChannelType, Converter, Dialect, Registrar

from .extension import ConformanceSetup, setup_function
from .samples import KIT_SAMPLES, DialectSample
from .upstream import MockUpstream

REGISTER_HOOKS = ("newapi_register_providers", "newapi_register_payments", "newapi_register_logins")


class PluginNotInstalled(LookupError):
    """No installed distribution names a plugin so (``newapi plugin check`` exits 2)."""


class _Keeper(Registrar):
    """A registrar that accepts anything, so that each check can judge it."""

    def channel_type(self, channel_type: Any) -> None:
        self.contributions.channel_types.append(channel_type)

    def dialect(self, dialect: Any) -> None:
        self.contributions.dialects.append(dialect)

    def converter(self, converter: Any) -> None:
        self.contributions.converters.append(converter)

    def pricing(self, pricing: Any) -> None:
        self.contributions.pricing.append(pricing)

    def payment_method(self, method: Any) -> None:
        self.contributions.payment_methods.append(method)

    def login_method(self, method: Any) -> None:
        self.contributions.login_methods.append(method)


def _call_hook(function: Any, **available: Any) -> Any:
    """Call a hook implementation with the keyword arguments it takes, as pluggy does."""
    wanted = inspect.signature(function).parameters
    return function(**{k: v for k, v in available.items() if k in wanted})


def load_host() -> PluginHost:
    """Every installed plugin, loaded as a gateway would (nothing blocked)."""
    host = PluginHost()
    host.load(installed_entry_points())
    return host


@dataclass
class PluginUnderTest:
    name: str
    host: PluginHost
    setup: ConformanceSetup
    info: PluginInfo | None = None
    plugin: Any = None
    import_error: str | None = None
    hook_error: str | None = None
    setup_error: str | None = None
    settings_model: Any = None
    contributions: Any = None
    entry_points: list[md.EntryPoint] = field(default_factory=list)

    @classmethod
    def load(cls, name: str, upstream: MockUpstream, host: PluginHost | None = None) -> PluginUnderTest:
        host = host or load_host()
        if name not in host.infos:
            installed = ", ".join(sorted(host.infos)) or "none"
            raise PluginNotInstalled(f"no installed plugin is named '{name}' (installed: {installed})")
        subject = cls(name=name, host=host, setup=ConformanceSetup(name, upstream), info=host.infos[name])
        subject.entry_points = [ep for ep in installed_entry_points() if ep.name == name]
        subject._collect()
        return subject

    def _collect(self) -> None:
        keeper = _Keeper(self.name)
        self.contributions = keeper.contributions
        try:
            self.plugin = self.entry_points[0].load()
        except Exception as exc:  # reported by the load check
            self.import_error = f"{type(exc).__name__}: {exc}"
            return
        try:
            for hook in REGISTER_HOOKS:
                if callable(function := getattr(self.plugin, hook, None)):
                    _call_hook(function, registry=keeper)
            if callable(function := getattr(self.plugin, "newapi_plugin_settings", None)):
                self.settings_model = _call_hook(function)
        except Exception as exc:
            self.hook_error = f"{type(exc).__name__}: {exc}"
        try:
            if (function := setup_function(self.plugin)) is not None:
                function(self.setup)
        except Exception as exc:
            self.setup_error = f"{type(exc).__name__}: {exc}"

    # -- what the checks look things up in ----------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.info is not None and self.info.loaded

    @property
    def channel_types(self) -> list[ChannelType]:
        return [ct for ct in self.contributions.channel_types if isinstance(ct, ChannelType)]

    def dialect(self, name: str) -> Dialect | None:
        """A format by name: the plugin's own first, then any installed plugin's."""
        own = [d for d in self.contributions.dialects if isinstance(d, Dialect) and d.name == name]
        return own[0] if own else self.host.registry.dialect(name)

    def sample(self, dialect: str) -> DialectSample | None:
        return self.setup.samples.get(dialect) or KIT_SAMPLES.get(dialect)

    def settings(self) -> BaseModel | None:
        """The plugin's settings as the checks use them: the set-up's values over the defaults."""
        model = self.settings_model
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        try:
            return model.model_validate(self.setup.settings)
        except Exception:
            return None

    def converters(self) -> list[Converter]:
        mine = [c for c in self.contributions.converters if isinstance(c, Converter)]
        theirs = [
            c
            for c in self.host.registry.converters()
            if self.host.registry.owner_of("converter", _pair(c)) != self.name
        ]
        return theirs + mine


def _pair(converter: Converter) -> str:
    return f"{converter.source} -> {converter.target}"


def reaches(converters: Iterable[Converter], source: str, targets: Iterable[str]) -> bool:
    """Whether clients of ``source`` reach an upstream speaking one of ``targets`` (natively or
    through a chain of ``converters``), as the relay finds its way."""
    goals = set(targets)
    seen, queue = {source}, deque([source])
    edges: dict[str, set[str]] = {}
    for c in converters:
        edges.setdefault(c.source, set()).add(c.target)
    while queue:
        here = queue.popleft()
        if here in goals:
            return True
        for nxt in edges.get(here, set()) - seen:
            seen.add(nxt)
            queue.append(nxt)
    return False
