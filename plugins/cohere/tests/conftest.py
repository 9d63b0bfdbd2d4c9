"""Fixtures of the Cohere plugin's tests.

The gateway is the kit's :class:`KitGateway` with every installed plugin: the client dialects
come from the OpenAI, Claude and Gemini plugins, and Cohere channels reach them only through
their converters to ``openai.chat``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_cohere import FakeCohere


@pytest.fixture(scope="session")
def fake_cohere() -> Iterator[FakeCohere]:
    server = FakeCohere().start()
    yield server
    server.stop()
