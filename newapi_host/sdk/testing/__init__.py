"""Testing a plugin: pytest fixtures for a real gateway with the plugin installed.

Installed with the host as the pytest plugin ``newapi`` (entry point ``pytest11``), so a plugin's
own test suite has these fixtures without any set-up:

- ``newapi_plugins``: the plugins the gateway loads; all installed ones unless a ``conftest.py``
  overrides it (``return ["cohere", "openai"]``). The host's built-ins always load.
- ``newapi_gateway``: a :class:`KitGateway` serving on 127.0.0.1 with those plugins, SQLite in a
  temporary directory and root signed in (``newapi_gateway.admin``); one per test session.

``from newapi_host.sdk.testing import KitGateway`` builds one by hand (another scope, another
configuration).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .gateway import KitGateway, plugin_entry_points

__all__ = ["KitGateway", "plugin_entry_points"]


@pytest.fixture(scope="session")
def newapi_plugins() -> list[str] | None:
    """Plugins for ``newapi_gateway`` to load: None means every installed one."""
    return None


@pytest.fixture(scope="session")
def newapi_gateway(tmp_path_factory: pytest.TempPathFactory, newapi_plugins: list[str] | None) -> Iterator[KitGateway]:
    gateway = KitGateway(tmp_path_factory.mktemp("newapi-gateway"), newapi_plugins).start()
    yield gateway
    gateway.stop()
