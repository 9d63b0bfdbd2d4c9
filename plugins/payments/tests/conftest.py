"""Fixtures of the payments plugin's tests: a real gateway process and real fake providers.

The gateway is the kit's :class:`KitGateway` (``newapi serve`` on a real port, SQLite) with the
three payment methods; the fake Epay gateway is a process of its own that calls the gateway's
notify URL over real HTTP, as a real one does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from payments_helpers import FakeEpay

from newapi_host.sdk.testing import KitGateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KitGateway]:
    served = KitGateway(tmp_path_factory.mktemp("payments-gateway"), ["epay", "stripe", "creem"]).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def fake_epay() -> Iterator[FakeEpay]:
    server = FakeEpay()
    yield server
    server.stop()
