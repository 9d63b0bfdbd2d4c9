"""SSRF protection (New API's ``fetch_setting``) for admin-initiated fetches and forced channels.

An "internal" service listens on 127.0.0.1 and records every request. With the defaults, the
channel test, the model lists, the balance and a relay forced onto one channel (``sk-...-<id>``)
never reach it, whoever asks; root reads why, an admin reads "upstream unreachable" and nothing
else (no body, no port, no reason a port scan could use). Normal relay traffic to the same channel
is untouched. Root can turn the protection off or allow-list the address.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import httpx
import pytest
from yarl import URL

from newapi_host.options import Options
from newapi_host.relay import fetch_guard
from newapi_host.relay.fetch_guard import FetchPolicy

from .conftest import free_port
from .gateway import Gateway, start_gateway
from .sinks import Arrived, Sink

SECRET_PAGE = "INTERNAL-SECRET-PAGE"
UNREACHABLE = "upstream unreachable"


def internal(req: Arrived) -> tuple[int, str, bytes]:
    """An internal service: an admin page everywhere, and an OpenAI-ish answer for chat."""
    if req.target.endswith("/chat/completions"):
        answer = {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": SECRET_PAGE}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return 200, "application/json", json.dumps(answer).encode()
    if req.target.endswith("/models"):
        return 200, "application/json", json.dumps({"data": [{"id": SECRET_PAGE}]}).encode()
    return 404, "text/html", f"<html>{SECRET_PAGE}: redis at 10.0.0.7:6379</html>".encode()


@pytest.fixture(scope="module")
def service() -> Iterator[Sink]:
    with Sink(internal) as sink:
        yield sink


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("ssrf"))
    yield gateway
    gateway.stop()


def _tools(client: httpx.Client, channel_id: int, base_url: str) -> list[dict]:
    """The answers of every admin tool that fetches from a channel's upstream."""
    return [
        client.get(f"/api/channel/test/{channel_id}").json(),
        client.get(f"/api/channel/fetch_models/{channel_id}").json(),
        client.post("/api/channel/fetch_models", json={"type": 1, "base_url": base_url, "key": "sk-mine"}).json(),
        client.get(f"/api/channel/update_balance/{channel_id}").json(),
    ]


def _set(root: httpx.Client, **values: object) -> None:
    for key, value in values.items():
        r = root.put("/api/option/", json={"key": f"fetch_setting.{key}", "value": value}).json()
        assert r["success"], (key, value, r)


