"""Finding, loading and registering plugins.

One :class:`pluggy.PluginManager` named ``newapi`` holds every plugin: the host's built-ins and
third-party distributions alike, all found through the entry-point groups in
:data:`~newapi_host.plugins.ENTRY_POINT_GROUPS`. A plugin that fails to import, implements a hook
that does not exist, hands over malformed contributions or conflicts with an earlier plugin is
recorded with its error and left out; the host keeps running.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from pydantic import BaseModel

from . import ENTRY_POINT_GROUPS, hookspecs
from .compat import sdk_mismatch
from .contracts import BackgroundJob
from .registry import ConflictError, ContributionError, Contributions, Registrar, Registry

log = logging.getLogger(__name__)

HOST_DISTRIBUTION = "newapi-host"


@dataclass
class PluginInfo:
    """What the plugin list shows about one plugin, loaded or not."""

    name: str
    group: str
    module: str
    distribution: str | None = None
    version: str | None = None
    load_error: str | None = None
    blocked: bool = False  # listed in NEWAPI_DISABLED_PLUGINS: never imported
    groups: list[str] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.distribution == HOST_DISTRIBUTION

    @property
    def loaded(self) -> bool:
        return not self.blocked and self.load_error is None


def installed_entry_points() -> list[md.EntryPoint]:
    eps = md.entry_points()
    return [ep for group in ENTRY_POINT_GROUPS for ep in eps.select(group=group)]


def _short_error(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


_REGISTER_HOOKS = ("newapi_register_providers", "newapi_register_payments", "newapi_register_logins")


class PluginHost:
    """Loads plugins into one plugin manager and their contributions into a :class:`Registry`."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self.pm = pluggy.PluginManager("newapi")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}
        self.disabled = frozenset(disabled)

    # -- loading -------------------------------------------------------------------------------

    def load(self, entry_points: Iterable[md.EntryPoint] | None = None) -> None:
        """Import and register every plugin; built-ins of the host first, then by name."""
        eps = installed_entry_points() if entry_points is None else list(entry_points)
        by_name: dict[str, list[md.EntryPoint]] = {}
        for ep in eps:
            by_name.setdefault(ep.name, []).append(ep)

        def order(name: str) -> tuple[bool, str]:
            dist = getattr(by_name[name][0], "dist", None)
            return (getattr(dist, "name", None) != HOST_DISTRIBUTION, name)

        for name in sorted(by_name, key=order):
            self._load_one(name, by_name[name])

    def _load_one(self, name: str, eps: list[md.EntryPoint]) -> None:
        ep = eps[0]
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=name,
            group=ep.group,
            module=ep.value,
            distribution=getattr(dist, "name", None),
            version=getattr(dist, "version", None),
            groups=sorted({e.group for e in eps}),
        )
        self.infos[name] = info
        others = {(e.value, getattr(getattr(e, "dist", None), "name", None)) for e in eps}
        if len(others) > 1:
            claimants = ", ".join(sorted(f"{d or '?'} ({v})" for v, d in others))
            info.load_error = f"plugin name '{name}' is used by several entry points: {claimants}"
            log.error("plugin %s not loaded: %s", name, info.load_error)
            return
        if name in self.disabled:
            info.blocked = True
            log.info("plugin %s blocked by NEWAPI_DISABLED_PLUGINS", name)
            return
        try:
            plugin = ep.load()
        except Exception as exc:  # an import error must not take the host down
            info.load_error = f"import failed: {_short_error(exc)}"
            log.error("plugin %s failed to import", name, exc_info=True)
            return
        self.add(name, plugin, info)

    def add(self, name: str, plugin: Any, info: PluginInfo | None = None) -> bool:
        """Register one plugin object and collect its contributions; False if it was rejected."""
        info = info or self.infos.setdefault(name, PluginInfo(name=name, group="", module=repr(plugin)))
        mismatch = sdk_mismatch(plugin)
        if mismatch is not None:
            info.load_error = mismatch
            log.error("plugin %s not loaded: %s", name, mismatch)
            return False
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            info.load_error = f"invalid plugin: {exc}"
            log.error("plugin %s rejected: %s", name, info.load_error)
            return False
        try:
            unknown = self._unknown_hooks(name)
            if unknown:
                raise ContributionError(f"unknown or unmarked hooks: {', '.join(unknown)}")
            contributions = self._collect(name)
            self.registry.add(contributions)
        except Exception as exc:
            self.pm.unregister(name=name)
            info.load_error = str(exc) if isinstance(exc, (ContributionError, ConflictError)) else _short_error(exc)
            log.error("plugin %s rejected: %s", name, info.load_error)
            return False
        log.debug("plugin %s loaded", name)
        return True

    def _unknown_hooks(self, name: str) -> list[str]:
        """Hook-like names that would silently never run: typos, or a missing ``@hookimpl``."""
        plugin = self.pm.get_plugin(name)
        problems = []
        for attr in dir(plugin):
            if not attr.startswith("newapi_") or not callable(getattr(plugin, attr, None)):
                continue
            if not hasattr(hookspecs, attr):
                problems.append(attr)
            elif self.pm.parse_hookimpl_opts(plugin, attr) is None:
                problems.append(f"{attr} (missing @hookimpl)")
        return problems

    def _call(self, hook: str, name: str, **kwargs: Any) -> list[Any]:
        """Call only plugin ``name``'s implementation of ``hook``."""
        results = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name == name:
                results.append(impl.function(**{k: kwargs[k] for k in impl.argnames}))
        return results

    def _collect(self, name: str) -> Contributions:
        registrar = Registrar(name)
        for hook in _REGISTER_HOOKS:
            self._call(hook, name, registry=registrar)
        c = registrar.contributions
        for model in self._call("newapi_plugin_settings", name):
            if model is None:
                continue
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise ContributionError(f"newapi_plugin_settings must return a pydantic model class, got {model!r}")
            try:
                model()
            except Exception as exc:
                raise ContributionError(
                    f"settings model {model.__name__} needs a default for every field: {exc}"
                ) from None
            c.settings_model = model
        for handlers in self._call("newapi_routes", name):
            c.route_handlers.extend(handlers or ())
        for jobs in self._call("newapi_jobs", name):
            for job in jobs or ():
                if not isinstance(job, BackgroundJob) or job.interval <= 0:
                    raise ContributionError(f"newapi_jobs returned {job!r}; expected BackgroundJob with interval > 0")
                c.jobs.append(job)
        for apps in self._call("newapi_piccolo_apps", name):
            c.piccolo_apps.extend(apps or ())
        return c

    # -- views --------------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        return sorted(self.infos.values(), key=lambda i: (not i.builtin, i.name))

    def piccolo_apps(self) -> list[str]:
        """Piccolo apps of every loaded plugin, enabled or not: their tables exist either way."""
        return [a for c in self.registry.plugins() for a in c.piccolo_apps]
