"""Building the :class:`~newapi_host.plugins.manager.PluginHost` from a :class:`~newapi_host.config.Config`.

It lives here, below the application, so that whatever needs the plugins without the web app
(Piccolo's own CLI through ``db/piccolo_conf.py``) can load them without importing ``app``.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterable, Mapping

from newapi_host.config import Config

from .manager import PluginHost


def build_plugin_host(
    config: Config,
    entry_points: Iterable[md.EntryPoint] | None = None,
    extra_plugins: Mapping[str, object] | None = None,
    *,
    reserved_routes: Iterable[str] = (),
) -> PluginHost:
    """Load every plugin ``config`` does not block; ``reserved_routes`` are the host's to keep.

    ``entry_points`` replaces discovery and ``extra_plugins`` adds plugin objects by name (tests).
    """
    plugins = PluginHost(disabled=config.disabled_plugins)
    plugins.registry.reserve_routes(reserved_routes)
    plugins.load(entry_points)
    for name, plugin in (extra_plugins or {}).items():
        if name in config.disabled_plugins:
            continue
        plugins.add(name, plugin)
    return plugins