def test_admin_tools_and_forced_channels_cannot_reach_internal_services(gw: Gateway, service: Sink) -> None:
    root = gw.session("ssrf-root", role=100)
    admin = gw.session("ssrf-admin", role=10)
    cid = gw.channel(base_url=service.url, models=["m-internal"], key="sk-internal")
    by_name = gw.channel(base_url=f"http://localhost:{service.port}", models=["m-by-name"], key="sk-internal")
    closed = gw.channel(base_url=f"http://127.0.0.1:{free_port()}", models=["m-closed"], key="sk-internal")
    via_proxy = gw.channel(base_url="http://8.8.8.8", models=["m-proxied"], key="sk-i", setting={"proxy": service.url})

    for answer in _tools(admin, cid, service.url) + _tools(admin, by_name, f"http://localhost:{service.port}"):
        assert answer["success"] is False and answer["message"].endswith(UNREACHABLE), answer
        assert str(service.port) not in answer["message"] and "127.0.0.1" not in answer["message"]
    assert admin.get(f"/api/channel/test/{closed}").json()["message"] == UNREACHABLE
    for answer in _tools(root, cid, service.url):  # New API's default ports: 80, 443, 8080, 8443
        assert answer["success"] is False and f"port {service.port} is not allowed" in answer["message"], answer
    results = admin.get("/api/channel/test").json()["data"]["results"]
    assert {x["message"] for x in results if x["id"] in (cid, by_name, closed)} == {UNREACHABLE}

    # forced onto the channel: refused before any connection, with the reason for root only
    chat = {"model": "m-internal", "messages": [{"role": "user", "content": "hi"}]}
    admin_key = gw.token(gw.user(role=10))
    root_key = gw.token(gw.user(role=100))

    def forced(key: str) -> httpx.Response:
        return httpx.post(f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}-{cid}"}, json=chat)

    r = forced(admin_key)
    assert r.status_code == 502 and UNREACHABLE in r.json()["error"]["message"] and SECRET_PAGE not in r.text
    assert str(service.port) not in r.json()["error"]["message"]
    r = forced(root_key)
    assert r.status_code == 502 and "blocked by the SSRF protection" in r.text and SECRET_PAGE not in r.text
    assert not service.arrived

    # normal relay traffic to a channel root configured is not an admin fetch: it goes through
    r = httpx.post(
        f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {gw.token(gw.user())}"}, json=chat
    )
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == SECRET_PAGE
    assert len(service.arrived) == 1

    # with its port allowed, the address is still private: by IP, by a name resolving to it, forced
    service.arrived.clear()
    _set(root, allowed_ports=json.dumps(["80", "443", f"{service.port}-{service.port}"]))
    for answer in _tools(root, cid, service.url):
        assert answer["success"] is False and "127.0.0.1, a private address" in answer["message"], answer
    r = root.get(f"/api/channel/test/{by_name}").json()
    assert "localhost resolves to" in r["message"] and "private" in r["message"], r
    assert admin.get(f"/api/channel/test/{by_name}").json()["message"] == UNREACHABLE
    r = root.get(f"/api/channel/test/{via_proxy}").json()  # the proxy is checked like the upstream
    assert "127.0.0.1, a private address" in r["message"], r
    assert admin.get(f"/api/channel/test/{via_proxy}").json()["message"] == UNREACHABLE
    assert "private" in forced(root_key).json()["error"]["message"]
    assert forced(admin_key).json()["error"]["message"].startswith(UNREACHABLE)
    assert not service.arrived

    # root allows private addresses: the tools reach the service, and so does a forced relay
    _set(root, allow_private_ip=True)
    assert root.get(f"/api/channel/test/{cid}").json()["success"] is True
    assert admin.get(f"/api/channel/test/{by_name}").json()["success"] is True
    assert admin.get(f"/api/channel/fetch_models/{cid}").json()["data"] == [SECRET_PAGE]
    assert forced(admin_key).status_code == 200
    assert len(service.arrived) == 4

    # root's allow-list: in allow-list mode a listed address passes even though it is private
    _set(root, allow_private_ip=False, ip_filter_mode=True, ip_list='["127.0.0.0/8"]')
    assert admin.get(f"/api/channel/test/{cid}").json()["success"] is True
    _set(root, ip_list='["10.0.0.0/8"]')
    assert admin.get(f"/api/channel/test/{cid}").json()["message"] == UNREACHABLE
    _set(root, ip_filter_mode=False, ip_list="[]", allowed_ports='["80","443","8080","8443"]')

    # protection off: admins still get no body and no connection detail to scan ports with
    service.arrived.clear()
    _set(root, enable_ssrf_protection=False)
    r = admin.get(f"/api/channel/update_balance/{cid}").json()
    assert r["success"] is False and SECRET_PAGE not in r["message"] and "404" in r["message"], r
    assert admin.get(f"/api/channel/test/{closed}").json()["message"] == UNREACHABLE
    r = root.get(f"/api/channel/test/{closed}").json()
    assert "refused" in r["message"], r
    assert forced(admin_key).status_code == 200 and service.arrived
    _set(root, enable_ssrf_protection=True)


