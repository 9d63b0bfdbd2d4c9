"""The web console: pages render for every kind of caller in both languages, static files, no CDN."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import ROLE_ADMIN
from newapi_host.web.i18n import TRANSLATIONS
from newapi_host.web.layout import STATIC_FILES, pager

from .conftest import Client, as_root, login, running

# Every console page: path -> (who may open it, title key).
PLUGIN_SETTINGS = "/console/plugins/acme"
PUBLIC, USER, ADMIN = "public", "user", "admin"
PAGE_TABLE = {
    "/login": (PUBLIC, "login_title"),
    "/setup": (PUBLIC, "setup_title"),
    "/register": (PUBLIC, "register_title"),
    "/pricing": (PUBLIC, "pricing_title"),
    "/console": (USER, "dashboard_title"),
    "/console/keys": (USER, "keys_title"),
    "/console/logs": (USER, "logs_title"),
    "/console/drawings": (USER, "drawings_title"),
    "/console/tasks": (USER, "tasks_title"),
    "/console/wallet": (USER, "wallet_title"),
    "/console/security": (USER, "security_title"),
    "/console/playground": (USER, "playground_title"),
    "/console/channels": (ADMIN, "channels_title"),
    "/console/users": (ADMIN, "users_title"),
    "/console/redemptions": (ADMIN, "redemptions_title"),
    "/console/topups": (ADMIN, "topups_title"),
    "/console/settings": (ADMIN, "settings_title"),
    "/console/oauth-providers": (ADMIN, "cop_title"),
    "/console/plugins": (ADMIN, "plugins_title"),
    PLUGIN_SETTINGS: (ADMIN, "plugin_settings_title"),
}
TITLES = {path: title for path, (_, title) in PAGE_TABLE.items()}
PAGES = [path for path, (who, _) in PAGE_TABLE.items() if who == PUBLIC]
USER_PAGES = [path for path, (who, _) in PAGE_TABLE.items() if who == USER]
ADMIN_PAGES = [path for path, (who, _) in PAGE_TABLE.items() if who == ADMIN]


@asynccontextmanager
async def console(config: Config) -> AsyncIterator[Client]:
    """The app with the host's built-ins (the console is part of every app)."""
    async with running(config) as client:
        yield client


def assert_no_remote_assets(html: str) -> None:
    for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html):
        assert "http://" not in tag and "https://" not in tag and "//" not in tag.split("=", 1)[-1][:3], tag


