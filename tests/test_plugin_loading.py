"""Discovery through entry points, and every way a plugin can fail without taking the host down."""

from __future__ import annotations

import sys

from newapi_host.app import load_plugins
from newapi_host.config import Config
from newapi_host.plugins.manager import PluginHost, installed_entry_points

from .conftest import HOST_EPS, fixture_eps


def test_installed_plugins_are_found_through_entry_points():
    # The fixture folder is on sys.path, so its dist-info folders count as installed.
    names = {(ep.name, ep.group) for ep in installed_entry_points()}
    assert ("password", "newapi.logins") in names  # the host's own built-in
    assert ("acme", "newapi.providers") in names
    assert ("wallet", "newapi.payments") in names and ("wallet", "newapi.logins") in names


def test_builtins_are_plugins_like_any_other():
    host = PluginHost()
    host.load(HOST_EPS)
    info = host.infos["password"]
    assert info.builtin and info.distribution == "newapi-host" and info.loaded
    assert host.registry.login_method("password") is not None
    assert host.pm.get_plugin("password") is not None


def test_distribution_metadata_and_one_plugin_in_several_groups():
    host = PluginHost()
    host.load(fixture_eps("acme", "wallet"))
    acme, wallet = host.infos["acme"], host.infos["wallet"]
    assert (acme.distribution, acme.version) == ("newapi_plugin_acme", "1.2.0")
    assert wallet.groups == ["newapi.logins", "newapi.payments"]
    provides = host.registry.contributions("wallet").provides()
    assert provides["payment_methods"] == ["fakepay"] and provides["login_methods"] == ["fakeoauth"]
    assert host.registry.contributions("acme").settings_model.__name__ == "AcmeSettings"
    assert host.piccolo_apps() == ["newapi_fixture_acme_db.piccolo_app"]


def test_import_error_is_reported_and_the_rest_loads():
    host = PluginHost()
    host.load([*HOST_EPS, *fixture_eps("broken", "acme")])
    broken = host.infos["broken"]
    assert not broken.loaded
    assert "import failed: ModuleNotFoundError" in broken.load_error
    assert "a_module_that_does_not_exist" in broken.load_error
    assert host.registry.channel_type(9001) is not None
    assert host.registry.login_method("password") is not None


def test_conflicting_plugin_is_rejected_naming_both():
    host = PluginHost()
    host.load(fixture_eps("rival", "acme"))  # sorted by name: acme registers first
    assert host.infos["acme"].loaded
    err = host.infos["rival"].load_error
    assert err == "channel type 9001 is claimed by both plugin 'acme' and plugin 'rival'"
    assert host.pm.get_plugin("rival") is None  # unregistered: none of its hooks run
    assert host.registry.channel_type(9001).name == "Acme"


def test_plugin_cannot_shadow_a_host_route():
    host = load_plugins(Config(), [*HOST_EPS, *fixture_eps("shadow")])
    assert host.infos["shadow"].load_error == "route GET /api/status is claimed by both the host and plugin 'shadow'"


def test_misspelled_hook_is_an_error_not_silence():
    host = PluginHost()
    host.load(fixture_eps("typo"))
    assert host.infos["typo"].load_error == "unknown or unmarked hooks: newapi_register_provider"


def test_unmarked_hook_function_is_reported():
    class Forgetful:
        def newapi_routes(self):  # no @hookimpl
            return []

    host = PluginHost()
    assert not host.add("forgetful", Forgetful())
    assert host.infos["forgetful"].load_error == "unknown or unmarked hooks: newapi_routes (missing @hookimpl)"


def test_env_blocklist_prevents_import(monkeypatch):
    monkeypatch.delitem(sys.modules, "newapi_fixture_wallet", raising=False)
    config = Config.from_env({"NEWAPI_DISABLED_PLUGINS": "wallet, password"})
    host = load_plugins(config, [*HOST_EPS, *fixture_eps("wallet", "acme")])
    assert host.infos["wallet"].blocked and host.infos["password"].blocked
    assert "newapi_fixture_wallet" not in sys.modules
    assert "password" not in {m.id for m in host.registry.login_methods()}
    assert host.infos["acme"].loaded


def test_settings_model_without_defaults_is_rejected():
    from pydantic import BaseModel

    from newapi_host.plugins import hookimpl

    class Needy(BaseModel):
        api_key: str  # no default: the plugin could not run before an admin fills it in

    class Plugin:
        @hookimpl
        def newapi_plugin_settings(self):
            return Needy

    host = PluginHost()
    assert not host.add("needy", Plugin())
    assert "needs a default for every field" in host.infos["needy"].load_error


def test_hook_that_raises_is_contained():
    from newapi_host.plugins import hookimpl

    class Exploding:
        @hookimpl
        def newapi_register_providers(self, registry):
            raise RuntimeError("boom")

    host = PluginHost()
    assert not host.add("exploding", Exploding())
    assert host.infos["exploding"].load_error.startswith("RuntimeError: boom")


def test_a_plugin_for_another_sdk_version_is_refused_before_its_hooks_run():
    import types

    from newapi_host.sdk import SDK_VERSION, hookimpl

    ran = []

    def plugin(wanted: str) -> types.SimpleNamespace:
        @hookimpl
        def newapi_register_providers(registry):  # type: ignore[no-untyped-def]
            ran.append(wanted)

        return types.SimpleNamespace(NEWAPI_SDK=wanted, newapi_register_providers=newapi_register_providers)

    host = PluginHost()
    assert not host.add("future", plugin(">=2,<3"))
    assert host.infos["future"].load_error == (
        f"needs plugin SDK >=2,<3 but this host provides SDK {SDK_VERSION}: install a matching plugin release"
    )
    assert not host.add("garbled", plugin("one point oh"))
    assert "is not a version range" in host.infos["garbled"].load_error
    assert host.add("current", plugin(">=1.0,<2"))
    assert ran == [">=1.0,<2"]  # the refused ones never ran a hook
