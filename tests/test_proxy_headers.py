"""TRUSTED_PROXIES: the client's address from X-Forwarded-For, believed only from trusted proxies."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newapi_host.config import Config
from newapi_host.proxy_headers import parse_networks, real_client

from .conftest import as_root, running

NETS = parse_networks(["10.0.0.0/8", "127.0.0.1", "::1"])


def h(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in values.items()]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("203.0.113.9", h(x_forwarded_for="1.2.3.4"), "203.0.113.9"),  # not a proxy: headers ignored
        ("127.0.0.1", h(x_forwarded_for="1.2.3.4"), "1.2.3.4"),
        ("127.0.0.1", h(x_forwarded_for="6.6.6.6, 1.2.3.4, 10.0.0.7"), "1.2.3.4"),  # right-most untrusted hop
        ("127.0.0.1", h(x_forwarded_for="10.0.0.8, 10.0.0.7"), "10.0.0.8"),  # all proxies: the first one
        ("127.0.0.1", h(x_real_ip="5.6.7.8"), "5.6.7.8"),
        ("127.0.0.1", h(x_forwarded_for="not-an-ip"), "127.0.0.1"),
        ("127.0.0.1", h(x_real_ip="garbage"), "127.0.0.1"),
        ("127.0.0.1", [], "127.0.0.1"),
        ("::1", h(x_forwarded_for="2001:db8::5"), "2001:db8::5"),
    ],
)
def test_real_client(peer: str, headers: list[tuple[bytes, bytes]], expected: str) -> None:
    assert real_client(peer, headers, NETS) == expected


def test_bad_entry_is_named() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks(["127.0.0.1", "nope"])
    assert Config.from_env({"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}).trusted_proxies == {"127.0.0.1", "10.0.0.0/8"}


async def test_key_ip_allow_list_sees_the_forwarded_address(sqlite_config: Config) -> None:
    for trusted, seen in ((frozenset(), "127.0.0.1"), (frozenset({"127.0.0.1"}), "10.9.9.9")):
        data_dir = sqlite_config.data_dir / ("behind-proxy" if trusted else "direct")
        data_dir.mkdir()
        async with running(replace(sqlite_config, trusted_proxies=trusted, data_dir=data_dir)) as client:
            await as_root(client)
            body = {"name": "office", "unlimited_quota": True, "expired_time": -1, "allow_ips": "10.1.2.3"}
            key = (await client.post("/api/token/", json=body)).json()["data"]["key"]
            chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            auth = {"Authorization": f"Bearer {key}"}
            r = await client.post("/v1/chat/completions", json=chat, headers={**auth, "X-Forwarded-For": "10.9.9.9"})
            assert r.status_code == 403 and f"your IP {seen} is not allowed" in r.text
            r = await client.post("/v1/chat/completions", json=chat, headers={**auth, "X-Forwarded-For": "10.1.2.3"})
            if trusted:
                assert "ip_not_allowed" not in r.text  # past the key check (no channel serves "m")
            else:
                assert r.status_code == 403 and "your IP 127.0.0.1" in r.text
