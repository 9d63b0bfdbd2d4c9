"""The pytest plugin ``newapi`` (entry point ``pytest11``): the kit's fixtures for any test suite.

- ``newapi_plugins`` (session): the plugins ``newapi_gateway`` loads; None (the default) means
  every installed one. Override it in a ``conftest.py`` to narrow it (``return ["hello", "openai"]``).
- ``newapi_gateway`` (session): a :class:`~.gateway.KitGateway` on 127.0.0.1 with those plugins,
  SQLite in a temporary directory, root signed in.
- ``newapi_root`` (session): an ``httpx.Client`` on the gateway signed in as root.
- ``newapi_upstream`` (session): a running :class:`~.upstream.MockUpstream`, with the endpoints
  that the loaded plugins' ``NEWAPI_CONFORMANCE`` set-ups add.
- ``newapi_key`` (session): an API key of a user with ample quota.
- ``newapi_channel``: a factory, ``newapi_channel(type_id, models=("kit-model",), **fields)``, that
  adds a channel of a type pointed at ``newapi_upstream`` and returns its id; models without a
  default price get ratio 1 (completion ratio 1).
- ``newapi_conformance`` (session): ``newapi_conformance(plugin, live=True)``, the plugin's
  conformance :class:`~.findings.Report`, run once per session in ``newapi_gateway``
  (``conformance_tests`` uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest

from .conformance import ConformanceRun
from .extension import ConformanceSetup, setup_function
from .findings import Report
from .gateway import KitGateway
from .upstream import MockUpstream


@pytest.fixture(scope="session")
def newapi_plugins() -> list[str] | None:
    """Plugins for ``newapi_gateway`` to load: None means every installed one."""
    return None


@pytest.fixture(scope="session")
def newapi_gateway(tmp_path_factory: pytest.TempPathFactory, newapi_plugins: list[str] | None) -> Iterator[KitGateway]:
    gateway = KitGateway(tmp_path_factory.mktemp("newapi-gateway"), newapi_plugins).start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def newapi_root(newapi_gateway: KitGateway) -> httpx.Client:
    """The gateway's management API, signed in as root (send ``/api/...`` paths)."""
    return newapi_gateway.admin


@pytest.fixture(scope="session")
def newapi_upstream(newapi_gateway: KitGateway) -> Iterator[MockUpstream]:
    upstream = MockUpstream().start()
    plugins = newapi_gateway.plugins
    for contributions in plugins.registry.plugins():
        plugin = plugins.pm.get_plugin(contributions.plugin)
        function = setup_function(plugin) if plugin is not None else None
        if function is not None:
            function(ConformanceSetup(contributions.plugin, upstream))
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def newapi_key(newapi_gateway: KitGateway) -> str:
    return newapi_gateway.key()


@pytest.fixture
def newapi_channel(newapi_gateway: KitGateway, newapi_upstream: MockUpstream) -> Callable[..., int]:
    def add(type_id: int, models: Iterable[str] = ("kit-model",), **fields: Any) -> int:
        models = list(models)
        fields.setdefault("base_url", newapi_upstream.url)
        channel = newapi_gateway.channel(type_id, models=models, **fields)
        defaults = newapi_gateway.registry.pricing_defaults()
        priced = {*defaults.get("ModelRatio", {}), *defaults.get("ModelPrice", {})}
        if unpriced := [m for m in models if m not in priced]:
            newapi_gateway.price(unpriced)
        newapi_upstream.models.extend(m for m in models if m not in newapi_upstream.models)
        return channel

    return add


@pytest.fixture(scope="session")
def newapi_conformance(
    tmp_path_factory: pytest.TempPathFactory, newapi_gateway: KitGateway
) -> Iterator[Callable[..., Report]]:
    """The suite's live checks run in ``newapi_gateway`` (no second gateway to start), which keeps
    the suite's channels, prices and user afterwards."""
    runs: dict[bool, ConformanceRun] = {}

    def report(plugin: str, live: bool = True) -> Report:
        if live not in runs:
            data_dir = tmp_path_factory.mktemp("newapi-conformance")
            runs[live] = ConformanceRun(live=live, data_dir=data_dir, gateway=newapi_gateway if live else None)
        return runs[live].check(plugin)

    yield report
    for run in runs.values():
        run.close()
