"""The login method example in docs/plugins.md loads, registers and builds its redirect."""

from __future__ import annotations

import asyncio
import re
import sys
import types
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from newapi_host.sdk import LoginContext, LoginFailed

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"


def example() -> types.ModuleType:
    text = GUIDE.read_text()
    block = re.search(r"<!-- example-login:start -->\n```python\n(.*?)```\n<!-- example-login:end -->", text, re.S)
    assert block, "the login example is missing from docs/plugins.md"
    module = types.ModuleType("newapi_acme")
    sys.modules["newapi_acme"] = module
    exec(compile(block.group(1), str(GUIDE), "exec"), module.__dict__)
    return module


def test_the_example_registers_and_redirects() -> None:
    from newapi_host.plugins.manager import PluginHost  # the test only: the example itself uses the SDK

    module = example()
    host = PluginHost()
    assert host.add("acme", module), host.infos["acme"].load_error
    method = host.registry.login_method("acme")
    assert method is not None and method.available is not None
    settings = module.AcmeSettings(enabled=True, client_id="c-1", client_secret="s-1")
    assert method.available(settings) and not method.available(module.AcmeSettings())
    assert module.AcmeSettings.model_json_schema()["properties"]["enabled"]["option"] == "AcmeOAuthEnabled"
    ctx = LoginContext(redirect_uri="https://gw.example/api/oauth/acme/callback", state="st-1", settings=settings)
    url = asyncio.run(method.start(ctx))
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://acme.example/authorize?")
    assert query["state"] == ["st-1"] and query["client_id"] == ["c-1"]
    with pytest.raises(LoginFailed):
        asyncio.run(method.complete(ctx, {}))