def test_fetch_setting_options_are_validated(gw: Gateway) -> None:
    root = gw.session("options-root", role=100)
    listed = {o["key"]: o["value"] for o in root.get("/api/option/").json()["data"]}
    assert listed["fetch_setting.enable_ssrf_protection"] == "true"
    assert listed["fetch_setting.allow_private_ip"] == "false"
    assert json.loads(listed["fetch_setting.allowed_ports"]) == ["80", "443", "8080", "8443"]
    for key, value, fragment in [
        ("enable_ssrf_protection", "maybe", "true or false"),
        ("allow_private_ip", 1, "true or false"),
        ("ip_list", '["not-an-ip"]', "not-an-ip"),
        ("ip_list", "10.0.0.0/8", "JSON list"),
        ("allowed_ports", '["70000"]', "70000"),
        ("allowed_ports", '["90-80"]', "90-80"),
        ("domain_list", '["http://x.com/"]', "http://x.com/"),
        ("domain_list", "[5]", "strings"),
        ("no_such_field", "true", "no_such_field"),
    ]:
        r = root.put("/api/option/", json={"key": f"fetch_setting.{key}", "value": value}).json()
        assert r["success"] is False and fragment in r["message"], (key, value, r)
    r = root.put("/api/option/", json={"key": "fetch_setting.allowed_ports", "value": '[" 8000-9000 ", 443]'}).json()
    assert r["success"], r
    listed = {o["key"]: o["value"] for o in root.get("/api/option/").json()["data"]}
    assert json.loads(listed["fetch_setting.allowed_ports"]) == ["8000-9000", "443"]
    root.put("/api/option/", json={"key": "fetch_setting.allowed_ports", "value": '["80","443","8080","8443"]'})


def _policy(**overrides: object) -> FetchPolicy:
    policy = fetch_guard.policy(_options(**overrides))
    assert policy is not None
    return policy


def _refusal(policy: FetchPolicy, url: str) -> str | None:
    target = URL(url)
    try:
        policy.check_target(target.scheme, target.raw_host or "", target.port)
    except fetch_guard.Blocked as exc:
        return exc.reason
    return None


def test_policy_decisions() -> None:
    default = _policy()
    assert _refusal(default, "https://api.openai.com/v1") is None
    assert _refusal(default, "http://8.8.8.8:8080/") is None
    for url, fragment in [
        ("ftp://8.8.8.8/", "scheme"),
        ("http://8.8.8.8:8081/", "port 8081"),
        ("http://127.0.0.1/", "private"),
        ("http://0.0.0.0/", "private"),  # reaches localhost on Linux
        ("http://169.254.169.254/latest/meta-data/", "private"),  # cloud metadata
        ("http://100.100.100.200/", "private"),  # Alibaba Cloud metadata (shared address space)
        ("http://[::1]/", "private"),
        ("http://[::ffff:127.0.0.1]/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://10.1.2.3/", "private"),
    ]:
        assert fragment in (_refusal(default, url) or ""), url
    assert fetch_guard.policy(_options(enable_ssrf_protection=False)) is None
    assert _refusal(_policy(allowed_ports=[]), "http://8.8.8.8:1/") is None

    denied = _policy(domain_list=["*.internal.example", "metadata.google.internal"], ip_list=["8.8.8.0/24"])
    assert "deny-list" in _refusal(denied, "http://db.internal.example/")
    assert "deny-list" in _refusal(denied, "http://internal.example/")
    assert "deny-list" in _refusal(denied, "http://METADATA.google.internal./")
    assert _refusal(denied, "http://notinternal.example/") is None
    assert "deny-list" in _refusal(denied, "http://8.8.8.8/")
    assert _refusal(denied, "http://8.8.4.4/") is None

    allowed = _policy(
        domain_filter_mode=True, domain_list=["api.example.com"], ip_filter_mode=True, ip_list=["10.0.0.5"]
    )
    assert _refusal(allowed, "https://api.example.com/") is None
    assert "allow-list" in _refusal(allowed, "https://other.example.com/")
    assert _refusal(allowed, "http://10.0.0.5/") is None  # listed on purpose, though private
    assert "private" in _refusal(allowed, "http://10.0.0.6/")
    assert "allow-list" in _refusal(allowed, "http://8.8.8.8/")
    with pytest.raises(fetch_guard.Blocked, match="resolves to 127.0.0.1"):
        allowed.check_ip(ipaddress.ip_address("127.0.0.1"), "evil.example.com")


def _options(**values: object) -> Options:
    options = Options()
    options._values.update(
        {f"fetch_setting.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    )
    return options