async def check_pages(client: Client, pages: list[str]) -> None:
    for lang in ("en", "zh"):
        client.cookies.set("lang", lang)
        for path in pages:
            r = await client.get(path)
            assert r.status_code == 200, (path, lang, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/html")
            assert TRANSLATIONS[lang][TITLES[path]] in r.text, (path, lang)
            assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in r.text
            assert_no_remote_assets(r.text)


async def test_anonymous_pages_and_redirects(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        assert (await client.get("/")).headers["location"] == "/setup"
        await check_pages(client, PAGES)
        for path in USER_PAGES + ADMIN_PAGES:
            r = await client.get(path)
            assert r.status_code in (302, 303, 307) and r.headers["location"] == "/login", path
        nav = (await client.get("/pricing")).text.split("</nav>")[0]
        assert 'href="/pricing"' in nav and 'href="/console/logs"' not in nav
        client.cookies.set("lang", "zh")
        assert "创建 root 账户" in (await client.get("/setup")).text
        await as_root(client)
        client.cookies.delete("session")
        assert (await client.get("/")).headers["location"] == "/login"
        assert TRANSLATIONS["zh"]["setup_already"] in (await client.get("/setup")).text


async def test_common_user_pages_and_plugins_forbidden(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        await as_root(client)
        await create_user("alice", "alice-password-1")
        client.cookies.clear()
        await login(client, "alice", "alice-password-1")
        assert (await client.get("/")).headers["location"] == "/console"
        await check_pages(client, PAGES + USER_PAGES)
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            for path in ADMIN_PAGES:
                r = await client.get(path)
                assert r.status_code == 403, path
                assert TRANSLATIONS[lang]["forbidden_text"] in r.text
                for admin_path in ADMIN_PAGES:  # no admin link in the top bar
                    assert f'href="{admin_path}"' not in r.text
                assert 'href="/console/logs"' in r.text and 'href="/pricing"' in r.text
                assert "data-form=" not in r.text and "data-list=" not in r.text


async def test_admin_pages(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        await as_root(client)
        await check_pages(client, [*PAGES, *USER_PAGES, *ADMIN_PAGES])
        await create_user("adm", "admin-password-1", role=ROLE_ADMIN)
        client.cookies.clear()
        await login(client, "adm", "admin-password-1")
        r = await client.get("/console/plugins")
        assert r.status_code == 200 and 'href="/console/plugins"' in r.text
        assert TRANSLATIONS["en"]["settings"] in r.text  # the settings column
        await check_pages(client, [*USER_PAGES, *ADMIN_PAGES])
        r = await client.get(PLUGIN_SETTINGS)
        assert 'data-form="plugin-settings" data-plugin="acme"' in r.text
        r = await client.get("/console/plugins/%3Cb%3E%22x")
        assert r.status_code == 200
        assert 'data-plugin="&lt;b&gt;&quot;x"' in r.text and "<b>" not in r.text


async def test_logs_and_pricing_markup(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        await as_root(client)
        client.cookies.set("lang", "zh")
        r = await client.get("/console/logs")
        for name in ("model_name", "token_name", "type", "start", "end", "username", "channel"):
            assert f'name="{name}"' in r.text
        assert 'data-scope="all"' in r.text and TRANSLATIONS["zh"]["logs_channel"] in r.text
        await create_user("lou", "lou-password-1")
        await login(client, "lou", "lou-password-1")
        r = await client.get("/console/logs")
        assert 'data-scope="self"' in r.text and 'name="type"' in r.text
        assert 'name="username"' not in r.text and 'name="channel"' not in r.text
        assert r.text.count('type="datetime-local"') == 2 and 'data-page="next"' in r.text
        assert TRANSLATIONS["zh"]["total_quota"] in r.text and TRANSLATIONS["zh"]["prompt_tokens"] in r.text
        r = await client.get("/pricing")
        assert "data-search" in r.text and TRANSLATIONS["zh"]["input_price"] in r.text
        js = "".join(
            [(await client.get(f"/console-static/{name}")).text for name in STATIC_FILES if name.endswith(".js")]
        )
        for api in (
            '"/api/log/self"',
            '"/api/log/self/stat"',
            '"/api/log/"',
            '"/api/log/stat"',
            "/api/pricing",
            "New-Api-User",
        ):
            assert api in js, api


def test_translations_complete() -> None:
    assert set(TRANSLATIONS["en"]) == set(TRANSLATIONS["zh"])


async def test_system_name_and_language_switch(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        client.app.state.host.options._values["SystemName"] = "<My Gateway>"
        r = await client.get("/login")
        assert "&lt;My Gateway&gt;" in r.text and "<My Gateway>" not in r.text
        r = await client.get("/console-lang", params={"lang": "zh", "next": "/register"})
        assert r.status_code in (302, 303, 307) and r.headers["location"] == "/register"
        assert "max-age=31536000" in r.headers["set-cookie"].lower()
        assert TRANSLATIONS["zh"]["register_title"] in (await client.get("/register")).text
        r = await client.get("/console-lang", params={"lang": "en", "next": "//evil.example/"})
        assert r.headers["location"] == "/"
        assert TRANSLATIONS["en"]["register_title"] in (await client.get("/register")).text
        client.cookies.clear()
        r = await client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert TRANSLATIONS["zh"]["login_title"] in r.text


async def test_static_files(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        css = await client.get("/console-static/console.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "max-age" in css.headers["cache-control"]
        js = await client.get("/console-static/core.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        again = await client.get("/console-static/core.js", headers={"If-None-Match": js.headers["etag"]})
        assert again.status_code == 304
        for bad in (
            "/console-static/..%2Fpages.py",
            "/console-static/../pages.py",
            "/console-static/%2e%2e%2f__init__.py",
            "/console-static/LICENSE-NOTE.md",
            "/console-static/missing.js",
        ):
            r = await client.get(bad)
            assert r.status_code == 404, bad
            assert "import" not in r.text


@pytest.mark.parametrize("name", sorted(STATIC_FILES))
def test_assets_reference_nothing_remote(name: str) -> None:
    text = STATIC_FILES[name].decode()
    assert "http://" not in text and "https://" not in text


async def test_every_page_loads_its_own_script(sqlite_config: Config) -> None:
    async with console(sqlite_config) as client:
        await as_root(client)
        for path in PAGE_TABLE:
            html = (await client.get(path)).text
            scripts = re.findall(r'<script src="/console-static/([^"?]+)\?v=', html)
            assert scripts[0] == "core.js", path
            assert all(name in STATIC_FILES for name in scripts), (path, scripts)


# Paged lists: page -> (script, the pager's data-pager name and how it is rendered).
PAGERS = {
    "/console/logs": ("logs.js", 'data-pager="logs">'),
    "/console/keys": ("keys.js", 'data-pager="tokens" hidden>'),
    "/console/wallet": ("wallet.js", 'data-pager="topups">', 'data-pager="topup-logs">'),
    "/console/channels": ("channels.js", 'data-pager="channels">'),
    "/console/users": ("users.js", 'data-pager="users">'),
    "/console/redemptions": ("redemptions.js", 'data-pager="redemptions">'),
}


async def test_paged_lists_share_one_pager(sqlite_config: Config) -> None:
    """``layout.pager`` markup on every paged page, driven by ``NA.pager`` (no page keeps its own copy)."""
    plain = pager("en", "x")
    for hook in ('<p class="pager" data-pager="x">', 'data-page="prev" disabled', "<span data-page-info>"):
        assert hook in plain, hook
    assert 'data-page="next" disabled' in plain and "data-total" not in plain and " hidden" not in plain
    assert "<span data-total></span></p>" in pager("en", "x", total=True)
    assert '<p class="pager" data-pager="x" hidden>' in pager("en", "x", hidden=True)
    assert 'data-pager="&quot;&gt;"' in pager("en", '">')
    zh = pager("zh", "x")
    assert TRANSLATIONS["zh"]["prev_page"] in zh and TRANSLATIONS["zh"]["next_page"] in zh
    assert "pager," in STATIC_FILES["core.js"].decode()
    async with console(sqlite_config) as client:
        await as_root(client)
        for path, (script, *hooks) in PAGERS.items():
            html = (await client.get(path)).text
            assert html.count('class="pager"') == len(hooks), path
            for hook in hooks:
                assert hook in html, (path, hook)
            assert ("data-total" in html) == (path in ("/console/users", "/console/redemptions")), path
            js = STATIC_FILES[script].decode()
            assert "pager(" in js and "data-page-info" not in js and 'data-page="' not in js, script
