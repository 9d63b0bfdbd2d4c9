"""Plugin machinery: hook specs, the typed contributions, the registry and the manager."""

import pluggy

hookimpl = pluggy.HookimplMarker("newapi")
"""Decorator for a plugin's hook implementations: ``@hookimpl def newapi_routes(): ...``."""

ENTRY_POINT_GROUPS = ("newapi.providers", "newapi.payments", "newapi.logins")

__all__ = ["ENTRY_POINT_GROUPS", "hookimpl"]
