"""Fixtures of the Cohere plugin's tests.

The gateway is the kit's :class:`KitGateway` with every installed plugin: the client dialects
come from the OpenAI, Claude and Gemini plugins, and Cohere channels reach them only through
their converters to ``openai.chat``.

``newapi_gateway`` is overridden here with a gateway of this directory's own, built when its
first test needs it, for two reasons found running the whole suite: (1) the database of a
gateway is process-wide (Piccolo binds tables to one engine), so a test elsewhere that builds an
app in-process after the session's gateway started points that gateway at another database;
(2) ``KitGateway.key()`` signs a new user in for every key, and the login rate limit (20 per 20
minutes per address) counts those sign-ins across every test that shares a gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_cohere import FakeCohere

from newapi_host.sdk.testing import KitGateway


@pytest.fixture(scope="session")
def newapi_gateway(tmp_path_factory: pytest.TempPathFactory, newapi_plugins: list[str] | None) -> Iterator[KitGateway]:
    gateway = KitGateway(tmp_path_factory.mktemp("cohere-gateway"), newapi_plugins).start()
    gateway.option("CriticalRateLimitCount", "0")  # no limit: each key() is a sign-in
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def fake_cohere() -> Iterator[FakeCohere]:
    server = FakeCohere().start()
    yield server
    server.stop()
