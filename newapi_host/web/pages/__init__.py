"""One module per console area; each holds its page handlers (``ROUTES``) and, where it needs
strings of its own, registers them with ``i18n.add_strings``. Each page loads ``core.js`` and a
script of its own from ``static/``."""

from __future__ import annotations

from typing import Any

from . import (
    channels,
    dashboard,
    keys,
    logs,
    oauth_providers,
    playground,
    plugins,
    public,
    redemptions,
    security,
    settings,
    tasks,
    topups,
    users,
    wallet,
)

ROUTES: list[Any] = [
    *public.ROUTES,
    *dashboard.ROUTES,
    *keys.ROUTES,
    *logs.ROUTES,
    *tasks.ROUTES,
    *wallet.ROUTES,
    *security.ROUTES,
    *playground.ROUTES,
    *channels.ROUTES,
    *users.ROUTES,
    *redemptions.ROUTES,
    *topups.ROUTES,
    *settings.ROUTES,
    *oauth_providers.ROUTES,
    *plugins.ROUTES,
]
